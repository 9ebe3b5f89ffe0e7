"""The shapes world: deterministic scenes whose ground truth matches their pixels."""

from __future__ import annotations

import hashlib

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
from pakati_engine.world.sampling import SMALL_SIZE, sample_cells, sample_scene_spec
from pakati_engine.world.scene import Scene


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
    assert batch.alphas.shape == (16, 6, 64, 64)  # padded to the most objects a scene has
    for i in range(16):
        scene = batch.scene(i)
        assert scene.caption == batch.captions[i]
        n = int(batch.n_objects[i])
        assert (batch.shape_ids[i, n:] == -1).all() and (batch.shape_ids[i, :n] >= 0).all()
        assert batch.object_captions[i] == tuple(o.caption for o in scene.objects)
        assert [tuple(r) for r in batch.regions[i, :n]] == [o.region for o in scene.objects]
    again = generate_batch(np.random.default_rng(3), 16, 64)
    assert np.array_equal(again.images, batch.images)


def _zone(value: float) -> int:
    return min(2, int(3 * value))


def _check_layout(scene: Scene) -> None:
    """Disjoint cells containing their objects, unique spatial words, words in the caption."""
    size = scene.width
    cover = np.zeros((size, size), dtype=int)
    for obj in scene.objects:
        x0, y0, x1, y1 = obj.region
        cover[y0:y1, x0:x1] += 1
        bx0, by0, bx1, by1 = obj.box
        assert 0 <= x0 <= bx0 < bx1 <= x1 <= size and 0 <= y0 <= by0 < by1 <= y1 <= size
        assert f"{obj.caption} {spatial_phrase(obj.position)}" in scene.caption
    assert cover.max() == 1
    words = [o.position for o in scene.objects]
    assert len(set(words)) == len(words)


def test_old_seeds_keep_their_scenes() -> None:
    """1-4-object scenes and the regional benchmark's layouts are those of the world before
    five- and six-object scenes and small objects (committed eval figures stay comparable)."""
    digest = hashlib.sha256()
    for seed in range(50):
        scene = make_scene(seed, 128)
        digest.update(scene.caption.encode())
        digest.update(repr([(o.region, o.box) for o in scene.objects]).encode())
    expected = "13053865e8c48ebdf659f42c33f932e4bfeaf5997ae095be3e037ed636d42d09"
    assert digest.hexdigest() == expected
    counts = {len(make_scene(seed).objects) for seed in range(100)}
    assert counts == {1, 2, 3, 4}  # the default count range is unchanged


@pytest.mark.parametrize("n", [5, 6])
@pytest.mark.parametrize("size", [64, 128])
def test_five_and_six_object_scenes(n: int, size: int) -> None:
    for seed in range(60):
        scene = make_scene(seed, size, n_objects=n)
        assert len(scene.objects) == n
        _check_layout(scene)
        assert np.array_equal(scene.image, make_scene(seed, size, n_objects=n).image)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_every_template_puts_cell_centres_in_distinct_zones(n: int) -> None:
    rng = np.random.default_rng(n)
    shapes = set()
    for _ in range(300):
        cells = sample_cells(rng, n)
        zones = {(_zone((x0 + x1) / 2), _zone((y0 + y1) / 2)) for x0, y0, x1, y1 in cells}
        assert len(zones) == n
        for i, a in enumerate(cells):  # disjoint: no two cells share an area
            for b in cells[i + 1 :]:
                assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])
        shapes.add(tuple(sorted(zones)))
    if n == 5:  # the four corners and the centre, and a row of three over a row of two
        assert ((0, 0), (0, 2), (1, 1), (2, 0), (2, 2)) in shapes
        assert ((0, 0), (0, 2), (1, 0), (2, 0), (2, 2)) in shapes
    if n == 6:  # two rows of three and two columns of three
        assert ((0, 0), (0, 2), (1, 0), (1, 2), (2, 0), (2, 2)) in shapes
        assert ((0, 0), (0, 1), (0, 2), (2, 0), (2, 1), (2, 2)) in shapes
    with pytest.raises(ValueError, match="1 to 6 objects"):
        sample_cells(rng, 7)


def test_small_objects_sit_in_small_boxes_of_their_own() -> None:
    low, high = (f * 128 for f in SMALL_SIZE)
    sides = []
    for seed in range(80):
        scene = make_scene(seed, 128, n_objects=1 + seed % 6, small_fraction=1.0)
        _check_layout(scene)
        for obj in scene.objects:
            assert low - 1e-6 <= obj.size <= high + 1e-6  # 10-20 px on 128
            x0, y0, x1, y1 = obj.region
            side = min(x1 - x0, y1 - y0)
            assert side <= 2.25 * obj.size + 1  # the box asks for a small object
            sides.append(side)
    assert min(sides) < 20 and max(sides) > 35


def test_small_fraction_mixes_small_and_normal_objects() -> None:
    rng = np.random.default_rng(0)
    sizes = [
        o.size for _ in range(300) for o in sample_scene_spec(rng, 128, small_fraction=0.3).objects
    ]
    small = np.mean([s <= SMALL_SIZE[1] * 128 + 1e-6 for s in sizes])
    assert 0.25 < small < 0.45  # 30% drawn small, a few normal ones happen to be that small
    plain = sample_scene_spec(np.random.default_rng(9), 128)
    assert sample_scene_spec(np.random.default_rng(9), 128, small_fraction=0.0) == plain
    with pytest.raises(ValueError, match="small_fraction"):
        sample_scene_spec(rng, 128, small_fraction=1.5)
    with pytest.raises(ValueError, match="max_objects"):
        sample_scene_spec(rng, 128, max_objects=7)
    counts = {len(sample_scene_spec(rng, 128, max_objects=6).objects) for _ in range(200)}
    assert counts == {1, 2, 3, 4, 5, 6}
