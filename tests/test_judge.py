"""The analytic judge: right on clean shapes-world scenes, and it notices what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from pakati_engine.world import COLORS, Scene, make_scene
from pakati_engine.world.judge import ExpectedRegion, judge, judge_scene
from pakati_engine.world.render import render
from pakati_engine.world.sampling import ObjectSpec, SceneSpec
from pakati_engine.world.scene import build_scene
from pakati_engine.world.shape_geometry import shape_template, template_ious


@pytest.mark.parametrize("size", [128, 64])
def test_clean_scenes_are_judged_right(size: int) -> None:
    color, shape, both, background, leakage = [], [], [], [], []
    for seed in range(200):
        j = judge_scene(make_scene(seed, size))
        color += [v.color_correct for v in j.regions]
        shape += [v.shape_correct for v in j.regions]
        both += [v.correct for v in j.regions]
        background.append(j.background_correct)
        leakage.append(j.leakage)
    assert len(both) > 400
    assert np.mean(color) >= 0.98
    assert np.mean(shape) >= 0.98
    assert np.mean(both) >= 0.98
    assert np.mean(background) >= 0.98
    assert np.mean(leakage) < 0.01


@pytest.mark.parametrize("n_objects", [5, 6])
def test_clean_five_and_six_object_scenes_are_judged_right(n_objects: int) -> None:
    verdicts = [
        v for seed in range(40) for v in judge_scene(make_scene(seed, 128, n_objects)).regions
    ]
    assert len(verdicts) == 40 * n_objects
    assert np.mean([v.correct for v in verdicts]) >= 0.98


def test_small_objects_are_told_apart_on_clean_renders() -> None:
    """Objects of 10-20 px on 128 px (the world's small ones) in their small boxes: present,
    right colour and shape, as often as normal-sized ones."""
    verdicts, sizes = [], []
    for seed in range(120):
        scene = make_scene(seed, 128, n_objects=1 + seed % 6, small_fraction=1.0)
        verdicts += list(judge_scene(scene).regions)
        sizes += [o.size for o in scene.objects]
    assert min(sizes) < 11 and len(verdicts) > 350
    assert np.mean([v.present for v in verdicts]) == 1.0
    assert np.mean([v.color_correct for v in verdicts]) >= 0.98
    assert np.mean([v.shape_correct for v in verdicts]) >= 0.98


@pytest.mark.parametrize("side", [10.0, 12.0])
def test_each_shape_is_recognised_at_ten_and_twelve_pixels(side: float) -> None:
    for shape in ("circle", "square", "triangle"):
        for k in range(8):  # sub-pixel offsets change the anti-aliasing
            cx, cy = 20.0 + k / 8, 20.0 + (k * 3 % 8) / 8
            cell = (cx - side, cy - side, cx + side, cy + side)
            spec = SceneSpec(40, 40, "white", (ObjectSpec(shape, "red", cx, cy, side, cell),))
            images, alphas = render([spec])
            verdict = judge_scene(build_scene(spec, images[0], alphas[0], None)).regions[0]
            assert verdict.present and verdict.color == "red"
            assert verdict.shape == shape, (shape, side, k)


def test_object_box_and_aggregates() -> None:
    scene = make_scene(11, 128)
    j = judge_scene(scene)
    assert j.accuracy_both == 1.0 and j.accuracy_color == 1.0 and j.accuracy_shape == 1.0
    assert j.background == scene.background and j.background_correct is True
    for verdict, obj in zip(j.regions, scene.objects, strict=True):
        assert verdict.present and verdict.object_box is not None
        assert max(abs(a - b) for a, b in zip(verdict.object_box, obj.box, strict=True)) <= 1
        assert verdict.color_distance < 5.0


def test_blank_image_has_no_objects() -> None:
    blank = np.zeros((96, 96, 3), dtype=np.uint8)
    blank[:] = COLORS["green"]
    regions = [
        ExpectedRegion(box=(0, 0, 48, 96), shape="circle", color="red"),
        ExpectedRegion(box=(48, 0, 96, 96), shape="square", color="blue"),
    ]
    j = judge(blank, regions, background="green")
    assert not any(v.present for v in j.regions)
    assert j.accuracy_color == j.accuracy_shape == j.accuracy_both == 0.0
    assert j.background == "green" and j.background_correct
    j2 = judge(blank, regions, background="white")
    assert j2.background_correct is False


def _first_scene(predicate: Callable[[Scene], bool], size: int = 128) -> Scene:
    return next(s for s in (make_scene(seed, size) for seed in range(1000)) if predicate(s))


def test_wrong_colour_painted_in_is_caught() -> None:
    scene = _first_scene(lambda s: len(s.objects) >= 2)
    target = scene.objects[0]
    new = next(
        c for c in ("purple", "yellow", "green") if c not in (target.color, scene.background)
    )
    image = scene.image.astype(np.float64)
    alpha = target.mask[..., None]
    image = image * (1 - alpha) + np.array(COLORS[new]) * alpha
    j = judge_scene(scene, np.rint(image).astype(np.uint8))
    first, rest = j.regions[0], j.regions[1:]
    assert first.present and first.color == new and not first.color_correct
    assert first.shape_correct
    assert all(v.correct for v in rest)
    assert j.accuracy_color == pytest.approx((len(scene.objects) - 1) / len(scene.objects))


def test_wrong_shape_is_caught() -> None:
    scene = _first_scene(lambda s: s.objects[0].shape == "circle" and s.objects[0].size > 30)
    assert scene.spec is not None
    objs = list(scene.spec.objects)
    for new_shape in ("square", "triangle"):
        objs[0] = replace(objs[0], shape=new_shape)
        spec = replace(scene.spec, objects=tuple(objs))
        images, alphas = render([spec])
        j = judge_scene(scene, build_scene(spec, images[0], alphas[0], None).image)
        assert j.regions[0].shape == new_shape and not j.regions[0].shape_correct
        assert j.regions[0].color_correct


def test_colour_leaking_into_another_region_is_measured() -> None:
    scene = _first_scene(
        lambda s: len(s.objects) == 2 and s.objects[0].color != s.objects[1].color, size=128
    )
    assert judge_scene(scene).leakage == 0.0
    a, b = scene.objects
    # Paint a patch of A's colour in an empty corner of B's cell.
    bx0, by0, bx1, by1 = b.region
    image = scene.image.copy()
    patch = None
    for y in range(by0 + 2, by1 - 12):
        for x in range(bx0 + 2, bx1 - 12):
            if b.mask[y - 2 : y + 12, x - 2 : x + 12].max() == 0:
                patch = (x, y)
                break
        if patch:
            break
    assert patch is not None
    x, y = patch
    image[y : y + 10, x : x + 10] = COLORS[a.color]
    j = judge_scene(scene, image)
    va, vb = j.regions
    assert vb.leakage > 0.05  # a share of B's object pixels has A's colour
    assert va.leakage_out > 0.05  # a share of A's colour lies outside A
    assert va.leakage == 0.0 and va.correct and vb.correct
    assert j.leakage == pytest.approx((va.leakage + vb.leakage) / 2)


def test_mask_regions_match_box_regions() -> None:
    scene = make_scene(5, 64)
    by_box = judge_scene(scene)
    regions = []
    for r in scene.region_layout:
        mask = np.zeros((64, 64), dtype=bool)
        x0, y0, x1, y1 = r.box
        mask[y0:y1, x0:x1] = True
        regions.append(ExpectedRegion(mask=mask, shape=r.shape, color=r.color))
    by_mask = judge(scene.image, regions, scene.background)
    assert [v.correct for v in by_mask.regions] == [v.correct for v in by_box.regions]
    with pytest.raises(ValueError):
        judge(scene.image, [ExpectedRegion(shape="circle", color="red")])


def _wobble(image: np.ndarray, rng: np.random.Generator, rms: float) -> np.ndarray:
    """Displace every pixel by a smooth random field of ``rms`` pixels: wavy outlines, like a
    generated object's, on shapes whose true class is known."""
    h, w = image.shape[:2]
    fields = [ndimage.gaussian_filter(rng.standard_normal((h, w)), 4.0) for _ in range(2)]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = [yy + fields[0] / fields[0].std() * rms, xx + fields[1] / fields[1].std() * rms]
    channels = [
        ndimage.map_coordinates(image[..., c].astype(np.float64), coords, order=1, mode="nearest")
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def test_wavy_outlines_keep_their_shape() -> None:
    # A square whose edges wander by a pixel or two has a wider bounding box (fill ratio ~0.8,
    # a disc's); the moment-matched templates still call it a square. (A bounding-box fill-ratio
    # rule scored 0.80 on these scenes, the templates 0.99.)
    rng = np.random.default_rng(0)
    shape = []
    for seed in range(60):
        scene = make_scene(seed, 128)
        j = judge_scene(scene, _wobble(scene.image, rng, rms=1.5))
        shape += [v.shape_correct for v in j.regions]
    assert len(shape) > 150
    assert np.mean(shape) >= 0.97


@pytest.mark.parametrize(
    ("shape", "width", "height"),
    [("square", 40, 40), ("square", 44, 20), ("circle", 36, 36), ("circle", 20, 40),
     ("triangle", 30, 30), ("triangle", 16, 16)],
)  # fmt: skip
def test_templates_fit_their_own_shape_best(shape: str, width: int, height: int) -> None:
    coverage = np.zeros((64, 64))
    coverage[:] = shape_template(shape, 31.0, 30.0, width, height, (64, 64))
    ious = template_ious(coverage)
    assert max(ious, key=lambda name: ious[name]) == shape
    assert ious[shape] > 0.95
    assert all(ious[shape] - iou > 0.08 for name, iou in ious.items() if name != shape)
