"""GPU figures (issue #8, item 6): the full two-stream VGG-16 fusion net at 224 x 224, L = 10.

One conv5_fusion channel, 300 steps, float32: seconds per visualization (target <= 10 s on one
H100); 64 channels in one batch (target <= 60 s); the same with bf16 autocast, and the
correlation of its final inputs with float32's; from the 64-channel time, the cost of the
sweep issue's full conv5_fusion grid on 1, 8 and 32 GPUs. Needs CUDA; prints a line and exits otherwise.

Run on the GPU machine with the CUDA tests:  bash benchmarks/gpu.sh
"""

from __future__ import annotations

import sys
import time

import torch

import stviz_core as sv
from _machine import record
from stviz_adapters.zoo import vgg_c3d_torch as MT


def timed(model, channels, **backend_options):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    r = sv.visualize(model, "conv5_fusion", channels=channels, steps=300, seed=list(channels),
                     backend_options=backend_options)
    torch.cuda.synchronize()
    return r, time.perf_counter() - t0


def main():
    if not torch.cuda.is_available():
        print("no CUDA device: GPU rows stay open")
        return 0
    model = MT.two_stream_vgg16(num_classes=101, width=1.0, input_size=224, flow_frames=10,
                                seed=0).cuda()
    sv.visualize(model, "conv5_fusion", channels=[0], steps=3)  # warm-up: cuDNN autotune, allocs
    rows = []
    one, t1 = timed(model, [0])
    rows.append(("1 channel, float32", t1, ""))
    many, t64 = timed(model, list(range(64)))
    rows.append(("64 channels in one batch, float32", t64, ""))
    one_bf, t1b = timed(model, [0], autocast="bfloat16")
    corr = float(sv.compare(one, one_bf).correlation["all"][0])
    rows.append(("1 channel, bf16 autocast", t1b, f"corr with float32 {corr:.4f}"))
    many_bf, t64b = timed(model, list(range(64)), autocast="bfloat16")
    corr64 = float(sv.compare(many, many_bf).correlation["all"].min())
    rows.append(("64 channels, bf16 autocast", t64b, f"min corr with float32 {corr64:.4f}"))
    lines = ["| run (300 steps) | seconds | note |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.1f} | {note} |" for name, sec, note in rows]
    per_cell = t64 / 64
    cells = 512 * 4 * 4  # the sweep issue's full grid: 512 units x 4 gamma x 4 kappa
    lines += ["", f"Full conv5_fusion sweep grid ({cells} cells of 300 steps, batches of 64 units) "
              f"at {per_cell:.2f} s per cell: " + ", ".join(
                  f"{cells * per_cell / n / 3600:.2f} h on {n} GPU{'s' if n > 1 else ''}"
                  for n in (1, 8, 32))]
    table = "\n".join(lines)
    print(table)
    record(f"GPU: two-stream VGG-16 at 224, L = 10, conv5_fusion on {torch.cuda.get_device_name(0)} "
           "(benchmarks/gpu_perf.py)", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
