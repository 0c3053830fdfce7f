"""GPU figures of issue #19: stviz against a hand-tuned PyTorch loop, in one run on one card.

The full two-stream VGG-16 fusion net (width 1, 224 px, L = 10), layer ``conv5_fusion``,
300 steps of the paper preset: :func:`stviz_core.visualize` and the hand-tuned loop of
``gpu_tuned_loop.py`` (same work; channels_last, cuDNN benchmark) side by side for 64 and
1 units, float32 (TF32 convolutions, PyTorch's default) and bf16 autocast. stviz runs with
its defaults (channels_last automatic on CUDA) and, for small batches, with
``cuda_graphs=True`` (for 64 units too when the time budget allows; a skipped row says so).
Each path is warmed up with 3 steps of the same shape before it is timed; timings are
synchronized on both ends. Also: the convolutions' multiply-adds per step and the fraction
of the card's dense peak reached, the bf16 quality criterion (median over the units of
``|final objective bf16 - float32| / |float32|``, target <= 2%), and the full conv5_fusion
sweep's cost (512 units x 4 gamma x 4 kappa) from the 64-unit time.

Each row is printed as one JSON line as soon as it is measured and all rows so far go to
``$OUT/gpu_rows.json`` when OUT is set; at the end a markdown table is printed, written to
``$OUT/gpu_table.md`` and appended to ``benchmarks/RESULTS.md`` (unless ``--no-record``).

Run on the GPU machine with the CUDA tests:  bash benchmarks/gpu.sh
Test it small on the CPU:  python benchmarks/gpu_perf.py --device cpu --quick --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np
import torch

import stviz_core as sv
from _machine import record
from gpu_tuned_loop import LAYER, TunedLoop, conv_macs
from stviz_adapters.zoo import vgg_c3d_torch as MT

#: dense tensor-core peaks in TFLOP/s: (bf16, TF32), from the cards' data sheets
PEAKS = {"H200": (989.0, 494.7), "H100 SXM": (989.0, 494.7)}
#: issue #19's targets (H200 figures, 300 steps at the full configuration)
TARGET_S = {(64, "float32"): 19.3, (64, "bfloat16"): 13.6, (1, "float32"): 1.5,
            (1, "bfloat16"): 1.5}
TARGET_RATIO = 1.05  # stviz / tuned loop, 64 units
TARGET_QUALITY = 0.02
SWEEP_CELLS = 512 * 4 * 4  # the sweep issue's full conv5_fusion grid: units x gamma x kappa
WARM_STEPS = 3
FULL = {"steps": 300, "size": 224, "width": 1.0, "frames": 10}


def peak_of(name: str):
    """``(bf16, tf32)`` dense peaks of the card named ``name``, or None when unknown."""
    if "H200" in name and "NVL" not in name:
        return PEAKS["H200"]
    if "H100" in name and ("HBM3" in name or "SXM" in name):
        return PEAKS["H100 SXM"]
    return None


class Rows:
    """Rows printed as JSON lines, and kept in ``$OUT/gpu_rows.json`` after each one."""

    def __init__(self):
        self.rows = []
        self.out = os.environ.get("OUT")

    def add(self, **row):
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            path = os.path.join(self.out, "gpu_rows.json")
            with open(path + ".tmp", "w") as fh:
                json.dump(self.rows, fh, indent=1)
            os.replace(path + ".tmp", path)
        return row


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=FULL["steps"])
    p.add_argument("--units", type=int, nargs="+", default=[64, 1],
                   help="batch sizes (units of conv5_fusion in one run)")
    p.add_argument("--size", type=int, default=FULL["size"])
    p.add_argument("--width", type=float, default=FULL["width"])
    p.add_argument("--frames", type=int, default=FULL["frames"], help="flow frames L")
    p.add_argument("--device", default="cuda")
    p.add_argument("--graph-units", type=int, default=8,
                   help="cuda_graphs rows always run up to this many units; above it only "
                        "within --budget")
    p.add_argument("--budget", type=float, default=210.0,
                   help="seconds of the whole script after which optional rows are skipped")
    p.add_argument("--quick", action="store_true",
                   help="tiny test: width 1/16, size 32, 3 steps, units 1 and 2")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = p.parse_args(argv)
    if args.quick:
        args.width, args.size, args.steps, args.units = 1 / 16, 32, 3, [2, 1]
    args.units = sorted(set(args.units), reverse=True)
    return args


class Bench:
    def __init__(self, args, rows):
        self.args, self.rows = args, rows
        self.device = torch.device(args.device)
        self.t0 = time.perf_counter()
        self.full = all(getattr(args, k) == v for k, v in FULL.items())
        self.model = MT.two_stream_vgg16(num_classes=101, width=args.width,
                                         input_size=args.size, flow_frames=args.frames,
                                         seed=0).to(self.device)
        self.preset = sv.presets.paper()
        self.macs = conv_macs(self.model, LAYER)
        self.loop = TunedLoop(self.model, LAYER, preset=self.preset)
        cuda = self.device.type == "cuda"
        self.card = torch.cuda.get_device_name(self.device) if cuda else "cpu"
        self.peak = peak_of(self.card) if cuda else None
        self.times = {}  # (path, units, precision, variant) -> seconds
        self.finals = {}  # (units, precision, variant) -> stviz final objective
        rows.add(what="setup", device=self.card, torch=torch.__version__,
                 cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version() if cuda else None,
                 tf32_conv=torch.backends.cudnn.allow_tf32,
                 tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                 model=f"two_stream_vgg16 width {args.width:g}, {args.size} px, L = {args.frames}",
                 layer=LAYER, steps=args.steps, units=args.units, rho=self.loop.rho,
                 stride=self.loop.stride, conv_gmac_forward_per_unit=round(self.macs / 1e9, 4),
                 peak_tflops_bf16_tf32=self.peak, full_configuration=self.full)

    def elapsed(self):
        return time.perf_counter() - self.t0

    def _stviz(self, units, precision, variant):
        chans = list(range(units))
        opts = {"autocast": "bfloat16"} if precision == "bfloat16" else {}
        if variant == "cuda_graphs":
            opts["cuda_graphs"] = True

        def run(steps):
            return sv.visualize(self.model, LAYER, channels=chans, steps=steps,
                                preset=self.preset, seed=chans, backend_options=opts)

        return run

    def _tuned(self, units, precision):
        chans = list(range(units))
        cast = "bfloat16" if precision == "bfloat16" else None
        return lambda steps: self.loop.run(chans, steps, seed=0, autocast=cast)

    def measure(self, path, units, precision, variant):
        """Warm up, time, add the row; an error becomes a row of its own."""
        key = (path, units, precision, variant)
        steps = self.args.steps
        label = dict(what=path, units=units, precision=precision, variant=variant, steps=steps)
        try:
            run = self._tuned(units, precision) if path == "tuned" else self._stviz(
                units, precision, variant)
            run(WARM_STEPS)
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            sync(self.device)
            start = time.perf_counter()
            out = run(steps)
            sync(self.device)
            seconds = time.perf_counter() - start
        except Exception as exc:  # one failed variant must not lose the other rows
            traceback.print_exc()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            return self.rows.add(**label, error=f"{type(exc).__name__}: {exc}"[:500])
        self.times[key] = seconds
        if path == "stviz":
            # the unit's own objective (eq. 1), without the automatic factor each run measures
            # for itself at its start (it differs between precisions)
            scale = np.asarray([q.get("scale") or 1.0 for q in out.config.get("quality") or
                                [{}] * units], float)
            self.finals[(units, precision, variant)] = np.asarray(out.final["objective"], float) / scale
            details = out.config.get("backend_details") or {}
            label["channels_last"] = details.get("channels_last")
            if details.get("channels_last_reason"):
                label["channels_last_reason"] = details["channels_last_reason"]
        del out
        # forward + gradient to the inputs ~ 2 forward passes; 2 FLOP per multiply-add
        flop = 4.0 * self.macs * units * steps
        tflops = flop / seconds / 1e12
        peak = None if self.peak is None else self.peak[0 if precision == "bfloat16" else 1]
        row = dict(label, seconds=round(seconds, 3), ms_per_step=round(seconds / steps * 1e3, 2),
                   tflops=float(f"{tflops:.4g}"),
                   of_peak=None if peak is None else round(tflops / peak, 4))
        if self.device.type == "cuda":
            row["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
        tuned = self.times.get(("tuned", units, precision, "channels_last"))
        if path == "stviz" and tuned:
            row["vs_tuned"] = round(seconds / tuned, 3)
        row.update(self.targets(path, units, precision, seconds, row.get("vs_tuned")))
        row["elapsed_s"] = round(self.elapsed(), 1)
        return self.rows.add(**row)

    def targets(self, path, units, precision, seconds, ratio):
        """The issue's targets for this row (only at the full configuration and for stviz)."""
        if path != "stviz" or not self.full or (units, precision) not in TARGET_S:
            return {}
        goal = TARGET_S[(units, precision)]
        out = {"target": f"<= {goal} s", "met": seconds <= goal}
        if units == 64:
            out["target"] += f", <= {TARGET_RATIO}x tuned"
            out["met"] = bool(out["met"] and ratio is not None and ratio <= TARGET_RATIO)
        return out

    def optional(self, path, units, precision, variant):
        """Run a row only if it fits the budget, judged by the default variant's time."""
        base = self.times.get(("stviz", units, precision, "default"))
        guess = 1.3 * base + 5 if base else None
        if guess is not None and self.elapsed() + guess <= self.args.budget:
            return self.measure(path, units, precision, variant)
        why = (f"skipped: {self.elapsed():.0f} s spent, about {guess:.0f} s more would pass the "
               f"budget of {self.args.budget:.0f} s" if guess is not None else
               "skipped: the default variant's time is unknown (it failed)")
        return self.rows.add(what=path, units=units, precision=precision, variant=variant,
                             steps=self.args.steps, skipped=why)


