"""Latent mode batches its passes: the same prediction as one routed UNet call per pass
(the previous implementation), up to float rounding, in fewer calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.diffusion.predictors import Conditioning, LatentModePredictor, unet_guided
from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.masks import stack_masks
from pakati_engine.regions.region import make_box_region, make_polygon_region


def _regions(uncovered: bool, own_negative: str = "dark") -> list[RegionPrompt]:
    a = make_polygon_region([(2, 2), (40, 6), (30, 62), (4, 50)], 64, 64, region_id="a")
    b = make_box_region((36, 0, 64, 40) if uncovered else (0, 0, 64, 64), 64, 64, region_id="b")
    c = make_box_region((40, 40, 64, 64), 64, 64, region_id="c")
    return [
        RegionPrompt(b.rasterize(), "a blue cup", guidance_scale=3.0, weight=0.7),
        RegionPrompt(a.rasterize(), "a red apple", step_window=(0.0, 0.5)),
        RegionPrompt(c.rasterize(), "a green pear", own_negative, step_window=(0.25, 1.0)),
    ]


def _predictor(
    bundle: ModelBundle, request: GenerationRequest, added: bool
) -> tuple[LatentModePredictor, Conditioning]:
    pipe = RegionalDiffusionPipeline(bundle)
    embeddings = encode_prompts(
        bundle,
        [request.prompt, *(r.prompt for r in request.regions)],
        [request.negative_prompt, *(r.negative_prompt for r in request.regions)],
    )
    stacked = stack_masks([r.mask for r in request.regions])
    conditioning = Conditioning(
        added=pipe.prepare_added_conditioning(request, embeddings, True) if added else None,
        inpaint=None,
    )
    scheduler = bundle.scheduler.__class__.from_config(bundle.scheduler.config)
    scheduler.set_timesteps(request.steps)
    predictor = pipe.prepare_latent_mode(
        request, embeddings, True, stacked, (8, 8), conditioning, scheduler, request.steps
    )
    return predictor, conditioning


def _one_call_per_pass(
    bundle: ModelBundle, predictor: LatentModePredictor, latents, t, index: int
) -> torch.Tensor:
    """The previous latent mode: an unrouted base call, then one routed call per pass."""
    call = (predictor.conditioning, predictor.scheduler)
    base = unet_guided(bundle, latents, t, predictor.base_embeds, predictor.guidance_scale, *call)
    blended = predictor.background * base
    for region in predictor.passes:
        start, end = region.window
        prediction = base
        if start <= index / predictor.num_steps < end:
            controller = RegionalAttentionController(
                region.visible[None],
                1.0 - region.visible,
                predictor.routing.tokens_per_prompt,
                predictor.routing.latent_size,
                predictor.routing.base_ratio,
                [region.region_weight],
            )
            with regional_attention(bundle.unet, controller):
                prediction = unet_guided(
                    bundle, latents, t, region.embeds, region.guidance_scale, *call
                )
        blended = blended + region.weight * prediction
    return blended


@pytest.mark.parametrize("own_negative", ["dark", ""], ids=["own-negative", "shared-negative"])
@pytest.mark.parametrize("uncovered", [True, False])
def test_batched_passes_predict_what_one_call_per_pass_did(
    bundle: ModelBundle, uncovered: bool, own_negative: str
) -> None:
    request = GenerationRequest(
        64, 64, "a table", regions=_regions(uncovered, own_negative), steps=4, mode="latent"
    )
    predictor, _ = _predictor(bundle, request, added=bundle.kind == "sdxl")
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    calls: list[int] = []
    rows: list[int] = []  # UNet batch size per call

    def count(module: torch.nn.Module, args: tuple) -> None:
        calls.append(1)
        rows.append(args[0].shape[0])

    handle = bundle.unet.register_forward_pre_hook(count)
    try:
        with torch.no_grad():  # as in generation: passes grouped row by row
            for index, t in enumerate(predictor.scheduler.timesteps):
                reference = _one_call_per_pass(bundle, predictor, latents, t, index)
                for limit in (8, 2, 1):
                    predictor.max_passes_per_call = limit
                    calls.clear()
                    rows.clear()
                    batched = predictor(latents, t, index)
                    assert torch.allclose(batched, reference, atol=1e-5, rtol=1e-4), (index, limit)
                    active = sum(p.window[0] <= index / 4 < p.window[1] for p in predictor.passes)
                    passes = active + (uncovered or active < 3)  # the base pass where needed
                    assert len(calls) == -(-passes // limit)
                    # guidance: a negative row per pass, or one per call where all passes
                    # share it (not with region 2's own negative prompt among them)
                    ids = [
                        k
                        for k, p in enumerate(predictor.passes)
                        if p.window[0] <= index / 4 < p.window[1]
                    ]
                    members = ids if passes == len(ids) else [-1, *ids]
                    chunks = [members[i : i + limit] for i in range(0, passes, limit)]
                    shared = [not (own_negative and 2 in chunk) for chunk in chunks]
                    assert rows == [
                        len(c) + 1 if s else 2 * len(c) for c, s in zip(chunks, shared, strict=True)
                    ]
    finally:
        handle.remove()


def test_latent_generation_is_deterministic_with_one_call_per_step(
    sd_bundle: ModelBundle,
) -> None:
    pipe = RegionalDiffusionPipeline(sd_bundle)
    request = GenerationRequest(64, 64, "a table", regions=_regions(True), steps=3, mode="latent")
    output = pipe(request)
    assert np.array_equal(np.asarray(output.image), np.asarray(pipe(request).image))
    assert output.unet_calls == 3  # 3 region passes + the base, batched: one call per step
