"""Paper-style figure grids: units in rows, regularization settings in columns (Figs. 7, 8, 10).

Each cell shows the unit's appearance input beside one frame of its motion
input (flow as RGB = horizontal, vertical, magnitude); results without a motion
input (3D networks on RGB clips) show their first, middle and last appearance
frames instead. With an
:class:`~stviz_adapters.activity.Activity`, a bar chart of the unit's maximum
activity per class sits at the end of its row (Figs. 9 and 10).

:func:`layer_grid` draws the layer-by-layer figure (Figs. 17-19): one band per
layer, as many units as fit when each is drawn at a size proportional to its
receptive field, so that one input pixel has the same size in every band; a
field that reaches past the input is drawn as the input (:func:`drawn_field`,
the one rule for every layer).
"""

from __future__ import annotations

from pathlib import Path

from stviz_core.atomic import atomic_path
from .render import appearance_to_rgb, flow_to_rgb, input_roles

__all__ = ["unit_grid", "layer_grid", "units_per_layer", "drawn_field", "input_extent"]


def _cell_images(result, n):
    app = mot = None
    for name, role in input_roles(result).items():
        if role == "motion":
            mot = flow_to_rgb(result.inputs[name][n])
        else:
            app = appearance_to_rgb(result.inputs[name][n])
    return app, mot


def _appearance_frames(result) -> int:
    """Frames of a result's appearance input (0 without one)."""
    return max((result.inputs[k].shape[1] for k, role in input_roles(result).items()
                if role != "motion"), default=0)


def unit_grid(columns: dict, path, *, units=None, unit_labels=None, activity=None, channels=None,
              frame=None, title=None, top_clips=None):
    """Write a PNG grid: one row per visualization, one column pair per setting.

    Parameters
    ----------
    columns : dict of str to Result
        Column label (e.g. ``"gamma = 5"``) to a result; all results hold the
        same units in the same order.
    path : str or Path
        PNG file, written to a temporary name and renamed.
    units : sequence of int, optional
        Which visualizations (rows) to show; all by default.
    unit_labels : sequence of str, optional
        Row labels.
    activity : Activity, optional
        Adds a bar chart of the maximum activity per class of ``channels[row]``.
    top_clips : sequence of uint8 images, optional
        One image per row: a frame of the clip that excites the unit most
        (the paper's Fig. 12), shown after the bar chart.
    frame : int, optional
        Which motion frame to show (the middle one by default).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = list(columns)
    first = columns[labels[0]]
    rows = list(range(len(first))) if units is None else list(units)
    extra = (activity is not None) + (top_clips is not None)
    clip_only = all("motion" not in input_roles(r).values() for r in columns.values())
    per = 3 if clip_only and _appearance_frames(first) > 1 else 2  # cells per column
    ncols = per * len(labels) + extra
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.6 * ncols, 1.7 * len(rows) + 0.5),
                             squeeze=False)
    for r, n in enumerate(rows):
        for c, label in enumerate(labels):
            for k, (img, what) in enumerate(_row_cells(columns[label], n, per, frame)):
                _picture(axes[r, per * c + k], img, f"{label}\n{what}" if r == 0 else None)
        if unit_labels is not None:
            axes[r, 0].set_ylabel(_fit_label(unit_labels[r]), fontsize=7)
        if top_clips is not None:
            _picture(axes[r, -1], top_clips[r], "top clip" if r == 0 else None)
        if activity is not None:
            _class_bars(axes[r, per * len(labels)], activity, channels[r] if channels is not None else n,
                        first_row=r == 0)
    if title:
        fig.suptitle(title, fontsize=9)
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height if title else 1))  # room for the title
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


def _row_cells(result, n, per, frame) -> list:
    """``[(image or None, what), ...]`` of visualization ``n`` in one column: an RGB clip's first,
    middle and last frame (``per == 3``), else the middle appearance frame and one motion frame."""
    app, mot = _cell_images(result, n)
    if per == 3:
        picks = [len(app) * k // 2 - (k == 2) for k in range(3)]
        return [(app[t], f"frame {t}") for t in picks]
    t = (len(mot) // 2 if frame is None else frame) if mot is not None else 0
    return [(app[len(app) // 2] if app is not None else None, "appearance"),
            (mot[t] if mot is not None else None, "motion")]


def _picture(ax, img, title=None):
    """One cell of a grid: ``img`` (none: left blank) without ticks, titled on the first row."""
    ax.set_xticks([])
    ax.set_yticks([])
    if img is not None:
        ax.imshow(img, interpolation="nearest")
    if title is not None:
        ax.set_title(title, fontsize=7)


def _class_bars(ax, activity, channel, first_row):
    """The bar chart of ``channel``'s maximum activity per class."""
    values = activity.per_class[:, channel]
    ax.barh(range(len(values)), values, color="tab:blue")
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(activity.classes, fontsize=5)
    ax.tick_params(axis="x", labelsize=5)
    ax.invert_yaxis()
    if first_row:
        ax.set_title("max activity\nper class", fontsize=7)


