"""Layout sampling for shapes-world scenes: cells, object placement and spatial words.

A scene of n objects (1 to ``MAX_OBJECTS``, 6) splits the canvas into n disjoint cells
(halves, thirds, quadrants, a half plus two quarters; for five, the four corners and the
centre or a row of three over a row of two; for six, two rows of three, or a row of three
at the top and one at the bottom with an empty band between, each possibly turned into
columns). Each object is drawn inside its own cell, so objects never overlap and each cell
is a ready-made regional-prompt box for that object. Cells need not cover the canvas (the
corners-and-centre and top-and-bottom-rows templates leave gaps of background).

Spatial words come from a 3x3 grid of zones (thirds of the canvas). Every cell template is
built so that the cell centres of one scene fall in distinct zones, and each object centre is
kept in the zone of its cell centre, so the word computed from an object's position is both
right and unique within its scene. With six objects the zones' middle row (or column) stays
empty, so nine zones always suffice.

Object sizes: by default a fraction of the cell's shorter side (0.45-0.85; 0.3-0.6 for a
cell that is the whole canvas). A *small* object (``small_fraction`` of the objects of a
scene, none by default) is ``SMALL_SIZE`` of the canvas instead, 10-20 px on 128 px, and
its cell (its regional-prompt box) shrinks around it to 1.3-2.2 times its side: a small box
asks for a small object, as the agent sizes objects by their boxes. The defaults draw
exactly the random numbers they drew before the world had five- and six-object scenes
and small objects, so an old seed's 1-4-object scene is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pakati_engine.world.colors import COLOR_NAMES

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
"""Shape names; an index into this tuple is a shape id."""

MAX_OBJECTS = 6
"""The most objects a scene can have (one cell template family per count, 1 to 6)."""
DEFAULT_MAX_OBJECTS = 4
"""The object counts a scene draws when none is given are 1 to this (the original world)."""
SMALL_SIZE: tuple[float, float] = (0.08, 0.16)
"""Side of a small object, as a fraction of the canvas's shorter side (10-20 px on 128)."""

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1); fractions of the canvas in templates, pixels elsewhere."""

_COLUMN_WORDS = ("left", "", "right")
_ROW_WORDS = ("top", "", "bottom")

_PHRASES = {
    "top left": "in the top left",
    "top": "at the top",
    "top right": "in the top right",
    "left": "on the left",
    "centre": "in the centre",
    "right": "on the right",
    "bottom left": "in the bottom left",
    "bottom": "at the bottom",
    "bottom right": "in the bottom right",
}

SPATIAL_WORDS: tuple[str, ...] = tuple(_PHRASES)
"""The nine spatial words, row by row from the top left."""


@dataclass(frozen=True)
class ObjectSpec:
    """One object to draw: what, where (pixel centre of its bounding box), how big."""

    shape: str
    color: str
    cx: float
    cy: float
    size: float
    """Side of the object's bounding box in pixels (its width and its height)."""
    cell: Box
    """The layout cell (pixels) the object was placed in; contains the object."""


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render a scene; rendering it is deterministic."""

    width: int
    height: int
    background: str
    objects: tuple[ObjectSpec, ...]


def _zone_index(value: float, extent: float) -> int:
    """0, 1 or 2: which third of ``extent`` the coordinate ``value`` lies in."""
    return min(2, max(0, int(3.0 * value / extent)))


def spatial_word(cx: float, cy: float, width: float, height: float) -> str:
    """The spatial word ("top left", "centre", "right", ...) of a point on the canvas."""
    col = _COLUMN_WORDS[_zone_index(cx, width)]
    row = _ROW_WORDS[_zone_index(cy, height)]
    word = f"{row} {col}".strip()
    return word or "centre"


def spatial_phrase(word: str) -> str:
    """The caption phrase of a spatial word: "left" -> "on the left"."""
    return _PHRASES[word]


def _halves(s: float, vertical: bool) -> list[Box]:
    return [(0, 0, s, 1), (s, 0, 1, 1)] if vertical else [(0, 0, 1, s), (0, s, 1, 1)]


def _thirds(s1: float, s2: float, vertical: bool) -> list[Box]:
    if vertical:
        return [(0, 0, s1, 1), (s1, 0, s2, 1), (s2, 0, 1, 1)]
    return [(0, 0, 1, s1), (0, s1, 1, s2), (0, s2, 1, 1)]


def _quadrants(sx: float, sy: float) -> list[Box]:
    return [(0, 0, sx, sy), (sx, 0, 1, sy), (0, sy, sx, 1), (sx, sy, 1, 1)]


def _transpose(box: Box) -> Box:
    return (box[1], box[0], box[3], box[2])


def _mirror(box: Box) -> Box:
    return (1 - box[2], box[1], 1 - box[0], box[3])


def _half_plus(rng: np.random.Generator, parts: int) -> list[Box]:
    """A left half plus the right half cut into ``parts`` stacked cells, randomly turned."""
    s = rng.uniform(0.4, 0.6)
    cells: list[Box] = [(0, 0, s, 1)]
    if parts == 2:
        t = rng.uniform(0.4, 0.6)
        cells += [(s, 0, 1, t), (s, t, 1, 1)]
    else:
        t1, t2 = rng.uniform(0.3, 0.36), rng.uniform(0.64, 0.7)
        cells += [(s, 0, 1, t1), (s, t1, 1, t2), (s, t2, 1, 1)]
    if rng.random() < 0.5:
        cells = [_mirror(c) for c in cells]
    if rng.random() < 0.5:
        cells = [_transpose(c) for c in cells]
    return cells


def _corners_and_centre(rng: np.random.Generator) -> list[Box]:
    """Four corner cells and a centre cell between them, in reading order."""
    a, b = rng.uniform(0.3, 0.36), rng.uniform(0.3, 0.36)
    return [
        (0, 0, a, b),
        (1 - a, 0, 1, b),
        (a, b, 1 - a, 1 - b),
        (0, 1 - b, a, 1),
        (1 - a, 1 - b, 1, 1),
    ]


def _turned(rng: np.random.Generator, cells: list[Box]) -> list[Box]:
    """``cells`` flipped upside down and/or turned into columns, each with probability 1/2."""
    if rng.random() < 0.5:
        cells = [_transpose(_mirror(_transpose(c))) for c in cells]
    if rng.random() < 0.5:
        cells = [_transpose(c) for c in cells]
    return cells


def _rows(
    rng: np.random.Generator, bands: list[tuple[float, float]], counts: list[int]
) -> list[Box]:
    """Horizontal bands (y0, y1), the i-th cut into ``counts[i]`` cells (2: halves, 3: thirds)."""
    cells: list[Box] = []
    for (y0, y1), count in zip(bands, counts, strict=True):
        if count == 2:
            h = rng.uniform(0.4, 0.6)
            cuts = [0.0, h, 1.0]
        else:
            cuts = [0.0, rng.uniform(0.3, 0.36), rng.uniform(0.64, 0.7), 1.0]
        cells += [(cuts[i], y0, cuts[i + 1], y1) for i in range(count)]
    return cells


def _five(rng: np.random.Generator, pick: float) -> list[Box]:
    """Five cells: the four corners and the centre, or a row of three over a row of two."""
    if pick < 0.5:
        return _corners_and_centre(rng)
    t = rng.uniform(0.4, 0.6)
    return _turned(rng, _rows(rng, [(0.0, t), (t, 1.0)], [3, 2]))


def _six(rng: np.random.Generator, pick: float) -> list[Box]:
    """Six cells: two rows of three touching, or a top and a bottom row with a gap between."""
    if pick < 0.6:
        t = rng.uniform(0.4, 0.6)
        bands = [(0.0, t), (t, 1.0)]
    else:
        bands = [(0.0, rng.uniform(0.3, 0.4)), (rng.uniform(0.6, 0.7), 1.0)]
    return _turned(rng, _rows(rng, bands, [3, 3]))


def sample_cells(rng: np.random.Generator, n: int) -> list[Box]:
    """Sample ``n`` disjoint cells (fractions of the canvas) whose centres lie in distinct zones."""
    if not 1 <= n <= MAX_OBJECTS:
        raise ValueError(f"a scene has 1 to {MAX_OBJECTS} objects, got {n}")
    half = rng.uniform(0.4, 0.6)
    quads = _quadrants(rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6))
    pick = rng.random()
    if n == 1:
        options = [[(0.0, 0.0, 1.0, 1.0)], *[[c] for c in _halves(half, bool(rng.random() < 0.5))]]
        options += [[q] for q in quads]
        return list(options[rng.integers(len(options))])
    if n == 2:
        if pick < 0.7:
            return _halves(half, bool(rng.random() < 0.5))
        return [quads[i] for i in sorted(rng.choice(4, size=2, replace=False))]
    if n == 3:
        if pick < 0.35:
            return _thirds(rng.uniform(0.3, 0.36), rng.uniform(0.64, 0.7), bool(rng.random() < 0.5))
        if pick < 0.75:
            return _half_plus(rng, 2)
        return [quads[i] for i in sorted(rng.choice(4, size=3, replace=False))]
    if n == 5:
        return _five(rng, pick)
    if n == 6:
        return _six(rng, pick)
    if pick < 0.6:
        return quads
    return _half_plus(rng, 3)


def _axis_range(lo: float, hi: float, zone: int, extent: float) -> tuple[float, float]:
    """Centre range [lo, hi] narrowed to the given third of ``extent`` (kept if disjoint)."""
    z0, z1 = zone * extent / 3.0 + 1e-3, (zone + 1) * extent / 3.0 - 1e-3
    a, b = max(lo, z0), min(hi, z1)
    return (a, b) if a <= b else (lo, hi)


def _small_cell(rng: np.random.Generator, cell: Box, width: int, height: int) -> tuple[Box, float]:
    """A small object's own cell inside ``cell`` and the object's side.

    The side is ``SMALL_SIZE`` of the canvas; the cell around it is 1.3-2.2 times that
    (capped by ``cell``), so a small object fills its box as much as any other object fills
    its cell, and a small box is what asks for a small object (the agent sizes by box).
    The small cell's centre stays in the zone of ``cell``'s centre.
    """
    x0, y0, x1, y1 = cell
    size = float(rng.uniform(*SMALL_SIZE)) * min(width, height)
    side = min(x1 - x0, y1 - y0, size / float(rng.uniform(0.45, 0.75)))
    half = side / 2
    ax, bx = _axis_range(x0 + half, x1 - half, _zone_index((x0 + x1) / 2, width), width)
    ay, by = _axis_range(y0 + half, y1 - half, _zone_index((y0 + y1) / 2, height), height)
    rx = float(rng.uniform(ax, bx)) if bx > ax else (x0 + x1) / 2
    ry = float(rng.uniform(ay, by)) if by > ay else (y0 + y1) / 2
    return (rx - half, ry - half, rx + half, ry + half), size


def place_object(
    rng: np.random.Generator,
    cell: Box,
    width: int,
    height: int,
    shape: str,
    color: str,
    small: bool = False,
) -> ObjectSpec:
    """Choose a size and centre for an object inside a pixel ``cell``.

    The object keeps a margin of at least 1.5 px from the cell's sides (anti-aliasing and
    the triangle's corners reach about 1.1 px past the ideal outline) and its centre stays in
    the zone of the cell's centre, so its spatial word is the cell's. A ``small`` object is
    ``SMALL_SIZE`` of the canvas and gets a small cell of its own inside ``cell`` (see
    :func:`_small_cell`); the object's ``cell`` is then that small one.
    """
    small_size = None
    if small:
        cell, small_size = _small_cell(rng, cell, width, height)
    x0, y0, x1, y1 = cell
    side = min(x1 - x0, y1 - y0)
    margin = max(1.5, 0.05 * side)
    if small_size is None:
        full = side >= 0.99 * min(width, height)
        lo_frac, hi_frac = (0.3, 0.6) if full else (0.45, 0.85)
        size = min(rng.uniform(lo_frac, hi_frac) * side, side - 2 * margin)
    else:
        size = min(small_size, side - 2 * margin)
    size = max(size, 2.0)
    half = size / 2 + margin
    zx = _zone_index((x0 + x1) / 2, width)
    zy = _zone_index((y0 + y1) / 2, height)
    ax, bx = _axis_range(x0 + half, x1 - half, zx, width)
    ay, by = _axis_range(y0 + half, y1 - half, zy, height)
    cx = float(rng.uniform(ax, bx)) if bx > ax else (x0 + x1) / 2
    cy = float(rng.uniform(ay, by)) if by > ay else (y0 + y1) / 2
    return ObjectSpec(shape=shape, color=color, cx=cx, cy=cy, size=float(size), cell=cell)


def sample_scene_spec(
    rng: np.random.Generator,
    width: int = 128,
    height: int | None = None,
    n_objects: int | None = None,
    max_objects: int = DEFAULT_MAX_OBJECTS,
    small_fraction: float = 0.0,
) -> SceneSpec:
    """Sample a scene: background, objects, their cells and looks.

    ``n_objects`` fixes the count (1-6), else it is uniform over 1 to ``max_objects``. Each
    object is small with probability ``small_fraction`` (a random number is drawn per
    object only when it is strictly between 0 and 1, so the default draws what it always
    did). An object's colour is never its background's colour; objects may share colours
    or shapes.
    """
    height = width if height is None else height
    if not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"max_objects must be 1 to {MAX_OBJECTS}, got {max_objects}")
    if not 0.0 <= small_fraction <= 1.0:
        raise ValueError(f"small_fraction must be in [0, 1], got {small_fraction}")
    n = int(rng.integers(1, max_objects + 1)) if n_objects is None else n_objects
    cells = sample_cells(rng, n)
    background = COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
    others = [c for c in COLOR_NAMES if c != background]
    objects = []
    for fx0, fy0, fx1, fy1 in cells:
        cell = (fx0 * width, fy0 * height, fx1 * width, fy1 * height)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        color = others[int(rng.integers(len(others)))]
        small = small_fraction >= 1.0 or (small_fraction > 0.0 and rng.random() < small_fraction)
        objects.append(place_object(rng, cell, width, height, shape, color, small))
    return SceneSpec(width=width, height=height, background=background, objects=tuple(objects))
