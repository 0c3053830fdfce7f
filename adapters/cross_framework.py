"""Cross-framework comparison: the same visualization on a PyTorch model and its Keras twin."""

from __future__ import annotations

from dataclasses import dataclass

import stviz_core as sv

__all__ = ["CrossFramework", "compare"]


@dataclass
class CrossFramework:
    """Both results and how they differ (:class:`stviz_core.Comparison`)."""

    torch: sv.Result
    keras: sv.Result
    comparison: sv.Comparison

    def __str__(self):
        return f"PyTorch vs Keras, layer {self.torch.config['layer']!r}\n{self.comparison}"


def compare(torch_model, keras_model, layer: str, channels=None, *, objective=None,
            keras_layer=None, **options) -> CrossFramework:
    """Run one visualization config on both models and compare the results.

    Parameters
    ----------
    torch_model, keras_model
        Twins: the same function in two frameworks (e.g. ported with
        :mod:`stviz_adapters.zoo.porting`).
    layer : str
        Target layer (the same name in both, unless ``keras_layer`` is given).
    channels, objective, **options
        As for :func:`stviz_core.visualize` (``steps``, ``seed``, ``preset``, ...);
        both runs get exactly these, so they start from the same noise and see
        the same jitter.

    Returns
    -------
    CrossFramework
        ``.comparison`` holds, per visualization, the max abs difference and
        the Pearson correlation of the final inputs, the per-step trace
        difference and the relative difference of the final terms.
    """
    common = dict(channels=channels, objective=objective, **options)
    a = sv.visualize(torch_model, layer, backend="torch", **common)
    b = sv.visualize(keras_model, keras_layer or layer, backend="keras", **common)
    return CrossFramework(a, b, sv.compare(a, b))
