"""Observation operators: seeded masking strategies that hide part of a reference.

Each strategy turns a reference (H, W, 3) into an :class:`Observation`: the pixels a learner
may see and the ``hidden`` mask it is scored on. ``difficulty`` in (0, 1) is the fraction of
pixels hidden, except for ``frequency_bands``, which shows every pixel low-pass filtered and
hides the high band: there ``difficulty`` sets the blur (sigma = 1 + 7 * difficulty px) and
every pixel counts as hidden (its detail is what must come back).

Strategies (same seed, same mask):

- ``random_patches``: 8x8 patches hidden at random (masked-autoencoder style).
- ``progressive_reveal``: one fixed random order of 16x16 tiles per seed; the first
  ``difficulty`` of them are hidden, so an easier level reveals a superset of a harder one.
- ``center_out``: a centred square is shown, everything outside it hidden (outpainting).
- ``edge_in``: a border band is shown, the centred square inside it hidden (inpainting).
- ``quadrant_reveal``: whole quadrants hidden (round(4 * difficulty), at least 1, at most 3).
- ``frequency_bands``: the low band shown everywhere, the high band hidden (see above).
- ``semantic_regions``: the boxes of foreground objects (found analytically, grown by 3 px)
  hidden, whole objects first in seeded order, until ``difficulty`` of the pixels is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pakati_engine.errors import InvalidInputError

MASKING_STRATEGIES: tuple[str, ...] = (
    "random_patches",
    "progressive_reveal",
    "center_out",
    "edge_in",
    "quadrant_reveal",
    "frequency_bands",
    "semantic_regions",
)

#: Difficulty levels a learner is evaluated at, easiest first.
DIFFICULTIES: tuple[float, ...] = (0.25, 0.5, 0.75)

Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class Observation:
    """What a learner sees of a reference.

    ``visible``: (H, W, 3) uint8, the shown pixels (hidden ones set to mid grey) or, for
    frequency_bands, the low-pass image; ``hidden``: (H, W) bool, the pixels scored;
    ``inpaint``: True when hidden pixels are unknown (mask strategies), False when every
    pixel is seen in part (frequency_bands).
    """

    strategy: str
    difficulty: float
    seed: int
    visible: NDArray[np.uint8]
    hidden: Mask
    inpaint: bool = True

    @property
    def hidden_fraction(self) -> float:
        return float(self.hidden.mean())


def check_strategies(names: list[str] | tuple[str, ...]) -> list[str]:
    """Validate strategy names; an unknown one is an error listing the valid ones."""
    out = []
    for name in names:
        if name not in MASKING_STRATEGIES:
            raise InvalidInputError(
                f"unknown masking strategy {name!r}; choose from {', '.join(MASKING_STRATEGIES)}"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise InvalidInputError(
            f"no masking strategy given; choose from {', '.join(MASKING_STRATEGIES)}"
        )
    return out


def _tiles(height: int, width: int, tile: int, fraction: float, order: NDArray[np.int64]) -> Mask:
    rows, cols = -(-height // tile), -(-width // tile)
    count = round(fraction * rows * cols)
    chosen = np.zeros(rows * cols, bool)
    chosen[order[:count]] = True
    grid = chosen.reshape(rows, cols)
    return np.kron(grid, np.ones((tile, tile), bool))[:height, :width]


def _random_patches(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    order = rng.permutation(-(-h // 8) * -(-w // 8))
    return _tiles(h, w, 8, difficulty, order)


def _progressive(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    order = rng.permutation(-(-h // 16) * -(-w // 16))  # same order for every level of a seed
    return _tiles(h, w, 16, difficulty, order)


def _centre_square(h: int, w: int, fraction: float) -> Mask:
    side_y, side_x = round(h * np.sqrt(fraction)), round(w * np.sqrt(fraction))
    y0, x0 = (h - side_y) // 2, (w - side_x) // 2
    mask = np.zeros((h, w), bool)
    mask[y0 : y0 + side_y, x0 : x0 + side_x] = True
    return mask


def _center_out(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    return ~_centre_square(h, w, 1.0 - difficulty)


def _edge_in(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    return _centre_square(h, w, difficulty)


def _quadrants(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    count = min(3, max(1, round(4 * difficulty)))
    mask = np.zeros((h, w), bool)
    for q in rng.permutation(4)[:count]:
        ys = slice(0, h // 2) if q < 2 else slice(h // 2, h)
        xs = slice(0, w // 2) if q % 2 == 0 else slice(w // 2, w)
        mask[ys, xs] = True
    return mask


def foreground_mask(image: NDArray[np.uint8]) -> Mask:
    """Pixels unlike the background (the analytic judge's foreground test)."""
    from pakati_engine.world.colors import rgb_to_lab
    from pakati_engine.world.judge import FOREGROUND_DELTA_E, estimate_background

    lab = rgb_to_lab(image)
    _, observed = estimate_background(image, lab)
    return np.asarray(np.linalg.norm(lab - observed, axis=-1) > FOREGROUND_DELTA_E)


def _semantic(image: NDArray[np.uint8], difficulty: float, rng: np.random.Generator) -> Mask:
    h, w = image.shape[:2]
    labels, count = ndimage.label(foreground_mask(image), structure=np.ones((3, 3), bool))
    mask = np.zeros((h, w), bool)
    target = difficulty * h * w
    for index in rng.permutation(count) + 1:
        ys, xs = np.nonzero(labels == index)
        if len(ys) < 30:
            continue
        box = np.zeros((h, w), bool)
        box[max(0, ys.min() - 3) : ys.max() + 4, max(0, xs.min() - 3) : xs.max() + 4] = True
        if mask.any() and (mask | box).sum() > target * 1.25:
            continue
        mask |= box
        if mask.sum() >= target:
            break
    if not mask.any():  # no object found: fall back to the hardest region, the centre
        mask = _centre_square(h, w, difficulty)
    return mask


_MASKERS: dict[str, Callable[[NDArray[np.uint8], float, np.random.Generator], Mask]] = {
    "random_patches": _random_patches,
    "progressive_reveal": _progressive,
    "center_out": _center_out,
    "edge_in": _edge_in,
    "quadrant_reveal": _quadrants,
    "semantic_regions": _semantic,
}


def blur_sigma(difficulty: float) -> float:
    return 1.0 + 7.0 * difficulty


def observe(image: NDArray[np.uint8], strategy: str, difficulty: float, seed: int) -> Observation:
    """Apply one strategy at one difficulty to ``image`` (H, W, 3) uint8; deterministic."""
    check_strategies([strategy])
    if not 0.0 < difficulty < 1.0:
        raise InvalidInputError(f"difficulty must be in (0, 1), got {difficulty}")
    image = np.asarray(image, dtype=np.uint8)
    rng = np.random.default_rng([seed, MASKING_STRATEGIES.index(strategy)])
    if strategy == "frequency_bands":
        sigma = blur_sigma(difficulty)
        low = ndimage.gaussian_filter(image.astype(np.float32), sigma=(sigma, sigma, 0))
        visible = np.clip(np.round(low), 0, 255).astype(np.uint8)
        hidden = np.ones(image.shape[:2], bool)
        return Observation(strategy, difficulty, seed, visible, hidden, inpaint=False)
    hidden = _MASKERS[strategy](image, difficulty, rng)
    visible = image.copy()
    visible[hidden] = 127
    return Observation(strategy, difficulty, seed, visible, hidden)
