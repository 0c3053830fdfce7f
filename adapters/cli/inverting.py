"""``stviz invert`` and ``stviz accentuate``: a real clip reconstructed from its code, or strengthened."""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np

from stviz_core import presets
from stviz_core.atomic import atomic_path, safe_name
from stviz_core.backend import plugins

from .common import (TRUST, Progress, check_batch_memory, finite, interrupted, load_model, numbers,
                     out_dir, placed, shown)
from .group import cli

__all__ = ["invert", "accentuate"]


def _common(f):
    """The options both commands share."""
    options = [
        click.option("--preset", type=click.Choice(presets.names()), default="paper",
                     show_default=True, help="Regularization preset (its steps and learning rate)."),
        click.option("--steps", type=click.IntRange(min=1), default=None,
                     help="Ascent steps (default: the preset's, 300)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the initial noise (inversion) and of the jitter."),
        click.option("--jitter", is_flag=True,
                     help="Shift the input randomly each step (off: the target code is the "
                          "unshifted clip's)."),
        click.option("--start", type=click.IntRange(min=0), default=None,
                     help="A video's first frame (default: its central window)."),
        click.option("--backend", type=click.Choice(sorted(plugins())), default=None,
                     help="Framework plugin (found from the model when omitted)."),
        click.option("--device", default=None, help="Move a PyTorch model there first, e.g. cuda."),
        click.option("--out", type=click.Path(path_type=Path), required=True,
                     help="Output folder."),
        click.option("--overwrite", is_flag=True, help="Write into an existing, non-empty folder."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages."),
        TRUST,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _regularization(default, why):
    return click.option("--regularization", type=click.FloatRange(min=0, min_open=True),
                        default=default, show_default=True, callback=finite("--regularization"),
                        help=f"Factor on the preset's regularizer weights (lambda_B, lambda_TV); {why}")


def _preset(name, factor):
    """The preset ``name`` with its regularizer weights times ``factor``."""
    from dataclasses import replace

    preset = presets.get(name)
    if factor == 1:
        return preset
    return preset.replace(appearance=replace(preset.appearance, weight=preset.appearance.weight * factor),
                          motion=replace(preset.motion, weight=preset.motion.weight * factor))


def _model(model, trust_pickle, device):
    return placed(load_model(model, trust_pickle), device)


def _clip(net, clip, start):
    from ..clips import load_clip

    try:
        return load_clip(net, clip, start=start)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="CLIP") from None


def _save_clip(out, clip):
    """The real clip as ``clip.npz`` (an inputs file: ``stviz invert MODEL out/clip.npz`` reads it)."""
    with atomic_path(out / "clip.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **clip.inputs)


def _layers(layer):
    names = [name.strip() for item in layer for name in item.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("give at least one layer", param_hint="--layer")
    return list(dict.fromkeys(names))


def _checked(net, layers, real, backend, units=(), **options):
    """Refuse, before anything is written, what a run would refuse later: the run options, and
    per layer its name (the backend is opened there), the clip (encoded there) and the units."""
    from stviz_core.backend import backend_member, input_specs, select_plugin
    from stviz_core.codes import encode
    from stviz_core.model_contract import contract_of
    from stviz_core.run.options import RunOptions

    try:
        RunOptions.build(None, **options)
        plugin = select_plugin(net, backend=backend)
        count = max(len(units), max(len(x) for x in real.inputs.values()))
        what = "--channels" if units else "CLIP"
        if contract_of(net).inputs:  # before the backend is built
            check_batch_memory(count, input_specs(contract_of(net).inputs), what)
        for name in layers:
            be = plugin.create(net, layer=name)
            try:
                check_batch_memory(count, input_specs(be.inputs), what)
                encode(be, real)
                shape = backend_member(be, "activation_shape")
                bad = [c for c in units if shape and not 0 <= c < shape[-1]]
                if bad:
                    raise ValueError(f"channel {bad[0]} is out of range: the layer has {shape[-1]} "
                                     f"channels (0..{shape[-1] - 1}) [layer {shown(name)}]")
            finally:
                backend_member(be, "close")()
    except (ValueError, TypeError) as exc:
        raise click.ClickException(str(exc).strip().splitlines()[0]) from None


def _correlations(entry, n):
    return ", ".join(f"{k} {v[n]:+.2f}" for k, v in sorted(entry.items()) if v[n] is not None)


@contextmanager
def _said():
    """The kernel's warnings (an init projected into the bound) as one ``warning:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for w in caught:
                click.echo(f"warning: {w.message}", err=True)


def _report(out, pairs, title, quiet, stems):
    """The page: the pairs, then a grid and the cards per layer of the results they show (in
    memory; saved as ``stems``, in the order the pairs first show them)."""
    from ..media.report import write_report
    from ..media.sections import ClipPairs, cards_by_layer, grids_by_layer

    shown = list({id(p.result): p.result for p in pairs}.values())
    results = [(stem.name, result) for stem, result in zip(stems, shown, strict=True)]
    write_report(out, [ClipPairs(pairs)] * bool(pairs) + grids_by_layer(results) + cards_by_layer(results),
                 title=title, log=(lambda *a: None) if quiet else click.echo)


@cli.command()
@click.argument("model")
@click.argument("clip")
@click.option("--layer", multiple=True, required=True,
              help="Layer whose code is inverted; repeat it or give a comma-separated list for "
                   "one reconstruction per layer.")
@_regularization(0.01, "the paper's weights (1) are set for activation maximization: at 0.01 "
                       "the Kinetics I3D's codes are matched to a normalized error <= 0.05 from "
                       "Conv3d_2c_3x3 to Mixed_5c (benchmarks/inversion.py).")
@_common
def invert(model, clip, layer, preset, regularization, steps, seed, jitter, start, backend, device,
           out, overwrite, quiet, trust_pickle):
    """Reconstruct CLIP from its code at each --layer of MODEL (feature inversion).

    CLIP is a video file (fitted to the model's input; a two-stream model gets
    the middle frame and the TV-L1 flow of its frames), a .npz of the model's
    inputs (stviz flow writes one) or a saved result. Noise is optimized until
    its code matches the clip's, under the preset's regularizers; a two-stream
    model's appearance and motion are inverted together from a layer that sees
    both. Writes one result per layer, the clip (clip.npz) and index.html with
    the real clip beside each reconstruction and its normalized feature error.
    """
    import stviz_core as sv

    layers = _layers(layer)
    net = _model(model, trust_pickle, device)
    real = _clip(net, clip, start)
    _checked(net, layers, real, backend, preset=_preset(preset, regularization), steps=steps,
             seed=seed)
    out = out_dir(out, overwrite)
    _save_clip(out, real)
    pairs, done = [], []
    try:
        with _said():
            for name in layers:
                t = time.perf_counter()
                result = sv.invert(net, name, real, preset=_preset(preset, regularization), steps=steps,
                                   seed=seed, jitter=jitter, backend=backend,
                                   callback=Progress(quiet, f"invert {name}"))
                done.append(result.save(out / safe_name(f"invert_{name}")))
                entry = result.config["inversion"]
                for n in range(len(result)):
                    caption = (f"{name}: normalized feature error {entry['feature_error'][n]:.4g}; "
                               f"correlation with the clip: {_correlations(entry['correlation'], n)}"
                               + (f"; not inverted: {', '.join(entry['not_inverted'])} (the layer "
                                  "does not see it)" if entry["not_inverted"] else ""))
                    pairs.append(sv_pair(f"Reconstructions from {name}", real, result, n, caption))
                    if not quiet:
                        click.echo(f"{caption} ({time.perf_counter() - t:.1f} s) -> {done[-1]}.npz")
    except KeyboardInterrupt:
        interrupted(out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _report(out, pairs, f"stviz invert: {real.source}", quiet, done)
    click.echo(f"stviz invert: {len(done)} layer(s) in {out}; open {out / 'index.html'}")


@cli.command()
@click.argument("model")
@click.argument("clip")
@click.option("--layer", required=True, help="Layer of the units.")
@click.option("--channels", required=True, help="Comma-separated channels, e.g. 3,9: one "
                                                "accentuated clip each.")
@click.option("--feature-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              callback=finite("--feature-weight"),
              help="Weight of the feature-matching term that keeps the layer's code near the clip's.")
@click.option("--pixel-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              callback=finite("--pixel-weight"),
              help="Weight of the pixel-distance term that keeps the input near the clip.")
@_regularization(1.0, "below 1 the clip's own texture is penalized less.")
@_common
def accentuate(model, clip, layer, channels, feature_weight, pixel_weight, preset, regularization,
               steps, seed, jitter, start, backend, device, out, overwrite, quiet, trust_pickle):
    """Strengthen --channels of --layer in CLIP: maximize each from the clip, kept near it.

    CLIP is read as for stviz invert. Writes the result, the clip (clip.npz)
    and index.html with the real clip beside each accentuated one, the unit's
    value before and after, and the normalized feature error.
    """
    import stviz_core as sv

    units = numbers(channels, int, "channel numbers")
    if feature_weight == 0 and pixel_weight == 0:
        raise click.UsageError("--feature-weight and --pixel-weight are both 0: nothing keeps the "
                               "input near the clip; give one of them > 0")
    net = _model(model, trust_pickle, device)
    real = _clip(net, clip, start)
    _checked(net, [layer], real, backend, units, preset=_preset(preset, regularization),
             steps=steps, seed=[seed] * len(units))
    out = out_dir(out, overwrite)
    _save_clip(out, real)
    t = time.perf_counter()
    try:
        with _said():
            result = sv.accentuate(net, layer, real, channels=units, feature_weight=feature_weight,
                                   pixel_weight=pixel_weight, preset=_preset(preset, regularization),
                                   steps=steps, seed=[seed] * len(units), jitter=jitter,
                                   backend=backend, callback=Progress(quiet, f"accentuate {layer}"))
        stem = result.save(out / safe_name(f"accentuate_{layer}"))
    except KeyboardInterrupt:
        interrupted(out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    entry, pairs = result.config["accentuation"], []
    for n, unit in enumerate(entry["objectives"]):
        caption = (f"{layer} {unit}: {entry['unit_clip'][n]:.4g} on the clip -> "
                   f"{entry['unit_end'][n]:.4g}; normalized feature error "
                   f"{entry['feature_error'][n]:.4g} (feature weight {feature_weight:g}, "
                   f"pixel weight {pixel_weight:g})")
        pairs.append(sv_pair(f"Accentuated at {layer}", real, result, n, caption,
                             ("real clip", f"accentuated {unit}")))
        if not quiet:
            click.echo(caption)
    _report(out, pairs, f"stviz accentuate: {real.source}", quiet, [stem])
    click.echo(f"stviz accentuate: {len(units)} unit(s) of {layer} in {time.perf_counter() - t:.1f} s "
               f"-> {stem}.npz; open {out / 'index.html'}")


def sv_pair(heading, clip, result, n, caption, labels=("real clip", "reconstruction")):
    """The page's :class:`~stviz_adapters.media.manuscript.Pair` of clip item ``n`` (or its one
    clip) and visualization ``n``."""
    from ..media.manuscript import Pair

    item = {k: v[n if len(v) > 1 else 0] for k, v in clip.inputs.items()}
    return Pair(heading, item, result, n, caption, labels)
