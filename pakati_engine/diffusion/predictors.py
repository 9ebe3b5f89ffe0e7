"""Noise predictors for the denoising loop: attention mode and latent (MultiDiffusion) mode.

Attention mode runs the UNet once per step on the concatenated prompts, with regional
routing in its cross-attention layers (see ``attention``). Latent mode runs it once per
region plus once for the base prompt, each pass with its own prompt, guidance scale and
active step window, and blends the noise predictions by the regions' visible masks at the
latent resolution (Bar-Tal et al. 2023, "MultiDiffusion: Fusing Diffusion Paths for
Controlled Image Generation"). Latent mode costs N + 1 passes; it exists for per-region
settings that one pass cannot express.

A region's pass is itself regionally routed: its prompt inside its own mask, the base
prompt outside. A pass that saw only "a red boat" would paint a whole canvas of it, with
its own idea of the background and of where the boat goes, and the blend would then cut a
window out of that picture; routed, the pass knows where its object belongs and what
surrounds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from pakati_engine.diffusion.attention import RegionalRouting
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.protocols import Scheduler


@dataclass
class Conditioning:
    """What every UNet call gets besides latents and timestep."""

    added: dict[str, torch.Tensor] | None  # SDXL pooled text and time ids, batch (2 or 1)
    inpaint: torch.Tensor | None  # (1, 5, h, w) mask + masked-image latents, inpainting UNets


def unet_guided(
    bundle: ModelBundle,
    latents: torch.Tensor,
    t: torch.Tensor,
    embeds: torch.Tensor,
    guidance_scale: float,
    conditioning: Conditioning,
    scheduler: Scheduler,
) -> torch.Tensor:
    """One UNet call with classifier-free guidance when ``embeds`` holds (negative, positive)."""
    do_cfg = embeds.shape[0] == 2
    model_input = torch.cat([latents] * 2) if do_cfg else latents  # (B, C, h, w)
    model_input = scheduler.scale_model_input(model_input, t)
    if conditioning.inpaint is not None:
        extra = conditioning.inpaint.expand(model_input.shape[0], -1, -1, -1)
        model_input = torch.cat([model_input, extra], dim=1)  # (B, C + 5, h, w)
    prediction = bundle.unet(
        model_input,
        t,
        encoder_hidden_states=embeds,
        added_cond_kwargs=conditioning.added,
        return_dict=False,
    )[0]
    if not do_cfg:
        return prediction
    uncond, cond = prediction.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


@dataclass
class RegionPass:
    """One region's pass in latent mode."""

    weight: torch.Tensor  # (1, 1, h, w) visible share at latent resolution
    embeds: torch.Tensor  # (2 or 1, 2L, D): (negative, positive) base span then region span
    guidance_scale: float
    window: tuple[float, float]  # active for steps with start <= i / steps < end
    routing: RegionalRouting | None = None
    """Routes the region's span inside its mask and the base span outside; None: unrouted."""


class LatentModePredictor:
    """Blend one noise prediction per region (plus the base) by their latent masks."""

    def __init__(
        self,
        bundle: ModelBundle,
        base_embeds: torch.Tensor,
        background: torch.Tensor,
        passes: Sequence[RegionPass],
        guidance_scale: float,
        conditioning: Conditioning,
        scheduler: Scheduler,
        num_steps: int,
    ) -> None:
        self.bundle = bundle
        self.base_embeds = base_embeds
        self.background = background  # (1, 1, h, w)
        self.passes = list(passes)
        self.guidance_scale = guidance_scale
        self.conditioning = conditioning
        self.scheduler = scheduler
        self.num_steps = num_steps

    def __call__(self, latents: torch.Tensor, t: torch.Tensor, index: int) -> torch.Tensor:
        base = self._call(latents, t, self.base_embeds, self.guidance_scale)
        blended = self.background * base
        progress = index / self.num_steps
        for region in self.passes:
            start, end = region.window
            if start <= progress < end:
                with region.routing or nullcontext():
                    prediction = self._call(latents, t, region.embeds, region.guidance_scale)
            else:
                prediction = base  # outside its window a region follows the base prompt
            blended = blended + region.weight * prediction
        return blended

    def _call(
        self, latents: torch.Tensor, t: torch.Tensor, embeds: torch.Tensor, guidance: float
    ) -> torch.Tensor:
        return unet_guided(
            self.bundle, latents, t, embeds, guidance, self.conditioning, self.scheduler
        )
