"""Locked regions, region-only regeneration by crop, per-region seeds, refinement, latent
mode, history with undo/redo/projects, and the edit command."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from pakati import InvalidInputError, PakatiCanvas
from pakati.cli import main
from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.diffusion.edits import plan_crop
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.noise import owned_cells, seeded_noise
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import bundle_from_components
from pakati_engine.models.tiny_models import build_tiny_sd
from pakati_engine.regions.masks import stack_masks
from pakati_engine.regions.region import make_box_region, make_polygon_region
from tests.conftest import TOKENIZER_DIR, make_bundle

SIZE = 128
FEATHER = 6


def _canvas(bundle: ModelBundle, shape: str) -> tuple[PakatiCanvas, str, str]:
    """A canvas with a 'sky' region and a 'lake' region drawn as ``shape``."""
    canvas = PakatiCanvas(SIZE, SIZE, model=bundle, steps=3, base_prompt="a landscape")
    canvas.create_region(box=(0, 0, SIZE, 40), name="sky")
    if shape == "polygon":
        canvas.create_region([(10, 60), (100, 50), (120, 120), (20, 110)], name="lake")
    elif shape == "box":
        canvas.create_region(box=(16, 56, 80, 112), name="lake")
    else:
        mask = np.zeros((SIZE, SIZE), np.float32)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        mask[(yy - 85) ** 2 + (xx - 60) ** 2 < 30**2] = 1.0
        canvas.create_region(mask=mask, name="lake")
    canvas.apply_to_region("sky", "sunset sky")
    canvas.apply_to_region("lake", "a calm lake")
    return canvas, "sky", "lake"


def _protected(canvas: PakatiCanvas, region: str) -> np.ndarray:
    """Pixels outside the region's mask dilated by the feather width."""
    keep = KeepSpec(canvas.image, canvas.region(region).rasterize(), FEATHER)  # type: ignore[arg-type]
    return keep.protected()


@pytest.mark.parametrize("shape", ["polygon", "box", "mask"])
@pytest.mark.parametrize("crop", [True, False])
def test_regeneration_keeps_everything_outside_the_edit_byte_identical(
    bundle: ModelBundle, shape: str, crop: bool
) -> None:
    canvas, sky, lake = _canvas(bundle, shape)
    before = np.asarray(canvas.generate(seed=42).image)
    canvas.lock(sky)
    canvas.apply_to_region(lake, "a frozen lake at dusk")
    protected = _protected(canvas, lake)
    after = np.asarray(canvas.regenerate(lake, feather=FEATHER, crop=crop).image)
    assert np.array_equal(after[protected], before[protected])
    assert np.array_equal(after[:40], before[:40])  # the locked sky, exactly
    inside = canvas.region(lake).rasterize() == 1.0
    assert np.abs(after[inside].astype(int) - before[inside]).max() > 0


def test_locked_pixels_stay_even_inside_the_feather_band(sd_bundle: ModelBundle) -> None:
    canvas = PakatiCanvas(SIZE, SIZE, model=sd_bundle, steps=2)
    canvas.create_region(box=(0, 0, 64, SIZE), name="left")
    canvas.create_region(box=(64, 0, SIZE, SIZE), name="right")
    canvas.apply_to_region("left", "stone")
    canvas.apply_to_region("right", "grass")
    before = np.asarray(canvas.generate(seed=1).image)
    canvas.lock("left")
    canvas.apply_to_region("right", "water")
    after = np.asarray(canvas.regenerate("right", feather=16).image)
    assert np.array_equal(after[:, :64], before[:, :64])
    with pytest.raises(InvalidInputError, match="locked"):
        canvas.regenerate("left")


def test_crop_edit_denoises_only_the_crop(sd_bundle: ModelBundle) -> None:
    canvas, _, _ = _canvas(sd_bundle, "box")
    canvas.generate(seed=0)
    shapes: list[tuple[int, ...]] = []
    handle = sd_bundle.unet.register_forward_pre_hook(
        lambda module, args: shapes.append(tuple(args[0].shape))
    )
    try:
        result = canvas.regenerate("lake", feather=FEATHER, margin=8)
    finally:
        handle.remove()
    # lake box (16, 56, 80, 112) + feather 6 + margin 8, rounded out to multiples of 8
    plan = plan_crop(np.pad(np.ones((56 + 12, 64 + 12)), ((50, 10), (10, 38))) > 0, 8, 8)
    assert plan is not None and plan.box == (0, 40, 96, 128)
    assert set(shapes) == {(2, 4, 11, 12)}  # (CFG batch, C, 88 / 8, 96 / 8)
    assert result.latent_size == (11, 12)


