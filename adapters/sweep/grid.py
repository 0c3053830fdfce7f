"""A sweep's declared grid and its cells: what to run, each with a stable id.

A grid names a model, layers, units and the regularization settings to cross
them with; every (layer, unit, preset, kappa, gamma, seed) is one *cell*, one
visualization. A grid comes from a TOML or YAML file, a dict, or CLI options;
its keys are in :data:`KEYS`. Example ``grid.toml``::

    model = "stviz_adapters.demo.model:load_demo_model"
    layers = ["conv5_fusion"]
    units = "0:8"          # "all", a list [0, 3, 7], "a:b" (a..b-1) or a table per layer
    presets = ["paper"]    # default: presets.DEFAULT ("canvas", on which gamma has no effect)
    kappa = [1.0]
    gamma = [0, 1, 5, 10]
    steps = 150
    seeds = [0]

A cell's id is a hash of everything that changes its result (model weights,
backend, dtype, layer, unit, objective, preset, kappa, gamma, steps, seed,
jitter), not of how it is run (engine, device, batch size, retries).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from stviz_core import RunOptions
from stviz_core import presets as _presets
from stviz_core.backend import plugins
from stviz_core.checks import choice, non_negative_int, positive_int

from ..model_loading import check_spec

__all__ = ["KEYS", "Grid", "Cell", "load_grid", "parse_units", "make_cells", "batches"]

#: grid keys: name -> (default, description); ``None`` default with "required" means required
KEYS = {
    "model": (None, "required: 'module:function' or a .pt/.keras model file"),
    "layers": (None, "required: target layer names"),
    "units": ("all", "'all', a list, 'a:b' (a..b-1), or a table {layer = units}"),
    "presets": ([_presets.DEFAULT], f"regularization presets ({', '.join(_presets.names())}; "
                                    "'paper' is the paper's method literally)"),
    "kappa": ([1.0], "spatial smoothness values"),
    "gamma": ([1.0], "temporal slowness values"),
    "steps": (None, "ascent steps (default: the preset's)"),
    "seeds": ([0], "seeds of noise and jitter"),
    "normalize": (True, "eq. 1's 1/(rho^2 a_hat) factor on the unit's term"),
    "jitter": (True, "random shifts each step"),
    "backend": (None, "torch or keras (default: from the model)"),
    "dtype": ("float32", "float32 or float64"),
    "device": ("cpu", "where a PyTorch model runs, e.g. cuda"),
    "batch": (8, "units per optimization (one task)"),
    "retries": (2, "how often a failed cell is retried before it is reported"),
    "title": ("stviz sweep", "title of the HTML report"),
}
_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Grid:
    """A validated grid; build it with :func:`load_grid` or :meth:`from_dict`."""

    model: str
    layers: tuple
    units: object = "all"
    presets: tuple = (_presets.DEFAULT,)
    kappa: tuple = (1.0,)
    gamma: tuple = (1.0,)
    steps: object = None
    seeds: tuple = (0,)
    normalize: bool = True
    jitter: bool = True
    backend: object = None
    dtype: str = "float32"
    device: str = "cpu"
    batch: int = 8
    retries: int = 2
    title: str = "stviz sweep"
    #: let the model spec run code (a pickled model file, or a function outside stviz named in
    #: a grid file); not part of the grid's identity
    trust_pickle: bool = field(default=False, compare=False)

    @classmethod
    def from_dict(cls, data, *, source="the grid"):
        """Validate ``data`` (keys of :data:`KEYS`); errors name the key and the valid choices."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must be a table of keys, got {type(data).__name__}")
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            hints = [f"{k!r}" + (f" (did you mean {close[0]!r}?)"
                                 if (close := difflib.get_close_matches(k, KEYS, 1)) else "")
                     for k in unknown]
            raise ValueError(f"unknown key {', '.join(hints)} in {source}; valid keys: "
                             f"{', '.join(KEYS)}")
        for key in ("model", "layers"):
            if data.get(key) in (None, "", []):
                raise ValueError(f"{source} has no {key!r} ({KEYS[key][1]})")
        g = {k: data.get(k, default) for k, (default, _) in KEYS.items()}
        out = dict(
            model=_text(g["model"], "model", source),
            layers=tuple(dict.fromkeys(_text(v, "layers", source) for v in _listed(g["layers"]))),
            units=_units_value(g["units"], source),
            presets=tuple(dict.fromkeys(_preset(v, source) for v in _listed(g["presets"]))),
            kappa=_numbers(g["kappa"], "kappa", source),
            gamma=_numbers(g["gamma"], "gamma", source),
            steps=None if g["steps"] is None else _count(g["steps"], "steps", source),
            seeds=tuple(dict.fromkeys(_count(v, "seeds", source, zero=True)  # a repeat: merged
                                      for v in _listed(g["seeds"]))),
            normalize=_flag(g["normalize"], "normalize", source),
            jitter=_flag(g["jitter"], "jitter", source),
            backend=None if g["backend"] is None else _choice(g["backend"], "backend",
                                                               tuple(sorted(plugins())), source),
            dtype=_choice(g["dtype"], "dtype", _DTYPES, source),
            device=_text(g["device"], "device", source),
            batch=_count(g["batch"], "batch", source),
            retries=_count(g["retries"], "retries", source, zero=True),
            title=_text(g["title"], "title", source),
        )
        for key in ("layers", "presets", "kappa", "gamma", "seeds"):
            if not out[key]:
                raise ValueError(f"{source}: {key!r} is empty")
        for preset in out["presets"]:  # every setting the cells will run, refused now, not per cell
            for kappa in out["kappa"]:
                for gamma in out["gamma"]:
                    try:
                        _presets.get(preset, kappa=kappa, gamma=gamma)
                    except (TypeError, ValueError) as exc:
                        raise ValueError(f"{source}: preset {preset!r} with kappa {kappa:g}, "
                                         f"gamma {gamma:g}: {exc}") from None
        if isinstance(out["units"], dict):
            missing = sorted(set(out["layers"]) - set(out["units"]))
            if missing:
                raise ValueError(f"{source}: the units table has no entry for layer(s) "
                                 f"{', '.join(missing)}")
        return cls(**out)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples as lists); how far the model is trusted is left out."""
        data = asdict(self)
        data.pop("trust_pickle")
        return json.loads(json.dumps(data))

    def units_for(self, layer):
        """The unit spec of ``layer`` (the table entry, or the one spec for all layers)."""
        return self.units[layer] if isinstance(self.units, dict) else self.units


@dataclass(frozen=True)
class Cell:
    """One visualization of a sweep."""

    layer: str
    unit: int
    preset: str
    kappa: float
    gamma: float
    steps: int
    seed: int
    normalize: bool
    jitter: bool
    backend: str
    dtype: str
    model: dict = field(hash=False, compare=False)

    def config(self) -> dict:
        """Everything that changes the cell's result; its id hashes this."""
        return json.loads(json.dumps(asdict(self)))

    @property
    def id(self) -> str:
        text = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def group(self) -> tuple:
        """Cells with the same group run as one batch (they differ only in unit)."""
        return (self.layer, self.preset, self.kappa, self.gamma, self.steps, self.seed,
                self.normalize, self.jitter)

    def run_options(self, batch: int = 1) -> RunOptions:
        """The run record of this cell's batch (``batch`` cells of its group, one seed each)."""
        return RunOptions(preset=_presets.get(self.preset, kappa=self.kappa, gamma=self.gamma),
                          steps=self.steps, seed=[self.seed] * batch, jitter=self.jitter)

    def label(self) -> str:
        return (f"{self.layer} unit {self.unit} {self.preset} kappa {self.kappa:g} "
                f"gamma {self.gamma:g} seed {self.seed}")


