"""Hugging Face video transformers by name: VideoMAE, TimeSformer, ViViT and X-CLIP's vision tower.

One loader per family returns the ``transformers`` model ready for
``stviz_core.visualize``, its model contract declared
(``stviz_core.declare``):

* layout ``Frames3D("pixel_values")``, ``(N, T, C, H, W)``, with the family's
  token grid (:mod:`stviz_backends.torch.tokens`): a block's output at token
  ``(t, y, x)`` is ``neuron(c, location=(t, y, x))``;
* inputs ``{"pixel_values": (T, H, W, 3)}`` from the config's ``num_frames`` and
  ``image_size``; class names from its ``id2label``;
* the weights' normalization inside the model (a forward pre-hook,
  :class:`~stviz_adapters.zoo.hf_video_torch.PixelScale`): the model takes RGB in
  pixel units (0..255) minus the pixel mean its weights expect, so the bound
  ``B`` of a preset stays in pixel units; ``stviz_preprocess`` turns video
  frames into that input. The mean and std come from the folder's
  ``preprocessor_config.json`` (``image_mean``, ``image_std``, ``rescale_factor``,
  ``offset``), else from the family's published checkpoints (:data:`FAMILIES`).

``weights`` is a local folder written by ``save_pretrained`` (``config.json``
and the weights); nothing is ever downloaded (``local_files_only``). Without
it the model gets random weights, from the family's default config changed
by the keyword arguments (``videomae(num_hidden_layers=2, image_size=32)``),
with a one-line warning. On the command line::

    stviz visualize hf:videomae --weights FOLDER --layer videomae.encoder.layer.7.intermediate.dense ...

Layer names are the model's own (``model.named_modules()``). X-CLIP's tower is
the video half of ``XCLIPModel`` (``vision_model``, ``visual_projection``,
``mit``, under their names in the checkpoint) ending in ``video_embeds``, the
video embedding (no classes: X-CLIP classifies against text prompts).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from stviz_backends.torch.tokens import Tokens, TokenGrid

__all__ = ["FAMILIES", "Family", "Normalization", "videomae", "timesformer", "vivit", "xclip",
           "load", "token_grid", "attention_heads", "head", "HEAD_LAYERS"]


@dataclass(frozen=True)
class Normalization:
    """A checkpoint's input normalization: ``((x * rescale + offset) - mean) / std`` of 0..255 RGB.

    ``offset`` is ``-1`` for ViViT's ``offset=True`` (``x / 127.5 - 1``), else 0.
    """

    mean: tuple
    std: tuple
    rescale: float = 1 / 255
    offset: float = 0.0

    @property
    def pixel_mean(self) -> np.ndarray:
        """The 0..255 RGB that the model sees as 0: the canonical input's origin."""
        return (np.asarray(self.mean, np.float64) - self.offset) / self.rescale

    @property
    def scale(self) -> tuple:
        """Per channel: the model's input is ``scale * (pixels - pixel_mean)``."""
        return tuple(float(self.rescale / s) for s in self.std)

    @classmethod
    def from_file(cls, path: Path, default: "Normalization") -> "Normalization":
        """From a ``preprocessor_config.json``; ``default`` where it says nothing."""
        values = json.loads(Path(path).read_text())
        if values.get("do_normalize") is False:
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        else:
            mean = tuple(values.get("image_mean", default.mean))
            std = tuple(values.get("image_std", default.std))
        rescale = values.get("rescale_factor", default.rescale) if values.get(
            "do_rescale", True) else 1.0
        offset = -1.0 if values.get("offset") else (0.0 if "offset" in values else default.offset)
        return cls(mean, std, float(rescale), offset)


@dataclass(frozen=True)
class Family:
    """A Hugging Face video family: its classes, ``model_type`` and default normalization."""

    name: str
    model_class: str
    config_class: str
    model_type: str
    normalization: Normalization


IMAGENET = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
#: the families; normalizations as the published checkpoints' preprocessor_config.json
#: (MCG-NJU/videomae-base-finetuned-kinetics, facebook/timesformer-base-finetuned-k400,
#: google/vivit-b-16x2-kinetics400, microsoft/xclip-base-patch32)
FAMILIES = {
    "videomae": Family("videomae", "VideoMAEForVideoClassification", "VideoMAEConfig", "videomae",
                       IMAGENET),
    "timesformer": Family("timesformer", "TimesformerForVideoClassification", "TimesformerConfig",
                          "timesformer", Normalization((0.45,) * 3, (0.225,) * 3)),
    "vivit": Family("vivit", "VivitForVideoClassification", "VivitConfig", "vivit",
                    Normalization((0.5,) * 3, (0.5,) * 3, 1 / 127.5, -1.0)),
    "xclip": Family("xclip", "XCLIPModel", "XCLIPConfig", "xclip",
                    Normalization((0.48145466, 0.4578275, 0.40821073),
                                  (0.26862954, 0.26130258, 0.27577711))),
}