def test_large_edits_fall_back_to_the_whole_canvas(sd_bundle: ModelBundle) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2)
    canvas.create_region(box=(0, 0, 60, 60), name="most")
    canvas.apply_to_region("most", "a field")
    canvas.generate(seed=0)
    assert canvas.regenerate("most").latent_size == (8, 8)


def test_per_region_seed_changes_only_that_region(bundle: ModelBundle) -> None:
    canvas, _, lake = _canvas(bundle, "polygon")
    original = np.asarray(canvas.generate(seed=5).image)
    protected = _protected(canvas, lake)
    seven = np.asarray(canvas.regenerate(lake, seed=7, feather=FEATHER).image)
    canvas.undo()
    eight = np.asarray(canvas.regenerate(lake, seed=8, feather=FEATHER).image)
    assert np.array_equal(seven[protected], original[protected])
    assert np.array_equal(eight[protected], original[protected])
    inside = canvas.region(lake).rasterize() == 1.0
    assert not np.array_equal(seven[inside], eight[inside])


def test_region_seed_owns_exactly_its_latent_cells() -> None:
    a = make_box_region((0, 0, 32, 64), 64, 64, region_id="a").rasterize()
    b = make_box_region((32, 0, 64, 64), 64, 64, region_id="b").rasterize()
    stacked = stack_masks([a, b])
    owned = owned_cells(stacked.visible, stacked.background, (8, 8))
    one = seeded_noise((1, 4, 8, 8), 0, [None, 7], owned)
    two = seeded_noise((1, 4, 8, 8), 0, [None, 8], owned)
    assert torch.equal(one[..., :4], two[..., :4])
    assert not torch.equal(one[..., 4:], two[..., 4:])
    assert torch.equal(seeded_noise((1, 4, 8, 8), 0), seeded_noise((1, 4, 8, 8), 0))


def test_refine_runs_part_of_the_schedule_and_keeps_the_rest(sd_bundle: ModelBundle) -> None:
    canvas, _, lake = _canvas(sd_bundle, "box")
    canvas.steps = 10
    before = np.asarray(canvas.generate(seed=3).image)
    result = canvas.refine(lake, strength=0.3, feather=FEATHER)
    assert result.unet_calls == 3
    after = np.asarray(result.image)
    protected = _protected(canvas, lake)
    assert np.array_equal(after[protected], before[protected])
    assert not np.array_equal(after, before)
    full = canvas.refine(lake, strength=1.0, feather=FEATHER)
    assert full.unet_calls == 10


def test_latent_mode_makes_one_pass_per_region_and_blends_by_mask(
    sd_bundle: ModelBundle,
) -> None:
    a = make_box_region((0, 0, 32, 64), 64, 64, region_id="a").rasterize()
    b = make_polygon_region([(32, 0), (64, 0), (64, 64), (32, 64)], 64, 64, region_id="b")
    regions = [
        RegionPrompt(a, "a red apple", guidance_scale=3.0),
        RegionPrompt(b.rasterize(), "a blue cup", step_window=(0.0, 0.5)),
    ]
    request = GenerationRequest(64, 64, "a table", regions=regions, steps=4, mode="latent")
    pipe = RegionalDiffusionPipeline(sd_bundle)
    output = pipe(request)
    # one batched call per step: a and b (no base: they cover the canvas), then base and a
    assert output.unet_calls == 4

    from pakati_engine.diffusion.text_encoding import encode_prompts

    embeddings = encode_prompts(sd_bundle, ["a table", "a red apple", "a blue cup"], [""] * 3)
    stacked = stack_masks([a, b.rasterize()])
    scheduler = sd_bundle.scheduler.__class__.from_config(sd_bundle.scheduler.config)
    scheduler.set_timesteps(4)
    from pakati_engine.diffusion.predictors import Conditioning, unet_guided

    conditioning = Conditioning(added=None, inpaint=None)
    predictor = pipe.prepare_latent_mode(
        request, embeddings, True, stacked, (8, 8), conditioning, scheduler, 4
    )
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    t = scheduler.timesteps[0]
    blended = predictor(latents, t, 0)
    # Region a's pass: "a red apple" routed inside a's mask, "a table" outside it.
    span = embeddings.tokens_per_prompt
    table_and_a = torch.cat([embeddings.negative, embeddings.positive])[:, : 2 * span]
    visible_a = torch.from_numpy(stacked.visible[:1])  # (1, H, W)
    routing = RegionalAttentionController(
        visible_a[None], 1.0 - visible_a, span, (8, 8), base_ratio=request.base_ratio
    )
    with regional_attention(sd_bundle.unet, routing):
        routed = unet_guided(sd_bundle, latents, t, table_and_a, 3.0, conditioning, scheduler)
    assert torch.allclose(blended[..., :4], routed[..., :4], atol=1e-5)
    assert not torch.allclose(blended[..., 4:], routed[..., 4:], atol=1e-3)
    # ... which is not what a pass that sees "a red apple" alone predicts.
    only_a = torch.cat([embeddings.negative, embeddings.positive])[:, span : 2 * span]
    alone = unet_guided(sd_bundle, latents, t, only_a, 3.0, conditioning, scheduler)
    assert not torch.allclose(blended[..., :4], alone[..., :4], atol=1e-3)


