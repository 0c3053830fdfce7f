"""torchvision's video CNNs by name: r3d_18, mc3_18, r2plus1d_18 and s3d, with the user's weights.

``torchvision:r2plus1d_18 --weights FILE`` on the command line, :func:`load`
(or :func:`r2plus1d_18`, ...) in Python, returns
``torchvision.models.video.<name>`` ready for ``stviz_core.visualize``:

* layout ``Clip3D("clip")``, ``(N, C, T, H, W)``; inputs ``{"clip": (T, H, W, 3)}``
  (``frames`` and ``size``: 16 x 112 x 112 for the R(2+1)D family, 16 x 224 x
  224 for S3D, as the Kinetics-400 weights were trained);
* the Kinetics-400 normalization of torchvision's weights (mean
  ``(0.43216, 0.394666, 0.37645)``, std ``(0.22803, 0.22145, 0.216989)`` of
  ``x / 255``) inside the model as a forward pre-hook
  (:class:`.hf_video_torch.PixelScale`): the model takes pixels minus
  ``255 * mean``, so the bound ``B`` stays in pixel units;
  ``stviz_preprocess`` turns video frames into that;
* class names: the 400 Kinetics classes of the weights' metadata
  (``<Name>_Weights.DEFAULT.meta["categories"]``, no download) when
  ``num_classes=400``.

``weights`` is a state-dict file (``torch.save(model.state_dict(), FILE)``, or
torchvision's own ``.pth`` downloaded by you), opened with
``weights_only=True``; nothing is ever downloaded. Without it, random weights
with a one-line warning. BN folding and receptive fields from the graph work
as on stviz's own families (the backend's ``torch.fx`` trace).

torchvision's PyPI wheels link ``libc10_cuda.so`` and ``libtorch_cuda.so``: they
do not import with the CPU build of torch, only beside a CUDA build (or with
torchvision from the same index as torch). Where it does not import, loading
says so; its tests skip with that reason. The video transformers of
torchvision (mvit_v1_b, mvit_v2_s, swin3d_t/s/b) are not offered: MViT pools its
token grid stage by stage and Swin3D keeps channels-last maps, neither of
which the token grid of :mod:`stviz_backends.torch.tokens` describes yet.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

from stviz_core.layouts import Clip3D
from stviz_core.model_contract import declare

from .hf_video import Normalization, preprocess_for

__all__ = ["MODELS", "KINETICS", "load", "r3d_18", "mc3_18", "r2plus1d_18", "s3d",
           "import_torchvision"]

#: the Kinetics-400 normalization of torchvision's video weights (their transforms())
KINETICS = Normalization((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
#: name -> (the weights enum in torchvision.models.video, the trained clip's side)
MODELS = {"r3d_18": ("R3D_18_Weights", 112), "mc3_18": ("MC3_18_Weights", 112),
          "r2plus1d_18": ("R2Plus1D_18_Weights", 112), "s3d": ("S3D_Weights", 224)}
CUDA_BUILD_PROBLEM = ("PyPI's torchvision wheels link libc10_cuda.so and libtorch_cuda.so, which "
                      "the CPU build of torch lacks: install torch and torchvision from the same "
                      "index (both CPU or both CUDA)")


def r3d_18(weights=None, **options):
    """torchvision's R3D-18; see :func:`load`."""
    return load("r3d_18", weights, **options)


def mc3_18(weights=None, **options):
    """torchvision's MC3-18; see :func:`load`."""
    return load("mc3_18", weights, **options)


def r2plus1d_18(weights=None, **options):
    """torchvision's R(2+1)D-18; see :func:`load`."""
    return load("r2plus1d_18", weights, **options)


def s3d(weights=None, **options):
    """torchvision's S3D; see :func:`load`."""
    return load("s3d", weights, **options)


def import_torchvision():
    """``torchvision``, or a ``ValueError`` saying why it does not import (:data:`CUDA_BUILD_PROBLEM`)."""
    try:
        import torchvision.models.video  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        raise ValueError(f"torchvision is not installed; note: {CUDA_BUILD_PROBLEM}") from None
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError or RuntimeError from _C.so
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"torchvision does not import ({reason}); {CUDA_BUILD_PROBLEM}") from None
    import torchvision

    return torchvision


def load(name: str, weights=None, *, frames: int = 16, size: int | None = None,
         num_classes: int = 400):
    """torchvision's video CNN ``name``, its model contract declared for stviz.

    Parameters
    ----------
    name : {"r3d_18", "mc3_18", "r2plus1d_18", "s3d"}
    weights : str or path, optional
        A state-dict file of that model (never downloaded). None: random weights, warned.
    frames, size : int
        The clip ``(frames, size, size)``; ``size`` defaults to the weights' (112, S3D 224).
    num_classes : int
        Classes of the head (400 for the Kinetics weights, whose names it then carries).

    Raises
    ------
    ValueError
        An unknown name, a missing file, a file that is not a state dict of
        that model (what was expected named), torchvision that does not import.
    """
    import torch

    from .hf_video_torch import PixelScale

    if name not in MODELS:
        raise ValueError(f"unknown torchvision video model {name!r}; offered: {', '.join(MODELS)}")
    expected = (f"a state-dict file of torchvision.models.video.{name}(num_classes={num_classes}) "
                "(torch.save(model.state_dict(), FILE))")
    if weights is not None and not Path(weights).is_file():
        raise ValueError(f"torchvision:{name} weights {str(weights)!r}: no such file; expected "
                         f"{expected}")
    video = import_torchvision().models.video
    model = getattr(video, name)(weights=None, num_classes=num_classes)
    if weights is None:
        warnings.warn(f"torchvision:{name}: no weights given (weights=FILE, --weights FILE): "
                      "random weights", UserWarning, stacklevel=3)
    else:
        _load_state(model, weights, expected, torch)
    labels = (list(getattr(video, MODELS[name][0]).DEFAULT.meta["categories"])
              if num_classes == 400 else None)
    side = int(size or MODELS[name][1])
    model.register_forward_pre_hook(PixelScale(KINETICS.scale, axis=1), with_kwargs=True)
    return declare(model.eval(), layout=Clip3D("clip"), inputs={"clip": (int(frames), side, side, 3)},
                   labels=labels, preprocess=preprocess_for(KINETICS))


def _load_state(model, path, expected, torch):
    """Load the state dict in ``path`` into ``model``, or a ``ValueError`` naming ``expected``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a pickle of objects, a zip of something else
        raise ValueError(f"cannot read {path} as a state dict ({str(exc).splitlines()[0]}); "
                         f"expected {expected}") from None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict; expected "
                         f"{expected}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        details = " ".join(str(exc).split())[:300]
        raise ValueError(f"{path} does not fit: expected {expected}; torch said: {details}") from None