def load_grid(path=None, overrides=None, *, trust_pickle=False) -> Grid:
    """Read a grid from a ``.toml``, ``.yaml`` or ``.yml`` file, with ``overrides`` on top.

    Either may be omitted (a grid from CLI options alone); ``None`` values in
    ``overrides`` are ignored. A model named by the file (not by ``overrides``)
    may call only stviz's own functions unless ``trust_pickle`` (a grid file
    can come from someone else; see :mod:`stviz_adapters.model_loading`).
    """
    data, source = {}, "the grid options"
    if path is not None:
        path, source = Path(path), str(path)
        if not path.is_file():
            raise ValueError(f"no grid file {path}")
        if path.suffix not in (".toml", ".yaml", ".yml"):
            raise ValueError(f"grid file {path} must end in .toml, .yaml or .yml")
        text = path.read_text(errors="replace")
        try:
            if path.suffix == ".toml":
                data = _toml().loads(text)
            elif path.suffix in (".yaml", ".yml"):
                try:
                    import yaml
                except ImportError:
                    raise ValueError("YAML grid files need PyYAML (pip install pyyaml); or use "
                                     "TOML") from None
                data = yaml.safe_load(text) or {}
            else:
                raise ValueError(f"grid file {path} must end in .toml, .yaml or .yml")
        except ValueError:
            raise
        except Exception as exc:  # the parsers' own error types
            raise ValueError(f"cannot parse {path}: {exc}") from None
    data = dict(data) if isinstance(data, dict) else data
    from_file = isinstance(data, dict) and "model" in data
    if isinstance(data, dict):
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        from_file = from_file and "model" not in given
        data.update(given)
    grid = Grid.from_dict(data, source=source)
    check_spec(grid.model, trust_pickle=trust_pickle, from_file=from_file)
    return replace(grid, trust_pickle=trust_pickle)