def videomae(weights=None, **config):
    """VideoMAE (``VideoMAEForVideoClassification``); see :func:`load`."""
    return load("videomae", weights, **config)


def timesformer(weights=None, **config):
    """TimeSformer (``TimesformerForVideoClassification``); see :func:`load`."""
    return load("timesformer", weights, **config)


def vivit(weights=None, **config):
    """ViViT (``VivitForVideoClassification``); see :func:`load`."""
    return load("vivit", weights, **config)


def xclip(weights=None, **config):
    """X-CLIP's vision tower (of ``XCLIPModel``), ending in the video embedding; see :func:`load`."""
    return load("xclip", weights, **config)


def load(family: str, weights=None, **config):
    """The Hugging Face video model ``family``, its model contract declared for stviz.

    Parameters
    ----------
    family : {"videomae", "timesformer", "vivit", "xclip"}
    weights : str or path, optional
        A local ``save_pretrained`` folder of that family (never downloaded).
        None: random weights, with a warning.
    **config
        Without ``weights``: changes to the family's default config
        (``num_hidden_layers=2``, ``image_size=32``, ...).

    Returns
    -------
    torch.nn.Module
        In eval mode, taking ``(N, T, C, H, W)`` pixels minus their mean (module notes).

    Raises
    ------
    ValueError
        An unknown family, a missing folder, a folder without ``config.json`` or of
        another model (what was expected named), config changes given with weights.
    """
    from . import hf_video_torch

    if family not in FAMILIES:
        raise ValueError(f"unknown Hugging Face video family {family!r}; known: "
                         f"{', '.join(FAMILIES)}")
    spec = FAMILIES[family]
    norm = spec.normalization
    if weights is None:
        warnings.warn(f"hf:{family}: no weights given (weights=FOLDER, --weights FOLDER): random "
                      "weights", UserWarning, stacklevel=3)
        model = hf_video_torch.build(spec, None, config)
    else:
        if config:
            raise ValueError(f"hf:{family}: config changes ({', '.join(sorted(config))}) apply to "
                             "random weights only; the folder's config.json sets the model")
        folder = checked_folder(weights, spec)
        preprocessor = folder / "preprocessor_config.json"
        if preprocessor.is_file():
            norm = Normalization.from_file(preprocessor, norm)
        model = hf_video_torch.build(spec, folder, {})
    labels = None
    if family != "xclip":  # X-CLIP classifies against text prompts: no class names
        labels = [str(model.config.id2label[i]) for i in sorted(model.config.id2label)]
    return hf_video_torch.declared(model, norm.scale, grid=token_grid(family, model.config),
                                   inputs={"pixel_values": clip_shape(family, model.config)},
                                   labels=labels, preprocess=preprocess_for(norm))


def checked_folder(weights, spec: Family) -> Path:
    """``weights`` as a folder of a ``spec`` model, or a ``ValueError`` naming what was expected."""
    folder = Path(weights)
    expected = (f"a folder written by save_pretrained (config.json and model.safetensors) of a "
                f"{spec.model_class} (model_type {spec.model_type!r})")
    if not folder.is_dir():
        what = "a file" if folder.exists() else "no such folder"
        raise ValueError(f"hf:{spec.name} weights {str(folder)!r}: {what}; expected {expected}")
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"hf:{spec.name} weights {str(folder)!r} has no config.json; expected "
                         f"{expected}")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type != spec.model_type:
        raise ValueError(f"hf:{spec.name} weights {str(folder)!r} hold a {model_type!r} model; "
                         f"expected {expected}")
    return folder


def clip_shape(family: str, config) -> tuple:
    """``(T, H, W, 3)``: the clip the config's model takes."""
    vision = config.vision_config if family == "xclip" else config
    size = vision.image_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    return int(vision.num_frames), int(height), int(width), 3


