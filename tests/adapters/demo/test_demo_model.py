"""The shipped demo model: accuracy, activity recording, and that its visualizations are faithful.

Measured on the shipped weights (see adapters/demo/MODEL_CARD.md for the
numbers these tests hold): class units at gamma in {0, 1, 5, 10}, 150 steps,
paper preset, seed 0.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

import stviz_core as sv  # noqa: E402
from stviz_adapters.demo import synthetic_actions as data  # noqa: E402
from stviz_adapters.activity import Activity, record, record_cached  # noqa: E402
from stviz_adapters.demo.run import visualize_checkpoints  # noqa: E402
from stviz_adapters.demo.model import DEMO_DIR, evaluate, load_demo_model  # noqa: E402
from stviz_core.layouts import TwoStream2D, to_model  # noqa: E402

RIGHT, LEFT, UP, DOWN = 0, 1, 2, 3
#: the paper's temporal slowness settings these tests (and the model card) measured
GAMMAS = (0.0, 1.0, 5.0, 10.0)


@pytest.fixture(scope="module")
def model():
    return load_demo_model()


@pytest.fixture(scope="module")
def val():
    return data.make_split("val", 25)


@pytest.fixture(scope="module")
def class_runs(model):
    """Every class unit visualized at each gamma."""
    objective = [sv.class_logit(c) for c in range(len(data.CLASSES))]
    return {g: sv.visualize(model, "fc8", objective=objective, steps=150, seed=0,
                            preset=sv.presets.anisotropic(g)) for g in GAMMAS}


def logits(model, inputs):
    args = [torch.from_numpy(np.ascontiguousarray(a)).float()
            for a in to_model(TwoStream2D(), inputs, np)]
    with torch.no_grad():
        return model(*args).numpy()


def test_held_out_accuracy(model, val):
    acc = evaluate(model, val)
    assert acc["fused"] >= 0.9
    # right and left share appearance: only motion tells them apart
    assert acc["motion_per_class"]["ball_right"] >= 0.8 and acc["motion_per_class"]["ball_left"] >= 0.8
    assert acc["appearance_per_class"]["ball_right"] <= 0.5 and acc["appearance_per_class"]["ball_left"] <= 0.5
    card = json.loads((DEMO_DIR / "training.json").read_text())
    assert card["held_out"]["fused"] >= 0.9


def test_visualized_motion_points_the_way_of_the_class(class_runs):
    rf = slice(8, 56)  # inside the class unit's field, away from the borders
    for g in (0.0, 1.0):
        flow = class_runs[g].inputs["flow"][:, :, rf, rf]
        u, v = flow[..., 0].mean(axis=(1, 2, 3)), flow[..., 1].mean(axis=(1, 2, 3))
        assert u[RIGHT] > 0 and u[LEFT] < 0, (g, u)
        assert v[UP] < 0 and v[DOWN] > 0, (g, v)


def test_class_visualizations_are_recognized_as_their_class(model, class_runs):
    """Measured: 7 of 8 classes are top-1 at gamma 0, 1 and 5 (ball_down is the exception)."""
    for g in (0.0, 1.0, 5.0):
        top1 = logits(model, class_runs[g].inputs).argmax(1)
        assert (top1 == np.arange(len(data.CLASSES))).sum() >= 6, (g, top1)


def test_slowness_reduces_temporal_variation_and_units_keep_firing(model, class_runs):
    change = np.array([np.sqrt((np.diff(class_runs[g].inputs["flow"], axis=1) ** 2)
                               .mean(axis=(1, 2, 3, 4))) for g in GAMMAS])  # (gammas, classes)
    assert (np.diff(change, axis=0) < 0).all(), change
    reached = np.array([class_runs[g].final["objective"] for g in GAMMAS])
    assert (reached > 0).all()  # every class unit stays excited at every speed setting


def test_optimized_inputs_excite_class_units_more_than_the_best_held_out_clip(model, class_runs, val):
    """Measured at gamma 0: 7 of 8 classes (ball_down reaches about half its best clip)."""
    best_clip = logits(model, val.inputs()).max(axis=0)
    reached = class_runs[0.0].final["objective"]
    assert (reached > best_clip).sum() >= 6, (reached, best_clip)


def test_activity_recording(model, val, tmp_path):
    act = record(model, "conv5_fusion", val.inputs(), val.labels, classes=data.CLASSES, top_k=3)
    outs = {}
    def keep(module, args, output):  # returns None: a hook's return value would replace the output
        outs["a"] = output.detach().clone()

    hook = model.conv5_fusion.register_forward_hook(keep)
    logits(model, val.inputs())
    hook.remove()
    per_clip = outs["a"].amax(dim=(2, 3, 4)).double().numpy()  # (N, K)
    np.testing.assert_allclose(act.a_hat, per_clip.max(0), rtol=1e-6)
    for c in range(len(data.CLASSES)):
        np.testing.assert_allclose(act.per_class[c], per_clip[val.labels == c].max(0), rtol=1e-6)
    unit = int(act.live_channels()[0])
    assert act.top_clips[unit, 0] == per_clip[:, unit].argmax()
    assert (np.diff(act.top_values[unit]) <= 0).all()
    assert (act.normalizer() > 0).all()
    again = record_cached(model, "conv5_fusion", val.inputs(), val.labels, classes=data.CLASSES,
                          cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    cached = record_cached(model, "conv5_fusion", val.inputs(), val.labels, classes=data.CLASSES,
                           cache_dir=tmp_path)
    np.testing.assert_array_equal(again.a_hat, cached.a_hat)
    assert isinstance(Activity.load(next(tmp_path.iterdir())), Activity)


def test_filter_evolution_across_checkpoints():
    runs = visualize_checkpoints("fc8", objective=[sv.class_logit(RIGHT)], steps=20, seed=0,
                                 preset="paper")
    assert list(runs) == ["early", "middle", "final"]
    flows = [r.inputs["flow"] for r in runs.values()]
    assert not np.allclose(flows[0], flows[2])


def test_bad_weight_files_name_the_problem(tmp_path):
    state = torch.load(DEMO_DIR / "final.pt", weights_only=True)
    state["fc8.weight"] = state["fc8.weight"][:5]
    torch.save(state, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match=r"layer 'fc8.weight' has shape \(5, 128\) in the file"):
        load_demo_model(path=tmp_path / "mismatch.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a weights file")
    with pytest.raises(ValueError, match="is not a readable weights file"):
        load_demo_model(path=tmp_path / "corrupt.pt")
    with pytest.raises(ValueError, match="valid choices: early, middle, final"):
        load_demo_model("best")


def test_a_cache_from_another_generator_version_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("STVIZ_CACHE", str(tmp_path))
    fresh = data.make_split("val", 1)
    (cached,) = tmp_path.glob("actions-val-*.npz")
    with np.load(cached) as d:
        fields = dict(d)
    fields["key"] = np.array("v0-an-older-generator")
    fields["rgb"] = fields["rgb"] * 0
    np.savez(cached, **fields)
    again = data.make_split("val", 1)  # the stale file is not used
    np.testing.assert_array_equal(again.rgb, fresh.rgb)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        data.make_split("dev", 1)


def test_the_keras_twin_carries_the_same_weights(model, val):
    pytest.importorskip("keras")
    keras_model = load_demo_model(framework="keras")
    x = val.inputs(slice(0, 16))
    ref = logits(model, x)
    got = np.asarray(keras_model(list(to_model(keras_model.stviz_layout, x, np))))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)
    assert (got.argmax(1) == ref.argmax(1)).all()