#: characters per line of a row label: one image's height at the row label's font size
_LABEL_CHARS = 22


def _fit_label(label, width: int = _LABEL_CHARS) -> str:
    """A row label broken into lines no longer than one row (so labels of adjacent rows never meet)."""
    import textwrap

    lines = textwrap.wrap(str(label), width=width, break_long_words=True, break_on_hyphens=False)
    return "\n".join(lines[:4]) + ("..." if len(lines) > 4 else "")


def units_per_layer(receptive_fields: dict, most: int = 8) -> dict:
    """How many units :func:`layer_grid` shows per layer: inversely proportional to its field.

    The layer with the smallest receptive field gets ``most``; a layer whose
    field is ``k`` times larger gets ``most / k`` (rounded, at least 1).
    """
    if not receptive_fields:
        raise ValueError("no layers given")
    bad = {k: v for k, v in receptive_fields.items() if not v or v <= 0}
    if bad:
        raise ValueError(f"receptive fields must be positive: {bad}")
    smallest = min(receptive_fields.values())
    return {layer: max(1, round(most * smallest / rf)) for layer, rf in receptive_fields.items()}


def input_extent(result) -> int:
    """The largest spatial side (H or W) of a result's inputs, in pixels."""
    return max(int(max(x.shape[2], x.shape[3])) for x in result.inputs.values())


def drawn_field(result, rho=None) -> float:
    """The receptive field :func:`layer_grid` draws a result's layer at: one rule for every layer.

    A field that reaches past the input (a deep convolution's theoretical
    field, or a layer that sees the whole input, reported as the input's size)
    covers the whole input and nothing more: it is drawn as the input's
    largest side. Others are drawn at their size. ``rho`` defaults to the
    result's recorded field (``config["rho"]``).
    """
    rho = float(result.config.get("rho") or 1.0) if rho is None else float(rho)
    return min(rho, float(input_extent(result)))


def _time_gamma(result) -> str:
    """``"gamma 5"`` from the inputs with a time axis (T > 1) where eq. 3 acts (``lambda_tv``
    not 0); ``""`` when none has one."""
    values = sorted({float(v["gamma"]) for k, v in (result.config.get("inputs") or {}).items()
                     if isinstance(v, dict) and isinstance(v.get("gamma"), (int, float))
                     and v.get("lambda_tv") != 0 and k in result.inputs and result.inputs[k].shape[1] > 1})
    return f"gamma {', '.join(f'{g:g}' for g in values)}" if values else ""


