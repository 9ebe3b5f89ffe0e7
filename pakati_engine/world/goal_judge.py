"""Judging a whole goal analytically: are the asked objects there, where, how big, and
nothing else?

The regional judge (:mod:`pakati_engine.world.judge`) checks a region it is told about; a
goal's truth says only what should be in the picture ("a red circle in the top left, a
small blue square right of it, on a white background"). So every foreground object is
found first (8-connected components of the pixels unlike the background), each is
described by the regional judge (colour, shape), and the truth's objects are matched to
them. A goal is right when every truth object is matched by an object of its colour and
shape in its named zone (the 3x3 grid of :func:`pakati_engine.world.sampling.spatial_word`),
every stated relation holds between the matched objects' centres, size words hold (a
"small" object's extent is smaller than the unsized ones', a "large" one's larger), nothing else is
drawn, and the background has the asked colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from pakati_engine.world.colors import rgb_to_lab
from pakati_engine.world.judge import (
    FOREGROUND_DELTA_E,
    ExpectedRegion,
    estimate_background,
    judge,
)
from pakati_engine.world.sampling import spatial_word

RelationKind = Literal["left_of", "right_of", "above", "below"]
SMALL_WORDS = ("tiny", "small", "little")
LARGE_WORDS = ("large", "big", "huge")
MIN_OBJECT_AREA = 30
"""Components smaller than this many pixels are specks (edge halos, noise), not objects; the
world's smallest objects cover several times more."""


@dataclass(frozen=True)
class GoalObject:
    color: str
    shape: str
    position: str | None = None
    """A spatial word ("top left", "centre", ...) or None."""
    size: str | None = None
    """A size word ("small", "large", ...) or None."""


@dataclass(frozen=True)
class GoalRelation:
    subject: int
    """Index into the truth's objects."""
    kind: RelationKind
    object: int


@dataclass(frozen=True)
class GoalTruth:
    background: str
    objects: tuple[GoalObject, ...]
    relations: tuple[GoalRelation, ...] = ()


@dataclass(frozen=True)
class FoundObject:
    color: str | None
    shape: str | None
    centroid: tuple[float, float]
    area: int
    box: tuple[int, int, int, int]


@dataclass
class GoalJudgement:
    found: list[FoundObject]
    matches: list[int | None]
    """Per truth object, the index of the found object matched to it (None: missing)."""
    placed: list[bool]
    """Per truth object: matched and in its named zone (True when no zone was named)."""
    relations: list[bool]
    sizes: list[bool]
    background: str
    background_ok: bool
    extras: list[int] = field(default_factory=list)
    """Indices of found objects no truth object claims."""

    @property
    def objects_ok(self) -> list[bool]:
        return [m is not None and p for m, p in zip(self.matches, self.placed, strict=True)]

    @property
    def correct(self) -> bool:
        return (
            all(self.objects_ok)
            and all(self.relations)
            and all(self.sizes)
            and self.background_ok
            and not self.extras
        )


def find_objects(image: Image.Image | NDArray[Any]) -> tuple[str, list[FoundObject]]:
    """The background's colour name and every object in the picture, largest first."""
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    rgb = rgb.astype(np.uint8)
    lab = rgb_to_lab(rgb)
    background, observed = estimate_background(rgb, lab)
    foreground = np.linalg.norm(lab - observed, axis=-1) > FOREGROUND_DELTA_E
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return background, []
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    keep = [i for i in range(1, count + 1) if areas[i] >= MIN_OBJECT_AREA]
    masks = [ndimage.binary_dilation(labels == i, iterations=1) for i in keep]
    described = judge(rgb, [ExpectedRegion(mask=m) for m in masks], background).regions
    found = []
    for index, verdict in zip(keep, described, strict=True):
        if verdict.color == background:
            continue  # a darker or lighter patch of the background, not an object
        ys, xs = np.nonzero(labels == index)
        found.append(
            FoundObject(
                color=verdict.color,
                shape=verdict.shape,
                centroid=(float(xs.mean()) + 0.5, float(ys.mean()) + 0.5),
                area=int(areas[index]),
                box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
            )
        )
    return background, sorted(found, key=lambda f: -f.area)


