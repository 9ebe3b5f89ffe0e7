"""Per-region ControlNet: masked residuals, batched calls, locks, layouts and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel
from PIL import Image, ImageDraw

from pakati import PakatiCanvas
from pakati.editing import DEFAULT_FEATHER
from pakati_engine.control.inputs import RegionControlInput
from pakati_engine.control.loading import load_controlnet, read_card, resolve_controlnet
from pakati_engine.control.masking import mask_residuals, sum_groups
from pakati_engine.control.preprocess import canny_map, outline_map
from pakati_engine.control.residuals import ControlResiduals
from pakati_engine.diffusion.attention import RegionalAttentionController
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.layout import Layout, load_layout
from pakati_engine.metadata import read_png_metadata
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import load_model
from pakati_engine.training.train_controlnet import base_unet_hash
from pakati_engine.world.control_eval import outline_in_box
from pakati_engine.world.judge import ExpectedRegion, judge

from .conftest import half_masks

SIZE = 128


@pytest.fixture(scope="module")
def shapes() -> ModelBundle:
    return load_model("pakati-shapes")


def save_controlnet(unet, folder: Path, seed: int | None, channels=(16, 32, 64, 128)) -> str:
    """A ControlNet made from ``unet``; ``seed`` randomises its zero convolutions (so it acts),
    None keeps them zero (a fresh ControlNet)."""
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=channels)
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
        zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        with torch.no_grad():
            for conv in [*zero_convs, controlnet.controlnet_cond_embedding.conv_out]:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
    controlnet.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def fresh_controlnet(shapes: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_controlnet(shapes.unet, tmp_path_factory.mktemp("cn") / "fresh", None)


@pytest.fixture(scope="module")
def acting_controlnet(shapes: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_controlnet(shapes.unet, tmp_path_factory.mktemp("cn") / "acting", 1)


@pytest.fixture(scope="module")
def other_controlnet(shapes: ModelBundle, tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_controlnet(shapes.unet, tmp_path_factory.mktemp("cn") / "other", 2)


def triangle_picture(size: tuple[int, int] = (56, 112)) -> Image.Image:
    picture = Image.new("RGB", size, "white")
    width, height = size
    ImageDraw.Draw(picture).polygon(
        [
            (width // 2, height // 4),
            (width // 6, 3 * height // 4),
            (5 * width // 6, 3 * height // 4),
        ],
        fill="red",
    )
    return picture


def two_region_canvas(bundle: ModelBundle, steps: int = 4) -> PakatiCanvas:
    canvas = PakatiCanvas(SIZE, SIZE, model=bundle, base_prompt="a white background", steps=steps)
    canvas.create_region(box=(8, 8, 64, 120), name="a")
    canvas.create_region(box=(64, 8, 120, 120), name="b")
    canvas.apply_to_region("a", "a red object")
    canvas.apply_to_region("b", "a blue square")
    return canvas


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(np.int16)


# -- preprocessors --------------------------------------------------------------------------


def test_outline_marks_both_sides_of_every_colour_change_and_nothing_else() -> None:
    picture = np.zeros((32, 32, 3), np.uint8)
    picture[8:20, 10:24] = (200, 30, 30)
    lines = np.asarray(outline_map(picture))[..., 0] > 0
    expected = np.zeros((32, 32), bool)
    expected[7:21, 9:25] = True  # the square grown by one pixel ...
    expected[9:19, 11:23] = False  # ... minus its interior shrunk by one ...
    for y, x in ((7, 9), (7, 24), (20, 9), (20, 24)):
        expected[y, x] = False  # ... and the outer corners, which touch it only diagonally
    assert np.array_equal(lines, expected)


def test_canny_finds_the_edges_of_a_square_only_near_them() -> None:
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[16:48, 16:48] = 255
    edges = np.asarray(canny_map(picture))[..., 0] > 0
    assert edges.any()
    ys, xs = np.nonzero(edges)
    near = (np.minimum(np.abs(ys - 16), np.abs(ys - 47)) <= 2) | (
        np.minimum(np.abs(xs - 16), np.abs(xs - 47)) <= 2
    )
    assert near.all()
    assert not edges[24:40, 24:40].any()


# -- masked residuals and batching -------------------------------------------------------------


def test_masked_residuals_are_exactly_zero_outside_the_pooled_mask() -> None:
    down = [torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8)]
    mid = torch.randn(2, 8, 4, 4)
    mask = torch.zeros(2, 1, 128, 128)
    mask[:, :, :, :44] = 1.0  # x < 44: latent columns 0-4 fully, column 5 half
    masked, masked_mid = mask_residuals(down, mid, mask)
    assert torch.equal(masked[0][..., :5], down[0][..., :5])
    assert torch.allclose(masked[0][..., 5], down[0][..., 5] * 0.5)
    assert torch.equal(masked[0][..., 6:], torch.zeros_like(masked[0][..., 6:]))
    assert torch.allclose(masked[1][..., 2], down[1][..., 2] * 0.75)  # 8x8: 2.75 columns
    assert torch.equal(masked[1][..., 3:], torch.zeros_like(masked[1][..., 3:]))
    assert torch.equal(masked_mid[..., 2:], torch.zeros_like(masked_mid[..., 2:]))
    folded, _ = sum_groups((masked, masked_mid), 2)
    assert folded[0].shape == (1, 4, 16, 16)
    assert torch.allclose(folded[0][0], masked[0][0] + masked[0][1])


def test_a_fresh_controlnet_changes_no_pixel(shapes: ModelBundle, fresh_controlnet: str) -> None:
    plain = two_region_canvas(shapes).generate(seed=3)
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=fresh_controlnet,
        controlnet_input=triangle_picture(),
        preprocess="outline",
    )
    controlled = canvas.generate(seed=3)
    assert np.array_equal(pixels(plain.image), pixels(controlled.image))


def test_an_acting_controlnet_changes_its_region_most(
    shapes: ModelBundle, acting_controlnet: str
) -> None:
    plain = two_region_canvas(shapes).generate(seed=3)
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=triangle_picture(),
        preprocess="outline",
    )
    change = np.abs(pixels(canvas.generate(seed=3).image) - pixels(plain.image)).sum(axis=2)
    inside, far = change[8:120, 8:64].mean(), change[8:120, 88:120].mean()
    assert inside > 5.0
    assert far < inside / 4


def residuals_at_step(
    bundle: ModelBundle, controls: list[RegionControlInput], visible: list[np.ndarray]
) -> ControlResiduals:
    left, right = half_masks(SIZE, SIZE)
    controller = RegionalAttentionController(
        visible=torch.from_numpy(np.stack([left, right]))[None],
        background=torch.zeros(1, SIZE, SIZE),
        tokens_per_prompt=24,
        latent_size=(16, 16),
        base_ratio=0.2,
    )
    generator = torch.Generator().manual_seed(0)  # the same prompts for every call
    embeds = torch.randn(
        2, 3 * 24, int(bundle.unet.config.cross_attention_dim), generator=generator
    )
    return ControlResiduals(bundle, controls, visible, controller, embeds, None, num_steps=4)


def test_regions_sharing_a_controlnet_make_one_call_and_each_acts_in_its_own_half(
    shapes: ModelBundle, acting_controlnet: str
) -> None:
    left, right = half_masks(SIZE, SIZE)
    outline = np.asarray(outline_map(triangle_picture((SIZE, SIZE))), np.float32) / 255
    controls = [
        RegionControlInput(acting_controlnet, outline),
        RegionControlInput(acting_controlnet, outline[::-1].copy()),
    ]
    both = residuals_at_step(shapes, controls, [left, right])
    sample, t = torch.randn(2, 192, 16, 16), torch.tensor(500)
    down, mid = both(sample, t)
    assert both.calls == 1
    only_left = residuals_at_step(shapes, controls[:1], [left])(sample, t)
    only_right = residuals_at_step(shapes, controls[1:], [right])(sample, t)
    assert only_left is not None and only_right is not None
    for combined, a, b in zip(down, only_left[0], only_right[0], strict=True):
        torch.testing.assert_close(combined, a + b, rtol=1e-4, atol=1e-4)
        half = combined.shape[-1] // 2
        assert torch.equal(a[..., half:], torch.zeros_like(a[..., half:]))
        assert torch.equal(b[..., :half], torch.zeros_like(b[..., :half]))
        assert a[..., :half].abs().sum() > 0
    torch.testing.assert_close(mid, only_left[1] + only_right[1], rtol=1e-4, atol=1e-4)


def test_calls_per_step_count_models_not_regions_and_respect_windows(
    shapes: ModelBundle, acting_controlnet: str, other_controlnet: str
) -> None:
    canvas = PakatiCanvas(SIZE, SIZE, model=shapes, base_prompt="a white background", steps=4)
    picture = triangle_picture((32, 32))
    for index, x in enumerate((0, 32, 64, 96)):
        canvas.create_region(box=(x, 48, x + 32, 80), name=f"r{index}")
        canvas.apply_to_region(
            f"r{index}",
            "a red object",
            controlnet=acting_controlnet,
            controlnet_input=picture,
            preprocess="outline",
        )
    calls: list[str] = []
    hooks = [
        load_controlnet(name, shapes).register_forward_pre_hook(
            lambda module, args, name=name: calls.append(name)
        )
        for name in (acting_controlnet, other_controlnet)
    ]
    embeddings: list[int] = []
    embedding = load_controlnet(acting_controlnet, shapes).controlnet_cond_embedding
    hooks.append(embedding.register_forward_pre_hook(lambda m, a: embeddings.append(1)))
    try:
        canvas.generate(seed=1)
        assert calls == [acting_controlnet] * 4  # four regions, one ControlNet: one call a step
        assert len(embeddings) == 1  # the maps are embedded once, not at every step
        calls.clear()
        canvas.apply_to_region(
            "r3",
            "a red object",
            controlnet=other_controlnet,
            controlnet_input=picture,
            preprocess="outline",
            control_window=(0.0, 0.5),
        )
        canvas.generate(seed=1)
        assert calls.count(acting_controlnet) == 4
        assert calls.count(other_controlnet) == 2  # its window: the first half of the steps
    finally:
        for hook in hooks:
            hook.remove()


# -- edits, locks and reproduction ------------------------------------------------------------


def test_changing_a_control_in_a_locked_edit_keeps_every_pixel_outside_its_band(
    shapes: ModelBundle, acting_controlnet: str
) -> None:
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=triangle_picture(),
        preprocess="outline",
    )
    first = canvas.generate(seed=5)
    canvas.lock("b")
    square = Image.new("RGB", (56, 112), "white")
    ImageDraw.Draw(square).rectangle((12, 30, 44, 80), fill="red")
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=square,
        preprocess="outline",
    )
    second = canvas.regenerate("a")
    before, after = pixels(first.image), pixels(second.image)
    band = DEFAULT_FEATHER
    outside = np.ones((SIZE, SIZE), bool)
    outside[max(0, 8 - band) : 120 + band, max(0, 8 - band) : 64 + band] = False
    assert np.array_equal(before[outside], after[outside])
    assert np.array_equal(before[8:120, 64:120], after[8:120, 64:120])  # the locked region
    assert not np.array_equal(before[8:120, 8:64], after[8:120, 8:64])


def test_the_png_metadata_carries_the_control_and_reproduces_the_image(
    shapes: ModelBundle, acting_controlnet: str, tmp_path: Path
) -> None:
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=triangle_picture(),
        preprocess="outline",
        control_scale=0.8,
        control_window=(0.0, 0.75),
    )
    result = canvas.generate(seed=9)
    path = result.save(tmp_path / "out.png")
    layout = Layout.model_validate(read_png_metadata(path)["layout"])
    control = layout.regions[0].control
    assert control is not None and control.image_png and control.scale == 0.8
    assert control.window == (0.0, 0.75) and control.preprocess is None
    again = PakatiCanvas.from_layout(layout, model=shapes).generate(seed=9)
    assert np.array_equal(pixels(again.image), pixels(result.image))


def test_a_layout_file_names_its_control_image_relative_to_itself(
    shapes: ModelBundle, acting_controlnet: str, tmp_path: Path
) -> None:
    triangle_picture().save(tmp_path / "pose.png")
    spec = {
        "width": SIZE,
        "height": SIZE,
        "model": "pakati-shapes",
        "steps": 4,
        "seed": 2,
        "base_prompt": "a white background",
        "regions": [
            {
                "name": "a",
                "box": [8, 8, 64, 120],
                "prompt": "a red object",
                "control": {
                    "controlnet": acting_controlnet,
                    "image": "pose.png",
                    "preprocess": "outline",
                },
            },
            {"name": "b", "box": [64, 8, 120, 120], "prompt": "a blue square"},
        ],
    }
    (tmp_path / "layout.json").write_text(json.dumps(spec))
    layout = load_layout(tmp_path / "layout.json")
    from_file = PakatiCanvas.from_layout(layout, model=shapes).generate(seed=2)
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=triangle_picture(),
        preprocess="outline",
    )
    assert np.array_equal(pixels(from_file.image), pixels(canvas.generate(seed=2).image))
    inlined = from_file.layout.regions[0].control
    assert inlined is not None and inlined.image is None and inlined.image_png


# -- SD1.x and SDXL shapes --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_tiny_random_controlnets_load_and_run_on_sd_and_sdxl(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bundle: ModelBundle = request.getfixturevalue(f"{kind}_bundle")
    folder = save_controlnet(bundle.unet, tmp_path / f"cn-{kind}", 4, channels=(16, 32, 96, 256))
    left, right = half_masks(64, 64)
    control = RegionControlInput(
        folder, np.asarray(outline_map(triangle_picture((64, 64))), np.float32) / 255
    )

    def run(with_control: bool) -> np.ndarray:
        request_ = GenerationRequest(
            width=64,
            height=64,
            prompt="a photo",
            steps=3,
            seed=1,
            guidance_scale=5.0,
            regions=[
                RegionPrompt(
                    mask=left, prompt="a cat", label="a", control=control if with_control else None
                ),
                RegionPrompt(mask=right, prompt="a dog", label="b"),
            ],
        )
        output = RegionalDiffusionPipeline(bundle)(request_)
        assert output.control_calls == (3 if with_control else 0)
        return pixels(output.image)

    first, again, plain = run(True), run(True), run(False)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, plain)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"controlnet": "no-such-controlnet", "controlnet_input": "PICTURE"}, "unknown ControlNet"),
        ({"controlnet": "FRESH", "controlnet_input": Image.new("RGB", (50, 50))}, "canvas-sized"),
        (
            {"controlnet": "FRESH", "controlnet_input": "PICTURE", "control_window": (0.5, 1.5)},
            "0 <= start < end <= 1",
        ),
        (
            {"controlnet": "FRESH", "controlnet_input": "PICTURE", "preprocess": "depth"},
            "depth estimator",
        ),
        (
            {"controlnet": "FRESH", "controlnet_input": "PICTURE", "preprocess": "sketchy"},
            "unknown preprocess",
        ),
        ({"controlnet": "FRESH"}, "needs controlnet_input"),
        ({"controlnet_input": "PICTURE"}, "need controlnet="),
        ({"controlnet": "FRESH", "controlnet_input": "PICTURE", "control_scale": -1}, "scale"),
    ],
)
def test_bad_control_input_is_a_clear_error(
    shapes: ModelBundle, fresh_controlnet: str, kwargs: dict, message: str
) -> None:
    canvas = two_region_canvas(shapes)
    filled = {
        k: (fresh_controlnet if v == "FRESH" else triangle_picture() if v == "PICTURE" else v)
        for k, v in kwargs.items()
    }
    with pytest.raises((InvalidInputError, ModelNotFoundError), match=message):
        canvas.apply_to_region("a", "a red object", **filled)
    assert canvas.region_spec("a").control is None  # a refused control changes nothing


def test_a_controlnet_in_latent_mode_is_refused_with_the_reason(
    shapes: ModelBundle, fresh_controlnet: str
) -> None:
    canvas = two_region_canvas(shapes)
    canvas.mode = "latent"
    canvas.apply_to_region(
        "a",
        "a red object",
        controlnet=fresh_controlnet,
        controlnet_input=triangle_picture(),
    )
    with pytest.raises(InvalidInputError, match="needs mode='attention'"):
        canvas.generate(seed=1)


def test_a_controlnet_for_another_model_family_is_refused(
    shapes: ModelBundle, sd_bundle: ModelBundle, tmp_path: Path
) -> None:
    folder = save_controlnet(sd_bundle.unet, tmp_path / "sd-cn", None, channels=(16, 32, 96, 256))
    canvas = two_region_canvas(shapes)
    canvas.apply_to_region(
        "a", "a red object", controlnet=folder, controlnet_input=triangle_picture()
    )
    with pytest.raises(InvalidInputError, match="does not fit the model"):
        canvas.generate(seed=1)


def test_a_hub_id_in_the_local_cache_is_found_without_any_download(
    shapes: ModelBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "hub" / "models--someone--shapes-controlnet" / "snapshots" / "abc123"
    save_controlnet(shapes.unet, snapshot, None)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_controlnet("someone/shapes-controlnet") == snapshot
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_controlnet("someone/not-cached")


def test_a_zoomed_redraw_of_a_small_controlled_region_keeps_everything_else(
    shapes: ModelBundle, acting_controlnet: str
) -> None:
    canvas = PakatiCanvas(SIZE, SIZE, model=shapes, base_prompt="a white background", steps=4)
    canvas.create_region(box=(16, 16, 40, 40), name="small")
    canvas.apply_to_region(
        "small",
        "a red object",
        controlnet=acting_controlnet,
        controlnet_input=triangle_picture((24, 24)),
        preprocess="outline",
    )
    first = canvas.generate(seed=4)
    second = canvas.regenerate("small", zoom=True, seed=11)
    before, after = pixels(first.image), pixels(second.image)
    band = DEFAULT_FEATHER
    keep = np.ones((SIZE, SIZE), bool)
    keep[16 - band : 40 + band, 16 - band : 40 + band] = False
    assert np.array_equal(before[keep], after[keep])
    assert not np.array_equal(before[16:40, 16:40], after[16:40, 16:40])


# -- the shipped outline ControlNet -------------------------------------------------------------

SHIPPED = "pakati-shapes-outline"
BOX_A, BOX_B = (8, 24, 60, 104), (68, 24, 120, 104)


def test_the_shipped_outline_controlnet_names_the_unet_it_is_checked_with() -> None:
    """Trained on the UNet of step 14872; measured again on each later shipped UNet, whose
    hash its card then names (a UNet shipped without that check fails here)."""
    card = read_card(resolve_controlnet(SHIPPED))
    assert card["base_unet_sha256"] == base_unet_hash("pakati-shapes")
    assert card["checked_on_base_unet"]["target_shape_controlled"] >= 0.9


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "color", "seed"),
    [
        ("triangle", "square", "red", 1),
        ("circle", "triangle", "blue", 2),
        ("square", "circle", "green", 3),
    ],
)
def test_the_shipped_controlnet_gives_its_region_the_outline_shape_and_the_other_its_prompt(
    shapes: ModelBundle, a_shape: str, b_shape: str, color: str, seed: int
) -> None:
    canvas = PakatiCanvas(SIZE, SIZE, model=shapes, base_prompt="a white background")
    canvas.create_region(box=BOX_A, name="a")
    canvas.create_region(box=BOX_B, name="b")
    canvas.apply_to_region(
        "a",
        f"a {color} object",
        controlnet=SHIPPED,
        controlnet_input=outline_in_box(a_shape, BOX_A),
    )
    canvas.apply_to_region("b", f"a {color} {b_shape}")
    image = canvas.generate(seed=seed).image
    verdict = judge(
        image,
        [
            ExpectedRegion(box=BOX_A, shape=a_shape, color=color),
            ExpectedRegion(box=BOX_B, shape=b_shape, color=color),
        ],
        "white",
    )
    assert [(r.shape, r.color) for r in verdict.regions] == [(a_shape, color), (b_shape, color)]