def test_per_region_settings_need_latent_mode(sd_bundle: ModelBundle) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2)
    canvas.create_region(box=(0, 0, 32, 32), name="a")
    canvas.apply_to_region("a", "x", guidance_scale=2.0)
    with pytest.raises(InvalidInputError, match="needs mode='latent'"):
        canvas.generate(seed=0)
    canvas.mode = "latent"
    assert canvas.generate(seed=0).unet_calls == 2  # base and region batched, per step


def test_dedicated_inpainting_unet_gets_mask_and_masked_image(tmp_path) -> None:
    from diffusers import UNet2DConditionModel

    parts = build_tiny_sd(seed=0, tokenizer_dir=TOKENIZER_DIR)
    torch.manual_seed(0)
    parts["unet"] = UNet2DConditionModel(**{**dict(parts["unet"].config), "in_channels": 9}).eval()
    bundle = bundle_from_components(parts, "tiny-inpaint").to(torch.device("cpu"), torch.float32)
    base = make_bundle("sd")
    canvas = PakatiCanvas(64, 64, model=base, inpaint_model=bundle, steps=2)
    canvas.create_region(box=(0, 0, 64, 24), name="top")
    canvas.create_region(box=(8, 32, 40, 56), name="spot")
    canvas.apply_to_region("top", "sky")
    canvas.apply_to_region("spot", "a rock")
    before = np.asarray(canvas.generate(seed=0).image)
    channels: list[int] = []
    handle = bundle.unet.register_forward_pre_hook(lambda m, a: channels.append(a[0].shape[1]))
    try:
        canvas.apply_to_region("spot", "a tree")
        after = np.asarray(canvas.regenerate("spot", feather=4).image)
    finally:
        handle.remove()
    assert set(channels) == {9}
    assert np.array_equal(after[:24], before[:24])


def test_history_undo_redo_and_reproduce(sd_bundle: ModelBundle) -> None:
    canvas, sky, lake = _canvas(sd_bundle, "box")
    first = np.asarray(canvas.generate(seed=11).image)
    canvas.lock(sky)
    canvas.apply_to_region(lake, "a misty lake")
    second = np.asarray(canvas.regenerate(lake).image)
    assert [e.action for e in canvas.history] == ["generate", "lock", "regenerate"]
    assert canvas.undo() is not None and canvas.locked == ["sky"]
    assert np.array_equal(np.asarray(canvas.image), first)
    assert canvas.undo() is not None and canvas.locked == []
    assert canvas.undo() is None  # at the first step
    canvas.redo()
    canvas.redo()
    assert np.array_equal(np.asarray(canvas.image), second)
    assert canvas.region_spec(lake).prompt == "a misty lake"
    assert np.array_equal(np.asarray(canvas.reproduce()), second)
    assert np.array_equal(np.asarray(canvas.reproduce("e1")), first)


