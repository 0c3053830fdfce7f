"""One step of a Hugging Face video transformer: stviz against a hand-written PyTorch loop (issue 25).

VideoMAE at ViT-S width (hidden 384, 6 heads, MLP 1536), 4 blocks, 16 x 112 x 112
(tubelets 2 x 16 x 16: 392 tokens), random weights, float32, N = 1. Target: the
MLP hidden layer of the last block (``videomae.encoder.layer.3.intermediate.dense``),
channel 3 summed over tokens. Both run the same math per step: the paper's
preset (jitter by roll up to the patch stride, eq. 1's channel objective over
``rho^2`` with ``rho`` the clip, the norm and TV regularizers, Adam with the
decaying rate, the projection to ``B``), the forward pass stopped at the
layer by a hook, the model's pixel normalization hook included.

Per-step time = (time of S2 steps - time of S1 steps) / (S2 - S1), both setups
timed in turn within each repeat, medians. The machine is shared with other
work: read the ratio, not the absolute times.
Run: python benchmarks/hf_perf.py [--quick] [--no-record]
"""

from __future__ import annotations

import argparse
import warnings

import torch

import stviz_core as sv
from _machine import median_per_step, record
from stviz_adapters.zoo import hf_video
import torch_perf

LAYER = "videomae.encoder.layer.3.intermediate.dense"
CONFIG = dict(hidden_size=384, num_attention_heads=6, intermediate_size=1536, num_hidden_layers=4,
              image_size=112, patch_size=16, num_frames=16, tubelet_size=2)


def bare_loop(model, layer, channel, steps, seed=0):
    """The loop a user would write by hand for one token-layer unit, as stviz's paper preset:
    ``torch_perf.bare_loop`` on the layer's (1, tokens, C) output, its field the whole clip and
    its jitter stride the patch."""
    (spec,) = model.stviz_layout.specs(model.stviz_inputs).values()
    field = (spec.shape[1], model.stviz_layout.tokens.stride[1])
    return torch_perf.bare_loop(model, layer, channel, steps, seed, field=field, channels_last=True)


def with_threads(threads, run):
    """``run`` with torch set to ``threads`` threads, restored after."""
    def timed(steps):
        before = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return run(steps)
        finally:
            torch.set_num_threads(before)
    return timed


def r2plus1d_row(s1, s2, reps):
    """The row of torchvision's r2plus1d_18 at 16 x 112 x 112 (``layer3``, channel 3), where
    torchvision imports; the hand-written loop is ``torch_perf.bare_loop`` (a 3D conv net)."""
    from stviz_adapters.zoo import torchvision_video

    try:
        torchvision_video.import_torchvision()
    except ValueError as exc:
        return f"| r2plus1d_18 (torchvision) | layer3 | - | - | not run: {exc} |"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = torchvision_video.r2plus1d_18()
    probe = sv.visualize(model, "layer3", channels=[3], preset="paper", steps=1, seed=0)
    threads = (probe.config["backend_details"].get("threads") or {}).get(
        "threads", torch.get_num_threads())
    med = median_per_step({
        "bare": with_threads(threads, lambda s: torch_perf.bare_loop(model, "layer3", 3, s)),
        "stviz": lambda s: sv.visualize(model, "layer3", channels=[3], preset="paper",
                                        objective_scale="paper", steps=s, seed=0,
                                        check_every=10**9),
    }, s1, s2, reps)
    return (f"| r2plus1d_18 (torchvision, 16 x 112 x 112, {threads} thread(s)) | layer3 | "
            f"{1000 * med['bare']:.1f} | {1000 * med['stviz']:.1f} | "
            f"{med['stviz'] / med['bare']:.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--r2plus1d-only", action="store_true",
                        help="only the row of torchvision's r2plus1d_18 (where torchvision imports)")
    args = parser.parse_args()
    if args.r2plus1d_only:
        s1, s2, reps = (2, 6, 2) if args.quick else (3, 13, 3)
        print(r2plus1d_row(s1, s2, reps))
        return
    s1, s2, reps = (2, 6, 2) if args.quick else (3, 13, 3)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random weights
        model = hf_video.videomae(**CONFIG)
    # the hand-written loop runs with the threads stviz's thread policy picks for this step
    probe = sv.visualize(model, LAYER, channels=[3], preset="paper", steps=1, seed=0)
    threads = probe.config["backend_details"].get("threads") or {"threads": torch.get_num_threads()}
    print("stviz's threads:", threads)

    def bare(steps):
        before = torch.get_num_threads()
        torch.set_num_threads(int(threads["threads"]))
        try:
            return bare_loop(model, LAYER, 3, steps)
        finally:
            torch.set_num_threads(before)

    med = median_per_step({
        "bare": bare,
        "stviz": lambda s: sv.visualize(model, LAYER, channels=[3], preset="paper",
                                        objective_scale="paper", steps=s, seed=0,
                                        check_every=10**9),
    }, s1, s2, reps)
    body = "\n".join([
        "One step of VideoMAE (ViT-S width, 4 blocks, 16 x 112 x 112, 392 tokens, random weights, "
        f"float32, N = 1) at `{LAYER}`, channel 3 over all tokens, preset 'paper', both with "
        f"{threads['threads']} threads (stviz's thread policy: {threads.get('reason', 'none')}); "
        f"S1, S2 = {s1}, {s2}, {reps} repeats. The machine is "
        "shared with other work (other sessions' tests ran meanwhile): the ratio is the number.",
        "", "| model | layer | hand-written ms/step | stviz ms/step | ratio |", "|---|---|---|---|---|",
        f"| VideoMAE-S/4 (hf:videomae) | {LAYER} | {1000 * med['bare']:.1f} | "
        f"{1000 * med['stviz']:.1f} | {med['stviz'] / med['bare']:.3f} |"])
    print(body)
    if not args.no_record:
        record("Issue 25: a Hugging Face video transformer per step, stviz vs a hand-written loop "
               "(benchmarks/hf_perf.py)", body)


if __name__ == "__main__":
    main()