def quality(bench, rows):
    """Median over units of |final objective bf16 - float32| / |float32| (stviz, default).

    The final objective without the automatic scale (``config["quality"][n]["scale"]``).
    """
    out = {}
    for units in bench.args.units:
        f = bench.finals.get((units, "float32", "default"))
        b = bench.finals.get((units, "bfloat16", "default"))
        if f is None or b is None:
            continue
        rel = np.abs(b - f) / np.maximum(np.abs(f), 1e-30)
        out[units] = rows.add(what="bf16 quality", units=units,
                              median_rel_diff=round(float(np.median(rel)), 5),
                              max_rel_diff=round(float(rel.max()), 5),
                              target=f"<= {TARGET_QUALITY}",
                              met=bool(np.median(rel) <= TARGET_QUALITY))
    return out


def sweep(bench, rows):
    """The full conv5_fusion grid's cost from the largest batch's stviz time (default variant)."""
    units = bench.args.units[0]
    out = []
    for precision in ("float32", "bfloat16"):
        t = bench.times.get(("stviz", units, precision, "default"))
        if t is None:
            continue
        per_cell = t / units
        hours = {n: round(SWEEP_CELLS * per_cell / n / 3600, 3) for n in (1, 8, 32)}
        out.append(rows.add(what="sweep cost", precision=precision, batch=units,
                            s_per_cell=round(per_cell, 4), cells=SWEEP_CELLS,
                            hours_on_1_8_32_gpus=[hours[1], hours[8], hours[32]]))
    return out


