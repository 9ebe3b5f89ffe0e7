"""Regions of a canvas: polygons, boxes and mask images, validated and rasterised.

Coordinates are continuous canvas pixels with (0, 0) at the top-left *corner* of the
canvas and (width, height) at its bottom-right corner, so the box (0, 0, 512, 200) covers
pixel rows 0..199 exactly. Rasterisation is anti-aliased by supersampling: a pixel's value
is the fraction of it that the shape covers, so axis-aligned integer boxes come out as
exact 0/1 masks and slanted edges get fractional coverage.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from skimage.draw import polygon2mask

from pakati_engine.errors import InvalidInputError
from pakati_engine.images import open_image

RegionKind = Literal["polygon", "box", "mask"]
Point = tuple[float, float]

#: Sub-samples per pixel side used for anti-aliased rasterisation.
SUPERSAMPLE = 4
#: Coverage below this is treated as empty (keeps float noise out of exact routing).
MIN_COVERAGE = 1e-6


@dataclass(frozen=True)
class Region:
    """One region of a canvas.

    Exactly one of ``polygon``, ``box`` or ``mask`` is set, matching ``kind``. ``z`` orders
    overlapping regions: higher is on top; regions with equal ``z`` stack in creation order.
    """

    id: str
    kind: RegionKind
    width: int
    height: int
    polygon: tuple[Point, ...] | None = None
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    name: str | None = None
    z: int = 0

    @property
    def label(self) -> str:
        """The name a user gave, else the id; used in messages."""
        return self.name or self.id

    def rasterize(self) -> np.ndarray:
        """Anti-aliased coverage in [0, 1], float32, shape (height, width). Do not modify."""
        return self._coverage

    @cached_property
    def _coverage(self) -> np.ndarray:
        if self.kind == "mask":
            assert self.mask is not None
            return self.mask
        if self.kind == "box":
            assert self.box is not None
            return _rasterize_polygon(_box_polygon(self.box), self.width, self.height)
        assert self.polygon is not None
        return _rasterize_polygon(self.polygon, self.width, self.height)

    def bounding_box(self) -> tuple[int, int, int, int]:
        """Integer pixel box (x0, y0, x1, y1), x1/y1 exclusive, covering every nonzero pixel."""
        ys, xs = np.nonzero(self.rasterize() > MIN_COVERAGE)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def make_polygon_region(
    points: Sequence[Sequence[float]],
    width: int,
    height: int,
    *,
    region_id: str,
    name: str | None = None,
    z: int = 0,
    clip: bool = False,
) -> Region:
    """Validate a polygon and build its region.

    Vertices outside the canvas are an error unless ``clip`` is true, in which case the
    polygon is clipped to the canvas rectangle and a warning says so.
    """
    label = name or region_id
    vertices = _as_points(points, label)
    if len(vertices) < 3:
        raise InvalidInputError(
            f"region {label!r}: a polygon needs at least 3 vertices, got {len(vertices)}; "
            "give [(x, y), ...] with 3 or more points, or use a box"
        )
    outside = [p for p in vertices if not (0 <= p[0] <= width and 0 <= p[1] <= height)]
    if outside:
        if not clip:
            raise InvalidInputError(
                f"region {label!r}: vertex {outside[0]} lies outside the {width}x{height} canvas "
                f"(x must be in [0, {width}], y in [0, {height}]); move it inside, or pass "
                "clip=True to clip the polygon to the canvas"
            )
        vertices = clip_polygon_to_rect(vertices, width, height)
        warnings.warn(
            f"region {label!r}: {len(outside)} vertex(es) outside the {width}x{height} canvas; "
            "the polygon was clipped to the canvas",
            stacklevel=2,
        )
        if len(vertices) < 3:
            raise InvalidInputError(
                f"region {label!r}: the polygon lies entirely outside the {width}x{height} canvas"
            )
    if abs(_shoelace_area(vertices)) < 1e-9:
        raise InvalidInputError(
            f"region {label!r}: the polygon has zero area (its vertices are collinear or "
            "repeated); give vertices that enclose a surface"
        )
    region = Region(
        id=region_id,
        kind="polygon",
        width=width,
        height=height,
        polygon=tuple(vertices),
        name=name,
        z=z,
    )
    _require_coverage(region)
    return region


def make_box_region(
    box: Sequence[float],
    width: int,
    height: int,
    *,
    region_id: str,
    name: str | None = None,
    z: int = 0,
    clip: bool = False,
) -> Region:
    """Validate a box (x0, y0, x1, y1) and build its region."""
    label = name or region_id
    values = _finite_floats(box, label, "box")
    if len(values) != 4:
        raise InvalidInputError(
            f"region {label!r}: a box is (x0, y0, x1, y1), got {len(values)} numbers"
        )
    x0, y0, x1, y1 = values
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError(
            f"region {label!r}: box {tuple(values)} has zero area; it needs x1 > x0 and y1 > y0"
        )
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        if not clip:
            raise InvalidInputError(
                f"region {label!r}: box {tuple(values)} extends outside the {width}x{height} "
                "canvas; move it inside, or pass clip=True to clip it to the canvas"
            )
        warnings.warn(
            f"region {label!r}: box {tuple(values)} clipped to the {width}x{height} canvas",
            stacklevel=2,
        )
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            raise InvalidInputError(
                f"region {label!r}: the box lies entirely outside the {width}x{height} canvas"
            )
    region = Region(
        id=region_id,
        kind="box",
        width=width,
        height=height,
        box=(x0, y0, x1, y1),
        name=name,
        z=z,
    )
    _require_coverage(region)
    return region


def make_mask_region(
    mask: np.ndarray | Image.Image | str | Path,
    width: int,
    height: int,
    *,
    region_id: str,
    name: str | None = None,
    z: int = 0,
) -> Region:
    """Build a region from a mask: an array, a PIL image or an image file.

    White (or alpha, for images with an alpha channel) is inside. Values are scaled to
    [0, 1]; grey levels are partial coverage.
    """
    label = name or region_id
    array = load_mask_array(mask, label)
    if array.shape != (height, width):
        raise InvalidInputError(
            f"region {label!r}: the mask is {array.shape[1]}x{array.shape[0]} but the canvas "
            f"is {width}x{height}; resize the mask to the canvas size"
        )
    region = Region(
        id=region_id,
        kind="mask",
        width=width,
        height=height,
        mask=array,
        name=name,
        z=z,
    )
    _require_coverage(region)
    return region


def load_mask_array(mask: np.ndarray | Image.Image | str | Path, label: str) -> np.ndarray:
    """Read a mask into float32 [0, 1] of shape (H, W), with clear errors.

    Values are quantised to 8 bits (k / 255) so that a mask stored in a PNG's metadata
    reproduces the generation exactly.
    """
    if isinstance(mask, str | Path):
        mask = open_image(mask, f"region {label!r}: mask file {str(mask)!r}")
    if isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA") or "transparency" in mask.info:
            mask = mask.convert("RGBA").getchannel("A")
        array = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    else:
        array = np.asarray(mask)
        if array.ndim != 2:
            raise InvalidInputError(
                f"region {label!r}: a mask array must be 2-D (height, width), got shape "
                f"{array.shape}"
            )
        if array.dtype == np.bool_:
            array = array.astype(np.float32)
        elif np.issubdtype(array.dtype, np.integer):
            array = array.astype(np.float32) / (255.0 if array.max(initial=0) > 1 else 1.0)
        else:
            array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise InvalidInputError(f"region {label!r}: the mask contains NaN or infinite values")
        if array.min(initial=0.0) < 0.0 or array.max(initial=0.0) > 1.0:
            raise InvalidInputError(
                f"region {label!r}: float mask values must lie in [0, 1], got "
                f"[{array.min():.3g}, {array.max():.3g}]"
            )
    quantised = np.round(array * 255.0).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(quantised, dtype=np.float32)


def clip_polygon_to_rect(vertices: Sequence[Point], width: float, height: float) -> list[Point]:
    """Sutherland-Hodgman clipping of a polygon to the rectangle [0, width] x [0, height]."""

    def clip_edge(
        points: list[Point],
        inside: Callable[[Point], bool],
        intersect: Callable[[Point, Point], Point],
    ) -> list[Point]:
        result: list[Point] = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    result.append(intersect(previous, current))
                result.append(current)
            elif inside(previous):
                result.append(intersect(previous, current))
        return result

    def at_x(x: float) -> Callable[[Point, Point], Point]:
        def cut(a: Point, b: Point) -> Point:
            t = (x - a[0]) / (b[0] - a[0])
            return (x, a[1] + t * (b[1] - a[1]))

        return cut

    def at_y(y: float) -> Callable[[Point, Point], Point]:
        def cut(a: Point, b: Point) -> Point:
            t = (y - a[1]) / (b[1] - a[1])
            return (a[0] + t * (b[0] - a[0]), y)

        return cut

    points = list(vertices)
    for inside, intersect in (
        (lambda p: p[0] >= 0, at_x(0.0)),
        (lambda p: p[0] <= width, at_x(float(width))),
        (lambda p: p[1] >= 0, at_y(0.0)),
        (lambda p: p[1] <= height, at_y(float(height))),
    ):
        if not points:
            break
        points = clip_edge(points, inside, intersect)
    return points


def _rasterize_polygon(vertices: Sequence[Point], width: int, height: int) -> np.ndarray:
    s = SUPERSAMPLE
    # polygon2mask tests sample centres at integer (row, col); a corner coordinate X maps to
    # the supersampled centre index X * s - 0.5.
    rows_cols = np.array([(y * s - 0.5, x * s - 0.5) for x, y in vertices], dtype=np.float64)
    fine = polygon2mask((height * s, width * s), rows_cols)  # (H*s, W*s) bool
    coverage = fine.reshape(height, s, width, s).mean(axis=(1, 3))  # (H, W)
    return coverage.astype(np.float32)


def _box_polygon(box: tuple[float, float, float, float]) -> list[Point]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _as_points(points: Sequence[Sequence[float]], label: str) -> list[Point]:
    try:
        vertices = [tuple(p) for p in points]
    except TypeError as error:
        raise InvalidInputError(
            f"region {label!r}: a polygon is a list of (x, y) pairs ({error})"
        ) from error
    result: list[Point] = []
    for vertex in vertices:
        if len(vertex) != 2:
            raise InvalidInputError(f"region {label!r}: vertex {vertex} is not an (x, y) pair")
        x, y = _finite_floats(vertex, label, "vertex")
        result.append((x, y))
    return result


def _finite_floats(values: Sequence[float], label: str, what: str) -> list[float]:
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"region {label!r}: {what} {tuple(values)} must contain numbers ({error})"
        ) from error
    if not all(math.isfinite(v) for v in floats):
        raise InvalidInputError(
            f"region {label!r}: {what} {tuple(values)} contains NaN or infinity"
        )
    return floats


def _shoelace_area(vertices: Sequence[Point]) -> float:
    area = 0.0
    for i, (x1, y1) in enumerate(vertices):
        x2, y2 = vertices[(i + 1) % len(vertices)]
        area += x1 * y2 - x2 * y1
    return area / 2.0


def _require_coverage(region: Region) -> None:
    if float(region.rasterize().max(initial=0.0)) <= MIN_COVERAGE:
        raise InvalidInputError(
            f"region {region.label!r} covers no pixel of the {region.width}x{region.height} "
            "canvas (zero area); make it larger or give a mask with nonzero pixels"
        )
