"""Regional text-to-image generation: one UNet pass per step, whatever the number of regions.

Reads like a diffusers pipeline ``__call__``: check inputs, encode prompts, prepare
timesteps, latents, routing and extra conditioning, then a written-out denoising loop with
a step callback, then decode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from pakati_engine.attention import RegionalAttentionController, regional_attention
from pakati_engine.errors import InvalidInputError
from pakati_engine.masks import stack_masks
from pakati_engine.models import ModelBundle
from pakati_engine.schedulers import make_scheduler
from pakati_engine.text_encoding import PromptEmbeddings, encode_prompts

#: Called after every denoising step with (step index, number of steps).
StepCallback = Callable[[int, int], None]


@dataclass
class RegionPrompt:
    """One region as the pipeline sees it: its coverage mask and its prompts."""

    mask: np.ndarray  # (H, W) float32 coverage in [0, 1]
    prompt: str
    negative_prompt: str = ""
    weight: float = 1.0
    label: str = ""


@dataclass
class GenerationRequest:
    """Everything one generation depends on. ``regions`` are listed bottom to top."""

    width: int
    height: int
    prompt: str = ""
    negative_prompt: str = ""
    regions: list[RegionPrompt] = field(default_factory=list)
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int = 0
    base_ratio: float = 0.2
    scheduler: str | None = None


@dataclass
class GenerationOutput:
    image: Image.Image
    latents: torch.Tensor
    unet_calls: int
    timings: dict[str, float]


class RegionalDiffusionPipeline:
    """Generates one image whose regions each follow their own prompt."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the VAE factor)."""
        return self.bundle.vae_scale_factor

    def check_inputs(self, request: GenerationRequest) -> None:
        multiple = self.size_multiple
        for side, value in (("width", request.width), ("height", request.height)):
            if value <= 0 or value % multiple:
                lower = max(multiple, value - value % multiple)
                raise InvalidInputError(
                    f"{side} {value} is not a positive multiple of {multiple} (this model's "
                    f"latent factor); use {lower} or {lower + multiple}"
                )
        if request.steps < 1:
            raise InvalidInputError(f"steps must be at least 1, got {request.steps}")
        if not 0.0 <= request.base_ratio <= 1.0:
            raise InvalidInputError(f"base_ratio must be in [0, 1], got {request.base_ratio}")
        for region in request.regions:
            if region.mask.shape != (request.height, request.width):
                raise InvalidInputError(
                    f"region {region.label!r}: mask shape {region.mask.shape} does not match "
                    f"the {request.width}x{request.height} canvas"
                )
            if region.weight < 0:
                raise InvalidInputError(f"region {region.label!r}: weight must be >= 0")

    @torch.no_grad()
    def __call__(
        self, request: GenerationRequest, callback: StepCallback | None = None
    ) -> GenerationOutput:
        bundle = self.bundle
        timings: dict[str, float] = {}
        started = time.perf_counter()

        # 1. Check inputs
        self.check_inputs(request)
        do_cfg = request.guidance_scale > 1.0

        # 2. Encode prompts: base first, then regions bottom to top
        embeddings = encode_prompts(
            bundle,
            [request.prompt, *(r.prompt for r in request.regions)],
            [request.negative_prompt, *(r.negative_prompt for r in request.regions)],
            ["base prompt", *(f"region {r.label!r}" for r in request.regions)],
        )
        prompt_embeds = self.prepare_prompt_embeds(embeddings, do_cfg)  # (B, T, D)
        timings["encode"] = time.perf_counter() - started

        # 3. Prepare timesteps
        scheduler = make_scheduler(bundle.scheduler, request.scheduler)
        scheduler.set_timesteps(request.steps, device=bundle.device)
        timesteps = scheduler.timesteps

        # 4. Prepare latents from the seed (on the CPU, so every device draws the same noise)
        latent_h = request.height // bundle.vae_scale_factor
        latent_w = request.width // bundle.vae_scale_factor
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        latents = self.prepare_latents(latent_h, latent_w, generator) * scheduler.init_noise_sigma

        # 5. Prepare regional routing (none when there are no regions: a plain generation)
        controller = self.prepare_controller(request, embeddings, (latent_h, latent_w))

        # 6. Prepare extra conditioning (SDXL pooled text and size/crop time ids)
        added_cond = self.prepare_added_conditioning(request, embeddings, do_cfg)

        # 7. Denoising loop
        unet_calls = 0
        loop_started = time.perf_counter()
        routing = regional_attention(bundle.unet, controller) if controller else nullcontext()
        with routing:
            for index, t in enumerate(timesteps):
                model_input = torch.cat([latents] * 2) if do_cfg else latents
                model_input = scheduler.scale_model_input(model_input, t)
                noise_pred = bundle.unet(
                    model_input,
                    t,
                    encoder_hidden_states=prompt_embeds,
                    added_cond_kwargs=added_cond,
                    return_dict=False,
                )[0]
                unet_calls += 1
                if do_cfg:
                    uncond, cond = noise_pred.chunk(2)
                    noise_pred = uncond + request.guidance_scale * (cond - uncond)
                latents = scheduler.step(
                    noise_pred, t, latents, generator=generator, return_dict=False
                )[0]
                if callback is not None:
                    callback(index, len(timesteps))
        timings["denoise"] = time.perf_counter() - loop_started

        # 8. Decode
        decode_started = time.perf_counter()
        image = self.decode_latents(latents)
        timings["decode"] = time.perf_counter() - decode_started
        timings["total"] = time.perf_counter() - started
        return GenerationOutput(
            image=image, latents=latents, unet_calls=unet_calls, timings=timings
        )

    def prepare_prompt_embeds(self, embeddings: PromptEmbeddings, do_cfg: bool) -> torch.Tensor:
        if do_cfg:
            return torch.cat([embeddings.negative, embeddings.positive])  # (2, T, D)
        return embeddings.positive  # (1, T, D)

    def prepare_latents(self, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        shape = (1, self.bundle.latent_channels, height, width)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)  # (1, C, h, w)
        return noise.to(device=self.bundle.device, dtype=self.bundle.dtype)

    def prepare_controller(
        self,
        request: GenerationRequest,
        embeddings: PromptEmbeddings,
        latent_size: tuple[int, int],
    ) -> RegionalAttentionController | None:
        if not request.regions:
            return None
        stacked = stack_masks([r.mask for r in request.regions])
        return RegionalAttentionController(
            visible=torch.from_numpy(stacked.visible)[None],  # (1, N, H, W)
            background=torch.from_numpy(stacked.background)[None],  # (1, H, W)
            tokens_per_prompt=embeddings.tokens_per_prompt,
            latent_size=latent_size,
            base_ratio=request.base_ratio,
            weights=[r.weight for r in request.regions],
        )

    def prepare_added_conditioning(
        self, request: GenerationRequest, embeddings: PromptEmbeddings, do_cfg: bool
    ) -> dict[str, torch.Tensor] | None:
        if self.bundle.kind != "sdxl":
            return None
        assert embeddings.pooled_positive is not None
        assert embeddings.pooled_negative is not None
        size = (request.height, request.width)
        time_ids = torch.tensor(
            [[*size, 0, 0, *size]], device=self.bundle.device, dtype=self.bundle.dtype
        )  # (1, 6): original size, crop top-left, target size
        pooled = embeddings.pooled_positive  # (1, P)
        if do_cfg:
            pooled = torch.cat([embeddings.pooled_negative, pooled])  # (2, P)
            time_ids = torch.cat([time_ids, time_ids])  # (2, 6)
        return {"text_embeds": pooled, "time_ids": time_ids}

    def decode_latents(self, latents: torch.Tensor) -> Image.Image:
        vae: Any = self.bundle.vae
        if vae is None:
            pixels = latents  # pixel-space model: latents are the image in [-1, 1]
        else:
            scaled = latents / vae.config.scaling_factor
            shift = getattr(vae.config, "shift_factor", None)
            if shift:
                scaled = scaled + shift
            pixels = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]  # (1, 3, H, W)
        array = ((pixels[0].float() / 2 + 0.5).clamp(0, 1) * 255).round()  # (3, H, W)
        return Image.fromarray(array.permute(1, 2, 0).to(torch.uint8).cpu().numpy())
