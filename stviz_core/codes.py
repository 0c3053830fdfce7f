"""A layer's code for real inputs: what feature inversion matches (:func:`stviz_core.objectives.feature_match`).

:func:`encode` runs a backend forward on canonical inputs (a clip) and keeps
the target layer's activations with the layer's and model's names; a
:class:`Code` saves to one ``.npz`` (written atomically) and loads back, so a
code computed once (or on another machine) can be inverted later. The layer's
name travels with it: matching a code against another layer is refused with
both names.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from ._xp import from_numpy, to_numpy
from .atomic import atomic_path
from .backend import backend_member, input_specs
from .run.start import Clip, check_inputs

__all__ = ["Code", "encode", "layer_name", "forward"]

FORMAT = "stviz-code"


@dataclass(frozen=True)
class Code:
    """Activations of one layer for N clips, with where they came from.

    Attributes
    ----------
    activations : ndarray
        float64 ``(N, ..., K)``, the backend's layout (batch first, channels last).
    layer : str or None
        The layer they are the output of.
    model : str or None
        The model (``backend.describe()["model"]``).
    source : str or None
        What was encoded (a video path, ``"arrays"``, ...).
    """

    activations: np.ndarray
    layer: Optional[str] = None
    model: Optional[str] = None
    source: Optional[str] = None

    def __post_init__(self):
        acts = np.asarray(to_numpy(self.activations), dtype=np.float64)
        if acts.ndim < 2:
            raise ValueError(f"a code is (N, ..., K) activations, batch first; got shape {acts.shape}")
        object.__setattr__(self, "activations", acts)

    def __len__(self) -> int:
        return int(self.activations.shape[0])

    @property
    def shape(self) -> tuple:
        """Per visualization: ``activations.shape[1:]``."""
        return tuple(self.activations.shape[1:])

    def item(self, n: int) -> "Code":
        """The code of clip ``n`` alone."""
        return Code(self.activations[n:n + 1], self.layer, self.model, self.source)

    def save(self, path) -> Path:
        """Write ``path`` (``.npz`` appended when missing) atomically; returns the path."""
        path = Path(path)
        path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "layer": self.layer, "model": self.model, "source": self.source}
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, activations=self.activations, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path) -> "Code":
        """Read what :meth:`save` wrote.

        Raises
        ------
        ValueError
            A file that is not a saved code (the message says what it holds).
        """
        path = Path(path)
        if not path.is_file() and path.with_name(path.name + ".npz").is_file():
            path = path.with_name(path.name + ".npz")
        if not path.is_file():
            raise FileNotFoundError(f"no code at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                files = sorted(data.files)
                meta = json.loads(str(data["meta"])) if "meta" in files else None
                acts = data["activations"] if "activations" in files else None
        except Exception as exc:  # noqa: BLE001 - a cut or foreign file: numpy, zipfile, zlib, json
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{path} is not a readable code (a truncated or foreign file: "
                             f"{reason})") from None
        if meta is None or acts is None:
            raise ValueError(f"{path} is not a saved code (it holds {files}; a code has "
                             "'activations' and 'meta': Code.save writes it)")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{path} is not a saved code (format {found!r})")
        return cls(acts, meta.get("layer"), meta.get("model"), meta.get("source"))


def layer_name(backend) -> Optional[str]:
    """The backend's target layer name when it says (``backend.layer`` or ``describe()``)."""
    layer = backend_member(backend, "layer")
    if layer is None:
        try:
            layer = dict(backend_member(backend, "describe")()).get("layer")
        except Exception:  # noqa: BLE001 - describe() is optional and informative only
            layer = None
    return None if layer is None else str(layer)


def forward(backend, inputs):
    """``backend.activations(inputs)`` with ``for_vjp=False`` where the backend takes it."""
    try:
        takes = "for_vjp" in inspect.signature(backend.activations).parameters
    except (TypeError, ValueError):
        takes = False
    return backend.activations(inputs, for_vjp=False) if takes else backend.activations(inputs)


def encode(backend, inputs, *, source: Optional[str] = None, batch: int = 8) -> Code:
    """The target layer's code for ``inputs``.

    Parameters
    ----------
    backend : Backend
    inputs : mapping or Clip
        ``{name: (N, T, H, W, C)}`` for every input of the backend (a
        ``(T, H, W, C)`` array is one clip); a :class:`stviz_core.Clip` brings
        its source.
    source : str, optional
        Recorded in the code (default: the clip's source, or ``"arrays"``).
    batch : int
        Clips per forward pass.

    Returns
    -------
    Code

    Raises
    ------
    ValueError
        An input missing, unknown or of the wrong shape (the expected one named).
    """
    clip = inputs if isinstance(inputs, Clip) else Clip(inputs)
    specs = input_specs(backend.inputs)
    missing = sorted(set(specs) - set(clip.inputs))
    if missing:
        raise ValueError(f"encoding needs every input of the model; missing "
                         f"{', '.join(map(repr, missing))} (the model's inputs: "
                         f"{', '.join(sorted(specs))})")
    n = max(x.shape[0] for x in clip.inputs.values())
    arrays = check_inputs(clip.inputs, specs, n, what="clip")
    details = dict(backend_member(backend, "describe")())
    parts = []
    for start in range(0, n, max(1, int(batch))):
        part = {k: from_numpy(v[start:start + batch], backend.xp, dtype=backend.dtype,
                              device=backend.device) for k, v in arrays.items()}
        parts.append(to_numpy(forward(backend, part)).astype(np.float64))
    return Code(np.concatenate(parts), layer_name(backend), details.get("model"),
                source if source is not None else clip.source)


def as_code(target) -> Code:
    """``target`` as a :class:`Code`: itself, an array of activations, or a mapping from a saved code."""
    if isinstance(target, Code):
        return target
    if isinstance(target, Mapping):
        raise TypeError("a mapping is a clip, not a code: encode it with stviz_core.codes.encode "
                        "(feature_match(clip) does when the run is planned)")
    return Code(target)
