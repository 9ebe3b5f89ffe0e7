"""Regenerating only what changed: denoise the edited area's box plus a context margin.

A region edit keeps every pixel outside the editable mask (and its feather band), so only
a box around it needs denoising. The box is grown by a context margin, rounded outward to
the model's latent factor and clipped to the canvas; the crop gets the canvas's own noise
for its cells, its share of every region's mask and the kept pixels, and the result is
pasted back (pixels outside the band are the kept bytes, so the paste is seamless). When
the box would cover most of the canvas anyway, the whole canvas is denoised instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from pakati_engine.diffusion.keeping import composite
from pakati_engine.diffusion.noise import owned_cells, seeded_noise
from pakati_engine.diffusion.pipeline import (
    GenerationOutput,
    GenerationRequest,
    RegionalDiffusionPipeline,
    StepCallback,
)
from pakati_engine.regions.masks import stack_masks

#: Crops larger than this fraction of the canvas fall back to whole-canvas denoising (a crop
#: also saves encoding the rest of the kept image, so it pays off up to nearly the whole canvas).
MAX_CROP_FRACTION = 0.85
DEFAULT_MARGIN = 16


@dataclass(frozen=True)
class CropPlan:
    """Pixel box (x0, y0, x1, y1) to denoise; multiples of the latent factor."""

    box: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return x1 - x0, y1 - y0


def plan_crop(
    changing: np.ndarray,
    multiple: int,
    margin: int = DEFAULT_MARGIN,
    max_fraction: float = MAX_CROP_FRACTION,
) -> CropPlan | None:
    """The box around the nonzero pixels of ``changing`` (H, W), or None to use the canvas."""
    height, width = changing.shape
    ys, xs = np.nonzero(changing)
    if len(xs) == 0:
        return None
    x0 = max(0, (int(xs.min()) - margin) // multiple * multiple)
    y0 = max(0, (int(ys.min()) - margin) // multiple * multiple)
    x1 = min(width, math.ceil((int(xs.max()) + 1 + margin) / multiple) * multiple)
    y1 = min(height, math.ceil((int(ys.max()) + 1 + margin) / multiple) * multiple)
    if (x1 - x0) * (y1 - y0) > max_fraction * width * height:
        return None
    return CropPlan((x0, y0, x1, y1))


def run_edit(
    pipe: RegionalDiffusionPipeline,
    request: GenerationRequest,
    callback: StepCallback | None = None,
    crop: bool = True,
    margin: int = DEFAULT_MARGIN,
) -> GenerationOutput:
    """Run a request that keeps pixels, on a crop when that is cheaper."""
    assert request.keep is not None, "run_edit needs a request with pixels to keep"
    pipe.check_inputs(request)
    plan = None
    if crop:
        plan = plan_crop(request.keep.blend_weights() > 0, pipe.size_multiple, margin)
    if plan is None:
        return pipe(request, callback)
    factor = pipe.size_multiple
    output = pipe(crop_request(request, plan, factor, pipe.latent_channels), callback)
    image = request.keep.image.convert("RGB").copy()
    image.paste(output.image, plan.box[:2])
    latents = output.latents
    if request.kept_latents is not None:  # the canvas's latents with the crop's pasted in
        x0, y0, x1, y1 = (value // factor for value in plan.box)
        latents = request.kept_latents.clone().to(output.latents.dtype)
        latents[:, :, y0:y1, x0:x1] = output.latents.to(latents.device)
    return replace(output, image=image, latents=latents)


def crop_request(
    request: GenerationRequest, plan: CropPlan, factor: int, channels: int
) -> GenerationRequest:
    """The part of ``request`` inside ``plan.box``, with the canvas's noise for its cells."""
    assert request.keep is not None
    x0, y0, x1, y1 = plan.box
    latent_size = (request.height // factor, request.width // factor)
    seeds = [r.seed for r in request.regions]
    owned = None
    if request.regions and any(s is not None for s in seeds):
        stacked = stack_masks([r.mask for r in request.regions])
        owned = owned_cells(stacked.visible, stacked.background, latent_size)
    noise = request.noise
    if noise is None:
        noise = seeded_noise((1, channels, *latent_size), request.seed, seeds, owned)
    noise = noise[:, :, y0 // factor : y1 // factor, x0 // factor : x1 // factor]
    regions = [
        replace(
            region,
            mask=np.ascontiguousarray(region.mask[y0:y1, x0:x1]),
            control=region.control.cropped(plan.box) if region.control else None,
        )
        for region in request.regions
        if region.mask[y0:y1, x0:x1].max(initial=0.0) > 0
    ]
    kept_latents = request.kept_latents
    if kept_latents is not None:
        cells = (slice(y0 // factor, y1 // factor), slice(x0 // factor, x1 // factor))
        kept_latents = kept_latents[:, :, cells[0], cells[1]].contiguous()
    return replace(
        request,
        width=x1 - x0,
        height=y1 - y0,
        regions=regions,
        keep=request.keep.crop(plan.box),
        noise=noise.contiguous(),
        kept_latents=kept_latents,
    )


def run_zoomed_edit(
    pipe: RegionalDiffusionPipeline,
    request: GenerationRequest,
    callback: StepCallback | None = None,
    margin: int = DEFAULT_MARGIN,
) -> GenerationOutput:
    """Redraw a small edit at the model's working size ("inpaint only masked").

    The crop around the editable mask (plus ``margin``) is upsampled so that its longer
    side spans the canvas's (the size the model works at), denoised there with fresh noise
    from the request's seed, downsampled back and blended into the kept image with the
    original, full-resolution keep mask: every pixel outside the editable mask's feather
    band, and every frozen pixel, stays byte-identical. A small object gets the model's full
    resolution instead of a few latent cells. Falls back to :func:`run_edit` when the crop
    is not smaller than the canvas.
    """
    assert request.keep is not None, "run_zoomed_edit needs a request with pixels to keep"
    pipe.check_inputs(request)
    factor = pipe.size_multiple
    plan = plan_crop(request.keep.blend_weights() > 0, factor, margin, max_fraction=1.0)
    if plan is None:
        return run_edit(pipe, request, callback, crop=True, margin=margin)
    crop_w, crop_h = plan.size
    scale = min(request.width / crop_w, request.height / crop_h)
    if scale <= 1.0:
        return run_edit(pipe, request, callback, crop=True, margin=margin)
    zoom_w = max(factor, round(crop_w * scale / factor) * factor)
    zoom_h = max(factor, round(crop_h * scale / factor) * factor)
    kept = request.keep.crop(plan.box)
    size = (zoom_w, zoom_h)
    zoomed_keep = replace(
        kept,
        image=kept.image.resize(size, Image.Resampling.BICUBIC),
        editable=_resized(kept.editable, size, Image.Resampling.NEAREST),
        feather=max(1, round(kept.feather * scale)) if kept.feather else 0,
        frozen=None if kept.frozen is None else _resized(kept.frozen, size) > 0.5,
    )
    x0, y0, x1, y1 = plan.box
    regions = [
        replace(
            region,
            mask=_resized(region.mask[y0:y1, x0:x1], size, Image.Resampling.BILINEAR),
            control=region.control.cropped(plan.box).resized(size) if region.control else None,
        )
        for region in request.regions
        if region.mask[y0:y1, x0:x1].max(initial=0.0) > 0
    ]
    zoomed = replace(
        request,
        width=zoom_w,
        height=zoom_h,
        regions=regions,
        keep=zoomed_keep,
        noise=None,
        kept_latents=None,
    )
    output = pipe(zoomed, callback)
    small = output.image.resize((crop_w, crop_h), Image.Resampling.LANCZOS)
    blended = composite(small, kept)  # the original keep mask: the exactness guarantee
    image = request.keep.image.convert("RGB").copy()
    image.paste(blended, plan.box[:2])
    with torch.no_grad():  # the canvas keeps latents of its image for the next edit
        latents = pipe.encode_image(image)
    return replace(
        output, image=image, latents=latents, latent_size=(zoom_h // factor, zoom_w // factor)
    )


def _resized(
    array: np.ndarray, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.NEAREST
) -> np.ndarray:
    """A float (H, W) mask resized to ``size`` (width, height)."""
    image = Image.fromarray(np.asarray(array, dtype=np.float32), mode="F")
    return np.asarray(image.resize(size, resample), dtype=np.float32).clip(0.0, 1.0)
