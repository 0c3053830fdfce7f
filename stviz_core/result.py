"""Results: optimized inputs, full config and per-step trace; save, load, compare.

A result saves to two files that share a stem: ``STEM.npz`` (every array, and
its own copy of the config) and ``STEM.json`` (the config and a SHA-256 of the
``.npz``). Each file is written to a temporary name and renamed into place, and
an overwrite goes in three renames: a sidecar that names both the new and the
old ``.npz`` checksum, the new ``.npz``, the final sidecar. Killed at any point,
the stem loads as the old result or the new one, never a mix: ``load`` refuses
a pair whose checksums disagree, except the old ``.npz`` beside the
transitional sidecar, which it reads with the config stored inside it.
Temporary files left by a killed save are removed by the next save of that
stem. The ``.npz`` is written with fixed zip timestamps: the same result gives
the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path, atomic_write, stale_temporaries

__all__ = ["Result", "Comparison", "compare", "load", "stack"]

#: config keys that hold one entry per visualization (see :meth:`Result.select`, :func:`stack`)
PER_ITEM_KEYS = ("objectives", "seeds", "quality")

FORMAT = "stviz-result"
#: the member of the ``.npz`` that holds its own copy of the config
SIDECAR_MEMBER = "sidecar.json"
VERSION = 1
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class Result:
    """What one call of :func:`stviz_core.ascend` produced.

    Attributes
    ----------
    inputs : dict of str to ndarray
        Optimized inputs, canonical layout ``(N, T, H, W, C)``.
    config : dict
        Everything needed to rerun it (JSON-serializable).
    trace : dict of str to ndarray
        Per step and visualization, shape ``(steps, N)``: ``"objective"``,
        ``"<input>/norm"`` and ``"<input>/tv"`` (weighted penalties) and
        ``"total"`` = objective - penalties.
    final : dict of str to ndarray
        The same terms, shape ``(N,)``, at the final inputs without jitter.
    state : dict of str to ndarray
        What a continuation needs besides the inputs, kept with
        ``ascend(..., keep_state=True)`` (empty otherwise): Adam's moments
        ``"adam/mu/<input>"`` and ``"adam/nu/<input>"``, a non-pixel
        parameterization's ``"params/<input>"``, an anchor's clip
        ``"anchor/<input>"``; every array visualization-first
        (:mod:`stviz_core.start`).
    """

    inputs: dict
    config: dict
    trace: dict
    final: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        sizes = {k: (tuple(v.shape if hasattr(v, "shape") else np.shape(v)) or (None,))[0]
                 for k, v in self.inputs.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError("a Result's inputs hold one entry per visualization, so their first "
                             "axes must agree; got " + ", ".join(f"{k}: {n}" for k, n in sizes.items()))

    def __len__(self) -> int:
        if not self.inputs:
            raise ValueError("this Result holds no inputs")
        return int(next(iter(self.inputs.values())).shape[0])

    def _repr_html_(self) -> str:
        """A notebook's view: each input of each visualization playing in a loop
        (:func:`stviz_core.html_view.result_html`)."""
        from .html_view import result_html

        return result_html(self)

    def save(self, path) -> Path:
        """Write ``STEM.npz`` and ``STEM.json``; returns the stem path.

        Overwriting an existing result is safe against a kill at any point
        (see the module notes): afterwards :meth:`load` gives the old or the new
        result, whole.
        """
        stem = _stem(path)
        _make_folder(stem)
        npz_path, json_path = _files(stem)
        for stray in stale_temporaries(npz_path) + stale_temporaries(json_path):
            stray.unlink(missing_ok=True)
        own = {"format": FORMAT, "version": VERSION, "config": self.config}
        blob = _npz_bytes(self._arrays(), _dumps(own))
        sidecar = {**own, "npz_sha256": hashlib.sha256(blob).hexdigest()}
        old = hashlib.sha256(npz_path.read_bytes()).hexdigest() if npz_path.exists() else None
        with atomic_path(npz_path) as tmp:
            tmp.write_bytes(blob)
            if old is not None:  # the sidecar first, naming the npz it may still sit beside
                atomic_write(json_path, _dumps({**sidecar, "previous_npz_sha256": old}))
        atomic_write(json_path, _dumps(sidecar))
        return stem

    @classmethod
    def load(cls, path) -> "Result":
        """Read a result written by :meth:`save` (``path`` with or without suffix)."""
        stem = _stem(path)
        npz_path, json_path = _files(stem)
        for p in (npz_path, json_path):
            if not p.exists():
                raise FileNotFoundError(f"no result at {stem}: {p.name} is missing")
        sidecar = _read_sidecar(json_path.read_bytes(), json_path.name)
        blob = npz_path.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        if digest != sidecar.get("npz_sha256"):
            if digest != sidecar.get("previous_npz_sha256"):
                raise ValueError(
                    f"{npz_path.name} does not match its sidecar {json_path.name} "
                    "(checksum differs: a file from another run, or one cut short)"
                )
            sidecar = None  # an overwrite was cut short: the old npz still holds the result
        arrays, own = _read_npz(blob, npz_path.name)
        if not arrays["inputs"]:
            raise ValueError(f"{npz_path.name} holds no inputs (an empty or cut archive): not a "
                             "saved result")
        if sidecar is None:
            if own is None:
                raise ValueError(f"{npz_path.name}: an interrupted save left a file without its config")
            sidecar = _read_sidecar(own, npz_path.name)
        return cls(arrays["inputs"], sidecar["config"], arrays["trace"], arrays["final"],
                   arrays["state"])

    def compare(self, other: "Result") -> "Comparison":
        """Shorthand for :func:`compare`."""
        return compare(self, other)

    def select(self, items) -> "Result":
        """The visualizations ``items`` (indices) as a result of their own.

        Arrays, per-visualization config entries (objectives, seeds) and the
        batch size are cut to ``items``; ``select([n])`` of a batched run holds
        what a run of visualization ``n`` alone records (its arrays equal up to
        the framework's float rounding of batched layers).
        """
        items = [int(i) for i in np.atleast_1d(items)]
        n = len(self)
        bad = [i for i in items if not 0 <= i < n]
        if not items or bad:
            raise IndexError(f"items {bad or items} out of range for a result of {n} visualizations")
        config = dict(self.config)
        for key in PER_ITEM_KEYS:
            if isinstance(config.get(key), list):
                config[key] = [config[key][i] for i in items]
        config["batch"] = len(items)
        if isinstance(config.get("objectives"), list):
            config["objective"] = _batch_description(config["objectives"])
        return Result(
            {k: v[items] for k, v in self.inputs.items()},
            config,
            {k: v[:, items] for k, v in self.trace.items()},
            {k: v[items] for k, v in self.final.items()},
            {k: v[items] for k, v in self.state.items()},
        )

    def _arrays(self):
        arrays = {}
        for group in ("inputs", "trace", "final", "state"):
            for name, value in sorted(getattr(self, group).items()):
                arrays[f"{group}/{name}"] = np.asarray(value)
        return arrays


def load(path) -> Result:
    """Load a saved :class:`Result`."""
    return Result.load(path)


def stack(results) -> Result:
    """One result holding the visualizations of ``results``, in order.

    The results must come from the same config apart from the per-visualization
    entries (objectives and seeds), e.g. the single-unit cells of a sweep.

    Raises
    ------
    ValueError
        When the results differ in a config key or in input or trace shape; the
        message names it.
    """
    results = list(results)
    if not results:
        raise ValueError("stack needs at least one result")
    first = results[0]
    shared = lambda c: {k: v for k, v in c.items()  # noqa: E731
                        if k not in PER_ITEM_KEYS + ("objective", "batch")}
    for i, r in enumerate(results[1:], 1):
        a, b = shared(first.config), shared(r.config)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                raise ValueError(f"cannot stack: result {i} differs from result 0 in config "
                                 f"{key!r} ({b.get(key)!r} vs {a.get(key)!r})")
        if _layout(r) != _layout(first):
            raise ValueError(f"cannot stack: result {i} has other arrays than result 0 "
                             f"({_layout(r)} vs {_layout(first)})")
    config = dict(first.config)
    for key in PER_ITEM_KEYS:
        if all(isinstance(r.config.get(key), list) for r in results):
            config[key] = [v for r in results for v in r.config[key]]
    config["batch"] = sum(len(r) for r in results)
    if isinstance(config.get("objectives"), list):
        config["objective"] = _batch_description(config["objectives"])
    cat = lambda group, axis: {  # noqa: E731
        k: np.concatenate([getattr(r, group)[k] for r in results], axis=axis)
        for k in getattr(first, group)}
    return Result(cat("inputs", 0), config, cat("trace", 1), cat("final", 0), cat("state", 0))


def _layout(r):
    """Array names and shapes without the visualization axis (traces keep their step count)."""
    return ({k: v.shape[1:] for k, v in r.inputs.items()},
            {k: v.shape[0] for k, v in r.trace.items()}, sorted(r.final),
            {k: v.shape[1:] for k, v in r.state.items()})


def _batch_description(objectives):
    """The config's ``"objective"`` for these per-visualization descriptions (as ``ascend`` writes it)."""
    return objectives[0] if len(objectives) == 1 else "[" + ", ".join(objectives) + "]"


@dataclass
class Comparison:
    """How two results differ, per visualization (arrays of shape ``(N,)``).

    Attributes
    ----------
    max_abs_diff : dict
        Per input name, and ``"all"`` over every input: max ``|a - b|``.
    correlation : dict
        Pearson correlation of the flattened inputs, same keys.
    trace_max_abs_diff : dict
        Per trace key: max over steps of ``|a - b|``.
    final_rel_diff : dict
        Per final term: ``|a - b| / max(|a|, |b|)``.
    """

    max_abs_diff: dict
    correlation: dict
    trace_max_abs_diff: dict
    final_rel_diff: dict

    def to_dict(self) -> dict:
        return _jsonable(self.__dict__)

    def __str__(self) -> str:
        lines = ["input          max|diff|      corr"]
        for k in self.max_abs_diff:
            for n, (d, c) in enumerate(zip(self.max_abs_diff[k], self.correlation[k])):
                lines.append(f"{k:>8s}[{n}]  {d:12.4e}  {c:9.6f}")
        for k, v in self.final_rel_diff.items():
            lines.append(f"final {k}: rel diff {np.max(v):.3e}")
        return "\n".join(lines)


def compare(a: Result, b: Result) -> Comparison:
    """Compare two results of the same config (e.g. one per framework)."""
    if set(a.inputs) != set(b.inputs):
        raise ValueError(f"the results have different inputs: {sorted(a.inputs)} vs {sorted(b.inputs)}")
    for k in a.inputs:
        if a.inputs[k].shape != b.inputs[k].shape:
            raise ValueError(
                f"input {k!r} has shape {a.inputs[k].shape} in one result and "
                f"{b.inputs[k].shape} in the other"
            )
    n = len(a)
    flat_a = {k: a.inputs[k].reshape(n, -1).astype(np.float64) for k in sorted(a.inputs)}
    flat_b = {k: b.inputs[k].reshape(n, -1).astype(np.float64) for k in sorted(a.inputs)}
    flat_a["all"] = np.concatenate(list(flat_a.values()), axis=1)
    flat_b["all"] = np.concatenate(list(flat_b.values()), axis=1)
    max_abs = {k: np.abs(flat_a[k] - flat_b[k]).max(axis=1) for k in flat_a}
    corr = {k: np.array([_pearson(flat_a[k][i], flat_b[k][i]) for i in range(n)]) for k in flat_a}
    common = sorted(set(a.trace) & set(b.trace))
    steps = min((a.trace[k].shape[0] for k in common), default=0)
    trace = {k: np.abs(a.trace[k][:steps] - b.trace[k][:steps]).max(axis=0) for k in common}
    final = {}
    for k in sorted(set(a.final) & set(b.final)):
        scale = np.maximum(np.abs(a.final[k]), np.abs(b.final[k]))
        diff = np.abs(a.final[k] - b.final[k])
        final[k] = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), 0.0)
    return Comparison(max_abs, corr, trace, final)


