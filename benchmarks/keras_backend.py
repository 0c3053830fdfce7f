"""Keras backend per-step cost: compiled vs eager, host copies, and the PyTorch twin beside it.

On a two-stream VGG-16 (``--width``, ``--size``, 10 flow frames) at conv5_fusion,
N visualizations, float32: per-step time of

* ``keras compiled``: the default, one fused ``tf.function`` call per step;
* ``keras eager``: ``compiled=False``, forward and VJP eagerly with a tape;
* ``torch``: the ported PyTorch twin, same config;
* ``hand-written TF loop``: the same work written by hand as one ``tf.function`` step
  (overhead target: stviz <= 1.15x);

and, for the Keras backend, the part of a step spent copying between the
kernel's host arrays and TensorFlow (layout change, ``convert_to_tensor``
for the inputs, ``numpy()`` and the inverse layout for the gradients): the
most a TensorFlow-native array namespace could save. Per-step time =
(time of S2 steps - time of S1 steps) / (S2 - S1), median of repeats, setups
timed in turn in each repeat.

Run:  python benchmarks/keras_backend.py [--width 0.25 --size 112 --batch 1]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import stviz_core as sv  # noqa: E402
from _machine import median_per_step, record  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as MK  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as MT  # noqa: E402
from stviz_core.layouts import from_model, to_model  # noqa: E402
from stviz_adapters.zoo.porting import torch_to_keras  # noqa: E402


def bare_tf_loop(km, layer, channel, steps, seed=0):
    """The loop a user would write by hand in TensorFlow: one compiled step doing the same work
    (roll jitter, sub-model forward, eq. 1 objective, paper regularizers through the tape, Adam,
    projection), on the same model, shapes and dtype as stviz's default run."""
    import keras
    import tensorflow as tf

    from stviz_backends.keras.receptive_field import receptive_field

    preset = sv.presets.paper()
    specs = km.stviz_layout.specs(km.stviz_inputs)
    size = max(s.shape[1] for s in specs.values())
    rf, stride = receptive_field(km, layer, size)
    sub = keras.Model(km.inputs, km.get_layer(layer).output)
    rng_init, rng_jit = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
    names = sorted(specs)
    xs = []
    for name in names:
        reg = preset.for_role(specs[name].role)
        amp = preset.init_scale * reg.bound / np.sqrt(specs[name].shape[-1])
        xs.append(tf.Variable(rng_init.uniform(-amp, amp, (1, *specs[name].shape)).astype("float32")))
    weights = [preset.for_role(specs[k].role).weights(specs[k].shape) for k in names]
    regs = [preset.for_role(specs[k].role) for k in names]
    offsets = rng_jit.integers(0, stride, size=(steps, 2), endpoint=True).astype("int32")
    opt = keras.optimizers.Adam(learning_rate=8.0)
    order = [names.index(n) for n in km.stviz_layout.names]

    @tf.function(reduce_retracing=True)
    def step(shift, lr):
        with tf.GradientTape() as tape:
            shifted = [tf.roll(x, shift, axis=[2, 3]) for x in xs]
            args = to_model(km.stviz_layout, {n: shifted[i] for i, n in enumerate(names)},
                            _TfNamespace)
            acts = sub(list(args), training=False)
            loss = -tf.reduce_sum(acts[..., channel]) / rf**2
            for x, (lam_b, lam_tv), reg in zip(xs, weights, regs):
                nb = tf.reduce_sum(tf.reduce_sum(x * x, -1) ** (reg.alpha / 2))
                tv = reg.kappa * (tf.reduce_sum((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)
                                  + tf.reduce_sum((x[:, :, 1:] - x[:, :, :-1]) ** 2))
                if x.shape[1] > 1:
                    tv += reg.gamma * tf.reduce_sum((x[:, 1:] - x[:, :-1]) ** 2)
                loss += lam_b * nb + lam_tv * tv
        grads = tape.gradient(loss, xs)
        opt.learning_rate.assign(lr)
        opt.apply_gradients(zip(grads, xs))
        for x in xs:
            norm = tf.sqrt(tf.reduce_sum(x * x, -1, keepdims=True))
            x.assign(x * tf.minimum(1.0, 160.0 / tf.maximum(norm, 1e-12)))

    del order
    for k in range(steps):
        step(tf.constant(offsets[k]), tf.constant(8.0 * 0.1 ** (k / max(steps - 1, 1)), tf.float32))


class _TfNamespace:
    """Just enough of an array namespace over TensorFlow for the layout conversion."""

    @staticmethod
    def reshape(x, shape):
        import tensorflow as tf

        return tf.reshape(x, shape)

    @staticmethod
    def permute_dims(x, axes):
        import tensorflow as tf

        return tf.transpose(x, axes)


def copy_cost(km, n, repeats=20):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in km.stviz_inputs.items()}
    layout = km.stviz_layout
    t0 = time.perf_counter()
    for _ in range(repeats):
        args = [tf.convert_to_tensor(a) for a in to_model(layout, x, np)]
        back = [np.asarray(a) for a in args]
        from_model(layout, back, np)
    return (time.perf_counter() - t0) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", default="5,25")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", action="store_true", help="the demo model instead of the VGG-16")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    s1, s2 = (int(s) for s in args.steps.split(","))
    if args.demo:
        from stviz_adapters.demo.model import load_demo_model

        tm, km = load_demo_model(), load_demo_model(framework="keras")
        what = "Demo model (small two-stream, 64 px, 10 flow frames)"
    else:
        kw = dict(num_classes=101, width=args.width, input_size=args.size, flow_frames=10)
        tm = MT.two_stream_vgg16(seed=0, **kw)
        km = torch_to_keras(tm, MK.two_stream_vgg16(**kw))
        what = f"Two-stream VGG-16, width {args.width}, {args.size}x{args.size}, 10 flow frames"
    units = list(range(args.batch))
    common = dict(channels=units, seed=list(range(args.batch)), preset="paper")

    def run(model, **backend_options):
        return lambda steps: sv.visualize(model, "conv5_fusion", steps=steps,
                                          backend_options=backend_options, **common)

    setups = {"keras compiled": run(km), "keras eager": run(km, compiled=False), "torch": run(tm)}
    if args.batch == 1:
        setups["hand-written TF loop (tf.function)"] = lambda steps: bare_tf_loop(
            km, "conv5_fusion", 0, steps)
    med = {k: 1000 * v for k, v in median_per_step(setups, s1, s2, args.repeats).items()}
    copy = copy_cost(km, args.batch)
    lines = ["| setup | ms/step (median) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in med.items()]
    lines.append(f"| keras host copies (part of compiled) | {1000 * copy:.2f} "
                 f"({100 * 1000 * copy / med['keras compiled']:.1f} % of a step) |")
    if "hand-written TF loop (tf.function)" in med:
        lines.append(f"| stviz Keras / hand-written TF loop | "
                     f"{med['keras compiled'] / med['hand-written TF loop (tf.function)']:.3f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record("Keras backend per step (benchmarks/keras_backend.py)",
               f"{what}, conv5_fusion, N = {args.batch}, float32, paper preset; steps "
               f"{s1}->{s2}, median of {args.repeats}.\n\n{table}")


if __name__ == "__main__":
    main()
