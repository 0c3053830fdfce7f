"""Shared by the benchmarks: the machine a run was on, appending to RESULTS.md, step timing."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for mod in ("numpy", "torch", "tensorflow", "keras"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores{gpu}, Python {platform.python_version()}, "
            f"{', '.join(versions)}")


def record(title: str, body: str) -> None:
    stamp = datetime.date.today().isoformat()
    block = f"\n## {title}, {stamp}\n\nMachine: {machine()}.\n\n{body.strip()}\n"
    with open(Path(__file__).with_name("RESULTS.md"), "a") as fh:
        fh.write(block)


def per_step(run, s1, s2):
    """Seconds per step of ``run(steps)``: (time of s2 steps - time of s1 steps) / (s2 - s1)."""
    t0 = time.perf_counter()
    run(s1)
    t1 = time.perf_counter()
    run(s2)
    t2 = time.perf_counter()
    return ((t2 - t1) - (t1 - t0)) / (s2 - s1)


def median_per_step(setups: dict, s1, s2, repeats, warm=2) -> dict:
    """``{name: median seconds per step}`` of ``setups`` (``name -> run(steps)``).

    Each setup first runs ``warm`` steps (tracing, allocation; 0 skips it); then,
    ``repeats`` times, every setup is timed in turn, so slow drifts of a noisy
    machine hit all of them alike.
    """
    if warm:
        for run in setups.values():
            run(warm)
    samples = {name: [] for name in setups}
    for _ in range(repeats):
        for name, run in setups.items():
            samples[name].append(per_step(run, s1, s2))
    return {name: statistics.median(v) for name, v in samples.items()}
