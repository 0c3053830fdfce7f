"""One visualization in PyTorch and in Keras, and how closely they agree.

Builds the two-stream VGG-16 fusion network in PyTorch, ports its weights to
the Keras twin (same layer names; kernels, and the dense layer after the
flatten, reordered for channels-last), runs the same config and seeds on both
with ``stviz_adapters.compare`` and prints, per visualization, the largest
difference and the correlation of the optimized inputs and the difference of
the final objective. Both results are saved, so they can be compared again
with ``stviz_core.compare(stviz_core.load(a), stviz_core.load(b))``.

Run:  python examples/compare_frameworks.py --dtype float64 --steps 50 --out out/compare
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import torch  # noqa: E402

import stviz_adapters  # noqa: E402
import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as models_keras  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as models_torch  # noqa: E402
from stviz_adapters.zoo.porting import torch_to_keras  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--units", default="0,1")
    parser.add_argument("--width", type=float, default=1 / 8, help="channel width factor")
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    parser.add_argument("--out", type=Path, default=Path("out/compare"))
    args = parser.parse_args(argv)

    kw = dict(num_classes=101, width=args.width, input_size=args.size, flow_frames=10)
    torch_model = models_torch.two_stream_vgg16(seed=0, **kw).to(getattr(torch, args.dtype))
    keras_model = torch_to_keras(torch_model, models_keras.two_stream_vgg16(dtype=args.dtype, **kw))
    units = [int(u) for u in args.units.split(",")]
    out = stviz_adapters.compare(torch_model, keras_model, "conv5_fusion", channels=units,
                                 steps=args.steps, seed=list(range(len(units))),
                                 preset=sv.presets.paper(gamma=1))
    print(f"{args.dtype}, {args.steps} steps, paper preset (gamma = 1), jitter stride "
          f"{out.torch.config['jitter']['stride']}")
    print(out)
    for n, unit in enumerate(units):
        print(f"unit {unit}: max |diff| = {out.comparison.max_abs_diff['all'][n]:.2e} "
              f"({out.comparison.max_abs_diff['all'][n] / 160:.1e} of the bound), "
              f"correlation {out.comparison.correlation['all'][n]:.9f}")
    out.torch.save(args.out / "torch")
    out.keras.save(args.out / "keras")
    print(f"saved {args.out / 'torch'}.npz and {args.out / 'keras'}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
