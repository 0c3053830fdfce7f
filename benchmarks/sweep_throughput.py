"""Sweep throughput (issue #9): the local engine against Ray with 2 workers, in cells per minute.

The grid: the demo model's conv5_fusion units 0..15 at gamma 0, 1, 5, 10 (64 cells),
100 steps, batches of 8 units. Each engine sweeps into a fresh folder (report off);
Ray's time includes starting the local Ray instance and each worker opening the model.
Then the cost of the paper's full conv5_fusion grid on a two-stream VGG-16 (512 units x
gamma {0, 1, 5, 10} x kappa {1, 2.5, 5, 10} = 8,192 cells of 300 steps), from a
seconds-per-cell figure: measured here on the CPU, and on a GPU from ``--gpu-seconds-per-cell``
(the 64-channel row of benchmarks/gpu_perf.py divided by 64) when one was measured.

    python benchmarks/sweep_throughput.py [--gpu-seconds-per-cell S]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _machine import record
from stviz_adapters.sweep.run import run_sweep
from stviz_adapters.sweep.grid import Grid

GRID = dict(model="stviz_adapters.demo.model:load_demo_model", layers=["conv5_fusion"],
            units="0:16", gamma=[0, 1, 5, 10], steps=100, batch=8, normalize=False)
FULL_GRID_CELLS = 512 * 4 * 4
FULL_GRID_STEPS = 300


def sweep_seconds(engine, **options):
    out = Path(tempfile.mkdtemp(prefix=f"stviz-sweep-{engine}-"))
    try:
        t0 = time.perf_counter()
        summary = run_sweep(Grid.from_dict(GRID), out / "sweep", engine=engine, report=False,
                            **options)
        seconds = time.perf_counter() - t0
        assert summary.complete and len(summary.ran) == summary.total
        return summary.total, seconds
    finally:
        shutil.rmtree(out, ignore_errors=True)


def vgg16_cpu_seconds_per_cell(steps=2):
    """Seconds per cell (300 steps) of the full two-stream VGG-16 at 224, from a few steps here."""
    import stviz_core as sv
    from stviz_adapters.zoo import vgg_c3d_torch as MT

    model = MT.two_stream_vgg16(num_classes=101, width=1.0, input_size=224, flow_frames=10, seed=0)
    sv.visualize(model, "conv5_fusion", channels=[0], steps=1, preset="paper")
    t0 = time.perf_counter()
    sv.visualize(model, "conv5_fusion", channels=[0], steps=steps, preset="paper")
    return (time.perf_counter() - t0) / steps * FULL_GRID_STEPS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-seconds-per-cell", type=float, default=None)
    args = parser.parse_args(argv)
    rows = []
    cells, local = sweep_seconds("local")
    rows.append(("local engine (this process, torch 2 threads)", cells, local))
    cells, ray2 = sweep_seconds("ray", workers=2, cpus_per_task=1)
    rows.append(("Ray, local instance, 2 workers x 1 thread", cells, ray2))
    lines = ["| engine | cells | seconds | cells per minute |", "|---|---|---|---|"]
    lines += [f"| {name} | {n} | {sec:.1f} | {60 * n / sec:.1f} |" for name, n, sec in rows]
    cpu_cell = vgg16_cpu_seconds_per_cell()
    lines += ["", f"Full conv5_fusion grid of the two-stream VGG-16 at 224 px, L = 10: "
              f"{FULL_GRID_CELLS} cells x {FULL_GRID_STEPS} steps.", "",
              "| where | seconds per cell | 1 device | 8 devices | 32 devices |", "|---|---|---|---|---|"]

    def hours(per_cell, n):
        return f"{FULL_GRID_CELLS * per_cell / n / 3600:.1f} h"

    lines.append(f"| this CPU (measured, 1 unit per run) | {cpu_cell:.0f} | {hours(cpu_cell, 1)} | "
                 f"{hours(cpu_cell, 8)} | {hours(cpu_cell, 32)} |")
    if args.gpu_seconds_per_cell:
        g = args.gpu_seconds_per_cell
        lines.append(f"| GPU (measured by gpu_perf.py, 64 units per run) | {g:.2f} | {hours(g, 1)} | "
                     f"{hours(g, 8)} | {hours(g, 32)} |")
    table = "\n".join(lines)
    print(table)
    record("Sweep throughput (benchmarks/sweep_throughput.py)", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
