"""The kernel stays framework-free; the installed import names map to the repository folders."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax")


def run_python(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/", check=True)
    return out.stdout.strip()


def test_importing_the_kernel_imports_no_framework():
    code = (
        "import sys, stviz_core, stviz_core.testing, stviz_adapters, stviz_core.layouts\n"
        "import stviz_backends.torch.backend\n"
        "import stviz_core.presets, stviz_core.loop, stviz_core.result\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert run_python(code) == ""


def test_a_run_on_numpy_imports_no_framework():
    code = (
        "import sys, numpy as np, stviz_core as sv\n"
        "from stviz_core.testing import LinearBackend\n"
        "be = LinearBackend({'x': np.ones((1,1,1,3,1))}, {'x': ((1,4,4,3),'appearance')}, xp=np)\n"
        "sv.ascend(be, sv.channel(0), steps=3)\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert run_python(code) == ""


@pytest.mark.parametrize("name, folder", [
    ("stviz_core", "stviz_core"), ("stviz_backends", "backends"), ("stviz_adapters", "adapters"),
])
def test_installed_import_names(name, folder):
    path = Path(run_python(f"import {name}; print({name}.__file__)"))
    assert path.parent.name == folder
    assert path.parent.resolve().parent == ROOT or "site-packages" in str(path)


def test_no_top_level_backends_or_adapters_package_is_installed():
    code = ("import importlib.util as u; "
            "print(u.find_spec('backends') is None, u.find_spec('adapters') is None)")
    assert run_python(code) == "True True"


def test_the_sweep_driver_needs_ray_only_for_the_ray_engine():
    code = ("import sys, stviz_adapters.sweep.run, stviz_adapters.sweep.grid, stviz_adapters.cli\n"
            "print(','.join(m for m in ('ray', 'yaml', 'torch', 'tensorflow') if m in sys.modules))")
    assert run_python(code) == ""


def test_the_installed_version_is_the_kernels():
    """pyproject.toml reads the version from stviz_core.__version__: it is written in one place."""
    import importlib.metadata

    import stviz_core

    assert importlib.metadata.version("stviz") == stviz_core.__version__
    assert 'version = "' not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("\n[")[0]
