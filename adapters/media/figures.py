"""Paper-style figure grids: units in rows, regularization settings in columns (Figs. 7, 8, 10).

Each cell shows the unit's appearance input beside one frame of its motion
input (flow as RGB = horizontal, vertical, magnitude); results without a motion
input (3D networks on RGB clips) show their first, middle and last appearance
frames instead. With an
:class:`~stviz_adapters.activity.Activity`, a bar chart of the unit's maximum
activity per class sits at the end of its row (Figs. 9 and 10).

:func:`layer_grid` draws the layer-by-layer figure (Figs. 17-19): one band per
layer, as many units as fit when each is drawn at a size proportional to its
receptive field, so that one input pixel has the same size in every band.
"""

from __future__ import annotations

from pathlib import Path

from stviz_core.atomic import atomic_path
from .render import appearance_to_rgb, flow_to_rgb, input_roles

__all__ = ["unit_grid", "layer_grid", "units_per_layer"]


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
            app, mot = _cell_images(columns[label], n)
            if per == 3:  # an RGB clip: its first, middle and last frame
                picks = [len(app) * k // 2 - (k == 2) for k in range(3)]
                cells = [(app[t], f"frame {t}") for t in picks]
            else:
                t = (len(mot) // 2 if frame is None else frame) if mot is not None else 0
                cells = [(app[len(app) // 2] if app is not None else None, "appearance"),
                         (mot[t] if mot is not None else None, "motion")]
            for k, (img, what) in enumerate(cells):
                ax = axes[r, per * c + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if img is not None:
                    ax.imshow(img, interpolation="nearest")
                if r == 0:
                    ax.set_title(f"{label}\n{what}", fontsize=7)
        if unit_labels is not None:
            axes[r, 0].set_ylabel(unit_labels[r], fontsize=7)
        if top_clips is not None:
            ax = axes[r, -1]
            ax.imshow(top_clips[r], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("top clip", fontsize=7)
        if activity is not None:
            ax = axes[r, per * len(labels)]
            ch = channels[r] if channels is not None else n
            values = activity.per_class[:, ch]
            ax.barh(range(len(values)), values, color="tab:blue")
            ax.set_yticks(range(len(values)))
            ax.set_yticklabels(activity.classes, fontsize=5)
            ax.tick_params(axis="x", labelsize=5)
            ax.invert_yaxis()
            if r == 0:
                ax.set_title("max activity\nper class", fontsize=7)
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


def layer_grid(results: dict, path, *, receptive_fields=None, most: int = 8, frame=None,
               title=None, width: float = 8.0):
    """Write the layer-by-layer PNG: one band per layer, its first units side by side.

    Every band is ``width`` inches wide; a layer shows :func:`units_per_layer`
    units, each as its appearance beside one frame of its motion (an input the
    layer does not depend on is left out), so a layer with a larger field gets
    fewer, larger pictures.

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
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if receptive_fields is None:
        receptive_fields = {k: float(r.config.get("rho") or 1.0) for k, r in results.items()}
    counts = units_per_layer({k: receptive_fields[k] for k in results}, most)
    bands = []  # (label, [[panel images of one unit], ...])
    for label, result in results.items():
        optimized = set(result.config.get("optimized_inputs") or result.inputs)
        roles = input_roles(result)
        units = []
        for n in range(min(counts[label], len(result))):
            panels = []
            for name in sorted(result.inputs, key=lambda k: roles[k] == "motion"):
                if name not in optimized:
                    continue
                if roles[name] == "motion":
                    flow = flow_to_rgb(result.inputs[name][n])
                    panels.append(flow[len(flow) // 2 if frame is None else frame])
                else:
                    panels.append(appearance_to_rgb(result.inputs[name][n])[0])
            units.append(panels)
        bands.append((label, units))
    heights = [width / max(1, sum(len(u) for u in units)) for _, units in bands]
    fig = plt.figure(figsize=(width + 1.2, sum(heights) * 1.08 + (0.4 if title else 0.1)))
    grid = fig.add_gridspec(len(bands), 1, height_ratios=heights, hspace=0.08,
                            left=1.2 / (width + 1.2), right=0.99)
    for r, (label, units) in enumerate(bands):
        panels = [img for u in units for img in u]
        sub = grid[r].subgridspec(1, len(panels), wspace=0.03)
        for i, img in enumerate(panels):
            ax = fig.add_subplot(sub[0, i])
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(f"{label}\nfield {receptive_fields[label]:g}\n{len(units)} unit(s)",
                              fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight", pad_inches=0.1)
    finally:
        plt.close(fig)
    return path
