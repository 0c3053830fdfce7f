"""The layering of docs/architecture.md, checked on the source and by importing with frameworks blocked.

* ``stviz_core`` imports no framework, no backend, no adapter;
* a backend imports the kernel, its own package and its framework, never an
  adapter, another backend or another framework;
* no two modules import each other (at any depth, function-level imports included);
* every module that is not on the PyTorch side imports with torch blocked, and
  every module not on the Keras side with keras and tensorflow blocked;
* a Keras-only install runs ``stviz visualize`` on a Keras model.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"stviz_core": ROOT / "stviz_core", "stviz_backends": ROOT / "backends",
            "stviz_adapters": ROOT / "adapters"}
FRAMEWORKS = {"torch", "keras", "tensorflow", "tf_keras", "jax", "flax"}


def _modules():
    """``{module name: path}`` of every source module of the three packages."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


MODULES = _modules()


def imports_of(name: str, path: Path) -> set:
    """Absolute names of everything ``path`` imports, anywhere in the file (relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            found.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES)
    return found


def _internal(target: str):
    """The module of ours that an import of ``target`` loads (longest known prefix), or None."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def test_the_walker_sees_every_package():
    assert {"stviz_core.loop", "stviz_backends.torch.backend", "stviz_backends.keras.backend",
            "stviz_adapters.cli", "stviz_adapters.zoo.architectures"} <= set(MODULES)
    assert "stviz_core.layouts" in imports_of("stviz_backends.torch.backend",
                                               MODULES["stviz_backends.torch.backend"])


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("stviz_core")))
def test_the_kernel_imports_no_framework_backend_or_adapter(name):
    for target in imports_of(name, MODULES[name]):
        root = target.split(".")[0]
        assert root not in FRAMEWORKS | {"stviz_backends", "stviz_adapters", "stviz"}, (
            f"{name} imports {target}")


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("stviz_backends.")))
def test_a_backend_imports_only_the_kernel_and_its_own_framework(name):
    own = name.split(".")[1]  # "torch" or "keras"
    allowed_frameworks = {"torch": {"torch"}, "keras": {"keras", "tensorflow"}}[own]
    for target in imports_of(name, MODULES[name]):
        root = target.split(".")[0]
        assert root not in {"stviz_adapters", "stviz"}, f"{name} imports the adapter {target}"
        assert root not in FRAMEWORKS - allowed_frameworks, f"{name} imports {target}"
        if root == "stviz_backends":
            assert target.split(".")[:2] == ["stviz_backends", own], (
                f"{name} imports another backend: {target}")


def _graph():
    graph = {}
    for name, path in MODULES.items():
        graph[name] = {t for t in map(_internal, imports_of(name, path))
                       if t is not None and t != name
                       and not (name.startswith(t + ".") and MODULES[t].name == "__init__.py")}
    return graph


def test_no_two_modules_import_each_other():
    graph = _graph()
    cycles = []
    for a, targets in graph.items():
        for b in targets:
            if a in _reachable(graph, b):
                cycles.append(tuple(sorted((a, b))))
    assert not sorted(set(cycles)), f"import cycles: {sorted(set(cycles))}"


def _reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_cycle_check_finds_a_cycle():
    assert "a" in _reachable({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "b")


def _side(name: str):
    if name.startswith("stviz_backends.torch") or name.endswith("_torch"):
        return "torch"
    if name.startswith("stviz_backends.keras") or name.endswith("_keras"):
        return "keras"
    return None


_IMPORT_ALL = textwrap.dedent("""
    import importlib, sys, warnings
    for blocked in sys.argv[1].split(","):
        sys.modules[blocked] = None          # "import torch" now raises ImportError
    warnings.simplefilter("ignore")
    failed = []
    for name in sys.argv[2:]:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            failed.append(f"{name}: {exc}")
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
""")


@pytest.mark.parametrize("side,blocked", [("torch", "keras,tensorflow"), ("keras", "torch")])
def test_every_module_off_a_framework_side_imports_without_that_framework(side, blocked):
    names = sorted(m for m in MODULES if _side(m) != {"keras": "torch", "torch": "keras"}[side])
    assert any(_side(m) == side for m in names)
    run = subprocess.run([sys.executable, "-c", _IMPORT_ALL, blocked, *names],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_a_keras_only_install_runs_stviz_visualize_on_a_keras_model(tmp_path):
    pytest.importorskip("keras")
    pytest.importorskip("click")
    (tmp_path / "keras_net.py").write_text(
        "from stviz_adapters.zoo.vgg_c3d_keras import two_stream_small\n\n"
        "def build():\n"
        "    return two_stream_small(width=0.25, input_size=32, flow_frames=4, fc_width=8, seed=0)\n")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None
        from stviz_adapters.cli import main
        sys.exit(main(["visualize", "keras_net:build", "--layer", "conv5_fusion",
                       "--channels", "0,1", "--steps", "3", "--gamma", "1",
                       "--out", {str(tmp_path / "out")!r}]))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "torch" not in run.stderr.lower().replace("stviz_backends.torch", "")
    saved = sorted(p.name for p in (tmp_path / "out").glob("*.npz"))
    assert saved, run.stdout
    import stviz_core as sv

    result = sv.load(tmp_path / "out" / saved[0])
    assert result.config["backend"] == "keras"
    assert result.inputs["flow"].shape[:2] == (2, 4)


def test_old_import_paths_warn_and_give_the_new_module():
    code = textwrap.dedent("""
        import warnings
        warnings.simplefilter("error")
        try:
            import stviz_adapters.models_torch
        except DeprecationWarning as w:
            assert "stviz_adapters.zoo.vgg_c3d_torch" in str(w), w
        else:
            raise SystemExit("no DeprecationWarning")
        warnings.simplefilter("ignore")
        from stviz_adapters.layouts import Clip3D
        import stviz_core.layouts
        assert Clip3D is stviz_core.layouts.Clip3D
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