def _pearson(u, v):
    u, v = u - u.mean(), v - v.mean()
    denom = np.sqrt((u * u).sum() * (v * v).sum())
    return float((u * v).sum() / denom) if denom > 0 else float("nan")


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def _make_folder(stem: Path) -> None:
    """Create the folder of ``stem``; a file in the way is named (not mistaken for the result)."""
    for parent in reversed(stem.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"cannot save the result {stem.name!r} under {parent}: "
                                     f"{parent} is a file, not a folder")
    stem.parent.mkdir(parents=True, exist_ok=True)


def _files(stem: Path):
    """``STEM.npz`` and ``STEM.json``, appended: a stem such as ``rgb.conv5_3`` keeps its dot."""
    return stem.parent / f"{stem.name}.npz", stem.parent / f"{stem.name}.json"


def _npz_bytes(arrays, sidecar: bytes) -> bytes:
    """The ``.npz``: every array, plus the config as the member ``sidecar.json`` (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)
            _write_member(zf, name + ".npy", member.getvalue())
        _write_member(zf, SIDECAR_MEMBER, sidecar)
    return buffer.getvalue()


def _write_member(zf, name, data):
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _read_npz(blob, name):
    """``({group: {name: array}}, embedded sidecar bytes or None)``."""
    groups = {"inputs": {}, "trace": {}, "final": {}, "state": {}}
    own = None
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            for member in zf.namelist():
                if member == SIDECAR_MEMBER:
                    own = zf.read(member)
                    continue
                group, _, key = member.removesuffix(".npy").partition("/")
                if group not in groups or not key:
                    raise ValueError(f"{name}: unknown entry {member!r} (groups: {', '.join(groups)})")
                groups[group][key] = np.lib.format.read_array(io.BytesIO(zf.read(member)),
                                                              allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{name} is not a readable .npz ({exc or type(exc).__name__})") from None
    return groups, own


def _read_sidecar(data: bytes, name: str) -> dict:
    """The parsed sidecar; refuses what is not a stviz result of a version this stviz reads."""
    try:
        sidecar = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{name} is not JSON ({exc})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        found = sidecar.get("format") if isinstance(sidecar, dict) else type(sidecar).__name__
        raise ValueError(f"{name} is not a stviz result (format {found!r})")
    version = sidecar.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"{name} is a stviz result of format version {version!r}; this stviz reads "
                         f"versions up to {VERSION}: upgrade stviz")
    if not isinstance(sidecar.get("config"), dict):
        raise ValueError(f"{name} has no config")
    return sidecar


def _dumps(value) -> bytes:
    return (json.dumps(_jsonable(value), indent=2, sort_keys=True) + "\n").encode()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