def table(bench, rows, qual, sweeps):
    a = bench.args
    head = ["| path | units | precision | variant | seconds | ms/step | TFLOP/s | of dense peak "
            "| vs tuned | target | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines = list(head)
    for r in rows.rows:
        if r.get("what") not in ("stviz", "tuned"):
            continue
        cells = [r["what"] + (" (hand-tuned loop)" if r["what"] == "tuned" else ""), r["units"],
                 r["precision"], r["variant"]]
        if "error" in r or "skipped" in r:
            note = ("failed: " + r["error"]) if "error" in r else r["skipped"]
            cells += [note.replace("|", "/")[:200]] + [""] * 6
        else:
            frac = "" if r.get("of_peak") is None else f"{100 * r['of_peak']:.1f}%"
            met = "" if "met" not in r else ("yes" if r["met"] else "no")
            cells += [f"{r['seconds']:.2f}", f"{r['ms_per_step']:.1f}", f"{r['tflops']:.4g}", frac,
                      "" if "vs_tuned" not in r else f"{r['vs_tuned']:.3f}", r.get("target", ""),
                      met]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", f"Model: two-stream VGG-16, width {a.width:g}, {a.size} px, L = {a.frames}, "
              f"layer {LAYER}, {a.steps} steps, paper preset; stviz with its defaults "
              "(automatic channels_last; seeds = unit indices, jitter per item), the tuned loop "
              "with one jitter offset per step for the batch. Each path warmed up with "
              f"{WARM_STEPS} steps before timing. Convolutions: {bench.macs / 1e9:.4g} G "
              "multiply-adds per unit per forward pass to the layer; a step (forward + gradient "
              f"to the inputs) counted as {4 * bench.macs / 1e9:.4g} GFLOP per unit. "
              + ("Dense peaks used: %g TFLOP/s bf16, %g TF32." % bench.peak if bench.peak else
                 "Dense peak of this device unknown: fraction left empty.")]
    if not bench.full:
        lines.append("Not the full configuration: targets not applied.")
    else:
        lines.append("Targets are the issue's H200 figures (an H100 within its ratio).")
    for units, q in qual.items():
        lines.append(f"bf16 quality, {units} unit{'s' if units > 1 else ''}: median |final objective bf16 - float32| / "
                     f"|float32| = {100 * q['median_rel_diff']:.2f}% (max "
                     f"{100 * q['max_rel_diff']:.2f}%), target <= {100 * TARGET_QUALITY:.0f}%: "
                     f"{'met' if q['met'] else 'not met'}.")
    if not qual:
        lines.append("bf16 quality: not measured (a float32 or bf16 stviz row failed).")
    for s in sweeps:
        h = s["hours_on_1_8_32_gpus"]
        lines.append(f"Full conv5_fusion sweep ({s['cells']} cells of {a.steps} steps, batches "
                     f"of {s['batch']}), stviz {s['precision']} at {s['s_per_cell']:.3f} s per "
                     f"cell: {h[0]:.2f} h on 1 GPU, {h[1]:.2f} h on 8, {h[2]:.2f} h on 32.")
    lines.append(f"Whole script: {bench.elapsed():.0f} s.")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: the GPU rows stay open (use --device cpu --quick to test)")
        return 1
    rows = Rows()
    bench = Bench(args, rows)
    small = [u for u in args.units if u <= args.graph_units]
    large = [u for u in args.units if u > args.graph_units]
    precisions = ("float32", "bfloat16")
    for units in args.units:  # largest first: the main figures before anything optional
        for precision in precisions:
            bench.measure("tuned", units, precision, "channels_last")
            bench.measure("stviz", units, precision, "default")
            if units in small:
                bench.measure("stviz", units, precision, "cuda_graphs")
    qual = quality(bench, rows)
    sweeps = sweep(bench, rows)
    for units in large:
        for precision in precisions:
            bench.optional("stviz", units, precision, "cuda_graphs")
    text = table(bench, rows, qual, sweeps)
    print(text, flush=True)
    if rows.out:
        with open(os.path.join(rows.out, "gpu_table.md"), "w") as fh:
            fh.write(text + "\n")
    if not args.no_record:
        record(f"GPU: stviz vs a hand-tuned loop, two-stream VGG-16 at {args.size} px, "
               f"L = {args.frames}, {LAYER}, on {bench.card} (benchmarks/gpu_perf.py, issue #19)",
               text)
    failed = [r for r in rows.rows if "error" in r]
    print(f"{len(failed)} row(s) failed" if failed else "all rows measured", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
