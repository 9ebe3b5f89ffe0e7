"""Verdicts of ``pakati eval compositional``: the analytic judge as a layout-free detector.

GenEval judges with a detector, not with the layout, so that a method given no layout (the
plain model) is judged like one given the layout. Here the detector is the shapes world's
analytic judge: every foreground component of the image (pixels far from the border's
colour) is an object, and :func:`pakati_engine.world.judge.judge`, given that component as
its region, names its colour and shape. Task verdicts are then read off the detections.
Leakage uses the judge with the case's boxes, as ``pakati eval regional`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from pakati.evals.comp_tasks import Case
from pakati_engine.world.colors import rgb_to_lab
from pakati_engine.world.judge import FOREGROUND_DELTA_E, ExpectedRegion, estimate_background, judge
from pakati_engine.world.scene import pixel_cell

LEAKAGE_LIMIT = 0.05
"""A region leaks when more than this share of its clean pixels has another region's colour."""
MIN_OBJECT_FRACTION = 0.0012
"""Smallest detected object, as a share of the canvas (20 px on 128 x 128)."""


@dataclass(frozen=True)
class Detection:
    color: str | None
    shape: str | None
    cx: float
    cy: float
    area: int


def detect(image: Image.Image | NDArray[Any]) -> list[Detection]:
    """Every object of the image: its colour, shape, centre and area (largest first)."""
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, np.uint8)
    h, w = rgb.shape[:2]
    lab = rgb_to_lab(rgb)
    _, bg_lab = estimate_background(rgb, lab)
    foreground = np.linalg.norm(lab - bg_lab, axis=-1) > FOREGROUND_DELTA_E
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = [k for k in range(1, count + 1) if sizes[k] >= max(12, MIN_OBJECT_FRACTION * h * w)]
    keep.sort(key=lambda k: -sizes[k])
    if not keep:
        return []
    masks = [labels == k for k in keep]
    verdict = judge(rgb, [ExpectedRegion(mask=m) for m in masks])
    found = []
    for k, mask, region in zip(keep, masks, verdict.regions, strict=True):
        ys, xs = np.nonzero(mask)
        found.append(
            Detection(region.color, region.shape, float(xs.mean()), float(ys.mean()), int(sizes[k]))
        )
    return found


def _find(found: list[Detection], shape: str, color: str | None = None) -> Detection | None:
    for d in found:  # largest first
        if d.shape == shape and (color is None or d.color == color):
            return d
    return None


def _relation_holds(a: Detection, relation: str, b: Detection) -> bool:
    dx, dy = b.cx - a.cx, b.cy - a.cy
    return {
        "left of": dx > abs(dy) * 0.5 and dx > 0,
        "right of": -dx > abs(dy) * 0.5 and dx < 0,
        "above": dy > abs(dx) * 0.5 and dy > 0,
        "below": -dy > abs(dx) * 0.5 and dy < 0,
    }[relation]


def task_verdict(case: Case, image: Image.Image | NDArray[Any]) -> dict[str, Any]:
    """``{"ok": bool, ...details}`` for a compositional or leakage case and its image."""
    objects = case.spec.objects
    if case.task == "leakage":
        expected = [
            ExpectedRegion(box=pixel_cell(o), shape=o.shape, color=o.color) for o in objects
        ]
        leaks = [round(r.leakage, 4) for r in judge(image, expected, case.spec.background).regions]
        return {"ok": max(leaks) <= LEAKAGE_LIMIT, "leakage": leaks}
    found = detect(image)
    seen = [f"{d.color} {d.shape}" for d in found]
    details: dict[str, Any] = {"detected": seen}
    if case.task == "single_object" or case.task == "two_objects":
        ok = all(_find(found, o.shape) is not None for o in objects)
    elif case.task in ("colors", "color_attribution"):
        ok = all(_find(found, o.shape, o.color) is not None for o in objects)
    elif case.task == "counting":
        counted = sum(d.shape == objects[0].shape for d in found)
        details["counted"] = counted
        ok = counted == len(objects)
    elif case.task == "position":
        from pakati_engine.world.sampling import spatial_word

        o = objects[0]
        d = _find(found, o.shape)
        expected_word = spatial_word(o.cx, o.cy, case.spec.width, case.spec.height)
        got = None if d is None else spatial_word(d.cx, d.cy, case.spec.width, case.spec.height)
        details["position"] = got
        ok = got == expected_word
    elif case.task == "spatial_relation":
        assert case.relation is not None
        a_index, relation, b_index = case.relation
        a, b = _find(found, objects[a_index].shape), _find(found, objects[b_index].shape)
        ok = a is not None and b is not None and _relation_holds(a, relation, b)
    elif case.task == "sizes":
        assert case.target is not None
        small, big = objects[case.target], objects[1 - case.target]
        ds, db = _find(found, small.shape, small.color), _find(found, big.shape, big.color)
        ok = ds is not None and db is not None and ds.area < db.area
    elif case.task == "negation":
        banned = any(d.color == case.negated for d in found)
        details["negated_found"] = banned
        ok = not banned and all(_find(found, o.shape) is not None for o in objects)
    else:
        raise ValueError(f"task {case.task} has no image verdict")
    return {"ok": bool(ok), **details}


def edit_verdict(
    case: Case,
    before: Image.Image,
    after: Image.Image,
    locked: NDArray[np.bool_],
    outside: NDArray[np.bool_],
) -> dict[str, Any]:
    """Verdict of an edit case: ``locked`` pixels byte-identical (locked_identity), or pixels
    ``outside`` the edited box plus its feather band identical and the edited object now of
    its new colour (edit_locality)."""
    a = np.asarray(before.convert("RGB"))
    b = np.asarray(after.convert("RGB"))
    changed = np.any(a != b, axis=-1)
    if case.task == "locked_identity":
        moved = int((changed & locked).sum())
        return {"ok": moved == 0, "locked_pixels_changed": moved}
    assert case.target is not None and case.new_color is not None
    moved = int((changed & outside).sum())
    o = case.spec.objects[case.target]
    region = ExpectedRegion(box=pixel_cell(o), shape=o.shape, color=case.new_color)
    seen = judge(after, [region], case.spec.background).regions[0]
    return {
        "ok": moved == 0 and seen.color_correct,
        "outside_pixels_changed": moved,
        "edited_color": seen.color,
    }
