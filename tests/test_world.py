"""The shapes world: deterministic scenes whose ground truth matches their pixels."""

from __future__ import annotations

import numpy as np
import pytest

from pakati_engine.world import (
    COLOR_NAMES,
    COLORS,
    SHAPES,
    generate_batch,
    make_scene,
    spatial_phrase,
    spatial_word,
)


def test_canonical_colours_are_the_issue_values() -> None:
    assert COLORS == {
        "red": (215, 38, 38),
        "orange": (245, 140, 30),
        "yellow": (240, 220, 40),
        "green": (40, 170, 70),
        "blue": (40, 80, 220),
        "purple": (140, 60, 180),
        "white": (245, 245, 245),
        "black": (20, 20, 20),
    }


def test_same_seed_same_scene_and_different_seed_differs() -> None:
    a, b, c = make_scene(7), make_scene(7), make_scene(8)
    assert np.array_equal(a.image, b.image)
    assert a.caption == b.caption
    assert [o.box for o in a.objects] == [o.box for o in b.objects]
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_ground_truth_matches_pixels(size: int) -> None:
    for seed in range(40):
        scene = make_scene(seed, size)
        assert scene.image.shape == (size, size, 3)
        assert scene.image.dtype == np.uint8
        assert 1 <= len(scene.objects) <= 4
        words = [o.position for o in scene.objects]
        assert len(set(words)) == len(words), "spatial words must be unique within a scene"
        for obj in scene.objects:
            assert obj.shape in SHAPES and obj.color in COLOR_NAMES
            assert obj.color != scene.background
            # The object's centre pixel has exactly its canonical colour.
            cx, cy = obj.center
            assert tuple(scene.image[int(cy), int(cx)]) == COLORS[obj.color]
            # Mask lies inside the object box, which lies inside the region cell and the canvas.
            x0, y0, x1, y1 = obj.box
            rx0, ry0, rx1, ry1 = obj.region
            assert 0 <= rx0 <= x0 < x1 <= rx1 <= size and 0 <= ry0 <= y0 < y1 <= ry1 <= size
            outside = obj.mask.copy()
            outside[y0:y1, x0:x1] = 0
            assert outside.max() == 0 and obj.mask.max() == 1.0
            # Spatial word is the one of the object's centre and appears in the caption.
            assert obj.position == spatial_word(cx, cy, size, size)
            assert f"{obj.caption} {spatial_phrase(obj.position)}" in scene.caption
        # Pixels no object touches are exactly the background colour.
        covered = np.sum([o.mask for o in scene.objects], axis=0) > 0
        assert (scene.image[~covered] == COLORS[scene.background]).all()
        assert scene.caption.endswith(f" {scene.background} background")


def test_region_cells_are_disjoint_and_contain_their_object() -> None:
    for seed in range(100):
        scene = make_scene(seed, 64)
        cover = np.zeros((64, 64), dtype=int)
        for region in scene.region_layout:
            x0, y0, x1, y1 = region.box
            cover[y0:y1, x0:x1] += 1
        assert cover.max() == 1
        for region, obj in zip(scene.region_layout, scene.objects, strict=True):
            assert region.prompt == obj.caption and region.shape == obj.shape


def test_caption_wording() -> None:
    scene = next(make_scene(s) for s in range(200) if len(make_scene(s).objects) == 2)
    left_right = {o.position for o in scene.objects}
    assert " and " in scene.caption and scene.caption.count(", on a") == 1
    assert all(spatial_phrase(w) in scene.caption for w in left_right)
    assert spatial_word(5, 5, 100, 100) == "top left"
    assert spatial_word(50, 50, 100, 100) == "centre"
    assert spatial_word(90, 50, 100, 100) == "right"
    assert spatial_phrase("left") == "on the left"
    orange = next(
        make_scene(s)
        for s in range(500)
        if any(o.color == "orange" for o in make_scene(s, 32).objects)
    )
    assert "an orange" in orange.caption


def test_object_count_can_be_fixed_and_sizes_vary() -> None:
    sizes: set[int] = set()
    for seed in range(30):
        scene = make_scene(seed, 128, n_objects=3)
        assert len(scene.objects) == 3
        sizes.update(round(o.size) for o in scene.objects)
    assert len(sizes) > 10


def test_batch_matches_single_scene_records() -> None:
    batch = generate_batch(np.random.default_rng(3), 16, 64)
    assert batch.images.shape == (16, 64, 64, 3)
    assert batch.alphas.shape == (16, 4, 64, 64)
    for i in range(16):
        scene = batch.scene(i)
        assert scene.caption == batch.captions[i]
        n = int(batch.n_objects[i])
        assert (batch.shape_ids[i, n:] == -1).all() and (batch.shape_ids[i, :n] >= 0).all()
        assert batch.object_captions[i] == tuple(o.caption for o in scene.objects)
        assert [tuple(r) for r in batch.regions[i, :n]] == [o.region for o in scene.objects]
    again = generate_batch(np.random.default_rng(3), 16, 64)
    assert np.array_equal(again.images, batch.images)
