"""Paper-style figure grids: units in rows, regularization settings in columns (Figs. 7, 8, 10).

Each cell shows the unit's appearance input beside one frame of its motion
input (flow as RGB = horizontal, vertical, magnitude). With an
:class:`~stviz_adapters.activity.Activity`, a bar chart of the unit's maximum
activity per class sits at the end of its row (Figs. 9 and 10).
"""

from __future__ import annotations

from pathlib import Path

from .files import atomic_path
from .render import appearance_to_rgb, flow_to_rgb, input_roles

__all__ = ["unit_grid"]


def _cell_images(result, n):
    app = mot = None
    for name, role in input_roles(result).items():
        if role == "motion":
            mot = flow_to_rgb(result.inputs[name][n])
        else:
            app = appearance_to_rgb(result.inputs[name][n])
    return app, mot


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
    ncols = 2 * len(labels) + extra
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.6 * ncols, 1.7 * len(rows) + 0.5),
                             squeeze=False)
    for r, n in enumerate(rows):
        for c, label in enumerate(labels):
            app, mot = _cell_images(columns[label], n)
            t = (len(mot) // 2 if frame is None else frame) if mot is not None else 0
            for k, img in enumerate((app[0] if app is not None else None,
                                     mot[t] if mot is not None else None)):
                ax = axes[r, 2 * c + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if img is not None:
                    ax.imshow(img, interpolation="nearest")
                if r == 0:
                    ax.set_title(f"{label}\n{'appearance' if k == 0 else 'motion'}", fontsize=7)
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
            ax = axes[r, 2 * len(labels)]
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
