"""Objects as what differs from the background: the critic's model-free evidence.

No neural network and no knowledge of what the objects are: the background is the median
CIELAB colour of the pixels no region claims (else the image border), the foreground is
every pixel farther from it than ``delta_e``, and objects are its 8-connected components.
That tells an empty region from one with something in it, where each thing is, how big it
is and whether something lies outside every region, on any picture with a reasonably plain
background; the CLIP scores say *what* the things are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pakati_engine.world.colors import rgb_to_lab

PixelBox = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in pixels, exclusive ends."""

DEFAULT_DELTA_E = 15.0
"""CIE76 distance from the background above which a pixel is foreground."""


@dataclass(frozen=True)
class Blob:
    """One connected foreground component."""

    box: PixelBox
    area: int
    centroid: tuple[float, float]
    """(x, y) in pixels."""


def background_lab(
    image: NDArray[np.uint8], claimed: Sequence[PixelBox] = ()
) -> NDArray[np.float64]:
    """Median CIELAB colour of the pixels outside ``claimed`` boxes (else of the border)."""
    lab = rgb_to_lab(image)
    free = np.ones(image.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in claimed:
        free[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False
    if free.sum() < 0.05 * free.size:  # regions cover nearly everything: use the border
        free[:] = False
        free[0, :] = free[-1, :] = free[:, 0] = free[:, -1] = True
    return np.asarray(np.median(lab[free], axis=0), dtype=np.float64)


def foreground_mask(
    image: NDArray[np.uint8], background: NDArray[np.float64], delta_e: float = DEFAULT_DELTA_E
) -> NDArray[np.bool_]:
    """(H, W) True where a pixel's colour is farther than ``delta_e`` from ``background``."""
    distance = np.linalg.norm(rgb_to_lab(image) - background, axis=-1)
    return np.asarray(distance > delta_e)


def find_blobs(mask: NDArray[np.bool_], min_area: int = 4) -> list[Blob]:
    """8-connected components of ``mask`` with at least ``min_area`` pixels, largest first."""
    labels, _count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    blobs = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        ys, xs = np.nonzero(labels[found] == index)
        if len(xs) < min_area:
            continue
        y0, x0 = found[0].start, found[1].start
        blobs.append(
            Blob(
                box=(x0, y0, found[1].stop, found[0].stop),
                area=len(xs),
                centroid=(float(xs.mean() + x0 + 0.5), float(ys.mean() + y0 + 0.5)),
            )
        )
    return sorted(blobs, key=lambda b: -b.area)


def fraction_inside(mask: NDArray[np.bool_], box: PixelBox) -> float:
    """Share of the box's pixels that are foreground."""
    x0, y0, x1, y1 = box
    window = mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    return float(window.mean()) if window.size else 0.0


def expand_box(box: PixelBox, pixels: int, width: int, height: int) -> PixelBox:
    """``box`` grown by ``pixels`` on every side, kept inside the image."""
    x0, y0, x1, y1 = box
    return (
        max(0, x0 - pixels),
        max(0, y0 - pixels),
        min(width, x1 + pixels),
        min(height, y1 + pixels),
    )
