"""Generation under ``torch.inference_mode()`` and ``torch.no_grad()``, as users and servers
wrap inference: both modes, both model families, same pixels as a plain call."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import pytest
import torch

from pakati.canvas import PakatiCanvas
from pakati_engine.diffusion.attention import (
    RegionalAttentionController,
    cross_attention_names,
    regional_attention,
)
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.models.bundle import ModelBundle
from tests.conftest import half_masks

GRAD_MODES: dict[str, Callable[[], AbstractContextManager[object]]] = {
    "inference_mode": torch.inference_mode,
    "no_grad": torch.no_grad,
}


def _request(mode: str) -> GenerationRequest:
    left, right = half_masks(64, 64)
    return GenerationRequest(
        64,
        64,
        "a garden",
        regions=[RegionPrompt(left, "a red circle"), RegionPrompt(right, "a blue square")],
        steps=2,
        guidance_scale=5.0,
        seed=3,
        mode=mode,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("grad_mode", sorted(GRAD_MODES))
@pytest.mark.parametrize("mode", ["attention", "latent"])
def test_generation_works_under_inference_and_no_grad_modes(
    bundle: ModelBundle, mode: str, grad_mode: str
) -> None:
    pipe = RegionalDiffusionPipeline(bundle)
    expected = pipe(_request(mode)).image
    with GRAD_MODES[grad_mode]():
        image = pipe(_request(mode)).image
        again = pipe(_request(mode)).image  # a second call reuses nothing stale
    assert np.array_equal(np.asarray(image), np.asarray(expected))
    assert np.array_equal(np.asarray(again), np.asarray(expected))


def _canvas_session(bundle: ModelBundle) -> list[np.ndarray]:
    """Generate, lock one region, regenerate the other by crop, refine it: every image."""
    canvas = PakatiCanvas(128, 128, model=bundle, steps=3, base_prompt="a landscape")
    canvas.create_region(box=(0, 0, 128, 40), name="sky")
    canvas.create_region(box=(16, 56, 80, 112), name="lake")
    canvas.apply_to_region("sky", "sunset sky")
    canvas.apply_to_region("lake", "a calm lake")
    images = [canvas.generate(seed=42).image]
    canvas.lock("sky")
    canvas.apply_to_region("lake", "a frozen lake at dusk")
    images.append(canvas.regenerate("lake").image)
    images.append(canvas.refine("lake", strength=0.5).image)
    return [np.asarray(image) for image in images]


@pytest.mark.parametrize("grad_mode", sorted(GRAD_MODES))
def test_canvas_generate_and_edits_work_under_inference_and_no_grad_modes(
    bundle: ModelBundle, grad_mode: str
) -> None:
    expected = _canvas_session(bundle)
    with GRAD_MODES[grad_mode]():
        images = _canvas_session(bundle)
    for image, reference in zip(images, expected, strict=True):
        assert np.array_equal(image, reference)


def test_prompt_projections_are_cached_for_inference_tensors(sd_bundle: ModelBundle) -> None:
    """Inference tensors have no version counter: the cache then goes by identity."""
    controller = RegionalAttentionController(
        torch.ones(1, 1, 64, 64), torch.zeros(1, 64, 64), 77, (8, 8)
    )
    name = cross_attention_names(sd_bundle.unet)[0]
    module = sd_bundle.unet.get_submodule(name.removesuffix(".processor"))
    calls: list[int] = []
    handle = module.to_k.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.inference_mode(), regional_attention(sd_bundle.unet, controller):
            hidden = torch.randn(1, 64, module.to_q.in_features)
            embeds = torch.randn(1, 154, module.to_k.in_features)
            assert embeds.is_inference()
            first = module(hidden, encoder_hidden_states=embeds)
            second = module(hidden, encoder_hidden_states=embeds)
            assert len(calls) == 1 and torch.equal(first, second)
            third = module(hidden, encoder_hidden_states=embeds * 2.0)  # another tensor
            assert len(calls) == 2 and not torch.equal(first, third)
    finally:
        handle.remove()
