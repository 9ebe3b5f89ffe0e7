"""From a layout to pixels: the one path every generation takes.

A validated :class:`~pakati_engine.layout.Layout` is the single source of truth of a
generation. ``regions_from_layout`` rasterises its regions, ``request_from_layout`` turns it
into the pipeline's :class:`GenerationRequest` (regions stacked by z-order, settings the
layout leaves as None filled from the model's recommendations, then Pakati's defaults), and
``generate_layout`` runs it. The canvas (generations and edits), the evals, the training
evals and the CLI all go through these functions, so there is one place where a layout's
meaning is decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL.Image import Image as PILImage

from pakati_engine.control.inputs import (
    RegionControlInput,
    as_control_array,
    decode_control_png,
    encode_control_png,
    place_control_map,
)
from pakati_engine.diffusion.detail import detail_pass
from pakati_engine.diffusion.pipeline import (
    GenerationOutput,
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
    StepCallback,
)
from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import ControlSpec, Layout, RegionSpec, decode_mask_png
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.masks import stacking_order
from pakati_engine.regions.region import (
    Region,
    make_box_region,
    make_mask_region,
    make_polygon_region,
)

#: Settings used when neither the layout nor the model's recommendations give them.
GENERAL_DEFAULTS: dict[str, Any] = {
    "width": 512,
    "height": 512,
    "steps": 30,
    "guidance_scale": 7.5,
    "base_ratio": 0.2,
    "scheduler": None,
}

SAMPLING_KEYS = ("steps", "guidance_scale", "base_ratio", "scheduler")


def resolved_settings(
    layout: Layout, recommended: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Sampling settings of ``layout``: its own, else the model's, else Pakati's defaults."""
    chosen = {**GENERAL_DEFAULTS, **(recommended or {})}
    for key in SAMPLING_KEYS:
        value = getattr(layout, key)
        if value is not None:
            chosen[key] = value
    return {key: chosen[key] for key in SAMPLING_KEYS}


def region_id(index: int) -> str:
    """The id of the ``index``-th region (0-based) of a layout: ``region-1``, ..."""
    return f"region-{index + 1}"


def region_from_spec(
    spec: RegionSpec, index: int, width: int, height: int, clip: bool = False
) -> Region:
    """Rasterisable region of one layout entry (unnamed ones are named by their id)."""
    rid = region_id(index)
    name = spec.name or rid
    if spec.polygon is not None:
        return make_polygon_region(
            spec.polygon, width, height, region_id=rid, name=name, z=spec.z, clip=clip
        )
    if spec.box is not None:
        return make_box_region(
            spec.box, width, height, region_id=rid, name=name, z=spec.z, clip=clip
        )
    if spec.mask is not None:
        return make_mask_region(spec.mask, width, height, region_id=rid, name=name, z=spec.z)
    assert spec.mask_png is not None  # the schema guarantees exactly one shape
    mask = decode_mask_png(spec.mask_png, name)
    return make_mask_region(mask, width, height, region_id=rid, name=name, z=spec.z)


def regions_from_layout(layout: Layout) -> list[Region]:
    """Every region of ``layout``, in layout order."""
    return [
        region_from_spec(spec, i, layout.width, layout.height, layout.clip_to_canvas)
        for i, spec in enumerate(layout.regions)
    ]


def request_from_layout(
    layout: Layout,
    recommended: Mapping[str, Any] | None = None,
    regions: Sequence[Region] | None = None,
) -> GenerationRequest:
    """The pipeline request ``layout`` describes.

    ``recommended`` are the model's settings (``ModelBundle.recommended``); ``regions`` are
    the layout's regions already rasterised, in layout order (a canvas keeps them cached),
    else they are built here.
    """
    if layout.seed is None:
        raise InvalidInputError("the layout has no seed; set one (or let the canvas draw one)")
    for spec in layout.regions:
        if spec.model is not None and spec.model != layout.model:
            raise InvalidInputError(
                f"region {spec.name!r} asks for model {spec.model!r}, but every region "
                f"is drawn with the canvas model {layout.model!r} (one latent space); "
                "PakatiCanvas.generate draws such regions with their own model "
                "(pakati.foreign), or drop the region's model="
            )
    shapes = list(regions) if regions is not None else regions_from_layout(layout)
    if len(shapes) != len(layout.regions):
        raise ValueError("regions must list the layout's regions, one each, in layout order")
    settings = resolved_settings(layout, recommended)
    return GenerationRequest(
        width=layout.width,
        height=layout.height,
        prompt=layout.base_prompt,
        negative_prompt=layout.negative_prompt,
        regions=[_region_prompt(layout.regions[i], shapes[i]) for i in stacking_order(shapes)],
        steps=int(settings["steps"]),
        guidance_scale=float(settings["guidance_scale"]),
        seed=layout.seed,
        base_ratio=float(settings["base_ratio"]),
        scheduler=settings["scheduler"],
        mode=layout.mode,
    )


def generate_layout(
    bundle: ModelBundle, layout: Layout, callback: StepCallback | None = None
) -> GenerationOutput:
    """Generate ``layout`` with ``bundle`` (no canvas, no history): image and latents;
    with ``layout.detail``, small regions are then redrawn zoomed in."""
    request = request_from_layout(layout, bundle.recommended)
    pipe = RegionalDiffusionPipeline(bundle)
    output = pipe(request, callback)
    return detail_pass(pipe, request, output, callback) if layout.detail else output


def _region_prompt(spec: RegionSpec, region: Region) -> RegionPrompt:
    return RegionPrompt(
        mask=region.rasterize(),
        prompt=spec.prompt,
        negative_prompt=spec.negative_prompt,
        weight=spec.weight,
        label=region.label,
        seed=spec.seed,
        guidance_scale=spec.guidance_scale,
        step_window=spec.step_window,
        control=region_control(spec.control, region),
    )


def control_map(control: ControlSpec, region: Region) -> PILImage:
    """The canvas-sized control map a region's control describes (file or inline)."""
    label = region.label
    if control.image_png is not None:
        source: PILImage | str = decode_control_png(control.image_png, label)
    else:
        assert control.image is not None  # the schema guarantees exactly one
        source = control.image
    return place_control_map(
        source, control.preprocess, region.bounding_box(), (region.width, region.height), label
    )


def inline_control(control: ControlSpec, region: Region) -> ControlSpec:
    """``control`` with its map prepared and inlined (what layouts and metadata store)."""
    if control.image_png is not None:
        return control
    prepared = encode_control_png(control_map(control, region))
    return control.model_copy(update={"image": None, "image_png": prepared, "preprocess": None})


def region_control(control: ControlSpec | None, region: Region) -> RegionControlInput | None:
    """The pipeline's view of a region's control, or None."""
    if control is None:
        return None
    return RegionControlInput(
        controlnet=control.controlnet,
        image=as_control_array(control_map(control, region)),
        scale=control.scale,
        window=control.window,
    )
