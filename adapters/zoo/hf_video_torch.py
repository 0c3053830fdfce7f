"""The PyTorch side of :mod:`.hf_video`: building the models, their normalization, X-CLIP's tower.

Imports torch at import time (an adapter's ``*_torch`` module);
``transformers`` is imported when a model is built.
"""

from __future__ import annotations

from torch import nn

from stviz_core.layouts import Frames3D
from stviz_core.model_contract import declare

__all__ = ["PixelScale", "XCLIPVideoTower", "build", "declared"]


class PixelScale:
    """A forward pre-hook: ``pixel_values`` times a per-channel scale (on ``axis``: 2 of
    ``(N, T, C, H, W)``, 1 of torchvision's ``(N, C, T, H, W)``).

    The model then takes pixels minus their mean, in pixel units (the checkpoint's
    ``(x / 255 - mean) / std`` is ``scale * (x - 255 mean)``). Works whether
    ``pixel_values`` is passed by position or by keyword.
    """

    def __init__(self, scale, axis=2):
        self.scale, self.axis = tuple(float(s) for s in scale), int(axis)

    def _scaled(self, x):
        shape = [1] * x.ndim
        shape[self.axis] = len(self.scale)
        return x * x.new_tensor(self.scale).reshape(shape)

    def __call__(self, module, args, kwargs):
        if args:
            return (self._scaled(args[0]), *args[1:]), kwargs
        if "pixel_values" in kwargs:
            return args, {**kwargs, "pixel_values": self._scaled(kwargs["pixel_values"])}
        return None


class XCLIPVideoTower(nn.Module):
    """X-CLIP's video half: frames through ``vision_model`` (with cross-frame message tokens),
    ``visual_projection``, the multi-frame integration transformer ``mit``, ending in
    ``video_embeds`` ``(N, D)``. Submodules keep their names in ``XCLIPModel``.
    """

    def __init__(self, xclip_model):
        super().__init__()
        self.config = xclip_model.config
        self.vision_model = xclip_model.vision_model
        self.visual_projection = xclip_model.visual_projection
        self.mit = xclip_model.mit
        self.video_embeds = nn.Identity()

    def forward(self, pixel_values):
        batch, frames, channels, height, width = pixel_values.shape
        outputs = self.vision_model(pixel_values=pixel_values.reshape(-1, channels, height, width))
        embeds = self.visual_projection(outputs.pooler_output).reshape(batch, frames, -1)
        return self.video_embeds(self.mit(embeds).pooler_output)


def build(spec, folder, config: dict):
    """The model of family ``spec``: from ``folder`` (local files only) or a config with ``config``
    changed (random weights). X-CLIP gives its :class:`XCLIPVideoTower`."""
    import transformers

    model_class = getattr(transformers, spec.model_class)
    if folder is not None:
        model = model_class.from_pretrained(str(folder), local_files_only=True)
    else:
        config_class = getattr(transformers, spec.config_class)
        try:
            settings = config_class(**config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"hf:{spec.name}: bad config change: {exc}") from None
        model = model_class(settings)
    if spec.name == "xclip":
        model = XCLIPVideoTower(model)
    return model.eval()


def declared(model, scale, *, grid, inputs, labels, preprocess):
    """``model`` with its normalization hook (:class:`PixelScale` by ``scale``) and its model
    contract: layout ``Frames3D`` with the token ``grid``, ``inputs``, ``labels``, ``preprocess``."""
    model.register_forward_pre_hook(PixelScale(scale), with_kwargs=True)
    return declare(model, layout=Frames3D("pixel_values", tokens=grid), inputs=inputs,
                   labels=labels, preprocess=preprocess)
