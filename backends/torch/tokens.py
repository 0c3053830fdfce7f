"""Token sequences of video transformers mapped back to their ``(T', H', W')`` grid.

A video transformer cuts its clip into tubelets of ``stride = (t, h, w)``
frames and pixels, a grid of ``(T', H', W') = (T / t, H / h, W / w)`` tokens,
and its layers hold them as sequences ``(B, L, C)``. How depends on the model
and on the layer (:class:`Tokens`):

* ``sequence``: the grid axes laid along ``L``, slowest first: ``"thw"`` for
  VideoMAE and ViViT (time-major), ``"hwt"`` for TimeSformer's blocks (its
  divided space-time attention keeps each position's frames together);
* ``batch``: grid axes folded into the batch, ``B = N * prod``, after the clip
  index: ``"t"`` where each frame is its own sequence (X-CLIP's vision tower,
  TimeSformer's spatial attention), ``"hw"`` where each position's frames are
  (TimeSformer's temporal attention);
* ``lead``, ``trail``: tokens before and after the grid that are no tubelet:
  the class token (``lead=1``), X-CLIP's message token (``trail=1``).

:func:`to_grid` drops the class and message tokens and returns the layer's
output as a channels-first map ``(N, C, T', H', W')`` (a missing axis of
size 1), which the backend then treats as a 3D conv layer's: ``neuron(c,
location=(t, y, x))`` is channel ``c`` of the token of tubelet ``(t, y, x)``,
``channel(c)`` its sum over every token. The class token is left out of the
grid: the layers after pooling (a classifier's logits, ``fc_norm``) are where
it counts. Every token attends to the whole clip, so a token layer's receptive
field is the whole clip and its stride the tubelet's spatial size
(:meth:`TokenGrid.receptive_field`): the jitter moves the clip by whole tubelets.

A :class:`TokenGrid` is declared with the model's layout
(``stviz_core.layouts.Frames3D(tokens=...)``) by the adapter that builds the
model (``stviz_adapters.zoo.hf_video``); nothing here imports torch: tensors
are reshaped and permuted through their own methods.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

__all__ = ["Tokens", "TokenGrid", "to_grid", "first_tensor"]

_AXES = "thw"


@dataclass(frozen=True)
class Tokens:
    """How one layer's output ``(B, L, C)`` (or ``(B, C)``) holds the token grid.

    Parameters
    ----------
    sequence : str
        Grid axes (``t``, ``h``, ``w``) along the sequence, slowest first; ``""``
        for an output without a sequence axis ``(B, C)``.
    batch : str
        Grid axes folded into the batch after the clip index, slowest first.
    lead, trail : int
        Tokens before (class token) and after (message token) the grid.
    """

    sequence: str = "thw"
    batch: str = ""
    lead: int = 1
    trail: int = 0

    def __post_init__(self):
        axes = self.batch + self.sequence
        if any(a not in _AXES for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"token axes must be distinct letters of 'thw', got batch="
                             f"{self.batch!r}, sequence={self.sequence!r}")
        if self.lead < 0 or self.trail < 0:
            raise ValueError(f"lead and trail are token counts >= 0, got {self.lead}, {self.trail}")


@dataclass(frozen=True)
class TokenGrid:
    """A model's token grid and how each of its layers lays it out.

    Parameters
    ----------
    grid : tuple of int
        ``(T', H', W')``: tubelets along time, height and width.
    stride : tuple of int
        ``(t, h, w)``: a tubelet's size in frames and pixels.
    default : Tokens
        The layout of a layer no rule names (the blocks' residual stream).
    rules : tuple
        ``((pattern, Tokens), ...)``: layers whose names match the ``fnmatch``
        pattern (``"*.temporal_attention.*"``), first match wins.
    """

    grid: tuple
    stride: tuple
    default: Tokens = Tokens()
    rules: tuple = ()

    def __post_init__(self):
        for name in ("grid", "stride"):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != 3 or min(value) < 1:
                raise ValueError(f"{name} is (t, h, w) with every size >= 1, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "rules", tuple((str(p), t) for p, t in self.rules))

    def tokens_of(self, layer: str) -> Tokens:
        """The :class:`Tokens` of ``layer`` (its qualified module name)."""
        for pattern, tokens in self.rules:
            if fnmatch.fnmatchcase(layer, pattern):
                return tokens
        return self.default

    def receptive_field(self, clip_size: int, tokens: bool = True) -> tuple:
        """``(rf, stride)`` of a layer: a token layer's (or one that pools tokens) is the whole
        clip; the patch embedding's (``tokens=False``, a convolution map) one tubelet. The
        stride is the tubelet's spatial size."""
        stride = int(max(self.stride[1:]))
        return (int(clip_size) if tokens else stride), stride

    def describe(self) -> str:
        t, h, w = self.grid
        return (f"grid (T', H', W') = ({t}, {h}, {w}) of {'x'.join(map(str, self.stride))} "
                "tubelets")


def first_tensor(output):
    """A block's hidden states: ``output`` itself, or the first item of a tuple or a Hugging Face
    ``ModelOutput`` (``(hidden_states, attentions, ...)``)."""
    if isinstance(output, tuple) and output:
        return output[0]
    to_tuple = getattr(output, "to_tuple", None)
    if callable(to_tuple):
        items = to_tuple()
        return items[0] if items else output
    return output


def to_grid(output, grid: TokenGrid, layer: str, clips: int):
    """``output`` of token layer ``layer`` as ``(N, C, T', H', W')``; other outputs unchanged.

    Parameters
    ----------
    output : tensor
        The layer's output; ``(B, L, C)`` is a token sequence, ``(B, C)`` one when
        a rule names the layer; any other rank is returned as it is.
    grid : TokenGrid
    layer : str
    clips : int
        ``N``, the clips of the forward pass.

    Raises
    ------
    ValueError
        When the output's shape does not hold the layer's declared token layout
        (the grid and the layout stated).
    """
    tokens = grid.tokens_of(layer)
    named = tokens is not grid.default
    if output.ndim != 3 and not (output.ndim == 2 and named and not tokens.sequence):
        if output.shape[0] != clips:  # e.g. a per-frame patch convolution (N * T', C, H', W')
            raise ValueError(f"layer {layer!r} outputs {tuple(output.shape)}: its batch axis holds "
                             f"more than the N = {clips} clips (frames folded into it); pick a "
                             "layer after it, e.g. the first block")
        return output
    sizes = dict(zip(_AXES, grid.grid))
    folded = math.prod(sizes[a] for a in tokens.batch)
    expected = tokens.lead + math.prod(sizes[a] for a in tokens.sequence) + tokens.trail
    length = output.shape[1] if output.ndim == 3 else 0
    if output.shape[0] != clips * folded or (output.ndim == 3 and length != expected):
        raise ValueError(
            f"layer {layer!r} outputs {tuple(output.shape)}, not the token layout declared for it "
            f"({grid.describe()}; batch N x {tokens.batch or '1'}, sequence {tokens.lead} + "
            f"{tokens.sequence or '-'} + {tokens.trail} tokens, N = {clips}): pick another layer")
    if output.ndim == 3:
        output = output[:, tokens.lead:length - tokens.trail]
    channels = output.shape[-1]
    axes = tokens.batch + tokens.sequence
    output = output.reshape((clips, *(sizes[a] for a in axes), channels))
    order = [1 + axes.index(a) for a in _AXES if a in axes]
    output = output.permute((0, len(axes) + 1, *order))
    present = [a in axes for a in _AXES]
    shape = (clips, channels, *(sizes[a] if p else 1 for a, p in zip(_AXES, present)))
    return output.reshape(shape)
