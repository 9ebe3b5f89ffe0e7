"""Shapes-world scenes: the ``Scene`` record, captions and the seeded scene factory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pakati_engine.world.colors import article
from pakati_engine.world.render import render
from pakati_engine.world.sampling import (
    SPATIAL_WORDS,
    ObjectSpec,
    SceneSpec,
    sample_scene_spec,
    spatial_phrase,
    spatial_word,
)

PixelBox = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in pixels; x1 and y1 are exclusive, so the box is image[y0:y1, x0:x1]."""


@dataclass(frozen=True)
class SceneObject:
    """One drawn object and its ground truth."""

    shape: str
    color: str
    box: PixelBox
    """Tight box around every pixel the object touches (coverage > 0)."""
    mask: NDArray[np.float32]
    """(H, W) coverage in [0, 1]; anti-aliased edges have fractional values."""
    region: PixelBox
    """The layout cell the object was placed in; contains ``box``."""
    position: str
    """Spatial word of the object's centre: "top left", "centre", "right", ..."""
    center: tuple[float, float]
    size: float
    """Side of the object's ideal bounding box in pixels."""

    @property
    def caption(self) -> str:
        """Per-object caption: "a red circle"."""
        return object_caption(self.color, self.shape)


@dataclass(frozen=True)
class LayoutRegion:
    """A regional-prompt box for one object: the object's cell and what to draw there."""

    box: PixelBox
    prompt: str
    shape: str
    color: str


@dataclass(frozen=True)
class Scene:
    """A rendered scene with everything a judge or a trainer needs to know about it."""

    image: NDArray[np.uint8]
    """(H, W, 3) RGB."""
    objects: tuple[SceneObject, ...]
    background: str
    caption: str
    seed: int | None = None
    spec: SceneSpec | None = None
    """The spec the scene was rendered from (re-render it altered with ``dataclasses.replace``)."""

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def region_layout(self) -> tuple[LayoutRegion, ...]:
        """One box region per object (its cell), usable as a regional prompt layout."""
        return tuple(LayoutRegion(o.region, o.caption, o.shape, o.color) for o in self.objects)


def object_caption(color: str, shape: str) -> str:
    """ "a red circle", "an orange square"."""
    return f"{article(color)} {color} {shape}"


def color_only_prompt(color: str) -> str:
    """An object named by its colour, not its shape: "a red object" (its shape comes from a
    control map)."""
    return f"{article(color)} {color} object"


def _reading_order(word: str) -> int:
    return SPATIAL_WORDS.index(word)


def scene_caption(objects: list[tuple[str, str, str]], background: str) -> str:
    """Whole-scene caption from (colour, shape, spatial word) triples, in reading order.

    "a red circle on the left and a blue square on the right, on a white background".
    """
    ordered = sorted(objects, key=lambda o: _reading_order(o[2]))
    parts = [f"{object_caption(c, s)} {spatial_phrase(w)}" for c, s, w in ordered]
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{body}, on {article(background)} {background} background"


def object_position(obj: ObjectSpec, width: int, height: int) -> str:
    return spatial_word(obj.cx, obj.cy, width, height)


def spec_caption(spec: SceneSpec) -> str:
    """The whole-scene caption of a spec (no rendering needed)."""
    triples = [
        (o.color, o.shape, object_position(o, spec.width, spec.height)) for o in spec.objects
    ]
    return scene_caption(triples, spec.background)


def pixel_cell(obj: ObjectSpec) -> PixelBox:
    """Integer box of an object's cell; adjacent cells partition the pixel grid."""
    x0, y0, x1, y1 = obj.cell
    return (round(x0), round(y0), round(x1), round(y1))


def tight_box(mask: NDArray[np.float32]) -> PixelBox:
    """Tight (x0, y0, x1, y1) box of the non-zero pixels of a mask; (0, 0, 0, 0) if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def build_scene(
    spec: SceneSpec, image: NDArray[np.uint8], alphas: NDArray[np.float32], seed: int | None
) -> Scene:
    """Assemble a ``Scene`` from a spec and its rendered image and coverage (K, H, W)."""
    objects = []
    for k, o in enumerate(spec.objects):
        mask = alphas[k].copy()
        objects.append(
            SceneObject(
                shape=o.shape,
                color=o.color,
                box=tight_box(mask),
                mask=mask,
                region=pixel_cell(o),
                position=object_position(o, spec.width, spec.height),
                center=(o.cx, o.cy),
                size=o.size,
            )
        )
    return Scene(
        image=image,
        objects=tuple(objects),
        background=spec.background,
        caption=spec_caption(spec),
        seed=seed,
        spec=spec,
    )


def make_scene(
    seed: int,
    size: int | tuple[int, int] = 128,
    n_objects: int | None = None,
    small_fraction: float = 0.0,
) -> Scene:
    """Render the scene of a seed: same seed and size, same scene, on any machine.

    ``size`` is a side or (width, height); ``n_objects`` fixes the object count (1-6; by
    default 1-4); ``small_fraction`` is each object's chance of being small (default none).
    """
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    spec = sample_scene_spec(rng, width, height, n_objects, small_fraction=small_fraction)
    images, alphas = render([spec])
    return build_scene(spec, images[0], alphas[0], seed)
