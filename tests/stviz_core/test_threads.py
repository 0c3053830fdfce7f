"""The thread policy: one place decides, the backend applies it once, describe() records it."""

import os
import subprocess
import sys

import pytest

from stviz_core import threads


def test_the_decision_takes_the_run_then_the_request_then_the_work(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setitem(threads._STATE, "requested", None)
    assert threads.decide(3, step_flops=1.0) == threads.Decision(3, "threads= of the run")
    small = threads.decide(step_flops=threads.SMALL_STEP_FLOPS / 2)
    assert small.threads == 1 and "small step" in small.reason
    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.decide(step_flops=1.0) == threads.Decision(2, threads.ENV)
    threads.request(5, source="--threads", plugins={})
    assert threads.decide(step_flops=1.0) == threads.Decision(5, "--threads")
    assert os.environ[threads.ENV] == "5"  # processes started from here inherit it
    assert threads.decide(1).threads == 1  # the run's own wins
    threads.request(None, plugins={})
    assert threads.ENV not in os.environ


def test_the_default_never_follows_the_load_so_reruns_give_the_same_bytes(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setitem(threads._STATE, "requested", None)
    monkeypatch.setattr(threads, "cores", lambda: 4)
    for busy in (0, 1, 9):
        monkeypatch.setattr(threads, "_busy_elsewhere", lambda busy=busy: busy)
        big = threads.decide(step_flops=threads.SMALL_STEP_FLOPS * 10)
        assert big.threads == 4 and "every core" in big.reason
        assert threads.decide(step_flops=None).threads == 4


def test_free_takes_the_cores_other_work_leaves(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setitem(threads._STATE, "requested", None)
    monkeypatch.setattr(threads, "cores", lambda: 4)
    monkeypatch.setattr(threads, "_busy_elsewhere", lambda: 1)
    free = threads.decide("free", step_flops=threads.SMALL_STEP_FLOPS / 2)
    assert free.threads == 3 and "1 busy" in free.reason and "threads= of the run" in free.reason
    monkeypatch.setattr(threads, "_busy_elsewhere", lambda: 9)
    assert threads.decide(" Free ").threads == 1  # never fewer than one
    told = []
    plugin = type("Plugin", (), {"set_threads": staticmethod(told.append)})()
    threads.request("free", source="--threads", plugins={"p": plugin})
    assert os.environ[threads.ENV] == "free" and told == []  # decided at each run
    assert threads.decide(step_flops=1.0).reason.startswith("--threads: 'free'")
    monkeypatch.setitem(threads._STATE, "requested", None)
    assert threads.decide(step_flops=1.0).reason.startswith(threads.ENV)  # from the variable
    threads.request(None, plugins={})


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", True, "freely"])
def test_bad_thread_counts_are_refused_in_one_line(bad):
    with pytest.raises((TypeError, ValueError),
                       match="threads must be an integer >= 1, 'free' .* or None .*, got "):
        threads.check_threads(bad)


def _wait_policy(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != threads.WAIT_ENV}
    out = subprocess.run([sys.executable, "-c", code + "\nimport stviz_core.threads as t, os\n"
                          "print(t.wait_policy()['policy'], os.environ.get('OMP_WAIT_POLICY'))"],
                         env={**environ, **env}, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_wait_policy_is_passive_unless_the_user_chose_or_openmp_already_runs():
    assert _wait_policy("import stviz") == ["PASSIVE", "PASSIVE"]
    assert _wait_policy("import stviz_core", OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "ACTIVE"]
    pytest.importorskip("torch")
    assert _wait_policy("import torch") == ["None", "None"]  # too late: recorded, not applied


def test_a_backend_without_the_member_records_that_nothing_was_applied():
    record = threads.apply(object(), 2)
    assert record["threads"] == 2 and record["applied"] is False
    assert "wait_policy" in record


def test_this_process_is_not_counted_as_other_work():
    assert threads._running_here() >= 1  # the reading thread itself
    busy = threads._busy_elsewhere()
    assert isinstance(busy, int) and busy >= 0
