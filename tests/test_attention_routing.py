"""Regional attention: exact routing in every cross-attention layer, one UNet pass per step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pakati_engine.diffusion.attention import (
    RegionalAttentionController,
    RegionalCrossAttnProcessor,
    cross_attention_names,
    regional_attention,
)
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.masks import pool_masks, stack_masks
from pakati_engine.regions.region import make_box_region, make_polygon_region

SIZE = 64  # pixels; latent 8x8, attention at 8x8 and 4x4


def _masks() -> list[np.ndarray]:
    """Region A is a slanted polygon (anti-aliased edges), B a box overlapping it, on top."""
    a = make_polygon_region([(2, 2), (40, 6), (30, 62), (4, 50)], SIZE, SIZE, region_id="a")
    b = make_box_region((36, 0, 64, 40), SIZE, SIZE, region_id="b")
    return [a.rasterize(), b.rasterize()]


def _capture_layer_inputs(bundle: ModelBundle, latents, t, embeds, added) -> dict:
    """Run the UNet once and record each cross-attention module's hidden-state input."""
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in cross_attention_names(bundle.unet):
        module = bundle.unet.get_submodule(name.removesuffix(".processor"))

        def hook(mod, args, kwargs, name=name):
            captured[name] = (args[0] if args else kwargs["hidden_states"]).clone()

        handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        bundle.unet(latents, t, encoder_hidden_states=embeds, added_cond_kwargs=added)
    finally:
        for handle in handles:
            handle.remove()
    return captured


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "dense"])
@pytest.mark.parametrize("base_ratio", [0.0, 0.3])
def test_changing_region_a_prompt_changes_only_pixels_inside_a_in_every_layer(
    bundle: ModelBundle, base_ratio: float, grouped: bool
) -> None:
    masks = _masks()
    stacked = stack_masks(masks)
    pipe = RegionalDiffusionPipeline(bundle)
    request = GenerationRequest(
        SIZE,
        SIZE,
        "a garden",
        regions=[
            RegionPrompt(masks[0], "a red circle", "blurry"),
            RegionPrompt(masks[1], "a blue square", "dark"),
        ],
        base_ratio=base_ratio,
    )
    original = encode_prompts(
        bundle, ["a garden", "a red circle", "a blue square"], ["", "blurry", "dark"]
    )
    # Only region A (index 1 after the base) changes: both its prompt and its negative.
    changed = encode_prompts(
        bundle, ["a garden", "a green triangle on grass", "a blue square"], ["", "noisy", "dark"]
    )
    embeds = pipe.prepare_prompt_embeds(original, do_cfg=True)  # (2, T, D) rows: neg, pos
    embeds_changed = pipe.prepare_prompt_embeds(changed, do_cfg=True)
    span = original.tokens_per_prompt
    assert torch.equal(embeds[:, :span], embeds_changed[:, :span])
    assert torch.equal(embeds[:, 2 * span :], embeds_changed[:, 2 * span :])
    assert not torch.equal(embeds[:, span : 2 * span], embeds_changed[:, span : 2 * span])

    latent = SIZE // bundle.vae_scale_factor
    controller = pipe.prepare_controller(request, original, (latent, latent))
    assert controller is not None and controller.grouped
    controller.grouped = grouped  # the dense bias is what training (a mask per sample) uses
    added = pipe.prepare_added_conditioning(request, original, do_cfg=True)
    latents = torch.randn(2, 4, latent, latent, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(500)

    with regional_attention(bundle.unet, controller) as processors:
        inputs = _capture_layer_inputs(bundle, latents, t, embeds, added)
        assert set(inputs) == set(processors) and len(inputs) >= 4
        checked_sizes = set()
        for name, hidden in inputs.items():
            module = bundle.unet.get_submodule(name.removesuffix(".processor"))
            out = module(hidden, encoder_hidden_states=embeds)  # (2, HW, C)
            out_changed = module(hidden, encoder_hidden_states=embeds_changed)
            size = controller._sizes[hidden.shape[1]]
            visible_a = pool_masks(torch.from_numpy(stacked.visible), size)[0].flatten()  # (HW,)
            outside, inside = visible_a == 0, visible_a > 0.5
            assert outside.any() and inside.any(), name
            assert torch.equal(out[:, outside], out_changed[:, outside]), name
            # every pixel well inside A changes, in both the negative and the positive row
            delta = (out[:, inside] - out_changed[:, inside]).abs().amax(dim=-1)  # (2, n)
            assert (delta > 1e-6).all(), name
            checked_sizes.add(size)
    assert len(checked_sizes) >= 2  # several resolutions were checked
    assert all(isinstance(p, RegionalCrossAttnProcessor) for p in processors.values())


def test_base_ratio_zero_keeps_base_prompt_out_of_covered_pixels(sd_bundle: ModelBundle) -> None:
    """With base_ratio 0 the base prompt reaches only uncovered pixels; with 0.5 all."""
    mask = make_box_region((0, 0, 40, 64), SIZE, SIZE, region_id="a").rasterize()
    pipe = RegionalDiffusionPipeline(sd_bundle)
    for base_ratio, base_reaches_region in ((0.0, False), (0.5, True)):
        request = GenerationRequest(
            SIZE, SIZE, regions=[RegionPrompt(mask, "a red circle")], base_ratio=base_ratio
        )
        one = encode_prompts(sd_bundle, ["a forest", "a red circle"], ["", ""])
        two = encode_prompts(sd_bundle, ["a desert at night", "a red circle"], ["", ""])
        controller = pipe.prepare_controller(request, one, (8, 8))
        assert controller is not None
        with regional_attention(sd_bundle.unet, controller):
            name = cross_attention_names(sd_bundle.unet)[0]
            module = sd_bundle.unet.get_submodule(name.removesuffix(".processor"))
            hidden = torch.randn(1, 64, module.to_q.in_features)
            out_one = module(hidden, encoder_hidden_states=one.positive)
            out_two = module(hidden, encoder_hidden_states=two.positive)
        covered = torch.from_numpy(mask).view(8, 8, 8, 8).mean((1, 3)).flatten() == 1  # (64,)
        same_inside = torch.equal(out_one[:, covered], out_two[:, covered])
        assert same_inside is not base_reaches_region
        assert not torch.equal(out_one[:, ~covered], out_two[:, ~covered])


@pytest.mark.parametrize("regions", [1, 2, 4, 8])
def test_one_unet_forward_per_step_whatever_the_number_of_regions(
    bundle: ModelBundle, regions: int
) -> None:
    width = 64 * regions
    masks = [
        make_box_region((64 * i, 0, 64 * (i + 1), 64), width, 64, region_id=str(i))
        for i in range(regions)
    ]
    request = GenerationRequest(
        width,
        64,
        "a shelf",
        regions=[RegionPrompt(m.rasterize(), f"object {i}") for i, m in enumerate(masks)],
        steps=3,
        guidance_scale=5.0,
    )
    calls: list[int] = []
    handle = bundle.unet.register_forward_pre_hook(lambda mod, args: calls.append(1))
    try:
        output = RegionalDiffusionPipeline(bundle)(request)
    finally:
        handle.remove()
    assert len(calls) == 3 == output.unet_calls
    assert output.image.size == (width, 64)


def test_processors_are_restored_after_generation_even_on_error(sd_bundle: ModelBundle) -> None:
    before = {name: type(p) for name, p in sd_bundle.unet.attn_processors.items()}
    controller = RegionalAttentionController(
        torch.ones(1, 1, 64, 64), torch.zeros(1, 64, 64), 77, (8, 8)
    )
    with pytest.raises(RuntimeError, match="boom"), regional_attention(sd_bundle.unet, controller):
        assert any(
            isinstance(p, RegionalCrossAttnProcessor)
            for p in sd_bundle.unet.attn_processors.values()
        )
        raise RuntimeError("boom")
    after = {name: type(p) for name, p in sd_bundle.unet.attn_processors.items()}
    assert after == before


def test_wrong_token_count_is_reported(sd_bundle: ModelBundle) -> None:
    controller = RegionalAttentionController(
        torch.ones(1, 2, 64, 64) / 2, torch.zeros(1, 64, 64), 77, (8, 8)
    )
    name = cross_attention_names(sd_bundle.unet)[0]
    module = sd_bundle.unet.get_submodule(name.removesuffix(".processor"))
    with regional_attention(sd_bundle.unet, controller), pytest.raises(ValueError, match="231"):
        module(
            torch.randn(1, 64, module.to_q.in_features),
            encoder_hidden_states=torch.randn(1, 77, module.to_k.in_features),
        )


def test_prompt_projections_are_computed_once_per_generation(sd_bundle: ModelBundle) -> None:
    controller = RegionalAttentionController(
        torch.ones(1, 1, 64, 64), torch.zeros(1, 64, 64), 77, (8, 8)
    )
    name = cross_attention_names(sd_bundle.unet)[0]
    module = sd_bundle.unet.get_submodule(name.removesuffix(".processor"))
    calls: list[int] = []
    handle = module.to_k.register_forward_hook(lambda *args: calls.append(1))
    hidden = torch.randn(1, 64, module.to_q.in_features)
    embeds = torch.randn(1, 154, module.to_k.in_features)
    try:
        with regional_attention(sd_bundle.unet, controller), torch.no_grad():
            first = module(hidden, encoder_hidden_states=embeds)
            second = module(hidden, encoder_hidden_states=embeds)
            assert len(calls) == 1 and torch.equal(first, second)
            embeds.mul_(2.0)  # changed in place: the cache must notice
            third = module(hidden, encoder_hidden_states=embeds)
            assert len(calls) == 2 and not torch.equal(first, third)
        with regional_attention(sd_bundle.unet, controller):
            module(hidden, encoder_hidden_states=embeds)  # gradients on: never cached
            module(hidden, encoder_hidden_states=embeds)
            assert len(calls) == 4
    finally:
        handle.remove()
