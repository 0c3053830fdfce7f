"""The model contract (stviz_core.model_contract): declared, read back, checked; hand-set attributes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.backend import InputSpec
from stviz_core.layouts import Clip3D, Image2D, TwoStream2D, resolve
from stviz_core.model_contract import ModelContract, attribute, contract_of, declare


class Net:
    """Any object that takes attributes stands for a model."""


def _frames_to_clip(frames, size):
    return np.zeros((4, *size, 3), np.float32)


def test_declare_sets_the_attributes_and_contract_of_reads_them_back():
    net = Net()
    assert sv.declare(net, layout=Clip3D(), inputs={"clip": (4, 8, 8, 3)}, labels=["a", "b"],
                      preprocess=_frames_to_clip, flatten={"fc6": (2, 1, 3, 3)}) is net
    assert net.stviz_layout == Clip3D() and net.stviz_inputs == {"clip": (4, 8, 8, 3)}
    assert net.stviz_labels == ("a", "b") and net.stviz_preprocess is _frames_to_clip
    contract = sv.contract_of(net)
    assert contract == ModelContract(Clip3D(), {"clip": (4, 8, 8, 3)}, ("a", "b"),
                                     _frames_to_clip, {"fc6": (2, 1, 3, 3)})
    assert contract.input_specs() == {"clip": InputSpec((4, 8, 8, 3), "appearance")}


def test_a_model_declaring_nothing_has_an_empty_contract():
    contract = contract_of(Net())
    assert contract == ModelContract() and contract.declared() == {}
    with pytest.raises(ValueError, match="declares no inputs"):
        contract.input_specs()


def test_declare_leaves_the_fields_it_is_not_given():
    net = declare(Net(), layout=Image2D(), inputs={"rgb": (1, 8, 8, 3)})
    declare(net, labels=("x",))
    assert contract_of(net).declared() == {"layout": Image2D(), "inputs": {"rgb": (1, 8, 8, 3)},
                                           "labels": ("x",)}


def test_attributes_set_by_hand_are_the_contract():
    net = Net()
    net.stviz_layout = TwoStream2D()
    net.stviz_inputs = {"rgb": (1, 8, 8, 3), "flow": (5, 8, 8, 2)}
    net.stviz_labels = np.array(["run", "jump"])
    contract = contract_of(net)
    assert contract.layout == TwoStream2D() and contract.labels == ("run", "jump")
    # the layout gives the stacked flow its role, whatever its name
    layout, specs = resolve(net)
    assert layout == TwoStream2D() and specs["flow"].role == "motion"


def test_class_attributes_and_pickled_models_keep_their_contract():
    class Declared(Net):
        stviz_layout = Clip3D()
        stviz_inputs = {"clip": (2, 4, 4, 3)}

    assert contract_of(Declared()).inputs == {"clip": (2, 4, 4, 3)}
    net = pickle.loads(pickle.dumps(declare(Net(), layout=Image2D(), inputs={"rgb": (1, 4, 4, 3)})))
    assert contract_of(net).layout == Image2D()


@pytest.mark.parametrize("field,value,error,message", [
    ("layout", "clip3d", TypeError, "layout must be a stviz_core.layouts.Layout"),
    ("inputs", [(1, 8, 8, 3)], TypeError, r"inputs must be a mapping \{name: \(T, H, W, C\)\}"),
    ("inputs", {"rgb": (8, 8, 3)}, ValueError, r"inputs: an input shape is \(T, H, W, C\)"),
    ("inputs", {"rgb": (0, 8, 8, 3)}, ValueError, "every size >= 1"),
    ("labels", "abc", TypeError, "labels must be a sequence of class names, got str"),
    ("labels", 3, TypeError, "labels must be a sequence of class names, got int"),
    ("preprocess", "mean", TypeError, r"preprocess must be a function preprocess\(frames"),
    ("flatten", {"fc6": (2, 3)}, ValueError, r"flatten\['fc6'\] must be \(C, T, H, W\)"),
    ("flatten", ("fc6",), TypeError, "flatten must be a mapping"),
])
def test_bad_values_are_refused_with_one_line_and_the_model_is_left_unchanged(field, value, error,
                                                                               message):
    net = Net()
    with pytest.raises(error, match=message) as info:
        declare(net, **{"labels": ("a",), field: value})
    assert "\n" not in str(info.value)
    assert not hasattr(net, "stviz_labels") and not hasattr(net, attribute(field))
    with pytest.raises(error, match=message):
        ModelContract(**{field: value})


def test_a_bad_attribute_set_by_hand_is_named_when_read():
    net = Net()
    net.stviz_labels = 7
    with pytest.raises(TypeError, match=r"^model\.stviz_labels must be a sequence"):
        contract_of(net)


def test_inputs_that_do_not_fit_the_layout_are_refused_at_declaration():
    with pytest.raises(ValueError, match=r"Layout expects inputs \['rgb', 'flow'\]"):
        declare(Net(), layout=TwoStream2D(), inputs={"clip": (4, 8, 8, 3)})
    net = declare(Net(), layout=Image2D())
    with pytest.raises(ValueError, match="single image"):
        declare(net, inputs={"rgb": (3, 8, 8, 3)})
    assert not hasattr(net, "stviz_inputs")


def test_an_object_without_attributes_is_refused():
    with pytest.raises(TypeError, match="cannot declare labels on a tuple"):
        declare((), labels=["a"])


def test_the_contract_fields_are_the_documented_attributes():
    import stviz_core.model_contract as module

    names = [attribute(f) for f in ModelContract.__dataclass_fields__]
    assert names == ["stviz_layout", "stviz_inputs", "stviz_labels", "stviz_preprocess",
                     "stviz_flatten"]
    assert all(f"``{n}``" in module.__doc__ for n in names)


def test_a_torch_model_declaring_itself_by_hand_or_by_declare_runs_and_survives_saving(tmp_path):
    torch = pytest.importorskip("torch")
    from stviz_backends.torch import TorchBackend

    torch.manual_seed(0)
    by_hand = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3),
                                  torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    by_hand.stviz_layout, by_hand.stviz_inputs = Image2D(), {"rgb": (1, 8, 8, 3)}
    by_hand.stviz_labels = ["cat", "dog"]
    declared = declare(torch.nn.Sequential(*by_hand), layout=Image2D(), inputs={"rgb": (1, 8, 8, 3)},
                       labels=["cat", "dog"])
    torch.save(declared, tmp_path / "m.pt")
    reloaded = torch.load(tmp_path / "m.pt", weights_only=False)
    runs = []
    for model in (by_hand, declared, reloaded):
        with TorchBackend(model, "4") as be:
            assert be.labels == ("cat", "dog") and be.activation_shape == (1, 2)
            runs.append(sv.visualize(model, "4", objective=[sv.class_logit("dog")], steps=3, seed=0, preset="paper")
                        .inputs["rgb"])
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[1], runs[2])
