"""stviz against Lucent (PyTorch) and tf-keras-vis (Keras) on the same 2D image task (issue #8, item 4).

Task: one appearance input (T = 1), channel 3 at conv4_3 of a VGG-16 trunk (random He weights,
the same in both frameworks by porting), 112 x 112, pixel parameterization, float32, batch 1.
Per-step time = (time of 120 steps - time of 20 steps) / 100, after 5 warm-up steps, all setups
of one framework timed in turn within each repeat, medians of 3 (the method of
../shared/ANCHORS.md). Lucent is timed as a user calls it (``transforms=[]``, which still
upsamples to 224 and normalizes) and tuned (``preprocess=False, fixed_image_size=112``);
tf-keras-vis with no regularizers and with its defaults. stviz runs its full step (paper
regularizers, jitter, projection): more work per step than the others. Also records what
each library does with video-shaped input (5-D clips, stacked flow).

Run (builds its own environment):  bash benchmarks/libraries.sh
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).with_name("_stubs")))

import torch  # noqa: E402

import stviz_core as sv  # noqa: E402
from _machine import median_per_step, record  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as MK  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as MT  # noqa: E402
from stviz_core.layouts import Image2D  # noqa: E402

SIZE, CHANNEL, LAYER = 112, 3, "conv4_3"


def torch_trunk():
    trunk = MT.vgg16_trunk(width=1.0, pool5=False)
    torch.manual_seed(0)
    for m in trunk.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    trunk.eval()
    trunk.stviz_layout, trunk.stviz_inputs = Image2D(), {"rgb": (1, SIZE, SIZE, 3)}
    return trunk


def lucent_runs(trunk):
    from lucent.optvis import param, render

    def user(steps):
        render.render_vis(trunk, f"{LAYER}:{CHANNEL}", param_f=lambda: param.image(SIZE, fft=False,
                          decorrelate=False), transforms=[], thresholds=(steps,), show_image=False,
                          progress=False)

    def tuned(steps):
        render.render_vis(trunk, f"{LAYER}:{CHANNEL}", param_f=lambda: param.image(SIZE, fft=False,
                          decorrelate=False), transforms=[], thresholds=(steps,), show_image=False,
                          progress=False, preprocess=False, fixed_image_size=SIZE)

    return user, tuned


def tfkv_runs(kmodel):
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization

    def modifier(m):
        return None

    sub = __import__("keras").Model(kmodel.inputs, kmodel.get_layer(LAYER).output)

    def score(output):
        return tf.reduce_mean(output[..., CHANNEL], axis=(1, 2))

    am = ActivationMaximization(sub, model_modifier=modifier, clone=False)
    seed = tf.random.uniform((1, SIZE, SIZE, 3), -1, 1, seed=0)

    def bare(steps):
        am(score, steps=steps, seed_input=seed, input_modifiers=[], regularizers=[])

    def default(steps):
        am(score, steps=steps, seed_input=seed)

    return bare, default


def video_behaviour():
    notes = []
    try:
        from lucent.optvis import param, render

        c3d = MT.c3d(width=1 / 16, input_size=32, seed=0).eval()
        try:
            render.render_vis(c3d, "conv2a:0", param_f=lambda: param.image(32, fft=False,
                              decorrelate=False), transforms=[], thresholds=(2,), show_image=False,
                              progress=False, preprocess=False, fixed_image_size=32)
            notes.append("Lucent, 5-D clip model (C3D) with its image parameterization: ran")
        except BaseException as exc:  # noqa: BLE001 - we record whatever it does
            notes.append(f"Lucent, 5-D clip model (C3D): fails with {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120]}")
    except ImportError as exc:
        notes.append(f"Lucent not importable: {exc}")
    try:
        import tensorflow as tf
        from tf_keras_vis.activation_maximization import ActivationMaximization

        k3d = MK.c3d(width=1 / 16, input_size=32, seed=0)
        sub = __import__("keras").Model(k3d.inputs, k3d.get_layer("conv2a").output)
        am = ActivationMaximization(sub, clone=False)
        score = lambda o: tf.reduce_mean(o[..., 0], axis=(1, 2, 3))  # noqa: E731
        seed = tf.random.uniform((1, 16, 32, 32, 3), -1, 1, seed=0)
        try:
            am(score, steps=2, seed_input=seed, input_modifiers=[], regularizers=[])
            notes.append("tf-keras-vis, 5-D clip model (C3D), no regularizers: runs")
        except BaseException as exc:  # noqa: BLE001
            notes.append(f"tf-keras-vis, 5-D clip, no regularizers: fails ({type(exc).__name__})")
        try:
            am(score, steps=2, seed_input=seed)
            notes.append("tf-keras-vis, 5-D clip model, default regularizers: runs")
        except BaseException as exc:  # noqa: BLE001
            notes.append(f"tf-keras-vis, 5-D clip model, default regularizers: fails with "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    except ImportError as exc:
        notes.append(f"tf-keras-vis not importable: {exc}")
    notes.append("stviz: clips (N, T, H, W, C), stacked flow and two-stream inputs are native "
                 "(tests/backends/torch/test_torch_backend.py, tests/backends/keras/test_keras_backend.py)")
    return notes


def main():
    from stviz_adapters.zoo.porting import torch_to_keras

    torch.set_num_threads(os.cpu_count() or 1)
    trunk = torch_trunk()
    kmodel = torch_to_keras(trunk, MK.vgg16_trunk(width=1.0, pool5=False, input_size=SIZE))
    lucent_user, lucent_tuned = lucent_runs(trunk)
    tf_bare, tf_default = tfkv_runs(kmodel)
    groups = {
        "PyTorch": {
            "stviz (paper preset, jitter)": lambda s: sv.visualize(
                trunk, LAYER, channels=[CHANNEL], steps=s, seed=0, preset="paper"),
            "Lucent render_vis, transforms=[] (upsamples to 224)": lucent_user,
            "Lucent, preprocess=False, fixed_image_size=112": lucent_tuned,
        },
        "Keras": {
            "stviz (paper preset, jitter, compiled step)": lambda s: sv.visualize(
                kmodel, LAYER, channels=[CHANNEL], steps=s, seed=0, preset="paper"),
            "tf-keras-vis, no regularizers": tf_bare,
            "tf-keras-vis, default modifiers and regularizers": tf_default,
        },
    }
    rows = [(framework, name, seconds) for framework, setups in groups.items()
            for name, seconds in median_per_step(setups, 20, 120, 3, warm=5).items()]
    lines = ["| framework | setup | ms/step (median) |", "|---|---|---|"]
    lines += [f"| {f} | {name} | {1000 * v:.1f} |" for f, name, v in rows]
    notes = video_behaviour()
    table = "\n".join(lines) + "\n\nVideo-shaped input:\n\n" + "\n".join(f"- {n}" for n in notes)
    print(table)
    if "--no-record" not in sys.argv:
        record("stviz against Lucent and tf-keras-vis (benchmarks/libraries.py)",
               f"VGG-16 trunk (random He weights, ported to Keras), conv4_3 channel {CHANNEL}, "
               f"{SIZE}x{SIZE}, float32, batch 1, steps 20 -> 120, median of 3.\n\n{table}")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
