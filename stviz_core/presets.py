"""Regularization and optimization presets: the paper's settings and Mahendran & Vedaldi's.

A :class:`Preset` holds one :class:`StreamRegularization` per input role
(``"appearance"``: RGB frames or clips, ``"motion"``: optical flow) plus the
optimization defaults (steps, learning-rate schedule, initial noise scale).
The lambdas depend on the input size, so a stream stores the constants of the
paper's formulas and :meth:`StreamRegularization.weights` turns them into
numbers for a given ``(T, H, W, C)``.

Choices the paper (sec. 3.2) leaves open, made here:

* **Motion bound and exponent.** The paper states ``B`` and ``alpha`` for
  appearance only. Flow is scaled so that its usual range is about ``+-B/2``
  with ``B = 160`` (``docs/architecture.md`` sec. 3), the same scale as mean-subtracted RGB,
  so the motion stream uses the same ``B = 160`` and ``alpha = 3``.
* **Normalization by T.** The paper's ``lambda_B = 1/(H W B^alpha)`` and
  ``lambda_TV = 1/(H W V^2)`` have no ``T``; its regularizers sum over every
  frame. ``paper`` keeps exactly that (``normalize_time=False``): a stacked flow
  input of ``L`` frames carries ``L`` frames' worth of penalty, which is how the
  paper's weights read literally. ``normalize_time=True`` divides by ``T``,
  making the trade-off independent of clip length.
* **Temporal weight of appearance.** In the paper's 2D two-stream nets the
  appearance input is one frame (``T = 1``), so ``gamma`` does nothing there.
  For clip inputs (3D convnets) the appearance stream takes the same ``gamma``
  as motion unless ``appearance_gamma`` is given; its ``kappa`` stays 1.
* **Learning rate.** "An adaptively decreasing learning rate" is not given as
  numbers; ``paper`` uses Adam with a geometric decay from 8 to 0.8 (on the
  0..255 input scale, i.e. 5 % to 0.5 % of ``B`` per step) over 300 steps.

Beyond the paper (issue 16), presets named for what they add:

* ``robust``: the paper's, plus transformation robustness (:data:`TRANSFORMS`).
* ``fourier``: a colour-decorrelated space-time Fourier parameterization with
  1/f amplitudes (:mod:`stviz_core.param.fourier`), :data:`TRANSFORMS`, and the
  paper's regularizers at a tenth of their weight: the spectrum already favours
  the smooth inputs TV and ``N_B`` ask for, so at full weight they would count
  twice (the hard bound is unchanged). It starts from low-contrast noise
  (``init_scale = 0.1``; Lucid starts near grey): structure comes from the unit.
* ``maco``: phases only, under a fixed natural 1/f amplitude spectrum
  (:mod:`stviz_core.param.maco`), otherwise as ``fourier``; Adam's rate is in
  radians per step.
* ``canvas`` (:data:`DEFAULT`, issue 24): ``fourier`` on a space-time canvas 2 x 1.25 the
  clip's, a random crop fed each step, z-scored to contrast 0.6 (a real clip's pixel std) and
  squashed into the bound, frame shifts of up to 2, 200 steps (:data:`CANVAS`, :data:`CANVAS_SHIFT`;
  tuned on the Kinetics I3D with ``benchmarks/kinetics_quality.py``; benchmarks/RESULTS.md).

All take ``kappa``, ``gamma``, ``steps`` as ``paper`` does (the sweep and the CLI build every
preset so), ``diversity`` (:mod:`stviz_core.diversity`) and the field-shaping options.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Mapping, Optional

from . import param as _param
from ._checks import choice, non_negative, positive, positive_int
from .diversity import check_weight
from .optim import Exponential, Piecewise, schedule_from_dict
from .transforms import Transforms

__all__ = ["StreamRegularization", "Preset", "ROLES", "paper", "spatial", "isotropic",
           "anisotropic", "nnpreimage", "robust", "fourier", "maco", "canvas", "CANVAS", "DEFAULT",
           "CANVAS_SHIFT", "TRANSFORMS", "get", "names", "from_dict"]

ROLES = ("appearance", "motion")

#: The paper's constants (sec. 3.2): B = 160, alpha = 3, V = B / 6.5.
PAPER_BOUND = 160.0
PAPER_ALPHA = 3.0
PAPER_V = PAPER_BOUND / 6.5
MOTION_TV_FACTOR = 10.0


@dataclass(frozen=True)
class StreamRegularization:
    r"""Regularization of one input stream: the terms of eq. 2 and 3 and their weights.

    The penalty subtracted from the objective is
    ``lambda_norm * N_B(x) + lambda_tv * R_TV(x; kappa, gamma)`` and, after each
    step, every pixel vector is projected back to norm ``<= bound``.

    Parameters
    ----------
    bound : float
        Hard bound ``B`` on each pixel's colour or flow vector norm.
    alpha : float
        Exponent of the local-energy norm ``N_B``.
    norm_scale : float
        Scale in ``lambda_norm = 1 / (H W norm_scale^alpha)``.
    tv_scale : float
        ``V`` in ``lambda_tv = tv_factor / (H W V^2)``.
    tv_factor : float
        Multiplier of the TV weight (the paper: 1 for appearance, 10 for motion).
    kappa, gamma : float
        Spatial and temporal weights inside eq. 3.
    normalize_time : bool
        Divide both lambdas by ``T`` as well.
    lambda_norm, lambda_tv : float, optional
        Absolute weights that replace the formulas (0 switches a term off).
    weight : float
        Multiplies both lambdas (formula or given); presets that regularize
        through their parameterization use less than 1.
    """

    bound: float = PAPER_BOUND
    alpha: float = PAPER_ALPHA
    norm_scale: float = PAPER_BOUND
    tv_scale: float = PAPER_V
    tv_factor: float = 1.0
    kappa: float = 1.0
    gamma: float = 0.0
    normalize_time: bool = False
    lambda_norm: Optional[float] = None
    lambda_tv: Optional[float] = None
    weight: float = 1.0

    def __post_init__(self):
        for name in ("bound", "alpha", "norm_scale", "tv_scale"):
            positive(getattr(self, name), name)
        for name in ("tv_factor", "kappa", "gamma", "weight"):
            non_negative(getattr(self, name), name)
        for name in ("lambda_norm", "lambda_tv"):
            if getattr(self, name) is not None:
                non_negative(getattr(self, name), name)

    def weights(self, shape) -> tuple[float, float]:
        """``(lambda_norm, lambda_tv)`` for one visualization of shape ``(T, H, W, C)``."""
        t, h, w = shape[0], shape[1], shape[2]
        area = h * w * (t if self.normalize_time else 1)
        lam_n = self.lambda_norm
        if lam_n is None:
            lam_n = 1.0 / (area * self.norm_scale**self.alpha)
        lam_tv = self.lambda_tv
        if lam_tv is None:
            lam_tv = self.tv_factor / (area * self.tv_scale**2)
        return float(lam_n * self.weight), float(lam_tv * self.weight)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Preset:
    """A named set of per-role regularizations and optimization defaults.

    ``steps``, ``learning_rate``, ``parameterization``, ``transforms`` and
    ``diversity`` are the defaults of the run options of the same names: a run
    record (:class:`stviz_core.RunOptions`) that leaves one of them ``None``
    takes the preset's (:meth:`RunOptions.filled`). A run names a preset by
    object or by name (``preset="fourier"``, built by :func:`get`).

    Attributes
    ----------
    name : str
    appearance, motion : StreamRegularization
    steps : int
        Default number of ascent steps.
    learning_rate : schedule
        ``Exponential``, ``Piecewise`` or ``Constant`` from :mod:`stviz_core.optim`.
    init_scale : float
        Initial noise: each channel uniform in ``+-init_scale * bound / sqrt(C)``,
        so every pixel vector starts inside ``init_scale * bound`` (the Fourier
        parameterization matches that noise's root-mean-square; maco ignores it).
    parameterization : Parameterization or str
        What is optimized (:mod:`stviz_core.param`); ``"pixel"`` by default.
    transforms : Transforms
        Random transforms each step besides the jitter (none by default).
    diversity : float
        Weight ``>= 0`` of the Gram diversity term (:mod:`stviz_core.diversity`).
    """

    name: str
    appearance: StreamRegularization
    motion: StreamRegularization
    steps: int = 300
    learning_rate: object = field(default_factory=lambda: Exponential(8.0, 0.8))
    init_scale: float = 1.0
    parameterization: object = field(default_factory=_param.Pixel)
    transforms: Transforms = field(default_factory=Transforms)
    diversity: float = 0.0

    def __post_init__(self):
        for role in ROLES:
            if not isinstance(getattr(self, role), StreamRegularization):
                raise TypeError(f"a preset's {role} must be a StreamRegularization, got "
                                f"{type(getattr(self, role)).__name__} (e.g. "
                                f"preset.replace({role}=dataclasses.replace(preset.{role}, weight=2))")
        positive_int(self.steps, "steps")
        positive(self.init_scale, "init_scale")
        object.__setattr__(self, "parameterization", _param.resolve(self.parameterization))
        if not isinstance(self.transforms, Transforms):
            object.__setattr__(self, "transforms", Transforms.from_dict(self.transforms))
        object.__setattr__(self, "diversity", check_weight(self.diversity))

    def for_role(self, role: str) -> StreamRegularization:
        """The regularization of ``role`` (``"appearance"`` or ``"motion"``)."""
        return getattr(self, choice(role, "input role", ROLES))

    def replace(self, **changes) -> "Preset":
        """A copy with fields changed, e.g. ``preset.replace(steps=50)``."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Every field as JSON values, in field order (what :func:`from_dict` reads)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in values.items()}


def from_dict(data: Mapping) -> Preset:
    """Rebuild a :class:`Preset` from :meth:`Preset.to_dict` output."""
    return Preset(
        name=data["name"],
        appearance=StreamRegularization(**data["appearance"]),
        motion=StreamRegularization(**data["motion"]),
        steps=data["steps"],
        learning_rate=schedule_from_dict(data["learning_rate"]),
        init_scale=data["init_scale"],
        parameterization=data.get("parameterization", "pixel"),
        transforms=data.get("transforms"),
        diversity=data.get("diversity", 0.0),
    )


def paper(
    kappa: float = 1.0,
    gamma: float = 1.0,
    *,
    appearance_gamma: Optional[float] = None,
    normalize_time: bool = False,
    steps: int = 300,
) -> Preset:
    """The paper's settings (sec. 3.2): ``B = 160``, ``alpha = 3``, ``V = B / 6.5``.

    Appearance: ``lambda_B = 1/(H W B^alpha)``, ``lambda_TV = 1/(H W V^2)``,
    ``kappa = 1``. Motion: the same bound and norm, TV weight ten times the
    appearance one, and eq. 3's ``kappa`` and ``gamma`` as given. The default
    ``gamma = 1`` is the "medium speed" setting of the paper's Fig. 1.

    Parameters
    ----------
    kappa, gamma : float
        Spatial and temporal weight of the motion TV term (eq. 3).
    appearance_gamma : float, optional
        Temporal weight for clip (T > 1) appearance inputs; defaults to ``gamma``.
    normalize_time : bool
        Also divide the lambdas by T (see the module notes).
    steps : int
        Default number of ascent steps.
    """
    kappa, gamma = non_negative(kappa, "kappa"), non_negative(gamma, "gamma")
    common = dict(bound=PAPER_BOUND, alpha=PAPER_ALPHA, norm_scale=PAPER_BOUND,
                  tv_scale=PAPER_V, normalize_time=normalize_time)
    app_gamma = gamma if appearance_gamma is None else appearance_gamma
    return Preset(
        name="paper",
        appearance=StreamRegularization(**common, kappa=1.0, gamma=app_gamma),
        motion=StreamRegularization(
            **common, tv_factor=MOTION_TV_FACTOR, kappa=kappa, gamma=gamma
        ),
        steps=steps,
        learning_rate=Exponential(8.0, 0.8),
    )


def spatial(kappa: float = 1.0, **options) -> Preset:
    """Eq. 3 with ``gamma = 0``: spatial smoothness only, time left free."""
    return paper(kappa=kappa, gamma=0.0, **options)


def isotropic(kappa: float = 1.0, **options) -> Preset:
    """Eq. 3 with ``gamma = kappa``: the same penalty on variation in space and time."""
    return paper(kappa=kappa, gamma=kappa, **options)


def anisotropic(gamma: float = 1.0, **options) -> Preset:
    """Eq. 3 with ``kappa = 1`` and a chosen slowness ``gamma`` (paper: 0, 1, 5, 10)."""
    return paper(kappa=1.0, gamma=gamma, **options)


#: Mahendran & Vedaldi's reference defaults: a norm of exponent 6 normalized by
#: B = 80, a hard bound at 2B = 160, TV of exponent 2 with V = B / 6.5, 300 steps.
NNPREIMAGE_B = 80.0


def nnpreimage(kappa: float = 1.0, gamma: float = 0.0, *, steps: int = 300) -> Preset:
    """Mahendran & Vedaldi's reference-code defaults, applied to every stream.

    How it differs from :func:`paper`:

    * ``alpha = 6`` (paper: 3) with ``lambda_B = 1/(H W 80^6)`` (paper's scale: 160);
    * ``V = 80 / 6.5`` (paper: 160 / 6.5), so TV weighs 4x more;
    * the hard bound is ``2 * 80 = 160``, as in the paper;
    * no tenfold TV weight for motion (the reference code has no motion input);
    * ``gamma = 0`` by default (the reference code is for still images);
    * learning rate: a step schedule, 8 for the first third, then 0.8 (the
      reference code's tenfold drop), with Adam in place of its momentum SGD.
    """
    stream = StreamRegularization(
        bound=2 * NNPREIMAGE_B, alpha=6.0, norm_scale=NNPREIMAGE_B,
        tv_scale=NNPREIMAGE_B / 6.5, kappa=kappa, gamma=gamma,
    )
    return Preset(
        name="nnpreimage", appearance=stream, motion=stream, steps=steps,
        learning_rate=Piecewise(values=(8.0, 0.8), boundaries=(1 / 3,)),
    )


#: The transforms of ``robust``, ``fourier`` and ``maco``: Lucid's standard scales
#: (0.9..1.1) and rotations (+-10 degrees), frame shifts of up to one frame, and
#: speeds 0.9..1.1 (mild, so a unit's preferred speed stays sharp).
TRANSFORMS = Transforms(scale=(0.9, 1.1), rotate=10.0, time_shift=1, speed=(0.9, 1.1))
#: Regularizer weight of the spectral presets, relative to the paper's.
SPECTRAL_WEIGHT = 0.1
#: Adam's rates: ``fourier`` on the pixel scale (its coefficients have unit gain),
#: ``maco`` in radians per step.
FOURIER_RATE, MACO_RATE = Exponential(8.0, 0.8), Exponential(0.2, 0.02)


@_param.takes_shaping
def robust(kappa: float = 1.0, gamma: float = 1.0, *, diversity: float = 0.0,
           **options) -> Preset:
    """:func:`paper` plus :data:`TRANSFORMS`; options as :func:`fourier`'s."""
    return paper(kappa, gamma, **options).replace(name="robust", transforms=TRANSFORMS,
                                                  diversity=diversity)


@_param.takes_shaping
def fourier(kappa: float = 1.0, gamma: float = 1.0, *, alpha: float = 1.0,
            diversity: float = 0.0, **options) -> Preset:
    """Fourier parameterization, :data:`TRANSFORMS`, the paper's regularizers at a tenth.

    Parameters
    ----------
    kappa, gamma : float
        As in :func:`paper`.
    alpha : float
        Amplitude exponent of the spectrum, in ``[0, 4]``.
    diversity : float
        Weight ``>= 0`` of the diversity term.
    **options
        ``appearance_gamma``, ``normalize_time``, ``steps`` as in :func:`paper`;
        ``canvas``, ``crop``, ``squash``, ``standardize``, ``contrast``: a canvas larger than
        the clip, cropped each step, and the output stage (:func:`stviz_core.param.shaped`;
        e.g. ``fourier(canvas=(3, 1.25), squash=True, standardize=True)``); off by default.
    """
    return _spectral("fourier", paper(kappa, gamma, **options), _param.Fourier(alpha=alpha),
                     diversity, FOURIER_RATE, init_scale=0.1)


@_param.takes_shaping
def maco(kappa: float = 1.0, gamma: float = 1.0, *, alpha: float = 1.0, rms: float = 0.35,
         diversity: float = 0.0, **options) -> Preset:
    """Phases only under a fixed 1/f^alpha spectrum, :data:`TRANSFORMS`, regularizers at a tenth.

    ``rms``: the spectrum's root-mean-square pixel norm as a fraction of the
    bound, in ``(0, 1]``; the other options as :func:`fourier`'s.
    """
    return _spectral("maco", paper(kappa, gamma, **options), _param.Maco(alpha=alpha, rms=rms),
                     diversity, MACO_RATE)


#: ``canvas``'s options of :func:`fourier` and largest frame shift (issue 24: 2, as the unseen views');
#: :data:`DEFAULT`: the preset of ``sv.visualize``, ``stviz visualize``, ``stviz demo``, ``stviz sweep``
CANVAS = dict(canvas=(2.0, 1.25), squash=True, standardize=True, contrast=0.6, steps=200)
CANVAS_SHIFT, DEFAULT = 2, "canvas"


def canvas(kappa: float = 1.0, gamma: float = 1.0, **options) -> Preset:
    """:func:`fourier` with :data:`CANVAS` and :data:`CANVAS_SHIFT` (given options override CANVAS)."""
    preset = fourier(kappa, gamma, **{**CANVAS, **options})
    return preset.replace(name="canvas", transforms=replace(preset.transforms, time_shift=CANVAS_SHIFT))


def _spectral(name, base, parameterization, diversity, rate, **changes):
    return base.replace(
        name=name, parameterization=parameterization, transforms=TRANSFORMS,
        diversity=diversity, learning_rate=rate,
        appearance=replace(base.appearance, weight=SPECTRAL_WEIGHT),
        motion=replace(base.motion, weight=SPECTRAL_WEIGHT), **changes)


_PRESETS = {"paper": paper, "nnpreimage": nnpreimage, "robust": robust, "fourier": fourier,
            "maco": maco, "canvas": canvas}


def names() -> tuple:
    """Names :func:`get` accepts."""
    return tuple(_PRESETS)


def get(name: str, **options) -> Preset:
    """Build a preset by name: ``get("paper", gamma=5)``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    return _PRESETS[choice(name, "preset", names())](**options)
