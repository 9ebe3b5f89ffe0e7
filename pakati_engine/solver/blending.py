"""Mask blending: the feather width per region boundary that makes the seam least visible.

Feather definition (``feather_weights``): the weight of the region's image is a linear
ramp of the signed distance to the mask boundary, 0.5 on the boundary, reaching 0 and 1 at
``width/2`` pixels outside and inside. ``width = 0`` is the hard mask.

Seam visibility (``seam_cost``) is measured in the gradient domain, as Poisson image
editing does: near the boundary the composite's gradient should equal the gradient of the
image it shows (``a`` outside the mask, ``b`` inside, and their mean for pixel pairs that
cross the boundary, where neither image owns the edge). The cost is the mean squared
difference between the composite's forward differences and that guide, over pixel pairs
within ``max_width/2 + 1`` px of the boundary. A hard seam between different images pays
for the jump; a wide feather pays for ghosting (both images' details averaged over a wide
band); flat areas favour wide feathers and busy textures narrow ones.

The width is found by evaluating every integer width within the bounds and refining the
best with a bounded scalar search between its neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import distance_transform_edt
from scipy.optimize import minimize_scalar

from pakati_engine.analysis.prepare import to_mask, to_rgb_array
from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.types import ResultMapping

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class FeatherResult(ResultMapping):
    """Best feather width(s).

    ``solution`` is the width in pixels (one boundary) or a mapping region name -> width
    (``solve_feathers``). ``cost`` is the seam cost at that width, ``hard_cost`` at width 0,
    so ``cost / hard_cost`` says how much the feather helps. ``curve`` holds the cost at
    each integer width evaluated (one boundary only).
    """

    success: bool
    message: str
    solution: Any
    cost: Any
    hard_cost: Any
    curve: dict[int, float] = field(default_factory=dict)


def signed_distance(mask: NDArray[np.bool_]) -> FloatArray:
    """Distance (px) of each pixel centre to the mask boundary, positive inside."""
    inside = distance_transform_edt(mask)
    outside = distance_transform_edt(~mask)
    return np.where(mask, inside - 0.5, -(outside - 0.5)).astype(np.float64)


def feather_weights(mask: Any, width: float) -> FloatArray:
    """Blend weight of the masked image: a linear ramp ``width`` px wide across the boundary."""
    m = np.asarray(mask).astype(bool)
    dist = signed_distance(m)
    if width <= 0:
        return m.astype(np.float64)
    return np.clip(0.5 + dist / width, 0.0, 1.0)


class _SeamProblem:
    """The pixel pairs near one boundary, with their colours, distances and guide gradients.

    Only pairs within the band are kept, so one cost evaluation is proportional to the
    boundary's length, not to the image area.
    """

    def __init__(self, a: FloatArray, b: FloatArray, mask: NDArray[np.bool_], max_width: float):
        dist = signed_distance(mask)
        band = np.abs(dist) <= max_width / 2.0 + 1.0
        h, w = mask.shape
        firsts, seconds = [], []
        for dy, dx in ((1, 0), (0, 1)):
            ys, xs = np.nonzero(band[: h - dy, : w - dx] & band[dy:, dx:])
            firsts.append(ys * w + xs)
            seconds.append((ys + dy) * w + (xs + dx))
        p, q = np.concatenate(firsts), np.concatenate(seconds)
        flat_a, flat_b = a.reshape(-1, 3), b.reshape(-1, 3)
        flat_d, flat_m = dist.ravel(), mask.ravel()
        self.a_p, self.a_q = flat_a[p], flat_a[q]  # (pairs, 3)
        self.db_p, self.db_q = flat_b[p] - self.a_p, flat_b[q] - self.a_q
        self.d_p, self.d_q = flat_d[p], flat_d[q]
        grad_a = self.a_q - self.a_p
        grad_b = flat_b[q] - flat_b[p]
        in_p, in_q = flat_m[p][:, None], flat_m[q][:, None]
        self.guide = np.where(
            in_p & in_q, grad_b, np.where(~in_p & ~in_q, grad_a, 0.5 * (grad_a + grad_b))
        )

    def cost(self, width: float) -> float:
        if width <= 0:
            w_p, w_q = (self.d_p > 0).astype(np.float64), (self.d_q > 0).astype(np.float64)
        else:
            w_p = np.clip(0.5 + self.d_p / width, 0.0, 1.0)
            w_q = np.clip(0.5 + self.d_q / width, 0.0, 1.0)
        grad = (self.a_q + w_q[:, None] * self.db_q) - (self.a_p + w_p[:, None] * self.db_p)
        return float(((grad - self.guide) ** 2).sum(-1).mean()) if len(grad) else 0.0


def _prepare(
    image_a: Any, image_b: Any, mask: Any
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    a = to_rgb_array(image_a).astype(np.float64) / 255.0
    b = to_rgb_array(image_b).astype(np.float64) / 255.0
    if a.shape != b.shape:
        raise InvalidInputError(f"images differ in size: {a.shape[:2]} vs {b.shape[:2]}")
    m = to_mask(mask, (a.shape[0], a.shape[1]))
    return a, b, m


def seam_cost(
    image_a: Any, image_b: Any, mask: Any, width: float, max_width: float | None = None
) -> float:
    """Seam visibility of compositing ``image_b`` over ``image_a`` inside ``mask`` at ``width``."""
    a, b, m = _prepare(image_a, image_b, mask)
    if m.all():
        return 0.0
    return _SeamProblem(a, b, m, max(width, max_width or width)).cost(width)


def solve_feather(
    image_a: Any, image_b: Any, mask: Any, bounds: tuple[float, float] = (0.0, 32.0)
) -> FeatherResult:
    """Feather width within ``bounds`` minimising seam visibility (see module docstring).

    ``image_a`` is what lies outside the mask, ``image_b`` what lies inside; both
    (H, W, 3) arrays or PIL images of one size; ``mask`` (H, W) bool or 0..1 float.
    """
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0.0 <= lo <= hi:
        raise InvalidInputError(f"feather bounds must satisfy 0 <= low <= high, got {bounds}")
    a, b, m = _prepare(image_a, image_b, mask)
    if m.all():
        return FeatherResult(True, "the mask covers the whole image: no boundary", lo, 0.0, 0.0)
    prob = _SeamProblem(a, b, m, hi)
    widths = sorted({lo, hi, *range(int(np.ceil(lo)), int(np.floor(hi)) + 1)})
    curve = {w: prob.cost(w) for w in widths}
    best = min(widths, key=lambda w: (curve[w], w))
    best_cost = curve[best]
    k = widths.index(best)
    left, right = widths[max(0, k - 1)], widths[min(len(widths) - 1, k + 1)]
    if right > left:
        res = minimize_scalar(
            prob.cost, bounds=(left, right), method="bounded", options={"xatol": 0.05}
        )
        if float(res.fun) < best_cost - 1e-12:
            best, best_cost = float(res.x), float(res.fun)
    hard = prob.cost(0.0)
    ratio = best_cost / hard if hard > 0 else 1.0
    return FeatherResult(
        success=True,
        message=f"feather {best:.2f} px within [{lo:g}, {hi:g}]: "
        f"seam cost x{ratio:.2f} of a hard edge",
        solution=float(best),
        cost=best_cost,
        hard_cost=hard,
        curve={int(w): c for w, c in curve.items() if float(w).is_integer()},
    )


def solve_feathers(
    base: Any, overlay: Any, masks: Mapping[str, Any], bounds: tuple[float, float] = (0.0, 32.0)
) -> FeatherResult:
    """One feather width per region: ``overlay`` composited over ``base`` inside each mask."""
    widths: dict[str, float] = {}
    costs: dict[str, float] = {}
    hard: dict[str, float] = {}
    for name, mask in masks.items():
        res = solve_feather(base, overlay, mask, bounds)
        widths[name], costs[name], hard[name] = (
            float(res.solution),
            float(res.cost),
            float(res.hard_cost),
        )
    return FeatherResult(
        success=True,
        message=f"feather widths for {len(widths)} region boundaries",
        solution=widths,
        cost=costs,
        hard_cost=hard,
    )
