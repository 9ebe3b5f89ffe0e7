"""A reference's description as a Pakati layout (its "pathway"): background plus one box
region per object, in the shapes world's words.

Two sources: the truth (a shapes-world scene, or a reference's ``metadata``: the oracle),
and what a learner inferred from the pixels it has seen (:func:`infer_description`): the
background colour of the seen pixels; unseen pixels filled by biharmonic inpainting; every
foreground component of which at least ``MOSTLY_SEEN`` of its pixels was seen, named by the
analytic judge (colour and shape) with its box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import Layout, RegionSpec
from pakati_engine.world.colors import article, nearest_color
from pakati_engine.world.goal_judge import MIN_OBJECT_AREA
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.scene import Scene, object_caption

Box = tuple[int, int, int, int]
GROW = 4
"""Pixels added around an object's tight box to make its regional-prompt box."""
MOSTLY_SEEN = 0.8
"""An object is described when at least this fraction of its pixels was seen."""


@dataclass(frozen=True)
class DescribedObject:
    color: str
    shape: str
    box: Box
    """(x0, y0, x1, y1) pixels, exclusive ends: the object's regional-prompt box."""

    def to_dict(self) -> dict[str, Any]:
        return {"color": self.color, "shape": self.shape, "box": list(self.box)}


@dataclass(frozen=True)
class SceneDescription:
    background: str
    objects: tuple[DescribedObject, ...] = field(default_factory=tuple)

    @property
    def base_prompt(self) -> str:
        return f"{article(self.background)} {self.background} background"

    def to_layout(self, width: int, height: int, model: str, seed: int, **settings: Any) -> Layout:
        """The layout that draws this description: the pathway."""
        return Layout(
            width=width,
            height=height,
            model=model,
            seed=seed,
            base_prompt=self.base_prompt,
            regions=[
                RegionSpec(
                    name=f"object-{i + 1}", box=o.box, prompt=object_caption(o.color, o.shape)
                )
                for i, o in enumerate(self.objects)
            ],
            **settings,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"background": self.background, "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneDescription:
        try:
            objects = tuple(
                DescribedObject(str(o["color"]), str(o["shape"]), tuple(int(v) for v in o["box"]))  # type: ignore[arg-type]
                for o in data.get("objects", [])
            )
            return cls(str(data["background"]), objects)
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"a description needs 'background' and 'objects' [{{color, shape, box}}] ({err})"
            ) from err


def _grown(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0, x0 - GROW), max(0, y0 - GROW), min(width, x1 + GROW), min(height, y1 + GROW))


def describe_scene(scene: Scene) -> SceneDescription:
    """The true description of a shapes-world scene, in the form a learner writes it: each
    object's tight box grown by ``GROW`` px (so a learner that recovers every object exactly
    writes the same description; with the larger layout cells the model draws objects
    differently and a learner's tighter boxes reproduce the reference better than the truth)."""
    return SceneDescription(
        scene.background,
        tuple(
            DescribedObject(o.color, o.shape, _grown(o.box, scene.width, scene.height))
            for o in scene.objects
        ),
    )


def infer_description(image: NDArray[np.uint8], seen: NDArray[np.bool_]) -> SceneDescription:
    """What can be told from the ``seen`` pixels of ``image`` (see the module docstring)."""
    if not seen.any():
        raise InvalidInputError("nothing has been seen: the learner needs visible pixels")
    from pakati_engine.world.colors import rgb_to_lab
    from pakati_engine.world.judge import FOREGROUND_DELTA_E

    pixels = image[seen].astype(np.float64)
    names = [nearest_color(p)[0] for p in pixels[:: max(1, len(pixels) // 2000)]]
    background = max(set(names), key=names.count)
    filled = image.copy()
    if not seen.all():  # small unseen holes are filled smoothly; objects mostly seen count
        from skimage.restoration import inpaint_biharmonic

        smooth = inpaint_biharmonic(image.astype(np.float64) / 255.0, ~seen, channel_axis=-1)
        filled[~seen] = np.clip(np.round(smooth * 255.0), 0, 255).astype(np.uint8)[~seen]
    lab = rgb_to_lab(filled)
    reference = rgb_to_lab(np.median(pixels, axis=0)[None, None])[0, 0]
    foreground = np.linalg.norm(lab - reference, axis=-1) > FOREGROUND_DELTA_E
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3), bool))
    h, w = seen.shape
    objects = []
    for index in range(1, count + 1):
        component = labels == index
        if component.sum() < MIN_OBJECT_AREA or seen[component].mean() < MOSTLY_SEEN:
            continue  # a speck, or mostly unseen: its shape is not known
        verdict = judge(
            filled, [ExpectedRegion(mask=ndimage.binary_dilation(component))], background
        )
        region = verdict.regions[0]
        if region.color is None or region.shape is None or region.color == background:
            continue
        ys, xs = np.nonzero(component)
        tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        box = _grown(tight, w, h)
        objects.append(DescribedObject(region.color, region.shape, box))
    return SceneDescription(background, tuple(objects))