def parse_units(spec, n_channels: int, layer: str = "the layer") -> list:
    """Unit indices from ``"all"``, an int, a list or ``"a:b"`` (``a..b-1``); checked against the layer."""
    if spec == "all":
        return list(range(n_channels))
    if isinstance(spec, str) and ":" in spec:
        a, _, b = spec.partition(":")
        try:
            units = list(range(int(a or 0), int(b) if b else n_channels))
        except ValueError:
            raise ValueError(f"unit range {spec!r} is not 'a:b' with integers") from None
    elif isinstance(spec, str):
        try:
            units = [int(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"units {spec!r}: expected 'all', 'a:b' or comma-separated "
                             "integers") from None
    else:
        units = [int(v) for v in _listed(spec)]
    bad = [u for u in units if not 0 <= u < n_channels]
    if bad:
        raise ValueError(f"{layer} has {n_channels} channels (units 0..{n_channels - 1}); units "
                         f"{bad[:5]}{' ...' if len(bad) > 5 else ''} are out of range")
    if not units:
        raise ValueError(f"units {spec!r} selects no unit of {layer}")
    return sorted(dict.fromkeys(units))


def make_cells(grid: Grid, channels: dict, model_id: dict, backend: str) -> list:
    """Every cell of ``grid``; ``channels`` maps each layer to its channel count."""
    cells = []
    for layer in grid.layers:
        units = parse_units(grid.units_for(layer), channels[layer], layer)
        for preset in grid.presets:
            steps = grid.steps if grid.steps is not None else _presets.get(preset).steps
            for kappa in grid.kappa:
                for gamma in grid.gamma:
                    for seed in grid.seeds:
                        cells.extend(
                            Cell(layer, u, preset, kappa, gamma, steps, seed, grid.normalize,
                                 grid.jitter, backend, grid.dtype, model_id)
                            for u in units)
    return cells


def batches(cells, size: int) -> list:
    """Cells grouped by :attr:`Cell.group`, in grid order, cut into batches of at most ``size``."""
    groups = {}
    for cell in cells:
        groups.setdefault(cell.group, []).append(cell)
    return [members[i:i + size] for members in groups.values()
            for i in range(0, len(members), size)]


# -- validation helpers ----------------------------------------------------------


def _toml():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def _listed(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]


def _text(value, key, source):
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _numbers(value, key, source):
    out = []
    for v in _listed(value):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: {key!r} must be numbers, got {value!r}") from None
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{source}: {key!r} values must be >= 0 and finite, got {v}")
        out.append(v)
    return tuple(dict.fromkeys(out))


def _count(value, key, source, zero=False):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    try:
        return (non_negative_int if zero else positive_int)(value, f"{source}: {key!r}")
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _flag(value, key, source):
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{source}: {key!r} must be true or false, got {value!r}")
    return value


def _choice(value, key, choices, source):
    try:
        return choice(value, key, tuple(choices))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _preset(value, source):
    return _choice(value, "preset", _presets.names(), source)


def _units_value(value, source):
    if isinstance(value, dict):
        return {str(k): _units_value(v, source) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{source}: 'units' list must hold integers, got {value!r}")
        return tuple(int(v) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),)
    if isinstance(value, str):
        return value
    raise ValueError(f"{source}: 'units' must be 'all', a list, 'a:b' or a table per layer, "
                     f"got {value!r}")