def test_project_survives_a_crash_during_save_and_reloads(
    sd_bundle: ModelBundle, tmp_path, monkeypatch
) -> None:
    canvas, sky, lake = _canvas(sd_bundle, "box")
    canvas.generate(seed=2)
    project = tmp_path / "work.json"
    canvas.save_project(project)
    saved = project.read_bytes()

    canvas.lock(sky)
    canvas.apply_to_region(lake, "a stormy lake")
    edited = np.asarray(canvas.regenerate(lake).image)

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        canvas.save_project(project)
    monkeypatch.undo()
    assert project.read_bytes() == saved  # the previous project is intact
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".work.json")]

    canvas.save_project(project)
    reloaded = PakatiCanvas(SIZE, SIZE, model=sd_bundle)
    reloaded.load_project(project)
    assert [e.action for e in reloaded.history] == ["generate", "lock", "regenerate"]
    assert np.array_equal(np.asarray(reloaded.image), edited)
    assert reloaded.locked == ["sky"]
    reloaded.undo()
    reloaded.undo()
    assert reloaded.history.head == "e1"
    assert np.array_equal(np.asarray(reloaded.reproduce("e3")), edited)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidInputError, match="not a Pakati project"):
        reloaded.load_project(tmp_path / "bad.json")


def test_cli_edit_works_from_the_png_and_the_result_reproduces(sd_folder, tmp_path, capsys) -> None:
    layout = {
        "width": SIZE, "height": SIZE, "model": str(sd_folder), "steps": 3, "seed": 9,
        "regions": [
            {"name": "sky", "box": [0, 0, SIZE, 40], "prompt": "sky"},
            {"name": "lake", "box": [16, 60, 60, 100], "prompt": "lake"},
        ],
    }  # fmt: skip
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    first, edited, again = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert main(["generate", str(tmp_path / "layout.json"), "--out", str(first),
                 "--no-progress"]) == 0  # fmt: skip
    code = main(["edit", str(first), "--region", "lake", "--prompt", "a frozen lake",
                 "--lock", "sky", "--seed", "4", "--out", str(edited), "--json",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["latent_size"][0] * summary["latent_size"][1] < (SIZE // 8) ** 2
    from PIL import Image

    a, b = np.asarray(Image.open(first)), np.asarray(Image.open(edited))
    assert np.array_equal(a[:40], b[:40]) and not np.array_equal(a, b)
    assert main(["generate", "--from", str(edited), "--out", str(again), "--no-progress"]) == 0
    assert np.array_equal(np.asarray(Image.open(again)), b)
    assert main(["edit", str(first), "--region", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "no region 'nope'" in capsys.readouterr().err


def test_edits_reuse_the_generation_latents_and_still_reproduce(sd_bundle: ModelBundle) -> None:
    canvas, sky, lake = _canvas(sd_bundle, "box")
    canvas.generate(seed=4)
    encodes: list[int] = []
    handle = sd_bundle.vae.encoder.register_forward_hook(lambda *args: encodes.append(1))
    try:
        canvas.lock(sky)
        canvas.apply_to_region(lake, "a lake with a red boat")
        first = canvas.regenerate(lake)
        second = canvas.refine(lake, strength=0.5)
        assert encodes == []  # the kept latents came from the canvas, not from the VAE
        assert np.array_equal(np.asarray(canvas.reproduce()), np.asarray(second.image))
    finally:
        handle.remove()
    assert first.steps[-1]["params"]["reuse_latents"] is True


def test_zoomed_regeneration_keeps_everything_outside_the_feathered_mask(
    sd_bundle: ModelBundle,
) -> None:
    canvas = PakatiCanvas(SIZE, SIZE, model=sd_bundle, steps=3, base_prompt="a landscape")
    canvas.create_region(box=(0, 0, SIZE, 40), name="sky")
    canvas.create_region(box=(70, 70, 94, 94), name="dot")  # small: 24 px of 128
    canvas.apply_to_region("sky", "sunset sky")
    canvas.apply_to_region("dot", "a red ball")
    before = np.asarray(canvas.generate(seed=3).image)
    canvas.lock("sky")
    result = canvas.regenerate("dot", feather=FEATHER, zoom=True)
    after = np.asarray(result.image)
    protected = _protected(canvas, "dot")
    assert np.array_equal(before[protected], after[protected])
    inside = canvas.region("dot").rasterize() > 0
    assert not np.array_equal(before[inside], after[inside])
    # The crop was denoised at (about) the canvas's size, not at its own 40-odd pixels.
    assert result.latent_size[0] * 8 >= SIZE - 8 or result.latent_size[1] * 8 >= SIZE - 8
    assert result.steps[-1]["params"]["zoom"] is True
    assert np.array_equal(np.asarray(canvas.reproduce()), after)  # replays the zoom
