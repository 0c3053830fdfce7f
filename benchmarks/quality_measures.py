"""Pure measures of visualization quality (issue 16 item 6), numpy only.

Used by ``benchmarks/kinetics_quality.py``; tested by ``tests/benchmarks/test_quality_measures.py``.

* :func:`spatial_slope`, :func:`temporal_slope`: the slope of a clip's
  amplitude spectrum on log-log axes, over spatial and over temporal frequency.
  Natural images have amplitudes falling roughly as ``1/f`` (slope near -1);
  high-frequency noise is flatter (slope near 0), a blurred clip steeper.
* :func:`pairwise_correlations`, :func:`median_correlation`: Pearson
  correlations between different units' visualizations.
* :func:`strong_flow_mean`, :func:`direction_of`, :func:`direction_right`: the
  mean flow over a clip's strongest pixels, and whether it points the way a
  class name says (``ball_down``: ``v > 0``, image rows grow downwards).
* :func:`rendered`, :func:`pixel_std`, :func:`colourfulness`: a clip as it is
  shown (0..255) and its contrast and colour (Hasler and Suesstrunk 2003),
  per frame, averaged over the frames (issue 24).
* :func:`laplacian_energy`, :func:`edge_frame_parity`: high-frequency energy
  per frame (mean squared Laplacian) and that of the first and last frames
  over the middle half's: a clip whose end frames are blurred copies of its
  middle ones has a parity well below 1, a real clip about 1 (issue 24).
* :func:`codes_cosine`, :func:`nearest_clip_check`: the feature-space check of
  issue 24 (a visualization's code is closest, by cosine, to a clip of its class).
* :func:`targets`, :func:`best_preset`, :func:`tables`: issue 16's and 24's targets
  checked on the script's numbers, the best preset, and the markdown tables.

How a slope is measured. A clip ``(T, H, W, C)`` loses its mean (per frame and
channel for the spatial slope; per pixel and channel, with its linear trend
over the frames, for the temporal one), is multiplied by a periodic Hann
window along the axes transformed (so that a clip whose edges do not wrap
around, every real clip, does not get the ``1/f`` leakage of its border
jump, and a periodic one, as the Fourier presets make, is measured the same
way), Fourier transformed, and its amplitude ``|F|`` averaged over the other
axes. Spatially, the amplitudes are averaged over rings of radius ``k``
(``k / min(H, W)`` cycles per pixel, rounded to the nearest integer ``k``)
for ``k`` from 2 to ``min(H, W) // 2`` (``k = 1`` is dominated by the
window's own spread of the mean); temporally, the frequencies ``k = 1 .. T //
2`` cycles per clip are used. The slope is the least-squares fit of ``log
amplitude`` on ``log k``, every ring weighted alike.

On ``1/f^a`` noise (``tests/benchmarks/test_quality_measures.py``) the spatial slope
is ``-a`` within 0.1 from 64 x 64 pixels on, for ``a <= 2`` on periodic noise
and ``a <= 1.5`` on noise cropped from a larger field (at ``a = 2`` structure
larger than the crop makes it about 0.08 steeper); the temporal one likewise
from about 32 frames on. With few frames the
temporal slope is biased towards 0 (at 16 frames about +0.1 for ``a = 1``, at
8 frames about +0.3): it is a coarse number there, but real clips and
visualizations go through the same steps at the same size, so their slopes
compare.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["rendered", "pixel_std", "colourfulness", "laplacian_energy", "edge_frame_parity",
           "codes_cosine", "nearest_clip_check", "spatial_spectrum", "temporal_spectrum",
           "spatial_slope", "temporal_slope",
           "loglog_slope", "pairwise_correlations", "median_correlation", "strong_flow_mean",
           "direction_of", "direction_right", "DIRECTIONS", "TARGETS", "targets", "best_preset",
           "tables"]

#: issue 16's and 24's targets for the best preset: top-1 under unseen views, median cross-unit
#: correlation, distance of a spectral slope from the real clips', pixel std and colourfulness
#: as a fraction of the real clips', edge-frame parity
TARGETS = {"top1": 0.9, "correlation": 0.3, "slope": 0.3, "std": 0.8, "colour": 0.8,
           "parity": 0.9}
#: the mean the I3D's canonical input has subtracted (0..255 RGB; stviz_adapters.zoo.kinetics_i3d)
MEAN_RGB = 127.5
#: a class-name suffix -> (component of (u, v), its sign): image x grows rightwards, y downwards
DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 1), "up": (1, -1)}


def _clip(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:  # (T, H, W): one channel
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected a clip (T, H, W, C), got shape {x.shape}")
    return x


def rendered(clip, mean=MEAN_RGB) -> np.ndarray:
    """A canonical appearance clip as shown: ``clip + mean`` clipped to 0..255 (float64)."""
    return np.clip(_clip(clip) + mean, 0.0, 255.0)


def pixel_std(clip, mean=MEAN_RGB) -> float:
    """Contrast: the standard deviation of the shown values (0..255) per frame, over its
    pixels and channels, averaged over the frames."""
    x = rendered(clip, mean)
    return float(x.reshape(len(x), -1).std(axis=1).mean())


def colourfulness(clip, mean=MEAN_RGB) -> float:
    """Hasler and Suesstrunk's colourfulness of the shown RGB frames, averaged over the frames.

    Per frame, with ``rg = R - G`` and ``yb = (R + G) / 2 - B`` over its pixels:
    ``sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)``; 0 for a
    grey clip, about 15 "slightly", 33 "moderately", 45 "averagely", 59 "quite" colourful.
    """
    x = rendered(clip, mean)
    if x.shape[-1] != 3:
        raise ValueError(f"colourfulness needs RGB frames (..., 3), got shape {x.shape}")
    rg = (x[..., 0] - x[..., 1]).reshape(len(x), -1)
    yb = (0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]).reshape(len(x), -1)
    spread = np.sqrt(rg.std(axis=1) ** 2 + yb.std(axis=1) ** 2)
    level = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return float((spread + 0.3 * level).mean())


def laplacian_energy(clip) -> np.ndarray:
    """``(T,)``: each frame's mean squared 4-neighbour Laplacian over its interior pixels
    and channels (the frame's own border is left out: no padding enters)."""
    x = _clip(clip)
    if x.shape[1] < 3 or x.shape[2] < 3:
        raise ValueError(f"a Laplacian needs frames of at least 3 x 3 pixels, got {x.shape[1:3]}")
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
           - 4 * x[:, 1:-1, 1:-1])
    return (lap**2).mean(axis=(1, 2, 3))