def layer_grid(results: dict, path, *, receptive_fields=None, most: int = 8, frame=None,
               title=None, width: float = 8.0):
    """Write the layer-by-layer PNG: one band per layer, its first units side by side.

    A unit is drawn at a size proportional to its layer's field (one input
    pixel the same size in every band; capped at the band's width), every
    field by the rule of :func:`drawn_field`: a field that reaches past the
    input is drawn as the input's size. The layer with the smallest field
    shows ``most`` units, a layer with a ``k`` times larger field ``most / k``
    (:func:`units_per_layer`), fewer when the result has fewer. Each unit is
    its appearance beside one frame of its motion (an input the layer does not
    depend on is left out); the first unit's pictures are titled by input
    (``rgb``, ``flow (motion)``) and each band by layer, field, unit count and
    the run's gamma.

    Parameters
    ----------
    results : dict of str to Result
        Layer label to a result of that layer (one visualization per unit),
        shallow to deep.
    receptive_fields : dict of str to float, optional
        Per label; by default each result's recorded ``rho`` (its layer's field).
    most : int
        Units shown for the layer with the smallest field.
    frame : int, optional
        Motion frame shown (the middle one by default).
    width : float
        Width of the bands, in inches.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    raw = {k: float((receptive_fields or {}).get(k) or r.config.get("rho") or 1.0)
           for k, r in results.items()}
    fields = {k: drawn_field(r, raw[k]) for k, r in results.items()}
    counts = units_per_layer(fields, most)
    bands = [(label, *_band(result, counts[label], frame)) for label, result in results.items()]
    per_unit = max(len(titles) for _, titles, _ in bands) or 1
    smallest, gap, head = min(fields.values()), 0.04, 0.16
    sizes = {label: min(width * fields[label] / (smallest * most * per_unit),
                        width / max(1, len(titles)))
             for label, titles, _ in bands}
    heights = [sizes[label] + head + gap for label, _, _ in bands]
    left, total = 1.5, sum(heights) + (0.4 if title else 0.05)
    fig = plt.figure(figsize=(left + width + 0.1, total))
    top = total - (0.4 if title else 0.05)
    for label, titles, units in bands:
        size = sizes[label]
        fit = max(1, int((width + 1e-9) // (size * max(1, len(titles)))))
        top -= head + size
        info = _band_info(label, results[label], raw[label], fields[label], min(len(units), fit))
        fig.text((left - 0.1) / fig.get_figwidth(), (top + size / 2) / total, info, fontsize=7,
                 ha="right", va="center")
        for u, panels in enumerate(units[:fit]):
            for i, img in enumerate(panels):
                x0 = left + (u * len(panels) + i) * size
                ax = fig.add_axes([x0 / fig.get_figwidth(), top / total,
                                   (size - gap) / fig.get_figwidth(), (size - gap) / total])
                ax.imshow(img, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if u == 0:
                    ax.set_title(titles[i], fontsize=6, pad=2)
        top -= gap
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight", pad_inches=0.1)
    finally:
        plt.close(fig)
    return path


def _band(result, count, frame) -> tuple:
    """A band's picture titles and, per unit shown (at most ``count``), its pictures: the
    appearance's first frame and the motion's ``frame`` of each input the layer depends on."""
    optimized = set(result.config.get("optimized_inputs") or result.inputs)
    roles = input_roles(result)
    names = [k for k in sorted(result.inputs, key=lambda k: roles[k] == "motion") if k in optimized]
    units = []
    for n in range(min(count, len(result))):
        panels = []
        for name in names:
            if roles[name] == "motion":
                flow = flow_to_rgb(result.inputs[name][n])
                panels.append(flow[len(flow) // 2 if frame is None else frame])
            else:
                panels.append(appearance_to_rgb(result.inputs[name][n])[0])
        units.append(panels)
    return [f"{k} (motion)" if roles[k] == "motion" else k for k in names], units


def _band_info(label, result, raw, drawn, shown) -> str:
    """A band's label: layer, field (and how it is drawn), units shown, the run's gamma."""
    extent = input_extent(result)
    field = (f"field {raw:g}" if raw < extent else
             f"field {raw:g}\n(the whole input)" if raw == extent else
             f"field {raw:g} > input:\ndrawn as {drawn:g}")
    return "\n".join(x for x in (label, field, f"{shown} unit(s)", _time_gamma(result)) if x)
