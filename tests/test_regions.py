"""Regions: rasterisation, anti-aliasing, z-order, pooling, and every bad input's error."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from PIL import Image

from pakati import InvalidInputError, PakatiCanvas
from pakati_engine.layout import decode_mask_png
from pakati_engine.regions.masks import attention_sizes, pool_masks, stack_masks, stacking_order
from pakati_engine.regions.region import (
    clip_polygon_to_rect,
    make_box_region,
    make_mask_region,
    make_polygon_region,
)


def test_integer_box_rasterises_exactly() -> None:
    region = make_box_region((0, 0, 64, 20), 64, 64, region_id="r")
    mask = region.rasterize()
    assert mask.shape == (64, 64)
    assert mask[:20].min() == 1.0 and mask[20:].max() == 0.0
    assert region.bounding_box() == (0, 0, 64, 20)


def test_polygon_edges_are_anti_aliased_and_area_is_right() -> None:
    triangle = [(0, 0), (64, 0), (0, 64)]
    mask = make_polygon_region(triangle, 64, 64, region_id="t").rasterize()
    partial = (mask > 0) & (mask < 1)
    assert partial.sum() >= 60  # the diagonal edge gets fractional coverage
    assert mask.sum() == pytest.approx(64 * 64 / 2, rel=0.02)
    assert mask[0, 0] == 1.0 and mask[63, 63] == 0.0


def test_half_pixel_box_gives_half_coverage() -> None:
    mask = make_box_region((0, 0, 10.5, 8), 16, 8, region_id="r").rasterize()
    assert mask[0, 9] == 1.0 and mask[0, 10] == pytest.approx(0.5) and mask[0, 11] == 0.0


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(0, 0), (10, 10)], "at least 3 vertices"),
        ([(0, 0), (float("nan"), 5), (5, 5)], "NaN"),
        ([(0, 0), (70, 0), (0, 10)], "outside the 64x64 canvas"),
        ([(0, 0), (10, 10), (20, 20)], "zero area"),
        ([(0, 0), (1, 0)], "at least 3"),
        ([(0, 0, 1), (1, 0), (0, 1)], "not an (x, y) pair"),
        ([(0, 0), ("a", 0), (0, 1)], "must contain numbers"),
    ],
)
def test_bad_polygons_get_clear_errors(points, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_polygon_region(points, 64, 64, region_id="bad")


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((10, 10, 10, 20), "zero area"),
        ((0, 0, 80, 10), "outside the 64x64 canvas"),
        ((0, 0, 10), "is \\(x0, y0, x1, y1\\)"),
        ((0, float("inf"), 10, 10), "NaN or infinity"),
    ],
)
def test_bad_boxes_get_clear_errors(box, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make_box_region(box, 64, 64, region_id="bad")


def test_outside_vertices_are_clipped_with_a_warning_when_asked() -> None:
    with pytest.warns(UserWarning, match="clipped"):
        region = make_polygon_region(
            [(-10, -10), (40, -10), (40, 40), (-10, 40)], 64, 64, region_id="r", clip=True
        )
    mask = region.rasterize()
    assert mask[:40, :40].min() == 1.0 and mask[40:].max() == 0.0 and mask[:, 40:].max() == 0.0
    with pytest.raises(InvalidInputError, match="entirely outside"), pytest.warns(UserWarning):
        make_polygon_region([(70, 70), (80, 70), (80, 80)], 64, 64, region_id="r", clip=True)


def test_sutherland_hodgman_clip_of_a_diamond() -> None:
    clipped = clip_polygon_to_rect([(5, -5), (15, 5), (5, 15), (-5, 5)], 10, 10)
    assert all(0 <= x <= 10 and 0 <= y <= 10 for x, y in clipped)
    assert len(clipped) == 8  # each corner of the diamond is cut off


def test_mask_regions_from_array_image_and_file(tmp_path) -> None:
    array = np.zeros((32, 48), np.float32)
    array[4:20, 8:30] = 1.0
    from_array = make_mask_region(array, 48, 32, region_id="a").rasterize()
    assert np.array_equal(from_array, array)
    image = Image.fromarray((array * 255).astype(np.uint8))
    path = tmp_path / "mask.png"
    image.save(path)
    assert np.array_equal(make_mask_region(path, 48, 32, region_id="f").rasterize(), array)
    rgba = Image.new("RGBA", (48, 32), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (8, 4, 30, 20))
    assert np.array_equal(make_mask_region(rgba, 48, 32, region_id="r").rasterize(), array)


def test_bad_masks_get_clear_errors(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="mask is 10x10 but the canvas is 64x64"):
        make_mask_region(np.ones((10, 10)), 64, 64, region_id="m")
    with pytest.raises(InvalidInputError, match="zero area"):
        make_mask_region(np.zeros((64, 64)), 64, 64, region_id="m")
    with pytest.raises(InvalidInputError, match="does not exist"):
        make_mask_region(tmp_path / "missing.png", 64, 64, region_id="m")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        make_mask_region(corrupt, 64, 64, region_id="m")
    with pytest.raises(InvalidInputError, match=r"must lie in \[0, 1\]"):
        make_mask_region(np.full((64, 64), 2.5), 64, 64, region_id="m")
    with pytest.raises(InvalidInputError, match="2-D"):
        make_mask_region(np.ones((64, 64, 3)), 64, 64, region_id="m")


def test_a_mask_png_that_is_not_an_image_says_so_without_naming_a_file_object() -> None:
    inline = base64.b64encode(b"plain text, not a picture").decode()
    with pytest.raises(InvalidInputError) as raised:
        decode_mask_png(inline, "sky")
    message = str(raised.value)
    assert message.startswith("region 'sky': mask_png is not a readable image")
    assert "PNG, JPEG" in message and "BytesIO" not in message and "0x" not in message


def test_later_region_is_on_top_and_z_overrides_order() -> None:
    canvas = PakatiCanvas(64, 64)
    bottom = canvas.create_region(box=(0, 0, 40, 64))
    top = canvas.create_region(box=(20, 0, 64, 64))
    regions = canvas.regions
    order = stacking_order(regions)
    assert [regions[i].id for i in order] == [bottom.id, top.id]
    stacked = stack_masks([regions[i].rasterize() for i in order])
    assert stacked.visible[0][:, 20:40].max() == 0.0  # hidden under the later region
    assert stacked.visible[1][:, 20:40].min() == 1.0
    raised = canvas.create_region(box=(0, 0, 30, 64), z=-1)
    order = stacking_order(canvas.regions)
    assert canvas.regions[order[0]].id == raised.id  # z=-1 goes below the others


def test_visible_masks_and_background_sum_to_one_at_every_resolution() -> None:
    a = make_polygon_region([(3, 5), (50, 9), (20, 60)], 64, 64, region_id="a").rasterize()
    b = make_box_region((30.5, 10, 64, 40.25), 64, 64, region_id="b").rasterize()
    stacked = stack_masks([a, b])
    total = stacked.visible.sum(0) + stacked.background
    assert np.allclose(total, 1.0, atol=1e-6)
    masks = torch.from_numpy(np.concatenate([stacked.visible, stacked.background[None]]))
    for size in attention_sizes(8, 8):
        pooled = pool_masks(masks, size)
        assert pooled.shape[1:] == size
        assert torch.allclose(pooled.sum(0), torch.ones(size), atol=1e-5)


def test_attention_sizes_round_up_like_strided_convolutions() -> None:
    assert attention_sizes(13, 8, levels=4) == [(13, 8), (7, 4), (4, 2), (2, 1)]


def test_canvas_rejects_duplicate_names_and_unknown_regions() -> None:
    canvas = PakatiCanvas(64, 64)
    canvas.create_region(box=(0, 0, 10, 10), name="sky")
    with pytest.raises(InvalidInputError, match="already exists"):
        canvas.create_region(box=(0, 0, 10, 10), name="sky")
    with pytest.raises(InvalidInputError, match="no region 'lake'"):
        canvas.apply_to_region("lake", prompt="water")
    with pytest.raises(InvalidInputError, match="exactly one of"):
        canvas.create_region([(0, 0), (1, 0), (0, 1)], box=(0, 0, 1, 1))
