"""Does a region's ControlNet decide its object's shape? Judged on the shapes world.

Each case is a world scene drawn as a layout: one box region per object at its cell, the
background as the base prompt. In the *controlled* arm one object (the target) is described
by its colour only ("a red object") and gets the outline of its true shape, inside its box
only, through the ControlNet; in the *uncontrolled* arm it has the same colour-only prompt
and no control, so its shape is left to chance. The other objects keep their full captions
and no control. The analytic judge then reads every object's colour and shape.

With a working ControlNet the target's shape accuracy is high with control and near chance
(1 / number of shapes) without; the other objects' accuracy says whether the control stayed
inside its region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pakati_engine.control.inputs import encode_control_png
from pakati_engine.control.preprocess import outline_map
from pakati_engine.generation import generate_layout
from pakati_engine.layout import ControlSpec, Layout, RegionSpec
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.world.colors import article
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.render import render
from pakati_engine.world.sampling import SHAPES, ObjectSpec, SceneSpec, sample_scene_spec
from pakati_engine.world.scene import color_only_prompt, object_caption, pixel_cell

CONTROLNET = "pakati-shapes-outline"


@dataclass(frozen=True)
class ControlCase:
    spec: SceneSpec
    target: int
    """Index of the object whose shape the control gives."""
    seed: int


def sample_control_cases(
    n: int, seed: int = 0, size: int = 128, min_objects: int = 1, max_objects: int = 3
) -> list[ControlCase]:
    """``n`` seeded cases (same seed, same cases)."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        count = int(rng.integers(min_objects, max_objects + 1))
        spec = sample_scene_spec(rng, size, size, count)
        cases.append(ControlCase(spec, int(rng.integers(count)), int(rng.integers(2**31))))
    return cases


def outline_of(spec: SceneSpec, index: int) -> Image.Image:
    """The canvas-sized outline map of object ``index`` alone (black elsewhere)."""
    images, _ = render([spec])
    outline = np.asarray(outline_map(images[0]))
    placed = np.zeros_like(outline)
    x0, y0, x1, y1 = pixel_cell(spec.objects[index])
    placed[y0:y1, x0:x1] = outline[y0:y1, x0:x1]
    return Image.fromarray(placed)


def outline_in_box(
    shape: str, box: tuple[int, int, int, int], size: int = 128, side: int = 36
) -> Image.Image:
    """The canvas-sized outline map of one ``shape`` of ``side`` px centred in ``box``."""
    x0, y0, x1, y1 = box
    obj = ObjectSpec(shape, "red", (x0 + x1) / 2, (y0 + y1) / 2, side, (x0, y0, x1, y1))
    images, _ = render([SceneSpec(size, size, "white", (obj,))])
    return outline_map(images[0])


def case_layout(
    case: ControlCase,
    model: str,
    controlled: bool,
    controlnet: str = CONTROLNET,
    settings: dict[str, Any] | None = None,
    outline: Image.Image | None = None,
) -> Layout:
    """The layout of a case; ``outline`` replaces the target's true outline when given."""
    settings = settings or {}
    regions = []
    for index, obj in enumerate(case.spec.objects):
        control = None
        prompt = object_caption(obj.color, obj.shape)
        if index == case.target:
            prompt = color_only_prompt(obj.color)
            if controlled:
                picture = outline if outline is not None else outline_of(case.spec, index)
                control = ControlSpec(controlnet=controlnet, image_png=encode_control_png(picture))
        regions.append(
            RegionSpec(
                name=f"object-{index + 1}", box=pixel_cell(obj), prompt=prompt, control=control
            )
        )
    background = case.spec.background
    return Layout(
        width=case.spec.width,
        height=case.spec.height,
        model=model,
        steps=int(settings.get("steps", 20)),
        guidance_scale=float(settings.get("guidance_scale", 3.0)),
        base_ratio=float(settings.get("base_ratio", 0.2)),
        seed=case.seed,
        base_prompt=f"{article(background)} {background} background",
        regions=regions,
    )


def judge_case(case: ControlCase, image: Image.Image) -> dict[str, Any]:
    expected = [
        ExpectedRegion(box=pixel_cell(o), shape=o.shape, color=o.color) for o in case.spec.objects
    ]
    verdict = judge(image, expected, case.spec.background)
    target = verdict.regions[case.target]
    others = [r for k, r in enumerate(verdict.regions) if k != case.target]
    return {
        "target_shape": bool(target.shape_correct),
        "target_color": bool(target.color_correct),
        "others_both": [bool(r.shape_correct and r.color_correct) for r in others],
    }


def run_control_eval(
    bundle: ModelBundle,
    n: int,
    seed: int = 0,
    controlnet: str = CONTROLNET,
    settings: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Target shape accuracy with and without control, and the other objects' accuracy."""
    cases = sample_control_cases(n, seed, int(bundle.recommended.get("width", 128)))
    arms: dict[str, list[dict[str, Any]]] = {"controlled": [], "uncontrolled": []}
    for done, case in enumerate(cases):
        for arm, results in arms.items():
            layout = case_layout(case, bundle.source, arm == "controlled", controlnet, settings)
            image = generate_layout(bundle, layout).image
            results.append(judge_case(case, image))
        if progress is not None:
            progress(done + 1, len(cases))
    summary: dict[str, Any] = {"n": n, "seed": seed, "chance": round(1 / len(SHAPES), 3)}
    for arm, results in arms.items():
        others = [ok for r in results for ok in r["others_both"]]
        summary[arm] = {
            "target_shape": round(float(np.mean([r["target_shape"] for r in results])), 4),
            "target_color": round(float(np.mean([r["target_color"] for r in results])), 4),
            "others_both": round(float(np.mean(others)), 4) if others else None,
        }
    return summary
