"""Composition aspect: where the visual mass sits, how spread it is, thirds and horizon.

All positions are fractions of the analysed region's width/height (0 = left/top,
1 = right/bottom), so an image and a reference of different sizes or aspect ratios are
compared by layout, not by pixels.

- Saliency map: the square of the sum of two maps, each scaled to mean 1 over the region:
  the gradient magnitude of blurred L* (edges) and the frequency-tuned saliency of Achanta
  et al. (2009), the Lab distance of each blurred pixel from the region's mean colour
  (things that stand out). Squaring lets the strongest things dominate the mass. Pixels
  outside the mask weigh nothing.
- ``centroid_x`` / ``centroid_y``: saliency-weighted mean position; ``spread``: the
  weighted standard deviation of position (small = one compact subject).
- ``thirds_alignment``: exp(-(d/0.1)^2) where d is the distance from the centroid of the
  most salient 5 % of pixels to the nearest rule-of-thirds power point.
- ``horizon_y``: the row with the strongest lightness step between the bands just above
  and below it, if the step is at least 0.08 L*/100 and has the same sign in at least 70 %
  of columns (a long horizontal edge); -1 when there is none.
- ``layout_similarity``: correlation of 8x8 pooled saliency grids (1 = same arrangement).

Similarity: weighted geometric mean of ``exp(-(centroid distance/0.15)^2)`` (2), the
spread log-ratio map with scale 0.4 (1), ``exp(-(Δthirds/0.5)^2)`` (0.5), the horizon
term (``exp(-(Δy/0.1)^2)`` if both have one, 0.7 if only one does, 1 if neither) (1) and
``(1 + layout correlation)/2`` (1).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter, sobel

from pakati_engine.analysis.prepare import ImageView
from pakati_engine.analysis.scoring import combine, diff_similarity, ratio_similarity
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

_WEIGHTS = {"centroid": 2.0, "spread": 1.0, "thirds": 0.5, "horizon": 1.0, "layout": 1.0}
_POWER_POINTS = np.array([(x, y) for x in (1 / 3, 2 / 3) for y in (1 / 3, 2 / 3)])
GRID = 8
MOVE_NOTICE = 0.05


def saliency_map(view: ImageView) -> NDArray[np.float64]:
    """Saliency (edges + distinctiveness), squared to favour the strongest things, 0 outside.

    Both parts work at a coarse scale (sigma 1.5 % and 2 % of the longest side) so that
    fine texture spread over the whole frame does not drown the subject.
    """
    h, w = view.shape
    side = max(h, w)
    light = gaussian_filter(view.lightness.astype(np.float64), sigma=max(1.0, 0.015 * side))
    edges = np.hypot(sobel(light, axis=0), sobel(light, axis=1))
    sigma = max(1.0, 0.02 * side)
    lab = np.stack(
        [gaussian_filter(view.lab[..., c].astype(np.float64), sigma) for c in range(3)], -1
    )
    mean_lab = lab[view.mask].mean(axis=0)
    tuned = np.sqrt(((lab - mean_lab) ** 2).sum(-1))
    out = np.zeros_like(light)
    for part in (edges, tuned):
        mean = float(part[view.mask].mean())
        if mean > 1e-9:
            out += part / mean
    out = out**2
    out[~view.mask] = 0.0
    if out.sum() <= 1e-12:  # a flat region: mass is its own area
        out = view.mask.astype(np.float64)
    return out


def _coords(shape: tuple[int, int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    h, w = shape
    return (np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h


def horizon(view: ImageView) -> float:
    """Row (fraction of height) of a long horizontal lightness edge, or -1."""
    h, w = view.shape
    band = max(2, round(0.03 * h))
    if h < 3 * band:
        return -1.0
    light = np.where(view.mask, view.lightness, np.nan).astype(np.float64)
    cols = np.nancumsum(light, axis=0)
    counts = np.cumsum(view.mask, axis=0).astype(np.float64)
    best_row, best_step = -1, 0.0
    best_cols: NDArray[np.float64] | None = None
    for y in range(band, h - band):
        above_n = counts[y - 1] - (counts[y - band - 1] if y - band - 1 >= 0 else 0.0)
        below_n = counts[y + band - 1] - counts[y - 1]
        above = (cols[y - 1] - (cols[y - band - 1] if y - band - 1 >= 0 else 0.0)) / np.maximum(
            above_n, 1
        )
        below = (cols[y + band - 1] - cols[y - 1]) / np.maximum(below_n, 1)
        valid = (above_n > 0) & (below_n > 0)
        if valid.sum() < 0.5 * w:
            continue
        col_steps = (below - above)[valid]
        step = float(col_steps.mean())
        if abs(step) > abs(best_step):
            best_row, best_step, best_cols = y, step, col_steps
    if best_cols is None or abs(best_step) < 0.08:
        return -1.0
    if float(np.mean(np.sign(best_cols) == np.sign(best_step))) < 0.7:
        return -1.0
    return (best_row + 0.0) / h


def composition_stats(view: ImageView) -> tuple[dict[str, float], NDArray[np.float64]]:
    """Scalar composition statistics and the pooled saliency grid of one view."""
    sal = saliency_map(view)
    xs, ys = _coords(view.shape)
    mass = sal.sum()
    px = sal.sum(axis=0) / mass  # (W,)
    py = sal.sum(axis=1) / mass  # (H,)
    cx, cy = float((px * xs).sum()), float((py * ys).sum())
    spread = math.sqrt(float((px * (xs - cx) ** 2).sum() + (py * (ys - cy) ** 2).sum()))
    top = sal >= np.quantile(sal[view.mask], 0.95)
    top &= view.mask
    ty, tx = np.nonzero(top)
    focus = np.array([xs[tx].mean(), ys[ty].mean()]) if len(tx) else np.array([cx, cy])
    dist = float(np.min(np.hypot(*(_POWER_POINTS - focus).T)))
    h, w = view.shape
    gy = np.minimum((np.arange(h) * GRID) // h, GRID - 1)
    gx = np.minimum((np.arange(w) * GRID) // w, GRID - 1)
    grid = np.zeros((GRID, GRID))
    np.add.at(grid, (gy[:, None], gx[None, :]), sal)
    stats = {
        "centroid_x": cx,
        "centroid_y": cy,
        "spread": spread,
        "thirds_alignment": math.exp(-((dist / 0.1) ** 2)),
        "horizon_y": horizon(view),
    }
    return stats, grid / grid.sum()


def _grid_correlation(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return 1.0 if den < 1e-12 else float((a * b).sum() / den)


def _place(x: float) -> str:
    return "left" if x < 0.4 else ("right" if x > 0.6 else "centre")


def analyze_composition(image: ImageView, reference: ImageView) -> AspectDelta:
    """Compare layout statistics of the visual mass (see module docstring)."""
    si, grid_i = composition_stats(image)
    sr, grid_r = composition_stats(reference)
    dx, dy = si["centroid_x"] - sr["centroid_x"], si["centroid_y"] - sr["centroid_y"]
    corr = _grid_correlation(grid_i, grid_r)
    hi, hr = si["horizon_y"], sr["horizon_y"]
    if hi >= 0 and hr >= 0:
        horizon_sim = diff_similarity(hi - hr, 0.1)
    else:
        horizon_sim = 1.0 if hi < 0 and hr < 0 else 0.7
    parts = {
        "centroid": diff_similarity(math.hypot(dx, dy), 0.15),
        "spread": ratio_similarity(si["spread"], sr["spread"], 0.4, floor=0.01),
        "thirds": diff_similarity(si["thirds_alignment"] - sr["thirds_alignment"], 0.5),
        "horizon": horizon_sim,
        "layout": (1.0 + corr) / 2.0,
    }
    similarity = combine(parts, _WEIGHTS)
    measured: dict[str, float] = {"layout_similarity": corr}
    for key in si:
        measured[f"{key}_image"] = si[key]
        measured[f"{key}_reference"] = sr[key]
        measured[f"{key}_delta"] = si[key] - sr[key]

    findings: list[str] = []
    adj: list[Adjustment] = []
    if math.hypot(dx, dy) >= MOVE_NOTICE:
        horiz = "right" if dx > 0 else "left"
        vert = "lower" if dy > 0 else "higher"
        findings.append(
            f"the visual mass sits {abs(dx):.0%} further {horiz} and {abs(dy):.0%} {vert} "
            "than in the reference"
        )
        adj.append(
            Adjustment(
                "move_region",
                "match the reference's subject position",
                changes={"dx": -dx, "dy": -dy},
            )
        )
        where = _place(sr["centroid_x"])
        term = "centred composition" if where == "centre" else f"subject on the {where}"
        adj.append(
            Adjustment("add_prompt_terms", "match the reference's subject position", (term,))
        )
    log_spread = math.log((si["spread"] + 0.01) / (sr["spread"] + 0.01))
    if log_spread >= 0.25:
        findings.append("the content is more scattered than in the reference")
        adj.append(
            Adjustment(
                "add_prompt_terms",
                "reference has one compact subject",
                ("single focal point", "simple composition"),
            )
        )
    elif log_spread <= -0.25:
        findings.append("the content is more concentrated than in the reference")
        adj.append(
            Adjustment("add_prompt_terms", "reference fills the frame", ("wide composition",))
        )
    if hr >= 0 and (hi < 0 or abs(hi - hr) >= 0.05):
        pos = "low" if hr > 0.55 else ("high" if hr < 0.45 else "centred")
        have = "has no clear horizon" if hi < 0 else f"has its horizon at {hi:.0%}"
        findings.append(f"the reference has a horizon at {hr:.0%} of the height; the image {have}")
        adj.append(Adjustment("add_prompt_terms", "match the horizon", (f"{pos} horizon line",)))
    if not findings:
        findings.append("composition matches the reference")
    return AspectDelta(
        aspect="composition",
        similarity=similarity,
        severity=Severity.from_similarity(similarity),
        measured=measured,
        findings=tuple(findings),
        adjustments=tuple(adj),
    )
