"""Noise predictors for the denoising loop: attention mode and latent (MultiDiffusion) mode.

Attention mode runs the UNet once per step on the concatenated prompts, with regional
routing in its cross-attention layers (see ``attention``). Latent mode runs it once per
region plus once for the base prompt, each pass with its own prompt, guidance scale and
active step window, and blends the noise predictions by the regions' visible masks at the
latent resolution (Bar-Tal et al. 2023, "MultiDiffusion: Fusing Diffusion Paths for
Controlled Image Generation"). Latent mode costs N + 1 passes (N where no pixel needs the
base), batched into as few UNet calls as memory allows; it exists for per-region settings
that one pass cannot express.

A region's pass is itself regionally routed: its prompt inside its own mask, the base
prompt outside. A pass that saw only "a red boat" would paint a whole canvas of it, with
its own idea of the background and of where the boat goes, and the blend would then cut a
window out of that picture; routed, the pass knows where its object belongs and what
surrounds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pakati_engine.diffusion.attention import RegionalAttentionController, RegionalRouting
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.protocols import Scheduler

if TYPE_CHECKING:
    from pakati_engine.control.residuals import ControlResiduals


@dataclass
class Conditioning:
    """What every UNet call gets besides latents and timestep."""

    added: dict[str, torch.Tensor] | None  # SDXL pooled text and time ids, batch (2 or 1)
    inpaint: torch.Tensor | None  # (1, 5, h, w) mask + masked-image latents, inpainting UNets
    control: ControlResiduals | None = None  # per-region ControlNets (attention mode)


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
    return unet_guided_batch(
        bundle, latents, t, [embeds], [guidance_scale], conditioning, scheduler
    )[0]


def unet_guided_batch(
    bundle: ModelBundle,
    latents: torch.Tensor,
    t: torch.Tensor,
    embeds: Sequence[torch.Tensor],
    guidance_scales: Sequence[float],
    conditioning: Conditioning,
    scheduler: Scheduler,
    shared_negative: bool = False,
) -> list[torch.Tensor]:
    """One UNet call for M passes on the same latents, each with its own prompt embeddings
    (2 or 1, T, D) and guidance scale; returns M guided predictions (1, C, h, w).

    The batch is laid out ``[negative 1..M, positive 1..M]`` (without guidance, positives
    only); a routing installed for the call must list its masks in that order. With
    ``shared_negative`` (every pass's negative row is the same prompt, see
    :func:`shares_negative`), it is ``[negative, positive 1..M]``: the negative prediction
    is computed once.
    """
    passes = len(embeds)
    do_cfg = embeds[0].shape[0] == 2
    shared_negative = shared_negative and do_cfg
    negatives = [embeds[0][:1]] if shared_negative else [e[:1] for e in embeds]
    rows = negatives + ([e[1:] for e in embeds] if do_cfg else [])
    batch = len(rows)
    model_input = torch.cat([latents] * batch)  # (B, C, h, w)
    model_input = scheduler.scale_model_input(model_input, t)
    extra: dict[str, Any] = {}
    if conditioning.control is not None:  # the ControlNets see the latents, not mask inputs
        residuals = conditioning.control(model_input, t)
        if residuals is not None:
            extra["down_block_additional_residuals"] = residuals[0]
            extra["mid_block_additional_residual"] = residuals[1]
    if conditioning.inpaint is not None:
        inpaint = conditioning.inpaint.expand(batch, -1, -1, -1)
        model_input = torch.cat([model_input, inpaint], dim=1)  # (B, C + 5, h, w)
    added = conditioning.added
    if added is not None and shared_negative:  # (2, ...) -> [negative, positive x M]
        added = {
            name: torch.cat([value[:1], value[1:].repeat_interleave(passes, dim=0)])
            for name, value in added.items()
        }
    elif added is not None and passes > 1:  # (2 or 1, ...) -> one row per pass, same order
        added = {name: value.repeat_interleave(passes, dim=0) for name, value in added.items()}
    prediction = bundle.unet(
        model_input,
        t,
        encoder_hidden_states=torch.cat(rows),  # (B, T, D)
        added_cond_kwargs=added,
        return_dict=False,
        **extra,
    )[0]  # (B, C, h, w)
    if not do_cfg:
        return list(prediction.split(1))
    if shared_negative:
        uncond, cond = prediction[:1].expand(passes, -1, -1, -1), prediction[1:]
    else:
        uncond, cond = prediction.chunk(2)  # (M, C, h, w) each
    return [
        uncond[m : m + 1] + scale * (cond[m : m + 1] - uncond[m : m + 1])
        for m, scale in enumerate(guidance_scales)
    ]


def shares_negative(embeds: Sequence[torch.Tensor], span: int) -> bool:
    """Do the passes' negative rows (row 0 of each (2, T, D)) all hold one prompt, in every
    span? Then each gives plain attention over that prompt whatever its routing (the
    weights over identical spans cancel), on the same latents: one UNet row serves all.
    """
    if embeds[0].shape[0] != 2:
        return False
    first = embeds[0][0]  # (T, D)
    spans = first.reshape(-1, span, first.shape[-1])  # (T / span, span, D)
    return bool(torch.equal(spans, spans[:1].expand_as(spans))) and all(
        torch.equal(e[0], first) for e in embeds[1:]
    )


@dataclass
class RegionPass:
    """One region's pass in latent mode.

    The pass is regionally routed: the region's span inside its visible mask, the base span
    outside (see the module docstring).
    """

    weight: torch.Tensor  # (1, 1, h, w) visible share at latent resolution
    embeds: torch.Tensor  # (2 or 1, 2L, D): (negative, positive) base span then region span
    guidance_scale: float
    window: tuple[float, float]  # active for steps with start <= i / steps < end
    visible: torch.Tensor  # (1, H, W) the region's visible mask, any resolution
    region_weight: float = 1.0  # the region's strength against the base prompt


@dataclass(frozen=True)
class PassRouting:
    """How latent-mode passes are routed: what the controller of a batch of passes needs."""

    tokens_per_prompt: int
    latent_size: tuple[int, int]
    base_ratio: float


#: Passes per UNet call in latent mode (each doubled for guidance); bounds the memory.
MAX_PASSES_PER_CALL = 8


class LatentModePredictor:
    """Blend one noise prediction per region (plus the base) by their latent masks.

    The passes active at a step run together in as few UNet calls as
    ``max_passes_per_call`` allows, each row routed by its own mask. The base pass runs only
    where it is needed: some pixel is uncovered, or a region is outside its step window.
    Batched, the base pass is routed over ``[base | a region's span]`` with an empty mask,
    which gives the region's tokens exactly zero weight: the same attention as the base
    prompt alone, up to float rounding. Under guidance, when every pass's negative row holds
    one prompt (no region has a negative prompt of its own), that row is run once for all
    passes: 1 + M rows per call instead of 2M, the same prediction up to float rounding.
    """

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
        routing: PassRouting,
        max_passes_per_call: int = MAX_PASSES_PER_CALL,
    ) -> None:
        self.bundle = bundle
        self.base_embeds = base_embeds  # (2 or 1, L, D)
        self.background = background  # (1, 1, h, w)
        self.passes = list(passes)
        self.guidance_scale = guidance_scale
        self.conditioning = conditioning
        self.scheduler = scheduler
        self.num_steps = num_steps
        self.routing = routing
        self.max_passes_per_call = max(1, max_passes_per_call)
        self._uncovered = bool((background > 0).any())
        #: per chunk of passes: its routing, and whether its negative row is shared
        self._routings: dict[tuple[int, ...], tuple[RegionalRouting, bool]] = {}

    def __call__(self, latents: torch.Tensor, t: torch.Tensor, index: int) -> torch.Tensor:
        progress = index / self.num_steps
        active = [k for k, p in enumerate(self.passes) if p.window[0] <= progress < p.window[1]]
        members = (
            active if len(active) == len(self.passes) and not self._uncovered else [-1, *active]
        )
        predictions: dict[int, torch.Tensor] = {}
        for start in range(0, len(members), self.max_passes_per_call):
            chunk = members[start : start + self.max_passes_per_call]
            predictions.update(zip(chunk, self._call(latents, t, chunk), strict=True))
        base = predictions.get(-1)
        blended = self.background * base if base is not None else torch.zeros_like(latents)
        for k, region in enumerate(self.passes):
            prediction = predictions.get(k, base)  # outside its window: the base prompt's
            assert prediction is not None
            blended = blended + region.weight * prediction
        return blended

    def _call(self, latents: torch.Tensor, t: torch.Tensor, chunk: list[int]) -> list[torch.Tensor]:
        """Predictions of the passes in ``chunk`` (-1: the base pass) from one UNet call."""
        if chunk == [-1]:
            return [self._guided(latents, t, [self.base_embeds], [self.guidance_scale])]
        embeds = [self.passes[k].embeds if k >= 0 else self._base_padded() for k in chunk]
        scales = [self.passes[k].guidance_scale if k >= 0 else self.guidance_scale for k in chunk]
        key = tuple(chunk)
        if key not in self._routings:
            shared = shares_negative(embeds, self.routing.tokens_per_prompt)
            self._routings[key] = (self._batch_routing(chunk, embeds[0].shape[0], shared), shared)
        routing, shared = self._routings[key]
        with routing:
            return unet_guided_batch(
                self.bundle, latents, t, embeds, scales, self.conditioning, self.scheduler, shared
            )

    def _guided(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        embeds: list[torch.Tensor],
        scales: list[float],
    ) -> torch.Tensor:
        return unet_guided_batch(
            self.bundle, latents, t, embeds, scales, self.conditioning, self.scheduler
        )[0]

    def _base_padded(self) -> torch.Tensor:
        """The base span followed by a span the empty mask never lets through: (2 or 1, 2L, D)."""
        return torch.cat([self.base_embeds, self.base_embeds], dim=1)

    def _batch_routing(
        self, chunk: list[int], rows_per_pass: int, shared_negative: bool = False
    ) -> RegionalRouting:
        """Row m of the batch: pass chunk[m]'s mask (the base pass: none), per CFG half; a
        shared negative row (see ``unet_guided_batch``) gets none (its base span alone)."""
        first = self.passes[0].visible
        empty = torch.zeros_like(first)
        visible = torch.cat([self.passes[k].visible if k >= 0 else empty for k in chunk])
        weights = torch.tensor(
            [[self.passes[k].region_weight if k >= 0 else 1.0] for k in chunk]
        )  # (M, 1)
        if shared_negative and rows_per_pass == 2:  # (1 + M, H, W): [negative, positives]
            visible = torch.cat([empty, visible])
            weights = torch.cat([torch.ones(1, 1), weights])
            rows_per_pass = 1
        visible = visible.repeat(rows_per_pass, 1, 1)  # (B, H, W): [negatives, positives]
        controller = RegionalAttentionController(
            visible=visible[:, None],  # (B, 1, H, W)
            background=1.0 - visible,  # (B, H, W)
            tokens_per_prompt=self.routing.tokens_per_prompt,
            latent_size=self.routing.latent_size,
            base_ratio=self.routing.base_ratio,
            weights=weights.repeat(rows_per_pass, 1),  # (B, 1)
        )
        return RegionalRouting(self.bundle.unet, controller)
