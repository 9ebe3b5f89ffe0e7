"""Colour coherence: move per-region palettes toward one harmony, each colour by a bounded step.

Colours are handled in CIELAB. For a hue-based scheme, every colour keeps its lightness and
chroma and its target hue is the nearest hue the scheme allows around a base hue:

- ``monochromatic``: the base hue; ``complementary``: base and base + 180 degrees;
  ``triadic``: base + 0/120/240; ``analogous``: anywhere within +-``spread`` of the base.

For ``reference``, the target is the nearest colour (CIEDE2000) of ``reference_palette``.
Near-neutral colours (chroma below ``neutral_chroma``) have no meaningful hue and are left
alone by hue schemes.

The base hue, unless given, is chosen by minimising the total squared Lab distance of all
colours to their targets (a 1-degree grid, then a bounded scalar refinement), i.e. the
harmony that needs the least change overall.

Each colour then solves ``min |c - target|  s.t.  |c - c0| <= max_delta`` (Lab Euclidean,
i.e. CIE76 ΔE) and stays inside the sRGB gamut: the solution of the ball constraint is the
step along the segment towards the target, clipped at ``max_delta``; a bisection along the
same segment then keeps it displayable. The achieved CIEDE2000 change is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.types import ResultMapping

Scheme = Literal["reference", "complementary", "analogous", "triadic", "monochromatic"]
RGB = tuple[int, int, int]
_OFFSETS = {"monochromatic": (0.0,), "complementary": (0.0, 180.0), "triadic": (0.0, 120.0, 240.0)}


@dataclass(frozen=True, eq=False)
class PaletteResult(ResultMapping):
    """Adjusted palettes. ``solution[name]`` is the list of new RGB colours (0..255).

    ``status`` is "optimal" when every colour reached its harmony target and "bounded" when
    some stopped at ``max_delta`` or the gamut edge (``success`` is True in both cases:
    any bounded step is a valid answer). ``changes`` is each colour's CIEDE2000 move,
    ``residual`` its remaining Lab distance to the target.
    """

    success: bool
    feasible: bool
    status: Literal["optimal", "bounded"]
    message: str
    solution: dict[str, list[RGB]]
    scheme: str
    base_hue: float | None = None
    changes: dict[str, list[float]] = field(default_factory=dict)
    residual: dict[str, list[float]] = field(default_factory=dict)


def _to_lab(colors: Sequence[Sequence[float]], name: str) -> NDArray[np.float64]:
    arr = np.asarray(colors, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) == 0:
        raise InvalidInputError(f"palette {name!r} must be a non-empty list of (r, g, b) colours")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
        raise InvalidInputError(f"palette {name!r}: RGB values must be in 0..255")
    return np.asarray(rgb2lab(arr[None] / 255.0)[0], dtype=np.float64)


def _hue_targets(
    lab: NDArray[np.float64], base: float, scheme: str, spread: float, neutral: float
) -> NDArray[np.float64]:
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    if scheme == "analogous":
        rel = (hue - base + 180.0) % 360.0 - 180.0
        new_hue = base + np.clip(rel, -spread, spread)
    else:
        allowed = np.array([base + o for o in _OFFSETS[scheme]])
        rel = (hue[:, None] - allowed[None, :] + 180.0) % 360.0 - 180.0  # (N, K)
        new_hue = allowed[np.argmin(np.abs(rel), axis=1)]
    rad = np.radians(new_hue)
    out = np.stack([lab[:, 0], chroma * np.cos(rad), chroma * np.sin(rad)], axis=1)
    keep = chroma < neutral
    out[keep] = lab[keep]
    return out


_XYZ_TO_RGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _in_gamut(lab: NDArray[np.float64]) -> bool:
    """True if a Lab colour maps to linear sRGB within [0, 1] (no clipping needed)."""
    fy = (lab[0] + 16.0) / 116.0
    f = np.array([fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0])
    delta = 6.0 / 29.0
    xyz = _WHITE * np.where(f > delta, f**3, 3 * delta**2 * (f - 4.0 / 29.0))
    rgb = _XYZ_TO_RGB @ xyz
    return bool(np.all(rgb >= -1e-4) and np.all(rgb <= 1.0 + 1e-4))


def _bounded_step(
    c0: NDArray[np.float64], target: NDArray[np.float64], max_delta: float
) -> NDArray[np.float64]:
    dist = float(np.linalg.norm(target - c0))
    if dist < 1e-9:
        return c0.copy()
    t_max = min(1.0, max_delta / dist)
    if _in_gamut(c0 + t_max * (target - c0)):
        return c0 + t_max * (target - c0)
    lo, hi = 0.0, t_max
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        if _in_gamut(c0 + mid * (target - c0)):
            lo = mid
        else:
            hi = mid
    return c0 + lo * (target - c0)


def _best_base(all_lab: NDArray[np.float64], scheme: str, spread: float, neutral: float) -> float:
    def cost(base: float) -> float:
        diff = _hue_targets(all_lab, base, scheme, spread, neutral) - all_lab
        return float((diff**2).sum())

    grid = np.arange(0.0, 360.0, 1.0)
    costs = [cost(b) for b in grid]
    start = float(grid[int(np.argmin(costs))])
    res = minimize_scalar(cost, bounds=(start - 1.0, start + 1.0), method="bounded")
    return float(res.x % 360.0) if res.fun <= min(costs) else start


def harmonize_palettes(
    palettes: Mapping[str, Sequence[Sequence[float]]],
    scheme: Scheme = "analogous",
    reference_palette: Sequence[Sequence[float]] | None = None,
    base_hue: float | None = None,
    max_delta: float = 10.0,
    spread: float = 30.0,
    neutral_chroma: float = 8.0,
) -> PaletteResult:
    """Pull every region's palette toward one colour harmony (see module docstring).

    Args:
        palettes: region name -> list of RGB colours (0..255).
        scheme: "reference", "complementary", "analogous", "triadic" or "monochromatic".
        reference_palette: RGB colours to pull toward (needed for "reference").
        base_hue: CIELAB hue angle in degrees for hue schemes; None chooses the one that
            needs the least total change.
        max_delta: largest change of one colour, as Lab Euclidean distance (CIE76 ΔE).
        spread: half-width in degrees of the analogous hue range.
        neutral_chroma: colours with less chroma are treated as neutral.
    """
    if scheme not in ("reference", *_OFFSETS, "analogous"):
        raise InvalidInputError(
            f"unknown scheme {scheme!r}; choose reference, complementary, analogous, "
            "triadic or monochromatic"
        )
    if max_delta < 0:
        raise InvalidInputError(f"max_delta must be >= 0, got {max_delta}")
    if not palettes:
        raise InvalidInputError("no palettes given")
    labs = {name: _to_lab(colors, name) for name, colors in palettes.items()}
    base: float | None = None
    ref_lab: NDArray[np.float64] | None = None
    if scheme == "reference":
        if reference_palette is None:
            raise InvalidInputError("scheme 'reference' needs a reference_palette")
        ref_lab = _to_lab(reference_palette, "reference")
    else:
        all_lab = np.concatenate(list(labs.values()))
        base = (
            float(base_hue) % 360.0
            if base_hue is not None
            else _best_base(all_lab, scheme, spread, neutral_chroma)
        )

    solution: dict[str, list[RGB]] = {}
    changes: dict[str, list[float]] = {}
    residual: dict[str, list[float]] = {}
    limited = 0
    total = 0
    for name, lab in labs.items():
        if ref_lab is not None:
            cost = deltaE_ciede2000(lab[:, None, :], ref_lab[None, :, :])  # (N, K)
            targets = ref_lab[np.argmin(cost, axis=1)]
        else:
            assert base is not None
            targets = _hue_targets(lab, base, scheme, spread, neutral_chroma)
        new = np.stack([_bounded_step(c, t, max_delta) for c, t in zip(lab, targets, strict=True)])
        rgb = np.clip(lab2rgb(new[None])[0] * 255.0, 0, 255).round().astype(int)
        solution[name] = [(int(r), int(g), int(b)) for r, g, b in rgb]
        changes[name] = [float(v) for v in deltaE_ciede2000(lab, new)]
        res = [float(v) for v in np.linalg.norm(targets - new, axis=1)]
        residual[name] = res
        limited += sum(r > 0.5 for r in res)
        total += len(res)
    where = "" if base is None else f" around hue {base:.0f} degrees"
    if limited:
        message = (
            f"{scheme} harmony{where}: {limited} of {total} colours stopped at the max_delta "
            f"bound of {max_delta:g} (or the sRGB gamut) before reaching the harmony"
        )
    else:
        message = f"{scheme} harmony{where}: all {total} colours reached the harmony"
    return PaletteResult(
        success=True,
        feasible=True,
        status="bounded" if limited else "optimal",
        message=message,
        solution=solution,
        scheme=scheme,
        base_hue=None if base is None else round(base, 3),
        changes=changes,
        residual=residual,
    )
