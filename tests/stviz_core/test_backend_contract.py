"""The backend contract's optional members and plugin hooks (stviz_core.backend), and what both
backends share (stviz_core.backend_support)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import backend_support as support
from stviz_core.backend import (BACKEND_OPTIONAL, PLUGIN_OPTIONAL, InputSpec, backend_member,
                                plugin_hook)
from stviz_core.layouts import Image2D

ROOT = Path(__file__).resolve().parents[2]


class BareBackend:
    """Only the required members: a linear layer summing the input's pixels per channel."""

    name = "bare"
    xp, dtype, device = np, np.float64, "cpu"

    def __init__(self):
        self.inputs = {"rgb": InputSpec((1, 4, 4, 3))}

    def activations(self, inputs, *, for_vjp=True):
        return inputs["rgb"].sum(axis=(1, 2, 3))

    def vjp(self, cotangent):
        return {"rgb": np.broadcast_to(cotangent[:, None, None, None, :], (len(cotangent), 1, 4, 4, 3))
                .copy()}


class BarePlugin:
    """Only the required hooks."""

    name = "bare"

    def accepts(self, model):
        return isinstance(model, BareModel)

    def create(self, model, *, layer, inputs=None, **options):
        return BareBackend()


class BareModel:
    pass


def test_a_backend_without_optional_members_stands_for_their_defaults():
    be = BareBackend()
    assert backend_member(be, "activation_shape") is None
    assert backend_member(be, "used_inputs") is None
    assert backend_member(be, "layer") is None
    assert backend_member(be, "labels") is None
    assert backend_member(be, "receptive_field")() is None
    assert backend_member(be, "describe")() == {}
    assert backend_member(be, "close")() is None


def test_a_backend_member_that_is_there_is_returned():
    be = BareBackend()
    be.labels, be.layer, be.close = ("a", "b", "c"), "fc", lambda: "closed"
    assert backend_member(be, "labels") == ("a", "b", "c")
    assert backend_member(be, "layer") == "fc"
    assert backend_member(be, "close")() == "closed"


def test_a_plugin_without_optional_hooks_stands_for_their_defaults():
    plugin = BarePlugin()
    assert plugin_hook(plugin, "file_suffixes") == ()
    assert plugin_hook(plugin, "backend_options") == ()
    assert plugin_hook(plugin, "set_threads")(4) is None
    for hook, message in [("weights", "cannot list a model's weights"),
                          ("prepare", "cannot move or cast a model"),
                          ("load_file", "opens no model files"),
                          ("receptive_fields", "cannot find receptive fields")]:
        with pytest.raises(ValueError, match=f"^the bare plugin {message}$"):
            plugin_hook(plugin, hook)(BareModel())


def test_an_undeclared_member_is_refused_with_the_declared_ones():
    with pytest.raises(ValueError, match=r"unknown optional backend member 'lables'; valid choices: "
                                         r"'activation_shape'"):
        backend_member(BareBackend(), "lables")
    with pytest.raises(ValueError, match="unknown optional plugin hook 'prepared'"):
        plugin_hook(BarePlugin(), "prepared")


def test_visualize_runs_a_backend_with_only_the_required_members():
    result = sv.visualize(BareModel(), "any", channels=[0, 2], plugins={"bare": BarePlugin()},
                          steps=2, seed=0, rho=1, stride=0, preset="paper")
    assert result.inputs["rgb"].shape == (2, 1, 4, 4, 3)


def test_class_names_come_from_the_model_when_the_backend_has_none():
    model = sv.declare(BareModel(), labels=["red", "green", "blue"])

    def run(cls):
        return sv.visualize(model, "any", objective=[sv.class_logit(cls)],
                            plugins={"bare": BarePlugin()}, steps=2, seed=0, rho=1, stride=0, preset="paper")

    by_name, by_index = run("blue"), run(2)
    np.testing.assert_array_equal(by_name.inputs["rgb"], by_index.inputs["rgb"])
    assert not np.array_equal(by_name.inputs["rgb"], run(0).inputs["rgb"])
    with pytest.raises(ValueError, match="purple"):
        run("purple")


