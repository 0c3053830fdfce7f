"""The layer-by-layer figure (the paper's Figs. 17-19) for a Spatiotemporal ResNet-50.

    python examples/layer_by_layer.py --out out/layers [--steps 60] [--width 0.125]

Builds a random-weight ST-ResNet-50 (give it your trained weights with
``model.load_state_dict``), visualizes the first units of five appearance-stream
layers, shallow to deep, and draws them with as many units per layer as fit when
each is sized by its receptive field (``stviz_adapters.media.figures.layer_grid``).
Each unit maximizes its summed activation divided by its value at the initial
noise, so that every layer's term weighs the same against the paper's regularizers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import stviz_core as sv
from stviz_adapters.zoo.declared_torch import st_resnet50
from stviz_adapters.media.figures import layer_grid, units_per_layer
from stviz_backends.torch.receptive_field import receptive_field
from stviz_adapters.sweep.run import channel_counts

LAYERS = ("rgb.conv1", "rgb.res2c", "rgb.res3d", "rgb.res4f", "rgb.res5c")


def scaled_units(model, layer, units, preset):
    """One objective per unit: its summed activation over its value at the initial noise."""
    start = sv.visualize(model, layer, channels=list(units), steps=1, learning_rate=1e-12,
                         jitter=False, preset=preset, seed=0)
    return [sv.channel(u, normalize=False) / max(float(a), 1e-6)
            for u, a in zip(units, start.final["objective"], strict=True)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/layers"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--most", type=int, default=8)
    args = parser.parse_args(argv)
    model = st_resnet50(width=args.width, input_size=args.size, seed=0)
    fields = {layer: receptive_field(model, layer, args.size)[0] for layer in LAYERS}
    channels = channel_counts(model, "torch", LAYERS)
    counts = {k: min(n, channels[k]) for k, n in units_per_layer(fields, args.most).items()}
    preset = sv.presets.paper(gamma=1)
    results = {}
    for layer in LAYERS:
        units = range(counts[layer])
        results[layer] = sv.visualize(model, layer, objective=scaled_units(model, layer, units, preset),
                                      preset=preset, steps=args.steps, seed=0)
        results[layer].save(args.out / layer)
        print(f"{layer}: field {fields[layer]} px, {counts[layer]} unit(s)")
    path = layer_grid(results, args.out / "layers.png", receptive_fields=fields, most=args.most,
                      title="ST-ResNet-50 (random weights), appearance stream, layer by layer")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