def edge_frame_parity(clip) -> float:
    """High-frequency energy of the first and last frames over that of the middle half.

    ``mean(E_0, E_{T-1}) / mean(E_t for T // 4 <= t < T - T // 4)`` with ``E``
    :func:`laplacian_energy`: about 1 for a real clip, well below 1 where the end
    frames are blurred copies of the middle ones. Needs at least 4 frames; NaN for a
    clip without any high-frequency energy in its middle.
    """
    e = laplacian_energy(clip)
    t = len(e)
    if t < 4:
        raise ValueError(f"edge-frame parity needs at least 4 frames, got {t}")
    middle = e[t // 4:t - t // 4].mean()
    return float(0.5 * (e[0] + e[-1]) / middle) if middle > 0 else float("nan")


def _unit(a):
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)


def codes_cosine(a, b) -> np.ndarray:
    """``(len(a), len(b))``: cosine similarity of every row of ``a`` with every row of ``b``
    (each row a code, flattened after its first axis)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    return _unit(a) @ _unit(b).T


def nearest_clip_check(vis_codes, vis_classes, clip_codes, clip_classes, *, centre=False) -> list:
    """Whether each visualization's code is closer (cosine) to a clip of its class than to any
    other clip.

    Parameters
    ----------
    vis_codes, clip_codes : array_like
        ``(N, ...)`` and ``(M, ...)`` codes (e.g. a layer's activations averaged over positions).
    vis_classes, clip_classes : sequence
        The class of each visualization and of each clip; every visualization's class must
        be the class of at least one clip.
    centre : bool
        Scale every code to unit length and subtract the clips' mean (unit) code first.
        Codes after a ReLU, averaged over positions, share a large positive part (raw
        cosines of 0.6-0.9 between any two), so the raw cosine mostly measures that;
        centred, it compares what sets a clip apart from the others.

    Returns
    -------
    list of dict
        Per visualization: ``class``, ``own`` (the highest cosine to a clip of its class),
        ``other`` (the highest to any other clip; NaN if none), ``nearest`` (the class of the
        nearest clip) and ``closer`` (``own > other``).
    """
    vis_classes, clip_classes = list(vis_classes), list(clip_classes)
    missing = sorted({c for c in vis_classes if c not in clip_classes})
    if missing:
        raise ValueError(f"no clip of class(es) {missing}; the clips' classes: {clip_classes}")
    vis_codes = np.asarray(vis_codes, np.float64).reshape(len(vis_codes), -1)
    clip_codes = np.asarray(clip_codes, np.float64).reshape(len(clip_codes), -1)
    if centre:  # on unit codes, so that a code's size (a visualization's is larger) drops out
        vis_codes, clip_codes = _unit(vis_codes), _unit(clip_codes)
        mean = clip_codes.mean(axis=0)
        vis_codes, clip_codes = vis_codes - mean, clip_codes - mean
    cos = codes_cosine(vis_codes, clip_codes)
    mine = np.array([[c == d for d in clip_classes] for c in vis_classes])
    rows = []
    for i, c in enumerate(vis_classes):
        own = float(cos[i][mine[i]].max())
        other = float(cos[i][~mine[i]].max()) if (~mine[i]).any() else float("nan")
        rows.append({"class": c, "own": own, "other": other,
                     "nearest": clip_classes[int(np.argmax(cos[i]))],
                     "closer": bool(own > other) if np.isfinite(other) else True})
    return rows


def _hann(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples (first sample 0, symmetric about ``n / 2``)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def spatial_spectrum(clip, *, window=True) -> tuple:
    """Radially averaged spatial amplitude spectrum of a clip.

    Parameters
    ----------
    clip : array_like
        ``(T, H, W, C)`` (or ``(T, H, W)``).
    window : bool
        Apply a 2D Hann window to each frame first (module notes).

    Returns
    -------
    (k, amplitude) : tuple of ndarray
        Ring radius ``k = 2 .. min(H, W) // 2`` (cycles per ``min(H, W)`` pixels)
        and the mean amplitude over the ring, the frames and the channels.
    """
    x = _clip(clip)
    _, h, w, _ = x.shape
    x = x - x.mean(axis=(1, 2), keepdims=True)
    if window:
        x = x * (_hann(h)[:, None] * _hann(w)[None, :])[None, :, :, None]
    amp = np.abs(np.fft.fft2(x, axes=(1, 2))).mean(axis=(0, 3))  # (H, W)
    n = min(h, w)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    ring = np.rint(np.sqrt(fy**2 + fx**2) * n).astype(int)
    k = np.arange(2, n // 2 + 1)
    sums = np.bincount(ring.ravel(), amp.ravel(), minlength=n)
    counts = np.bincount(ring.ravel(), minlength=n)
    return k, sums[k] / np.maximum(counts[k], 1)


def temporal_spectrum(clip, *, window=True) -> tuple:
    """Temporal amplitude spectrum of a clip: ``(k, amplitude)`` for ``k = 1 .. T // 2``.

    ``k`` is in cycles per clip; the amplitude is averaged over pixels and
    channels. Each pixel's mean and linear trend over the frames are removed
    first, then (``window``) a periodic Hann window is applied (module notes).
    """
    x = _clip(clip)
    t = x.shape[0]
    if t < 4:
        raise ValueError(f"a temporal spectrum needs at least 4 frames, got {t}")
    x = x - x.mean(axis=0, keepdims=True)
    ramp = (np.arange(t) - (t - 1) / 2)[:, None, None, None]
    x = x - ramp * (ramp * x).sum(axis=0, keepdims=True) / (ramp**2).sum()  # each pixel's trend
    if window:
        x = x * _hann(t)[:, None, None, None]
    amp = np.abs(np.fft.fft(x, axis=0)).mean(axis=(1, 2, 3))
    k = np.arange(1, t // 2 + 1)
    return k, amp[k]


def loglog_slope(k, amplitude) -> float:
    """Least-squares slope of ``log amplitude`` on ``log k`` (NaN when amplitudes are all 0)."""
    k, amplitude = np.asarray(k, np.float64), np.asarray(amplitude, np.float64)
    ok = amplitude > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(k[ok]), np.log(amplitude[ok]), 1)[0])


def spatial_slope(clip, *, window=True) -> float:
    """Slope of the spatial amplitude spectrum on log-log axes (``1/f^a`` gives ``-a``)."""
    return loglog_slope(*spatial_spectrum(clip, window=window))


def temporal_slope(clip, *, window=True) -> float:
    """Slope of the temporal amplitude spectrum on log-log axes (``1/f^a`` gives ``-a``)."""
    return loglog_slope(*temporal_spectrum(clip, window=window))


def pairwise_correlations(inputs) -> np.ndarray:
    """Pearson correlations of every pair ``i < j`` of visualizations, flattened.

    Parameters
    ----------
    inputs : array_like
        ``(N, ...)``: one visualization per row (any shape after the first axis).

    Returns
    -------
    ndarray
        ``N (N - 1) / 2`` correlations, row-major over ``i < j``; a constant
        visualization gives NaN with every other.
    """
    flat = np.asarray(inputs, np.float64).reshape(len(inputs), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norm = np.sqrt((flat**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (flat @ flat.T) / np.outer(norm, norm)
    i, j = np.triu_indices(len(flat), k=1)
    return corr[i, j]


def median_correlation(inputs) -> float:
    """Median of :func:`pairwise_correlations` (NaN pairs left out; NaN for fewer than 2)."""
    c = pairwise_correlations(inputs)
    c = c[np.isfinite(c)]
    return float(np.median(c)) if c.size else float("nan")


def strong_flow_mean(flow, fraction=0.1) -> np.ndarray:
    """Mean ``(u, v)`` over the ``fraction`` of flow vectors with the largest magnitude.

    Parameters
    ----------
    flow : array_like
        ``(..., 2)``: flow vectors ``(u, v)`` over any frames and pixels.
    fraction : float
        In ``(0, 1]``; at least one vector is used.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    uv = np.asarray(flow, np.float64).reshape(-1, 2)
    count = max(1, int(round(fraction * len(uv))))
    strongest = np.argsort(-np.hypot(uv[:, 0], uv[:, 1]), kind="stable")[:count]
    return uv[strongest].mean(axis=0)


def direction_of(name: str):
    """``(component, sign)`` for a class named with a direction (``"ball_down"``: ``(1, +1)``), else None."""
    return DIRECTIONS.get(str(name).rsplit("_", 1)[-1])


def direction_right(name: str, uv) -> bool:
    """Whether ``uv`` has the sign of ``name``'s direction along its axis (ValueError without one)."""
    d = direction_of(name)
    if d is None:
        raise ValueError(f"class {name!r} names no direction ({', '.join(DIRECTIONS)})")
    component, sign = d
    return bool(np.sign(uv[component]) == sign)


def targets(entry, real, *, layer="Mixed_5c") -> list:
    """``[(what, value, target, met)]``: issue 16's and 24's targets (:data:`TARGETS`) for one preset.

    ``entry`` is one preset's entry of ``kinetics_quality.py`` (``"classes"``,
    optional ``"channels"`` and ``"demo"``, ``"spatial_slope"``,
    ``"temporal_slope"``, optional ``"pixel_std"``, ``"colourfulness"``,
    ``"parity"`` (medians over the visualizations) and ``"feature"``
    (``{"closer": k, "of": n}``)); ``real`` holds the real clips' ``"spatial"`` and
    ``"temporal"`` slopes and, for the ratios, their ``"pixel_std"`` and
    ``"colourfulness"`` (and ``"parity"``, shown).
    """
    rows = []
    c = entry["classes"]
    rows.append(("I3D classes: top-1 under unseen views", c["top1"], f">= {TARGETS['top1']}",
                 c["top1"] >= TARGETS["top1"]))
    corr = [("I3D classes", c["median_correlation"])]
    if "channels" in entry:
        corr.append((f"I3D {layer} channels", entry["channels"]["median_correlation"]))
    d = entry.get("demo")
    if d:
        rows.append(("demo net: top-1 under unseen views", d["top1"], f">= {TARGETS['top1']}",
                     d["top1"] >= TARGETS["top1"]))
        corr += [("demo net appearance", d["median_correlation"]["appearance"]),
                 ("demo net flow", d["median_correlation"]["flow"])]
    for what, v in corr:
        rows.append((f"{what}: median cross-unit correlation", v, f"<= {TARGETS['correlation']}",
                     bool(v <= TARGETS["correlation"])))
    for axis in ("spatial", "temporal"):
        v, ref = entry[f"{axis}_slope"], real[axis]
        rows.append((f"I3D: {axis} spectral slope (real clips {ref:.2f})", v,
                     f"{ref - TARGETS['slope']:.2f} .. {ref + TARGETS['slope']:.2f}",
                     bool(abs(v - ref) <= TARGETS["slope"])))
    for key, what, target in (("pixel_std", "pixel std", "std"),
                              ("colourfulness", "colourfulness", "colour")):
        if key in entry and key in real:
            ratio = entry[key] / real[key]
            rows.append((f"I3D: {what} / real clips' ({entry[key]:.1f} / {real[key]:.1f})", ratio,
                         f">= {TARGETS[target]}", bool(ratio >= TARGETS[target])))
    if "parity" in entry:
        rows.append((f"I3D: edge-frame parity (real clips {real.get('parity', float('nan')):.2f})",
                     entry["parity"], f">= {TARGETS['parity']}",
                     bool(entry["parity"] >= TARGETS["parity"])))
    f = entry.get("feature")
    if f:
        how = "centred cosine" if f.get("centred") else "cosine"
        rows.append((f"I3D: {layer} code nearest ({how}) to its class's clip", f["closer"],
                     f"{f['of']} of {f['of']}", f["closer"] == f["of"]))
    if d:
        n = len(d["directions"])
        rows.append(("demo net: directional classes with flow of their sign",
                     d["directions_right"], f"{n} of {n}", d["directions_right"] == n))
    return rows


def best_preset(entries, real):
    """Among the presets other than ``paper`` (all if only it ran): most targets met, then top-1."""
    pool = [e for e in entries if e["preset"] != "paper"] or list(entries)
    key = lambda e: (sum(r[3] for r in targets(e, real)), e["classes"]["top1"])  # noqa: E731
    return max(pool, key=key)["preset"] if pool else None


def tables(args, ctx, entries, big, total, *, layer="Mixed_5c") -> str:
    """The markdown tables of ``kinetics_quality.py``: ``args`` its settings (a dict), ``ctx`` its
    classes, channels, clips and real slopes, ``entries`` one per preset, ``big`` the timings."""
    args = SimpleNamespace(**args)
    classes, channels, real = ctx["classes"], ctx["channels"], ctx["real"]
    size = f"{args.frames} x {args.size} x {args.size}"
    clips = ", ".join(Path(c).name for c in ctx["clips"])
    lines = [
        f"Kinetics-400 I3D at {size}, {args.steps} steps, seed {args.seed}, {args.backend} "
        f"float32 on {args.device if args.backend == 'torch' else 'cpu'}: {len(classes)} class "
        f"units of Logits ({', '.join(classes)}), one batch per preset"
        + (f"; {len(channels)} {layer} channels at a fixed spread ({', '.join(map(str, channels))}), "
           f"each maximizing sum(a_c) / a_hat_c, one batch" if channels else "")
        + f". Views: {args.draws} per visualization (translation up to 1/8 of the width, "
        "mean-colour fill; scale 0.9-1.1; frame shift up to 2). a_hat: each unit's maximum over "
        f"{args.windows} windows of {size} per clip on {len(ctx['clips'])} real clip(s) "
        f"({clips}). Spectral slopes: log-log slope of the amplitude spectrum of the "
        "appearance input (benchmarks/quality_measures.py), median over the visualizations; "
        f"real clips at the same size: spatial {real['spatial']:.2f}, temporal "
        f"{real['temporal']:.2f} (median over clips; per clip: "
        + ", ".join(f"{Path(k).stem} {v['spatial']:.2f} / {v['temporal']:.2f}"
                    for k, v in real["per_clip"].items())
        + f"). Whole run {total / 60:.1f} min.",
        "",
        "| preset | top-1 under views | top-5 under views | clean top-1 | logit / a_hat "
        "(median, min) | correlation classes | spatial slope classes | temporal slope classes | "
        "s per step per visualization |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        c = e["classes"]
        lines.append(f"| {e['preset']} | {c['top1']:.2f} | {c['top5']:.2f} | {c['clean_top1']:.2f} "
                     f"| {c['logit_over_a_hat']['median']:.1f}, {c['logit_over_a_hat']['min']:.1f} "
                     f"| {c['median_correlation']:.2f} | {c['spatial_slope']:.2f} | "
                     f"{c['temporal_slope']:.2f} | {c['seconds_per_step']:.3f} |")
    lines += yardstick_table(entries, real, layer=layer)
    if channels:
        lines += ["", f"{layer} channels:", "",
                  "| preset | activation / a_hat (median, min) | correlation | spatial slope | "
                  "temporal slope | s per step per visualization |", "|---|---|---|---|---|---|"]
        for e in entries:
            u = e["channels"]
            lines.append(f"| {e['preset']} | {u['activation_over_a_hat']['median']:.2f}, "
                         f"{u['activation_over_a_hat']['min']:.2f} | {u['median_correlation']:.2f} "
                         f"| {u['spatial_slope']:.2f} | {u['temporal_slope']:.2f} | "
                         f"{u['seconds_per_step']:.3f} |")
    demo_entries = [e for e in entries if e.get("demo")]
    if demo_entries:
        names = list(demo_entries[0]["demo"]["directions"])
        lines += ["", "Two-stream demo net (fc8, its 8 classes, 1 x 64 x 64 RGB + 10 flow fields), "
                      "same views (flow vectors scaled with the image); mean flow (u, v) over the "
                      "strongest 10 % of flow vectors, v > 0 down:", "",
                  "| preset | top-1 under views | top-5 under views | clean top-1 | correlation "
                  "rgb | correlation flow | directions right | " + " | ".join(names) + " |",
                  "|---|---|---|---|---|---|---|" + "---|" * len(names)]
        for e in demo_entries:
            d = e["demo"]
            vec = [f"({v['uv'][0]:+.1f}, {v['uv'][1]:+.1f}){'' if v['right'] else ' wrong'}"
                   for v in d["directions"].values()]
            lines.append(f"| {e['preset']} | {d['top1']:.2f} | {d['top5']:.2f} | "
                         f"{d['clean_top1']:.2f} | {d['median_correlation']['appearance']:.2f} | "
                         f"{d['median_correlation']['flow']:.2f} | {d['directions_right']}/"
                         f"{len(names)} | " + " | ".join(vec) + " |")
    best = best_preset(entries, real)
    if best is not None:
        entry = next(e for e in entries if e["preset"] == best)
        rows = targets(entry, real)
        lines += ["", f"Targets (issues 16 and 24) for the best preset, {best} "
                      f"({sum(r[3] for r in rows)} of {len(rows)} met):", "",
                  "| measure | value | target | met |", "|---|---|---|---|"]
        for what, v, target, met in rows:
            value = f"{v:.2f}" if isinstance(v, float) else str(v)
            lines.append(f"| {what} | {value} | {target} | {'yes' if met else 'no'} |")
    if big:
        lines += ["", f"64 x 224 x 224, one visualization of Logits, {args.big_steps} steps "
                      "(time of 1 + steps less time of 1):", "",
                  "| backend | device | preset | s per step |", "|---|---|---|---|"]
        lines += [f"| {fw} | {dev} | {name} | {sec:.2f} |" for fw, dev, name, sec in big]
    return "\n".join(lines)


def yardstick_table(entries, real, *, layer="Mixed_5c") -> list:
    """Markdown lines: issue 24's yardsticks per preset, beside the real clips' values (the
    medians over all of a preset's visualizations, classes and channels)."""
    if not entries or "pixel_std" not in entries[0] or "pixel_std" not in real:
        return []
    lines = ["", f"Yardsticks of issue 24 (medians over the class and {layer} channel "
                 "visualizations; ratios to the real clips' medians; parity: high-frequency "
                 "energy of the first and last frames over the middle half's):", "",
             "| preset | top-1 under views | pixel std (x real) | colourfulness (x real) | "
             "edge-frame parity | spatial slope | temporal slope | correlation classes | "
             "correlation channels | code nearest its class's clip (centred cosine) |",
             "|---|---|---|---|---|---|---|---|---|---|",
             f"| real clips | | {real['pixel_std']:.1f} | {real['colourfulness']:.1f} | "
             f"{real.get('parity', float('nan')):.2f} | {real['spatial']:.2f} | "
             f"{real['temporal']:.2f} | | | |"]
    for e in entries:
        u = e.get("channels", {}).get("median_correlation")
        f = e.get("feature")
        near = (f"{f['closer']} of {f['of']}" + (f" (raw {f['raw']['closer']})" if "raw" in f else "")
                if f else "")
        lines.append(
            f"| {e['preset']} | {e['classes']['top1']:.2f} | {e['pixel_std']:.1f} "
            f"({e['pixel_std'] / real['pixel_std']:.2f}) | {e['colourfulness']:.1f} "
            f"({e['colourfulness'] / real['colourfulness']:.2f}) | {e['parity']:.2f} | "
            f"{e['spatial_slope']:.2f} | {e['temporal_slope']:.2f} | "
            f"{e['classes']['median_correlation']:.2f} | "
            f"{'' if u is None else f'{u:.2f}'} | {near} |")
    return lines