def judge_goal(image: Image.Image | NDArray[Any], truth: GoalTruth) -> GoalJudgement:
    """Judge ``image`` against ``truth`` (see the module docstring)."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
    width, height = picture.size
    background, found = find_objects(picture)
    matches = _match(truth.objects, found, width, height)
    placed = []
    for obj, match in zip(truth.objects, matches, strict=True):
        placed.append(
            match is not None
            and (obj.position is None or _zone(found[match], width, height) == obj.position)
        )
    relations = [_relation_holds(r, matches, found) for r in truth.relations]
    sizes = _sizes_hold(truth.objects, matches, found)
    claimed = {m for m in matches if m is not None}
    extras = [i for i in range(len(found)) if i not in claimed]
    return GoalJudgement(
        found=found,
        matches=matches,
        placed=placed,
        relations=relations,
        sizes=sizes,
        background=background,
        background_ok=background == truth.background,
        extras=extras,
    )


def _zone(obj: FoundObject, width: int, height: int) -> str:
    return spatial_word(obj.centroid[0], obj.centroid[1], width, height)


def _match(
    objects: Sequence[GoalObject], found: Sequence[FoundObject], width: int, height: int
) -> list[int | None]:
    """Each truth object to an unclaimed found object of its colour and shape, objects with
    a named zone first and preferring one in that zone."""
    matches: list[int | None] = [None] * len(objects)
    taken: set[int] = set()
    order = sorted(range(len(objects)), key=lambda i: objects[i].position is None)
    for i in order:
        obj = objects[i]
        candidates = [
            j
            for j, f in enumerate(found)
            if j not in taken and f.color == obj.color and f.shape == obj.shape
        ]
        if not candidates:
            continue
        in_zone = [j for j in candidates if _zone(found[j], width, height) == obj.position]
        chosen = (in_zone or candidates)[0]
        matches[i] = chosen
        taken.add(chosen)
    return matches


def _relation_holds(
    relation: GoalRelation, matches: Sequence[int | None], found: Sequence[FoundObject]
) -> bool:
    a, b = matches[relation.subject], matches[relation.object]
    if a is None or b is None:
        return False
    return centres_keep(relation.kind, found[a].centroid, found[b].centroid)


def centres_keep(
    kind: RelationKind, first: tuple[float, float], second: tuple[float, float]
) -> bool:
    """Whether an object centred at ``first`` is ``kind`` ("left_of", ...) one at ``second``."""
    (ax, ay), (bx, by) = first, second
    return {"left_of": ax < bx, "right_of": ax > bx, "above": ay < by, "below": ay > by}[kind]


def _sizes_hold(
    objects: Sequence[GoalObject], matches: Sequence[int | None], found: Sequence[FoundObject]
) -> list[bool]:
    """Per truth object with a size word: smaller (larger) than every unsized object.

    Size is extent, the longer side of the object's box, not its area: a triangle covers
    half the area of a square of the same size."""
    plain = [
        _extent(found[m])
        for o, m in zip(objects, matches, strict=True)
        if m is not None and o.size is None
    ]
    results = []
    for obj, match in zip(objects, matches, strict=True):
        if obj.size is None:
            continue
        if match is None:
            results.append(False)
        elif obj.size in SMALL_WORDS:
            results.append(all(_extent(found[match]) < side for side in plain))
        elif obj.size in LARGE_WORDS:
            results.append(all(_extent(found[match]) > side for side in plain))
    return results


def _extent(obj: FoundObject) -> int:
    x0, y0, x1, y1 = obj.box
    return max(x1 - x0, y1 - y0)
