"""Every name of the 0.1 flat layout's modules imports through its old path (issue 23).

``OLD_NAMES`` lists the public names each module had before the move to
``zoo/``, ``media/``, ``sweep/``, ``demo/`` and the backends' packages
(``git show 24e495f^:adapters/<module>.py``): the names it defined, its
``__all__`` and what it imported from its siblings. Each is imported with
``from <old path> import <name>``, warns once, and is the new module's object.
"""

import importlib
import sys
import warnings

import pytest

from stviz_adapters._moved import MOVED

OLD_NAMES = {
    "stviz_adapters.layouts": ('Clip3D', 'Image2D', 'Layout', 'StackedFlow2D', 'TwoStream2D',
        'from_model', 'model_shape', 'resolve', 'to_model',),
    "stviz_adapters.files": ('atomic_path',),
    "stviz_adapters.rf": ('receptive_field', 'receptive_fields',),
    "stviz_adapters.rf_keras": ('parent_layers', 'receptive_field', 'receptive_fields',),
    "stviz_adapters.bn_folding": ('fold_batch_norm', 'fold_pairs',),
    "stviz_adapters.bn_folding_keras": ('fold_batch_norm_keras', 'fold_pairs_keras',),
    "stviz_adapters.architectures": ('BN_INCEPTION_BLOCKS', 'Block', 'FAMILIES', 'I3D_BLOCKS',
        'Net', 'Op', 'RESNET50_STAGES', 'bn_inception_two_stream', 'ch', 'i3d',
        'inception_v3_two_stream', 'pool', 'st_resnet50', 'unit',),
    "stviz_adapters.models_torch": ('C3D', 'Clip3D', 'SMALL_BLOCKS', 'TwoStream2D',
        'TwoStreamFusion', 'VGG16_BLOCKS', 'c3d', 'small_trunk', 'two_stream_small',
        'two_stream_vgg16', 'vgg16_trunk',),
    "stviz_adapters.models_keras": ('Clip3D', 'Image2D', 'SMALL_BLOCKS', 'TwoStream2D',
        'VGG16_BLOCKS', 'block_max_pooling_3d', 'c3d', 'he_normal', 'two_stream_small',
        'two_stream_vgg16', 'vgg16_trunk',),
    "stviz_adapters.families_torch": ('A', 'Add', 'Clip3D', 'ClipNet', 'Concat', 'FamilyNet',
        'GlobalAvgPool', 'GraphBlock', 'Mean', 'TwoStream2D', 'TwoStreamNet',
        'bn_inception_two_stream', 'build', 'i3d', 'inception_v3_two_stream', 'st_resnet50',),
    "stviz_adapters.families_keras": ('A', 'Clip3D', 'TwoStream2D', 'bn_inception_two_stream',
        'build', 'he_normal', 'i3d', 'inception_v3_two_stream', 'st_resnet50',),
    "stviz_adapters.porting": ('keras_to_torch', 'ported_layers', 'torch_to_keras',),
    "stviz_adapters.hed_weights": ('HED_MEAN_RGB', 'HED_PARAMETERS', 'hed_vgg16',
        'hed_weights_path', 'load_hed_vgg16', 'read_hed_vgg16',),
    "stviz_adapters.hed_weights_keras": ('hed_vgg16_keras', 'load_hed_vgg16_keras',
        'read_hed_vgg16',),
    "stviz_adapters.render": ('appearance_to_rgb', 'atomic_path', 'flow_to_rgb', 'flow_to_wheel',
        'input_roles', 'result_frames', 'side_by_side', 'write_gif', 'write_mp4',
        'write_result_videos',),
    "stviz_adapters.figures": ('appearance_to_rgb', 'atomic_path', 'flow_to_rgb', 'input_roles',
        'layer_grid', 'unit_grid', 'units_per_layer',),
    "stviz_adapters.manuscript": ('appearance_to_rgb', 'atomic_path', 'collect_results',
        'flow_to_rgb', 'input_roles', 'write_gif', 'write_manuscript',),
    "stviz_adapters.sweep_grid": ('Cell', 'Grid', 'KEYS', 'batches', 'load_grid', 'make_cells',
        'parse_units',),
    "stviz_adapters.sweep_ray": ('RayEngine', 'task_options',),
    "stviz_adapters.sweep_report": ('write_sweep_report',),
    "stviz_adapters.demo_model": ('ARCH', 'CHECKPOINTS', 'DEMO_DIR', 'build_demo_model', 'data',
        'data_layout', 'evaluate', 'load_demo_model', 'main', 'train',),
    "stviz_adapters.synthetic_actions": ('CLASSES', 'FLOW_SCALE', 'FRAMES', 'GENERATOR_VERSION',
        'MEAN_RGB', 'SIZE', 'SPLIT_SEEDS', 'Split', 'cache_dir', 'make_split', 'render_clip',
        'tvl1_flow',),
}


def _framework_missing(old):
    """The reason to skip ``old``'s check when its new module needs an absent framework."""
    targets = (MOVED[old],) if isinstance(MOVED[old], str) else MOVED[old]
    for name in targets:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # torch, keras or tensorflow not installed
            return f"{name} needs {exc.name}"
    return None


def test_the_table_covers_every_old_path():
    assert set(OLD_NAMES) == set(MOVED)


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_every_old_name_imports_through_its_old_path(old):
    reason = _framework_missing(old)
    if reason:
        pytest.skip(reason)
    sys.modules.pop(old, None)  # a fresh import warns again
    with pytest.warns(DeprecationWarning, match="moved to stviz_"):
        importlib.import_module(old)
    targets = (MOVED[old],) if isinstance(MOVED[old], str) else MOVED[old]
    new = [importlib.import_module(name) for name in targets]
    missing = []
    for name in OLD_NAMES[old]:
        scope = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                exec(f"from {old} import {name}", scope)
            except ImportError:
                missing.append(name)
                continue
        owner = next(m for m in new if hasattr(m, name))
        assert scope[name] is getattr(owner, name), (old, name)
    assert not missing, f"{old} lost {missing}"


def test_an_unknown_name_of_an_old_path_is_an_import_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ImportError, match="no_such_name"):
            exec("from stviz_adapters.hed_weights import no_such_name", {})


# The 0.1 modules that became packages of the same name keep their names in the package.
PACKAGE_NAMES = {
    "stviz_adapters.demo": ("CHECKPOINTS", "GAMMAS", "data", "load_demo_model", "main",
                            "record_cached", "run_demo", "visualize_checkpoints",
                            "write_demo_report"),
    "stviz_adapters.sweep": ("FORMAT", "VERSION", "Grid", "LocalEngine", "SweepFolder",
                             "SweepProgress", "SweepSummary", "atomic_path", "batches",
                             "channel_counts", "fingerprint", "framework_of", "load_model",
                             "make_cells", "open_model", "run_cells", "run_sweep"),
    "stviz_adapters.cli": ("cli", "compare", "demo", "flow", "load_model", "main", "report",
                           "sweep", "visualize"),
}


@pytest.mark.parametrize("package", sorted(PACKAGE_NAMES))
def test_a_module_that_became_a_package_keeps_its_names(package):
    module = importlib.import_module(package)
    missing = [name for name in PACKAGE_NAMES[package] if not hasattr(module, name)]
    assert not missing, f"{package} lost {missing}"


def test_the_old_demo_entry_point_runs_the_demo_command(monkeypatch):
    import stviz_adapters.cli as cli
    import stviz_adapters.demo as demo

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    assert demo.main(["--steps", "3"]) == 0
    assert seen == [["demo", "--steps", "3"]]
