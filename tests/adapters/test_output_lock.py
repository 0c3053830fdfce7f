"""One writer per output folder (issue 28 item 3): the lock, and two processes on one folder."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from stviz_adapters.output_lock import (LOCK_NAME, FolderLocked, StaleLockWarning, lock_folder)

pytest.importorskip("click")
pytest.importorskip("torch")

HOLDER = textwrap.dedent("""
    import sys
    from stviz_adapters.output_lock import lock_folder
    lock = lock_folder(sys.argv[1])
    print("held", flush=True)
    sys.stdin.readline()
    lock.release()
""")

VIS = ["visualize", "tests.adapters.cli.test_bad_input_table:tiny_model", "--layer", "2",
       "--channels", "0", "--steps", "1", "--preset", "paper", "--quiet"]


def _holder(folder):
    """A second process that holds ``folder``'s lock until its stdin is closed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_folder_is_refused_naming_its_holder_and_free_again_after(tmp_path):
    lock = lock_folder(tmp_path / "out")
    owner = json.loads((tmp_path / "out" / LOCK_NAME).read_text())
    assert owner["pid"] == os.getpid()
    with pytest.raises(FolderLocked, match=f"in use by process {os.getpid()} on "):
        lock_folder(tmp_path / "out")
    lock.release()
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    with lock_folder(tmp_path / "out"):
        pass


def test_the_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": "here", "command": "stviz x"}))
    with pytest.warns(StaleLockWarning, match=f"left by process {pid} on here"):
        lock = lock_folder(folder)
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()


def test_two_processes_on_one_folder(tmp_path, capsys):
    """A run on a folder another process holds is refused naming it, writes nothing and leaves
    the holder's lock; once the holder is gone (even killed), the run goes through."""
    from stviz_adapters.cli import main

    out = tmp_path / "out"
    holder = _holder(out)
    try:
        assert main(VIS + ["--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"is in use by process {holder.pid}" in err and len(err.strip().splitlines()) == 1
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
        assert main(["sweep", "--model", "tests.adapters.cli.test_bad_input_table:tiny_model",
                     "--layers", "2", "--units", "0", "--steps", "1", "--out", str(out),
                     "--quiet"]) == 1
        assert f"is in use by process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()  # as kill -9: its lock file stays, naming a dead process
        holder.wait()
    assert (out / LOCK_NAME).exists()
    assert main(VIS + ["--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"warning: took over the lock of output folder {out} left by process {holder.pid}" \
        in captured.err
    assert (out / "2_gamma1.npz").exists() and not (out / LOCK_NAME).exists()


def test_two_visualize_runs_started_together_on_one_folder(tmp_path):
    """The issue's probe: two runs with different gammas into one folder at once. One writes its
    results; the other is refused (the folder in use, or no longer empty) and adds nothing."""
    out = tmp_path / "same"
    runs = [subprocess.Popen([sys.executable, "-m", "stviz", *VIS, "--gamma", gamma,
                              "--out", str(out)], stderr=subprocess.PIPE, text=True)
            for gamma in ("0", "1")]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) in ([0, 1], [0, 2]), errors
    won = codes.index(0)
    lost = errors[1 - won].strip().splitlines()
    assert lost[-1].startswith("Error: ") and ("is in use by process" in lost[-1]
                                               or "exists and is not empty" in lost[-1])
    results = sorted(p.name for p in out.glob("*.npz"))
    assert results == [f"2_gamma{won}.npz"]
    assert not (out / LOCK_NAME).exists()
