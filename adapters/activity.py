"""Activity recording: what a layer's units do on real data.

For a layer of a model (PyTorch or Keras) and a set of clips (canonical inputs and
labels) :func:`record` gives, per channel, the maximum activation over all
clips and locations (the ``a_hat`` of eq. 1, which ``visualize(..., a_hat=...)``
uses to normalize the objective), the maximum per class (the bar charts of the
paper's Figs. 9 and 10) and the indices of the top-k clips (Fig. 12).
:func:`record_cached` keeps the result in a file keyed by the model's weights,
the layer and the data, so it is computed once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stviz_core._xp import from_numpy, to_numpy
from stviz_core.atomic import atomic_path
from stviz_core.backend import select_plugin

from .model_loading import fingerprint

__all__ = ["Activity", "record", "record_cached"]


@dataclass
class Activity:
    """Recorded activity of one layer.

    Attributes
    ----------
    layer : str
    a_hat : ndarray ``(K,)``
        Maximum activation of each channel over every clip and location.
    per_class : ndarray ``(classes, K)``
        Maximum activation of each channel over the clips of each class.
    top_clips : ndarray ``(K, k)``
        Indices of the k clips with the largest maximum, per channel, best first.
    top_values : ndarray ``(K, k)``
    classes : list of str
    """

    layer: str
    a_hat: np.ndarray
    per_class: np.ndarray
    top_clips: np.ndarray
    top_values: np.ndarray
    classes: list

    def normalizer(self) -> np.ndarray:
        """``a_hat`` ready for eq. 1: channels that never exceed 0 on the data get 1.

        A pre-activation unit can stay negative on every clip; dividing by its
        negative maximum would flip the objective's sign.
        """
        return np.where(self.a_hat > 0, self.a_hat, 1.0)

    def live_channels(self) -> np.ndarray:
        """Channels whose maximum activation on the data is positive."""
        return np.flatnonzero(self.a_hat > 0)

    def strongest_class(self, channel: int) -> str:
        """The class on which ``channel`` reaches its highest activity."""
        return self.classes[int(np.argmax(self.per_class[:, channel]))]

    def save(self, path):
        with atomic_path(path) as tmp:
            np.savez(tmp, layer=np.array(self.layer), a_hat=self.a_hat, per_class=self.per_class,
                     top_clips=self.top_clips, top_values=self.top_values,
                     classes=np.array(json.dumps(list(self.classes))))

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as d:
            return cls(str(d["layer"]), d["a_hat"], d["per_class"], d["top_clips"],
                       d["top_values"], json.loads(str(d["classes"])))


def record(model, layer: str, inputs, labels, *, classes=None, top_k: int = 5, batch: int = 50,
           layout=None) -> Activity:
    """Run ``inputs`` (``{name: (N, T, H, W, C)}``) through ``model`` and record ``layer``.

    Runs through the model's backend plugin (PyTorch or Keras: its early exit,
    no gradients); the model is left as it was.
    """
    labels = np.asarray(labels)
    n = len(labels)
    classes = list(classes) if classes is not None else [str(c) for c in range(labels.max() + 1)]
    shapes = {k: tuple(v.shape[1:]) for k, v in inputs.items()}
    maxima = []
    be = select_plugin(model).create(model, layer=layer, inputs=shapes, layout=layout)
    try:
        for start in range(0, n, batch):
            part = {k: from_numpy(v[start:start + batch], be.xp, dtype=be.dtype, device=be.device)
                    for k, v in inputs.items()}
            acts = to_numpy(be.activations(part, for_vjp=False)).astype(np.float64)
            maxima.append(acts.reshape(acts.shape[0], -1, acts.shape[-1]).max(axis=1))
    finally:
        if hasattr(be, "close"):
            be.close()
    per_clip = np.concatenate(maxima)  # (N, K)
    per_class = np.stack([per_clip[labels == c].max(axis=0) if (labels == c).any()
                          else np.full(per_clip.shape[1], -np.inf) for c in range(len(classes))])
    k = min(top_k, n)
    order = np.argsort(-per_clip, axis=0, kind="stable")[:k].T
    return Activity(layer, per_clip.max(axis=0), per_class, order,
                    np.take_along_axis(per_clip.T, order, axis=1), classes)


def record_cached(model, layer, inputs, labels, *, cache_dir, key_extra="", **options) -> Activity:
    """:func:`record`, kept in ``cache_dir`` under a hash of the weights, layer, data and options."""
    h = hashlib.sha256(fingerprint(model).encode())
    h.update(layer.encode())
    for name in sorted(inputs):
        h.update(np.ascontiguousarray(inputs[name][:, :1, :4, :4]).tobytes())
        h.update(str(inputs[name].shape).encode())
    h.update(np.asarray(labels).tobytes())
    h.update(repr(sorted(options.items())).encode() + key_extra.encode())
    path = Path(cache_dir) / f"activity-{layer}-{h.hexdigest()[:16]}.npz"
    if path.exists():
        return Activity.load(path)
    activity = record(model, layer, inputs, labels, **options)
    activity.save(path)
    return activity