def test_the_installed_plugins_provide_every_optional_hook():
    for name in ("torch", "keras"):
        pytest.importorskip(name)
        plugin = sv.select_plugin(None, backend=name)
        missing = [h for h in PLUGIN_OPTIONAL if h != "backend_options" and not hasattr(plugin, h)]
        assert not missing, f"{name} lacks {missing}"


def test_the_architecture_page_names_every_optional_member_and_hook():
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page[page.index("## 2. Plugins and the backend contract"):page.index("## 3.")]
    for name in [*BACKEND_OPTIONAL, *PLUGIN_OPTIONAL]:
        assert f"`{name}" in section, f"docs/architecture.md sec. 2 does not name {name!r}"


def test_no_library_module_reads_a_model_attribute_or_an_optional_member_by_hand():
    """The accessors are the one way in: no getattr/hasattr of stviz_* attributes or of the
    optional members outside stviz_core.model_contract and stviz_core.backend (the zoo excepted)."""
    names = "|".join(["stviz_[a-z]+", *BACKEND_OPTIONAL, *PLUGIN_OPTIONAL])
    pattern = re.compile(rf"""(getattr|hasattr)\((be|backend|plugin|model|net|self\.user_model),"""
                         rf"""\s*["']({names})["']""")
    found = []
    for folder in ("stviz_core", "backends", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("model_contract.py", "backend.py") and folder == "stviz_core":
                continue
            if "zoo" in path.parts:
                continue
            found += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(path.read_text())]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("layer,names,expected", [
    ("block", {"block"}, ("block", None)),
    ("block:1", {"block"}, ("block", 1)),
    ("block:x", {"block"}, ("block:x", None)),
    ("a:0", {"a:0", "a"}, ("a:0", None)),     # a name that has a colon is itself
    ("other:1", {"block"}, ("other:1", None)),
    ("block:", {"block"}, ("block:", None)),
])
def test_split_call(layer, names, expected):
    assert support.split_call(layer, names) == expected


@pytest.mark.parametrize("model_dtype,kernel", [("float16", "float32"), ("bfloat16", "float32"),
                                                ("float32", "float32"), ("float64", "float64")])
def test_a_16_bit_model_gives_the_kernel_float32(model_dtype, kernel):
    assert support.kernel_dtype(model_dtype) == kernel


def test_class_labels_come_from_the_model_contract():
    model = BareModel()
    assert support.class_labels(model) is None
    model.stviz_labels = ["a", 3]
    assert support.class_labels(model) == ("a", "3")


def test_the_shared_messages_are_one_line_and_say_what_to_do():
    errors = [support.unknown_layer("conv5_fuse", ["", "conv5_fusion", "fc"], "model.layers"),
              support.inputs_refused(Image2D(), {"rgb": InputSpec((1, 8, 8, 3))}, "Keras",
                                     ValueError("bad shape\nmore")),
              support.shared_layer_error("block", 2, "in one forward pass", "module"),
              support.call_out_of_range("block:3", 2, "in the model's graph"),
              support.never_reached("head")]
    assert all("\n" not in str(e) for e in errors)
    assert str(errors[0]) == ("the model has no layer 'conv5_fuse'; closest names: conv5_fusion "
                              "(2 layers in all, see model.layers)")
    assert "rgb (N, 3, 8, 8)" in str(errors[1]) and "Keras said: bad shape" in str(errors[1])
    assert "as one of block:0, block:1" in str(errors[2])
    assert "its calls are 0..1" in str(errors[3])
    with pytest.warns(UserWarning, match="receptive field of 'fc' unknown.*pass rho= and stride="):
        support.receptive_field_unknown("fc", ValueError("untraceable"), stacklevel=2)
