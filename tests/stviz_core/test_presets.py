"""Presets: the paper's weights (sec. 3.2), the eq. 3 special cases and nnpreimage."""

import pytest

from stviz_core import param, presets


def test_paper_weights_are_the_papers_formulas():
    p = presets.paper()
    h, w = 112, 96
    lam_b, lam_tv = p.appearance.weights((1, h, w, 3))
    assert lam_b == pytest.approx(1 / (h * w * 160.0**3), rel=1e-15)
    assert lam_tv == pytest.approx(1 / (h * w * (160 / 6.5) ** 2), rel=1e-15)
    m_b, m_tv = p.motion.weights((10, h, w, 2))
    assert m_b == pytest.approx(lam_b, rel=1e-15)
    assert m_tv == pytest.approx(10 * lam_tv, rel=1e-15)
    assert p.appearance.bound == p.motion.bound == 160.0
    assert p.appearance.alpha == p.motion.alpha == 3.0


def test_normalize_time_divides_by_the_frame_count():
    lit = presets.paper().motion.weights((10, 8, 8, 2))
    per = presets.paper(normalize_time=True).motion.weights((10, 8, 8, 2))
    assert per[0] == pytest.approx(lit[0] / 10) and per[1] == pytest.approx(lit[1] / 10)


@pytest.mark.parametrize("make, kappa, gamma", [
    (lambda: presets.spatial(2.5), 2.5, 0.0),
    (lambda: presets.isotropic(5.0), 5.0, 5.0),
    (lambda: presets.anisotropic(10.0), 1.0, 10.0),
    (lambda: presets.paper(), 1.0, 1.0),
])
def test_special_cases_of_eq3(make, kappa, gamma):
    p = make()
    assert (p.motion.kappa, p.motion.gamma) == (kappa, gamma)
    assert p.appearance.kappa == 1.0 and p.appearance.gamma == gamma
    assert p.name == "paper"


def test_appearance_gamma_can_differ():
    assert presets.paper(gamma=5, appearance_gamma=0).appearance.gamma == 0


def test_nnpreimage_defaults():
    p = presets.nnpreimage()
    s = p.appearance
    assert (s.alpha, s.bound, s.norm_scale, s.tv_scale) == (6.0, 160.0, 80.0, 80 / 6.5)
    lam_b, lam_tv = s.weights((1, 10, 20, 3))
    assert lam_b == pytest.approx(1 / (200 * 80.0**6))
    assert lam_tv == pytest.approx(1 / (200 * (80 / 6.5) ** 2))
    assert p.motion == s and p.steps == 300


def test_get_and_round_trip():
    assert presets.get("paper", gamma=5).motion.gamma == 5
    for p in (presets.paper(gamma=5), presets.nnpreimage()):
        assert presets.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown preset 'lucid'; valid choices: 'paper', 'nnpreimage'"):
        presets.get("lucid")


def test_explicit_lambdas_replace_the_formulas():
    s = presets.StreamRegularization(lambda_norm=0.0, lambda_tv=2.0)
    assert s.weights((3, 4, 5, 2)) == (0.0, 2.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"kappa": -1.0}, "kappa must be >= 0"),
    ({"gamma": -0.5}, "gamma must be >= 0"),
    ({"alpha": 0.0}, "alpha must be > 0"),
    ({"bound": -3.0}, "bound must be > 0"),
    ({"bound": float("nan")}, "bound must be finite"),
])
def test_bad_stream_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        presets.StreamRegularization(**kwargs)


def test_bad_preset_arguments():
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        presets.isotropic(-2.0)
    with pytest.raises(ValueError, match="valid choices: 'appearance', 'motion'"):
        presets.paper().for_role("depth")
    with pytest.raises(TypeError, match="steps must be an integer"):
        presets.paper(steps=2.5)


def test_the_issue_16_presets():
    assert presets.names() == ("paper", "nnpreimage", "robust", "fourier", "maco", "canvas")
    paper = presets.paper()
    assert paper.parameterization == param.Pixel() and not paper.transforms.active
    assert paper.diversity == 0.0 and paper.appearance.weight == paper.motion.weight == 1.0
    robust = presets.robust(gamma=5)
    assert robust.transforms == presets.TRANSFORMS and robust.motion == presets.paper(gamma=5).motion
    for p in (presets.fourier(), presets.maco()):
        assert p.transforms == presets.TRANSFORMS
        for role in ("appearance", "motion"):
            lit = paper.for_role(role).weights((4, 16, 16, 3))
            ours = p.for_role(role).weights((4, 16, 16, 3))
            assert ours == pytest.approx(tuple(0.1 * w for w in lit), rel=1e-15)
            assert p.for_role(role).bound == 160.0
    assert presets.fourier(alpha=1.5).parameterization == param.Fourier(alpha=1.5)
    assert presets.fourier().init_scale == 0.1
    assert presets.maco(rms=0.2).parameterization == param.Maco(rms=0.2)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_takes_kappa_gamma_and_steps_and_round_trips(name):
    """The CLI and the sweep build every preset as get(name, kappa=..., gamma=...)."""
    p = presets.get(name, kappa=2.0, gamma=3.0, steps=40)
    assert (p.motion.kappa, p.motion.gamma, p.steps, p.name) == (2.0, 3.0, 40, name)
    assert presets.from_dict(p.to_dict()) == p


def test_old_preset_dicts_still_load():
    data = presets.paper().to_dict()
    for key in ("parameterization", "transforms", "diversity"):
        del data[key]
    del data["appearance"]["weight"], data["motion"]["weight"]
    assert presets.from_dict(data) == presets.paper()


@pytest.mark.parametrize("make, message", [
    (lambda: presets.get("lucid"), "valid choices: 'paper', 'nnpreimage', 'robust', 'fourier', 'maco'"),
    (lambda: presets.fourier(alpha=5), r"alpha must be in \[0, 4\]"),
    (lambda: presets.maco(rms=2), r"rms must be in \(0, 1\]"),
    (lambda: presets.paper().replace(parameterization="wavelet"),
     "unknown parameterization 'wavelet'; valid choices: 'pixel', 'fourier', 'maco'"),
    (lambda: presets.paper().replace(transforms={"rotate": [-190, 0]}),
     r"rotate must be a range \(lo, hi\) with -180 <= lo <= hi <= 180"),
    (lambda: presets.robust(diversity=-1), "diversity weight must be >= 0"),
    (lambda: presets.StreamRegularization(weight=-0.5), "weight must be >= 0"),
])
def test_bad_new_settings_name_their_domain(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_issue_24_default_is_fourier_on_a_z_scored_canvas():
    assert presets.DEFAULT in presets.names()
    c = presets.canvas(gamma=5)
    assert c.name == "canvas" and c.steps == presets.CANVAS["steps"]
    assert c.parameterization == presets.fourier(**presets.CANVAS).parameterization
    assert c.parameterization.output.standardize and c.transforms.crop is not None
    # frame shifts on top of the crops' moves in time (fourier's canvas option turns them off)
    assert c.transforms.time_shift == presets.CANVAS_SHIFT > presets.fourier(**presets.CANVAS).transforms.time_shift
    assert presets.canvas(steps=7, contrast=0.8).steps == 7  # given options override CANVAS
    assert presets.from_dict(c.to_dict()) == c
