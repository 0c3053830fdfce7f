"""The run record: every option declared once (stviz_core.RunOptions), built by ascend, visualize,
the inversion calls and the sweeps, and read by planning."""

import dataclasses
import importlib
import inspect

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import presets
from stviz_core.run.options import option_names
from stviz_core.run.planning import plan_run
from stviz_core.testing import LinearBackend
from stviz_core.transforms import Transforms

from tests.stviz_core.test_visualize import LinearModel, LinearPlugin


def backend():
    return LinearBackend({"rgb": np.array([0.3, -1.0, 0.5]).reshape(1, 1, 1, 3, 1)},
                         {"rgb": ((1, 5, 4, 3), "appearance")}, xp=np)


def test_the_record_checks_each_option_when_built_and_when_replaced():
    options = sv.RunOptions(steps=5, learning_rate=2, seed=[1, 2], a_hat=np.array([2.0]))
    assert options.steps == 5 and options.seed == (1, 2) and options.a_hat == (2.0,)
    assert options.learning_rate(0, 5) == 2.0  # a number becomes a Constant schedule
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        options.replace(steps=0)
    with pytest.raises(TypeError, match="a seed is a non-negative integer, got -1"):
        sv.RunOptions(seed=[1, -1])
    with pytest.raises(ValueError, match="objective_scale must be one of"):
        sv.RunOptions(objective_scale="loud")
    with pytest.raises(ValueError, match=r"a_hat\[1\] must be > 0"):
        sv.RunOptions(a_hat=[1.0, 0.0])
    with pytest.raises(TypeError, match="callback must be callable"):
        sv.RunOptions(callback=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.steps = 6


def test_an_unknown_option_is_one_line_naming_the_close_ones_and_all():
    with pytest.raises(TypeError) as info:
        sv.RunOptions().replace(stpes=3)
    message = str(info.value)
    assert "\n" not in message and "'stpes'" in message and "did you mean steps" in message
    assert all(name in message for name in option_names())
    with pytest.raises(TypeError, match="options must be a stviz_core.RunOptions, got dict"):
        sv.RunOptions.build({"steps": 3})


def test_a_preset_is_a_preset_or_its_name():
    assert sv.RunOptions().preset is None  # the caller's default, filled in by planning
    assert sv.RunOptions().filled().preset == presets.get(presets.DEFAULT)
    assert sv.RunOptions(preset="paper").preset == presets.paper()
    assert sv.RunOptions(preset="fourier").preset == presets.fourier()
    with pytest.raises(ValueError) as info:
        sv.RunOptions(preset="fouirer")
    assert "\n" not in str(info.value)
    assert all(repr(name) in str(info.value) for name in presets.names())
    with pytest.raises(TypeError, match="preset must be a Preset .* or the name of one"):
        sv.RunOptions(preset=presets.fourier)  # the factory, not what it builds


def test_options_left_open_take_the_presets_and_given_ones_win():
    fourier = presets.fourier(steps=40)
    filled = sv.RunOptions(preset=fourier).filled()
    for name in ("steps", "learning_rate", "parameterization", "transforms", "diversity"):
        assert getattr(filled, name) == getattr(fourier, name)
    given = sv.RunOptions(preset=fourier, steps=7, diversity=0.5, parameterization="pixel").filled()
    assert (given.steps, given.diversity, given.parameterization.name) == (7, 0.5, "pixel")
    # the record keeps what was given: another preset later still fills what was left open
    assert sv.RunOptions(preset=fourier).replace(preset="maco").filled().steps == presets.maco().steps


def test_options_are_declared_once_in_the_record():
    fields = [f.name for f in dataclasses.fields(sv.RunOptions)]
    assert list(option_names()) == fields
    for call in (sv.ascend, plan_run):
        kinds = {name: p.kind for name, p in inspect.signature(call).parameters.items()}
        assert kinds == {"backend": inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         "objective": inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         "options": inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         "changes": inspect.Parameter.VAR_KEYWORD}, call.__name__
    # every option is documented in the record's docstring
    doc = sv.RunOptions.__doc__
    assert all(name in doc for name in fields)


def test_a_record_and_the_same_keywords_run_the_same():
    keywords = dict(preset="fourier", steps=6, seed=[3, 4], jitter=True, check_every=2)
    a = sv.ascend(backend(), [sv.channel(0), sv.channel(0)], **keywords)
    b = sv.ascend(backend(), [sv.channel(0), sv.channel(0)], sv.RunOptions(**keywords))
    c = sv.ascend(backend(), [sv.channel(0), sv.channel(0)], sv.RunOptions(steps=1),
                  **{k: v for k, v in keywords.items()})
    for other in (b, c):
        np.testing.assert_array_equal(a.inputs["rgb"], other.inputs["rgb"])
        assert a.config["preset"] == other.config["preset"]
    assert a.config["preset"]["name"] == "fourier" and a.config["parameterization"]["name"] == "fourier"
    assert a.config["seeds"] == [3, 4] and a.config["steps"] == 6


def test_the_plan_reads_the_record():
    run = plan_run(backend(), sv.channel(0), sv.RunOptions(preset="robust", steps=4, anchor=None))
    assert run.options.steps == run.steps == 4 and run.preset.name == "robust"
    assert run.transforms == presets.robust().transforms and run.anchor == 0.0
    assert run.schedule is run.options.learning_rate


def test_visualize_takes_a_preset_by_name_as_the_cli_does():
    model = LinearModel(np.eye(3))
    common = dict(inputs={"rgb": (1, 4, 4, 3)}, steps=5, seed=1, plugins={"linear": LinearPlugin()})
    by_name = sv.visualize(model, "out", channels=[1], preset="fourier", **common)
    by_object = sv.visualize(model, "out", channels=[1], preset=presets.fourier(), **common)
    by_record = sv.visualize(model, "out", channels=[1],
                             options=sv.RunOptions(preset="fourier"), **common)
    assert by_name.config["preset"]["name"] == "fourier"
    for other in (by_object, by_record):
        np.testing.assert_array_equal(by_name.inputs["rgb"], other.inputs["rgb"])
    with pytest.raises(ValueError, match="unknown preset 'fourir'; valid choices: 'paper'"):
        sv.visualize(model, "out", channels=[1], preset="fourir", **common)


def test_inversion_keeps_its_defaults_over_a_record_and_takes_its_seed():
    clip = {"rgb": np.random.default_rng(0).uniform(-50, 50, (1, 1, 5, 4, 3))}
    options = sv.RunOptions(preset="robust", steps=3, seed=5, jitter=True)
    result = sv.inversion.invert(backend(), clip, options)
    assert result.config["seeds"] == [5] and result.config["jitter"]["enabled"] is False
    recorded = {k: v for k, v in result.config["transforms"].items() if k != "drawn_from"}
    assert recorded == Transforms().to_dict() != presets.robust().transforms.to_dict()


def test_the_sweep_cell_builds_the_record_it_runs():
    from stviz_adapters.sweep.grid import Cell

    cell = Cell("out", 2, "robust", 1.0, 5.0, 12, 7, True, False, "linear", "float64", {})
    options = cell.run_options(3)
    assert options.preset == presets.robust(kappa=1.0, gamma=5.0)
    assert (options.steps, options.seed, options.jitter) == (12, (7, 7, 7), False)


OLD_KERNEL_PATHS = {
    "stviz_core.loop": ["ascend", "NonFiniteError", "bind_fields", "initial_inputs", "_run",
                        "adam_step", "initial_inputs"],
    "stviz_core.step": ["objective_gradients", "regularizer_gradients", "penalties", "adam_step",
                        "scale_objective", "objective_terms", "gradient_norms"],
    "stviz_core.start": ["Clip", "Start", "NOISE", "plan_start", "check_inputs", "STATE_KEYS",
                         "previous_result"],
    "stviz_core.trace": ["new_trace", "record", "host_trace", "first_non_finite"],
    "stviz_core.run_config": ["RunSettings", "plan_run", "run_config"],
    "stviz_core.objectives": ["Context", "Objective", "channel", "neuron", "class_logit",
                              "per_item", "feature_match", "resolve_classes", "resolve_codes",
                              "split_scale_free", "feature_terms", "value_and_cotangent",
                              "Linear", "_PerItem", "_Zero", "_FeatureMatch"],
}


@pytest.mark.parametrize("module", sorted(OLD_KERNEL_PATHS))
def test_the_old_kernel_paths_keep_their_names(module):
    old = importlib.import_module(module)
    for name in OLD_KERNEL_PATHS[module]:
        assert hasattr(old, name), f"{module}.{name}"


def test_an_old_module_path_is_the_moved_module():
    import stviz_core.loop as old_loop
    from stviz_core.run import loop

    assert old_loop is loop  # so patching the old path patches what the run uses
