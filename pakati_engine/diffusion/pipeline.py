"""Regional text-to-image generation, regeneration with kept pixels, and refinement.

Reads like a diffusers pipeline ``__call__``: check inputs, encode prompts, prepare
timesteps, latents, routing and extra conditioning, then a written-out denoising loop with
a step callback, then decode (and composite with kept pixels when some are kept).

* ``mode="attention"`` (default): one UNet pass per step whatever the number of regions.
* ``mode="latent"``: one pass per region plus the base, for per-region guidance scales and
  step windows (see ``predictors``).
* ``keep``: only the editable mask may change; pixels outside it and its feather band are
  byte-identical to the kept image (see ``keeping``).
* ``strength`` < 1 (with ``keep``): start from the kept image noised part of the way
  (SDEdit, Meng et al. 2021) instead of from pure noise.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, cast

import numpy as np
import torch
from PIL import Image

from pakati_engine.control.inputs import RegionControlInput
from pakati_engine.control.residuals import ControlResiduals
from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.diffusion.keeping import KeepSpec, composite, image_to_tensor, latent_edit_mask
from pakati_engine.diffusion.noise import owned_cells, seeded_noise
from pakati_engine.diffusion.predictors import (
    Conditioning,
    LatentModePredictor,
    PassRouting,
    RegionPass,
    unet_guided,
)
from pakati_engine.diffusion.preview import notify_step
from pakati_engine.diffusion.schedulers import make_scheduler
from pakati_engine.diffusion.text_encoding import PromptEmbeddings, encode_prompts
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.protocols import PatchVAE, Scheduler
from pakati_engine.regions.masks import StackedMasks, pool_masks, stack_masks

#: Called after every denoising step with (step index, number of steps).
StepCallback = Callable[[int, int], None]
Mode = Literal["attention", "latent"]


@dataclass
class RegionPrompt:
    """One region as the pipeline sees it: its coverage mask, prompts and settings.

    ``seed`` gives the region its own noise. ``guidance_scale`` and ``step_window``
    (fractions of the steps during which the region's prompt acts) need latent mode.
    """

    mask: np.ndarray  # (H, W) float32 coverage in [0, 1]
    prompt: str
    negative_prompt: str = ""
    weight: float = 1.0
    label: str = ""
    seed: int | None = None
    guidance_scale: float | None = None
    step_window: tuple[float, float] = (0.0, 1.0)
    #: A ControlNet acting inside this region only (attention mode).
    control: RegionControlInput | None = None


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
    mode: Mode = "attention"
    keep: KeepSpec | None = None
    strength: float = 1.0
    #: Initial noise (1, C, h, w) to use instead of drawing it from the seeds (crops reuse
    #: the full canvas's noise this way).
    noise: torch.Tensor | None = None
    #: Latents of the kept image (1, C, h, w), when known (the canvas keeps those of its
    #: last generation); saves encoding the kept image with the VAE.
    kept_latents: torch.Tensor | None = None


@dataclass
class GenerationOutput:
    image: Image.Image
    latents: torch.Tensor
    unet_calls: int
    timings: dict[str, float]
    #: (h, w) of the latents the UNet denoised (smaller than the canvas for crops).
    latent_size: tuple[int, int] = (0, 0)
    #: ControlNet calls made (one per ControlNet model per step where a control is active).
    control_calls: int = 0


class RegionalDiffusionPipeline:
    """Generates one image whose regions each follow their own prompt."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        #: Attention mode's routing groups pixels by the prompt that reaches them; False
        #: gives every pixel every token with a dense bias (the same result, for comparison).
        self.grouped_routing = True

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the VAE factor)."""
        return self.bundle.vae_scale_factor

    @property
    def is_inpainting_model(self) -> bool:
        """An inpainting UNet takes latents + mask + masked-image latents (4 + 1 + 4)."""
        return bool(self.bundle.unet.config.in_channels == 2 * self.latent_channels + 1)

    @property
    def latent_channels(self) -> int:
        vae = self.bundle.vae
        if vae is None:
            return int(self.bundle.unet.config.out_channels)
        if "latent_channels" in vae.config:
            return int(vae.config.latent_channels)
        # PixelUnshuffleVAE derives it from its patch size
        return int(cast(PatchVAE, vae).latent_channels)

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
        if not 0.0 < request.strength <= 1.0:
            raise InvalidInputError(f"strength must be in (0, 1], got {request.strength}")
        if request.strength < 1.0 and request.keep is None:
            raise InvalidInputError("strength < 1 refines an existing image: give one to keep")
        if request.keep is not None and request.keep.image.size != (request.width, request.height):
            raise InvalidInputError("the kept image must have the canvas size")
        if request.mode not in ("attention", "latent"):
            raise InvalidInputError(f"mode must be 'attention' or 'latent', not {request.mode!r}")
        for region in request.regions:
            self._check_region(region, request)

    def _check_region(self, region: RegionPrompt, request: GenerationRequest) -> None:
        if region.mask.shape != (request.height, request.width):
            raise InvalidInputError(
                f"region {region.label!r}: mask shape {region.mask.shape} does not match "
                f"the {request.width}x{request.height} canvas"
            )
        if region.weight < 0:
            raise InvalidInputError(f"region {region.label!r}: weight must be >= 0")
        start, end = region.step_window
        if not 0.0 <= start < end <= 1.0:
            raise InvalidInputError(
                f"region {region.label!r}: step_window {region.step_window} must satisfy "
                "0 <= start < end <= 1"
            )
        if region.control is not None:
            self._check_control(region, region.control, request)
        per_region = region.guidance_scale is not None or region.step_window != (0.0, 1.0)
        if per_region and request.mode == "attention":
            raise InvalidInputError(
                f"region {region.label!r}: a per-region guidance scale or step window needs "
                "mode='latent' (attention mode runs all regions in one pass)"
            )

    def _check_control(
        self, region: RegionPrompt, control: RegionControlInput, request: GenerationRequest
    ) -> None:
        label = region.label
        if request.mode != "attention":
            raise InvalidInputError(
                f"region {label!r}: a ControlNet needs mode='attention' (its residuals enter "
                "the one UNet pass that attention mode runs per step)"
            )
        if control.image.shape != (request.height, request.width, 3):
            raise InvalidInputError(
                f"region {label!r}: control map of shape {control.image.shape} does not match "
                f"the {request.width}x{request.height} canvas"
            )
        if not 0.0 <= control.scale <= 4.0:
            raise InvalidInputError(
                f"region {label!r}: control_scale must be in [0, 4], got {control.scale}"
            )
        start, end = control.window
        if not 0.0 <= start < end <= 1.0:
            raise InvalidInputError(
                f"region {label!r}: control_window {control.window} must satisfy "
                "0 <= start < end <= 1"
            )

    @torch.no_grad()
    def __call__(
        self, request: GenerationRequest, callback: StepCallback | None = None
    ) -> GenerationOutput:
        bundle = self.bundle
        timings: dict[str, float] = {}
        started = time.perf_counter()

        # 1. Check inputs
        self.check_inputs(request)
        do_cfg = request.guidance_scale > 1.0 or any(
            (r.guidance_scale or 0.0) > 1.0 for r in request.regions
        )

        # 2. Encode prompts: base first, then regions bottom to top
        embeddings = encode_prompts(
            bundle,
            [request.prompt, *(r.prompt for r in request.regions)],
            [request.negative_prompt, *(r.negative_prompt for r in request.regions)],
            ["base prompt", *(f"region {r.label!r}" for r in request.regions)],
        )
        prompt_embeds = self.prepare_prompt_embeds(embeddings, do_cfg)  # (B, T, D)
        timings["encode"] = time.perf_counter() - started

        # 3. Prepare timesteps (refinement skips the first 1 - strength of them)
        scheduler = make_scheduler(bundle.scheduler, request.scheduler)
        timesteps = self.prepare_timesteps(scheduler, request.steps, request.strength)

        # 4. Prepare latents: seeded noise, or the kept image noised to the first timestep
        scale = bundle.vae_scale_factor
        latent_size = (request.height // scale, request.width // scale)
        stacked = stack_masks([r.mask for r in request.regions]) if request.regions else None
        noise = self.prepare_noise(request, latent_size, stacked)  # (1, C, h, w)
        kept_latents = None
        if request.keep is not None:
            kept_latents = (
                request.kept_latents.to(device=bundle.device, dtype=bundle.dtype)
                if request.kept_latents is not None
                else self.encode_image(request.keep.image)
            )
        if request.strength < 1.0:
            assert kept_latents is not None
            latents = scheduler.add_noise(kept_latents, noise, timesteps[:1])
        else:
            latents = noise * scheduler.init_noise_sigma

        # 5. Prepare keeping: latent cells that may change (1) and those that follow the
        #    kept image (0); inpainting UNets get the mask as input instead
        edit_mask = None
        conditioning = Conditioning(
            added=self.prepare_added_conditioning(request, embeddings, do_cfg),
            inpaint=self.prepare_inpaint_input(request, latent_size),
        )
        if request.keep is not None and conditioning.inpaint is None:
            edit_mask = latent_edit_mask(request.keep.editable, latent_size, request.keep.feather)
            edit_mask = edit_mask.to(device=bundle.device, dtype=bundle.dtype)

        # 6. Prepare the noise predictor of the mode
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        # Stochastic samplers take the generator; LMS, UniPC and PNDM do not accept one.
        step_kwargs = (
            {"generator": generator}
            if "generator" in inspect.signature(scheduler.step).parameters
            else {}
        )
        controller = None
        if request.mode == "latent" and stacked is not None:
            predictor: Callable[..., torch.Tensor] = self.prepare_latent_mode(
                request,
                embeddings,
                do_cfg,
                stacked,
                latent_size,
                conditioning,
                scheduler,
                len(timesteps),
            )
        else:
            controller = self.prepare_controller(request, embeddings, latent_size, stacked)
            conditioning.control = self.prepare_control(
                request, stacked, controller, prompt_embeds, conditioning, len(timesteps)
            )

            def predictor(x: torch.Tensor, t: torch.Tensor, index: int) -> torch.Tensor:
                return unet_guided(
                    bundle, x, t, prompt_embeds, request.guidance_scale, conditioning, scheduler
                )

        # 7. Denoising loop
        calls: list[int] = []
        counter = bundle.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
        loop_started = time.perf_counter()
        routing = regional_attention(bundle.unet, controller) if controller else nullcontext()
        try:
            with routing:
                for index, t in enumerate(timesteps):
                    if conditioning.control is not None:
                        conditioning.control.begin_step(index)
                    noise_pred = predictor(latents, t, index)
                    latents = scheduler.step(
                        noise_pred, t, latents, return_dict=False, **step_kwargs
                    )[0]
                    if edit_mask is not None and kept_latents is not None:
                        following = timesteps[index + 1 : index + 2]
                        kept_now = (
                            scheduler.add_noise(kept_latents, noise, following)
                            if len(following)
                            else kept_latents
                        )
                        # x = M * x_region + (1 - M) * x_original
                        latents = edit_mask * latents + (1.0 - edit_mask) * kept_now
                    if callback is not None:
                        callback(index, len(timesteps))
                    notify_step(index, len(timesteps), partial(self.decode_latents, latents))
        finally:
            counter.remove()
        timings["denoise"] = time.perf_counter() - loop_started

        # 8. Decode, and composite with the kept pixels
        decode_started = time.perf_counter()
        image = self.decode_latents(latents)
        if request.keep is not None:
            image = composite(image, request.keep)
        timings["decode"] = time.perf_counter() - decode_started
        timings["total"] = time.perf_counter() - started
        return GenerationOutput(
            image=image,
            latents=latents,
            unet_calls=len(calls),
            timings=timings,
            latent_size=latent_size,
            control_calls=conditioning.control.calls if conditioning.control else 0,
        )

    def prepare_prompt_embeds(self, embeddings: PromptEmbeddings, do_cfg: bool) -> torch.Tensor:
        if do_cfg:
            return torch.cat([embeddings.negative, embeddings.positive])  # (2, T, D)
        return embeddings.positive  # (1, T, D)

    def prepare_timesteps(self, scheduler: Scheduler, steps: int, strength: float) -> torch.Tensor:
        scheduler.set_timesteps(steps, device=self.bundle.device)
        timesteps = scheduler.timesteps
        if strength >= 1.0:
            return timesteps
        start = min(round(steps * (1.0 - strength)), steps - 1)
        begin = start * scheduler.order
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        return timesteps[begin:]

    def prepare_noise(
        self,
        request: GenerationRequest,
        latent_size: tuple[int, int],
        stacked: StackedMasks | None,
    ) -> torch.Tensor:
        if request.noise is not None:
            noise = request.noise
        else:
            shape = (1, self.latent_channels, *latent_size)
            seeds = [r.seed for r in request.regions]
            owned = None
            if stacked is not None and any(s is not None for s in seeds):
                owned = owned_cells(stacked.visible, stacked.background, latent_size)
            noise = seeded_noise(shape, request.seed, seeds, owned)  # (1, C, h, w)
        return noise.to(device=self.bundle.device, dtype=self.bundle.dtype)

    def prepare_controller(
        self,
        request: GenerationRequest,
        embeddings: PromptEmbeddings,
        latent_size: tuple[int, int],
        stacked: StackedMasks | None = None,
    ) -> RegionalAttentionController | None:
        if not request.regions:
            return None
        stacked = stacked or stack_masks([r.mask for r in request.regions])
        return RegionalAttentionController(
            visible=torch.from_numpy(stacked.visible)[None],  # (1, N, H, W)
            background=torch.from_numpy(stacked.background)[None],  # (1, H, W)
            tokens_per_prompt=embeddings.tokens_per_prompt,
            latent_size=latent_size,
            base_ratio=request.base_ratio,
            weights=[r.weight for r in request.regions],
            grouped=self.grouped_routing,
        )

    def prepare_control(
        self,
        request: GenerationRequest,
        stacked: StackedMasks | None,
        controller: RegionalAttentionController | None,
        prompt_embeds: torch.Tensor,
        conditioning: Conditioning,
        num_steps: int,
    ) -> ControlResiduals | None:
        """The per-region ControlNets of the request, each masked to its visible region."""
        controlled = [k for k, r in enumerate(request.regions) if r.control is not None]
        if not controlled:
            return None
        assert stacked is not None and controller is not None
        return ControlResiduals(
            self.bundle,
            [c for k in controlled if (c := request.regions[k].control) is not None],
            [stacked.visible[k] for k in controlled],
            controller,
            prompt_embeds,
            conditioning.added,
            num_steps,
        )

    def prepare_latent_mode(
        self,
        request: GenerationRequest,
        embeddings: PromptEmbeddings,
        do_cfg: bool,
        stacked: StackedMasks,
        latent_size: tuple[int, int],
        conditioning: Conditioning,
        scheduler: Scheduler,
        num_steps: int,
    ) -> LatentModePredictor:
        span = embeddings.tokens_per_prompt
        masks = torch.from_numpy(np.concatenate([stacked.background[None], stacked.visible]))
        pooled = pool_masks(masks, latent_size)  # (N+1, h, w), sums to 1
        pooled = pooled.to(device=self.bundle.device, dtype=self.bundle.dtype)

        def spans(*indices: int) -> torch.Tensor:
            """The prompts' token spans, concatenated: (2 or 1, L * len(indices), D)."""
            parts = [slice(i * span, (i + 1) * span) for i in indices]
            positive = torch.cat([embeddings.positive[:, p] for p in parts], dim=1)
            negative = torch.cat([embeddings.negative[:, p] for p in parts], dim=1)
            return torch.cat([negative, positive]) if do_cfg else positive

        passes = [
            RegionPass(
                weight=pooled[k + 1][None, None],  # (1, 1, h, w)
                embeds=spans(0, k + 1),
                guidance_scale=(
                    region.guidance_scale
                    if region.guidance_scale is not None
                    else request.guidance_scale
                ),
                window=region.step_window,
                visible=torch.from_numpy(stacked.visible[k : k + 1]),  # (1, H, W)
                region_weight=region.weight,
            )
            for k, region in enumerate(request.regions)
        ]
        return LatentModePredictor(
            self.bundle,
            spans(0),
            pooled[0][None, None],
            passes,
            request.guidance_scale,
            conditioning,
            scheduler,
            num_steps,
            PassRouting(span, latent_size, request.base_ratio),
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

    def prepare_inpaint_input(
        self,
        request: GenerationRequest,
        latent_size: tuple[int, int],
    ) -> torch.Tensor | None:
        """Mask and masked-image latents for a dedicated inpainting UNet, else None."""
        if not self.is_inpainting_model:
            return None
        if request.keep is None:  # generating from scratch: everything is to be painted
            mask = torch.ones(1, 1, *latent_size)
            masked = self.encode_image(Image.new("RGB", (request.width, request.height)))
        else:
            editable = torch.from_numpy((request.keep.editable > 0).astype(np.float32))
            pixels = image_to_tensor(request.keep.image) * (1.0 - editable)[None, None]
            masked = self._encode_tensor(pixels)
            mask = torch.nn.functional.interpolate(editable[None, None], size=latent_size)
        mask = mask.to(device=self.bundle.device, dtype=self.bundle.dtype)
        return torch.cat([mask, masked], dim=1)  # (1, 1 + C, h, w)

    def encode_image(self, image: Image.Image) -> torch.Tensor:
        """RGB image -> (1, C, h, w) latents, scaled as the UNet expects."""
        return self._encode_tensor(image_to_tensor(image))

    def _encode_tensor(self, pixels: torch.Tensor) -> torch.Tensor:
        vae = self.bundle.vae
        pixels = pixels.to(device=self.bundle.device, dtype=self.bundle.dtype)
        if vae is None:
            return pixels
        latents = vae.encode(pixels).latent_dist.mode()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        return (latents - shift) * vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> Image.Image:
        vae = self.bundle.vae
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