def token_grid(family: str, config) -> TokenGrid:
    """The family's :class:`~stviz_backends.torch.tokens.TokenGrid` for ``config``."""
    frames, height, width, _ = clip_shape(family, config)
    vision = config.vision_config if family == "xclip" else config
    if family == "vivit":
        tubelet = tuple(int(v) for v in vision.tubelet_size)
    else:
        patch = int(vision.patch_size)
        tubelet = (int(getattr(vision, "tubelet_size", 1)) if family == "videomae" else 1,
                   patch, patch)
    grid = (frames // tubelet[0], height // tubelet[1], width // tubelet[2])
    default, rules = _LAYOUTS[family](vision)
    return TokenGrid(grid, tubelet, default, rules)


def _videomae(config):
    return Tokens("thw", lead=0), ()  # no class token: VideoMAE pools the mean


def _vivit(config):
    return Tokens("thw", lead=1), (("*.embeddings.patch_embeddings", Tokens("thw", lead=0)),)


def _timesformer(config):
    """Blocks: space-major sequences ``(h, w, t)``; divided attention's halves per frame or position."""
    frames_of = Tokens("hw", batch="t", lead=1)  # spatial attention: one sequence per frame
    patches = ("*.patch_embeddings", Tokens("hw", batch="t", lead=0))
    if config.attention_type == "space_only":
        return frames_of, (patches, ("*.embeddings.pos_drop", frames_of))
    positions = Tokens("t", batch="hw", lead=0)  # temporal attention: one sequence per position
    rules = (patches, ("*.embeddings.pos_drop", frames_of), ("*.embeddings.time_drop", positions),
             ("*.temporal_layernorm", positions), ("*.temporal_attention", positions),
             ("*.temporal_attention.*", positions),
             ("*.temporal_dense", Tokens("hwt", lead=0)),
             ("*.layernorm_before", frames_of), ("*.attention", frames_of),
             ("*.attention.*", frames_of))
    return Tokens("hwt", lead=1), rules


def _xclip(config):
    """Frames are sequences (batch ``t``); the message token trails inside the attention."""
    per_frame = Tokens("", batch="t", lead=0)  # (N T, C): a frame's class or message token
    frame_tokens = Tokens("t", lead=0)  # (N, T, C): one token per frame
    with_message = Tokens("hw", batch="t", lead=1, trail=1)
    rules = (("mit", frame_tokens), ("mit.*", frame_tokens),
             ("*.message_fc", per_frame), ("vision_model.post_layernorm", per_frame),
             ("visual_projection", per_frame),
             ("*.message_ln", frame_tokens), ("*.message_attn", frame_tokens),
             ("*.message_attn.*", frame_tokens),
             ("*.layer_norm1", with_message), ("*.self_attn", with_message),
             ("*.self_attn.*", with_message))
    return Tokens("hw", batch="t", lead=1), rules


_LAYOUTS = {"videomae": _videomae, "vivit": _vivit, "timesformer": _timesformer, "xclip": _xclip}


#: per family: the layers whose output channels are the attention heads' outputs, head-major
#: (ViViT's and X-CLIP's attention modules end in their output projection: no head is exposed)
HEAD_LAYERS = {"videomae": ("*.attention.attention",),
               "timesformer": ("*.attention.attention", "*.temporal_attention.attention"),
               "vivit": (), "xclip": ()}


def attention_heads(model) -> dict:
    """``{layer: (heads, head_dim)}``: the model's layers whose output channels are its attention
    heads' outputs (channels ``[h d, (h + 1) d)`` are head ``h``'s), before the output projection."""
    import fnmatch

    family = "xclip" if model.config.model_type == "xclip" else model.config.model_type
    config = model.config.vision_config if family == "xclip" else model.config
    heads = int(config.num_attention_heads)
    size = (heads, int(config.hidden_size) // heads)
    return {name: size for name, _ in model.named_modules()
            if any(fnmatch.fnmatchcase(name, p) for p in HEAD_LAYERS.get(family, ()))}


def head(model, layer: str, index: int, location=None, *, normalize: bool = True):
    """The objective of attention head ``index`` at ``layer``: its output channels summed, at the
    token ``location = (t, y, x)`` or over every token (None).

    Raises
    ------
    ValueError
        A layer whose channels are no heads (the head layers listed), a head out of range.
    """
    import stviz_core as sv

    layers = attention_heads(model)
    if layer not in layers:
        shown = ", ".join(list(layers)[:6]) or "none: this family's attention ends in its projection"
        raise ValueError(f"layer {layer!r}'s channels are not attention heads; head layers: {shown}")
    heads, dim = layers[layer]
    if not 0 <= int(index) < heads:
        raise ValueError(f"head {index} is out of range: {layer!r} has {heads} heads (0..{heads - 1})")
    channels = range(int(index) * dim, (int(index) + 1) * dim)
    terms = [sv.channel(c, normalize=normalize) if location is None
             else sv.neuron(c, location, normalize=normalize) for c in channels]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def preprocess(frames, size=None, *, pixel_mean) -> np.ndarray:
    """Video frames (uint8 RGB ``(T, H, W, 3)``) as the model's canonical input, float32.

    Fitted to ``size = (H, W)`` (resized to cover it, centre-cropped) and minus
    ``pixel_mean`` (the model's ``stviz_preprocess``, with the checkpoint's mean).
    """
    from ..video_inputs import rgb_input

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (T, H, W, 3), got shape {frames.shape}")
    if size is not None:
        from ..media.video_io import fit_frames

        frames = fit_frames(frames, tuple(size))
    return rgb_input(frames, pixel_mean)


def preprocess_for(norm: Normalization):
    """The ``stviz_preprocess`` of a model with normalization ``norm``."""
    return partial(preprocess, pixel_mean=tuple(float(v) for v in norm.pixel_mean))
