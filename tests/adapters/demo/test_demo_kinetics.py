"""The demo's Kinetics-400 I3D section: its choices, and the page naming cards by class and unit.

The end-to-end run is tests/test_examples.py::test_demo_main_job_runs (shortened).
"""

import numpy as np
import pytest

import stviz_core as sv
from stviz_adapters.demo import kinetics
from stviz_adapters.zoo import kinetics_i3d as K
from stviz_core.testing import LinearBackend


def test_the_demo_classes_units_and_size_are_valid():
    assert len(kinetics.CLASSES) >= 8
    for name, why in kinetics.CLASSES.items():
        K.class_index(name)  # a Kinetics-400 class
        assert len(why) > 20  # with its reason
    channels = {layer: sum(K.INCEPTION_CHANNELS[layer][i] for i in (0, 2, 4, 5))
                for layer in kinetics.UNITS}
    for layer, units in kinetics.UNITS.items():
        assert len(set(units)) == len(units) >= 2 and max(units) < channels[layer]
        assert set(kinetics.A_HAT[layer]) == set(units) and min(kinetics.A_HAT[layer].values()) > 0
    K.check_clip(kinetics.FRAMES, kinetics.SIZE, kinetics.SIZE)
    assert kinetics.PRESET in sv.presets.names() and kinetics.STEPS > 0
    assert kinetics.unit_names("Logits", ["playing cricket"]) == ["Logits: playing cricket"]
    assert kinetics.unit_names("Mixed_5c", [680]) == ["Mixed_5c unit 680"]
    assert set(kinetics.SHOWN) <= set(kinetics.CLASSES) and len(kinetics.SHOWN) >= 4


def test_a_class_outside_the_demo_catalogue_is_refused_before_the_model_is_built(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setattr(kinetics, "build", lambda *a, **k: pytest.fail("built the model"))
    with pytest.raises(ValueError, match="not a demo class: .'archery'.; choose from playing"):
        kinetics.visualize_kinetics(tmp_path, classes=["playing cricket", "archery"])
    assert list(tmp_path.iterdir()) == []


def clip_results():
    """Two results of an RGB-clip 'model' on layers 'a' and 'b' (the linear reference backend)."""
    be = LinearBackend({"clip": np.ones((1, 3, 3, 3, 2))}, {"clip": (4, 8, 8, 3)}, xp=np)
    a = sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=2, seed=0, preset="paper")
    b = sv.ascend(be, [sv.channel(1)], steps=2, seed=1, preset="paper")
    a.config["layer"], b.config["layer"] = "a", "b"
    return a, b


def test_cards_are_titled_by_name_and_layers_ordered_by_heading(tmp_path):
    pytest.importorskip("imageio")
    from stviz_adapters.media.manuscript import write_manuscript

    a, b = clip_results()
    names = {("a", a.config["objectives"][0]): "a: first <unit>",
             ("b", b.config["objectives"][0]): "b unit 1"}
    page = write_manuscript(tmp_path, [("ra", a), ("rb", b)], unit_names=names,
                            headings={"b": "Section B", "a": "Section A"}).read_text()
    assert page.index("Section B") < page.index("Section A")  # the headings' order
    assert "<b>a: first &lt;unit&gt;</b>" in page and "<b>b unit 1</b>" in page
    assert f"<b>{a.config['objectives'][1]}</b>" in page  # no name: the objective, as before
    assert (tmp_path / "media" / "ra_0_clip.gif").exists()  # an appearance clip plays
    plain = write_manuscript(tmp_path / "plain", [("ra", a), ("rb", b)]).read_text()
    assert plain.index("layer a") < plain.index("layer b")


def test_grids_of_rgb_clips_show_three_frames(tmp_path):
    pytest.importorskip("matplotlib")
    import imageio.v3 as iio

    from stviz_adapters.media.figures import unit_grid

    a, _ = clip_results()
    one = unit_grid({"paper": a}, tmp_path / "g.png", unit_labels=["x", "y"])
    img = iio.imread(one)
    assert img.shape[1] > img.shape[0] * 0.9  # three frames wide, two rows high
