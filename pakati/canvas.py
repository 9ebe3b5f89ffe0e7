"""``PakatiCanvas``: regions with their own prompts on one canvas, generated in one pass."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
from PIL import Image

from pakati.editing import EditingMixin
from pakati.history import HistoryEntry, image_sha256
from pakati.results import GenerationResult
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
    StepCallback,
)
from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import (
    Layout,
    RegionSpec,
    decode_mask_png,
    encode_mask_png,
    parse_layout,
)
from pakati_engine.metadata import read_png_metadata
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import default_model_name, model_recommendations
from pakati_engine.models.loading import load_model
from pakati_engine.regions.masks import stacking_order
from pakati_engine.regions.region import (
    Region,
    make_box_region,
    make_mask_region,
    make_polygon_region,
)

#: Settings used when neither the caller nor the model's recommendations give them.
GENERAL_DEFAULTS = {
    "width": 512,
    "height": 512,
    "steps": 30,
    "guidance_scale": 7.5,
    "base_ratio": 0.2,
    "scheduler": None,
}


@dataclass
class RegionPrompting:
    """What a region should show; set by :meth:`PakatiCanvas.apply_to_region`."""

    prompt: str
    negative_prompt: str = ""
    weight: float = 1.0
    model: str | None = None
    seed: int | None = None
    guidance_scale: float | None = None
    step_window: tuple[float, float] = (0.0, 1.0)


class PakatiCanvas(EditingMixin):
    """A canvas whose regions each follow their own prompt.

    Args:
        width, height: canvas size in pixels (multiples of the model's latent factor, 8 for
            Stable Diffusion).
        model: a model folder, single-file checkpoint, hub id in the local cache, alias
            (``stable-diffusion-xl``), ``pakati-shapes`` (the embedded model, the default
            when installed), ``tiny-random``, or an already loaded ``ModelBundle``.
        Size and sampling settings left as None follow the model's recommendations (its
        ``pakati.json``), else 512x512, 30 steps, guidance 7.5, base_ratio 0.2.
        base_prompt / negative_prompt: seen everywhere; the only prompt of uncovered pixels.
        steps, guidance_scale, base_ratio, scheduler, mode: sampling defaults.
        device, dtype: where and how the model runs ("auto" picks CUDA/MPS/CPU sensibly).
        clip_to_canvas: clip regions that leave the canvas (warning) instead of failing.
        inpaint_model: a dedicated inpainting checkpoint (UNet with mask inputs) that
            regenerate/refine use instead of ``model``.

    Editing (lock, regenerate, refine, undo, redo, projects) comes from ``EditingMixin``.
    """

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        model: str | ModelBundle | None = None,
        *,
        base_prompt: str = "",
        negative_prompt: str = "",
        steps: int | None = None,
        guidance_scale: float | None = None,
        base_ratio: float | None = None,
        scheduler: str | None = None,
        mode: str = "attention",
        device: str | None = None,
        dtype: str | None = None,
        clip_to_canvas: bool = False,
        inpaint_model: str | ModelBundle | None = None,
    ) -> None:
        model = default_model_name() if model is None else model
        self.inpaint_model = inpaint_model
        self._bundle = model if isinstance(model, ModelBundle) else None
        self.model = model.source if isinstance(model, ModelBundle) else str(model)
        # Settings not given follow the model's recommendations, then Pakati's defaults.
        recommended = {**GENERAL_DEFAULTS, **model_recommendations(model)}
        self.width = int(width if width is not None else recommended["width"])
        self.height = int(height if height is not None else recommended["height"])
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"canvas size must be positive, got {width}x{height}")
        self.base_prompt = base_prompt
        self.negative_prompt = negative_prompt
        self.steps = int(steps if steps is not None else recommended["steps"])
        self.guidance_scale = float(
            guidance_scale if guidance_scale is not None else recommended["guidance_scale"]
        )
        self.base_ratio = float(base_ratio if base_ratio is not None else recommended["base_ratio"])
        self.scheduler = scheduler if scheduler is not None else recommended.get("scheduler")
        self.mode = mode
        self.device = device
        self.dtype = dtype
        self.clip_to_canvas = clip_to_canvas
        self._regions: list[Region] = []
        self._prompting: dict[str, RegionPrompting] = {}
        self._counter = 0
        self._init_editing()

    # Regions ---------------------------------------------------------------------------

    def create_region(
        self,
        points: Sequence[Sequence[float]] | None = None,
        *,
        box: Sequence[float] | None = None,
        mask: np.ndarray | Image.Image | str | Path | None = None,
        name: str | None = None,
        z: int = 0,
    ) -> Region:
        """Add a region given by polygon vertices, a box (x0, y0, x1, y1), or a mask.

        Unnamed regions are named ``region-1``, ``region-2``, ... in creation order.
        """
        given = sum(value is not None for value in (points, box, mask))
        if given != 1:
            raise InvalidInputError(
                "create_region needs exactly one of: polygon points, box=(x0, y0, x1, y1), "
                "or mask= (array, image or file)"
            )
        self._counter += 1
        region_id = f"region-{self._counter}"
        name = name or region_id
        if any(r.name == name for r in self._regions):
            raise InvalidInputError(f"a region named {name!r} already exists on this canvas")
        size = (self.width, self.height)
        if points is not None:
            region = make_polygon_region(
                points, *size, region_id=region_id, name=name, z=z, clip=self.clip_to_canvas
            )
        elif box is not None:
            region = make_box_region(
                box, *size, region_id=region_id, name=name, z=z, clip=self.clip_to_canvas
            )
        else:
            assert mask is not None
            region = make_mask_region(mask, *size, region_id=region_id, name=name, z=z)
        self._regions.append(region)
        return region

    def apply_to_region(
        self,
        region: Region | str,
        prompt: str,
        negative_prompt: str = "",
        *,
        weight: float = 1.0,
        model: str | None = None,
        seed: int | None = None,
        guidance_scale: float | None = None,
        step_window: tuple[float, float] = (0.0, 1.0),
    ) -> Region:
        """Set what ``region`` (a Region, its name or its id) should show.

        ``seed`` gives the region its own noise; ``guidance_scale`` and ``step_window`` are
        per-region settings of latent mode.
        """
        target = self.region(region)
        start, end = (float(v) for v in step_window)
        if weight < 0:
            raise InvalidInputError(f"region {target.label!r}: weight must be >= 0, got {weight}")
        self._prompting[target.id] = RegionPrompting(
            prompt, negative_prompt, weight, model, seed, guidance_scale, (start, end)
        )
        return target

    def region(self, key: Region | str) -> Region:
        """Look a region up by object, name or id."""
        wanted = key.id if isinstance(key, Region) else key
        for region in self._regions:
            if wanted in (region.id, region.name):
                return region
        known = ", ".join(r.label for r in self._regions) or "none yet"
        raise InvalidInputError(f"no region {wanted!r} on this canvas (regions: {known})")

    @property
    def regions(self) -> list[Region]:
        return list(self._regions)

    # Generation ------------------------------------------------------------------------

    def generate(
        self,
        seed: int | None = None,
        *,
        steps: int | None = None,
        guidance_scale: float | None = None,
        base_ratio: float | None = None,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Generate the whole canvas in one pass; the same seed gives the same pixels."""
        if steps is not None:
            self.steps = steps
        if guidance_scale is not None:
            self.guidance_scale = guidance_scale
        if base_ratio is not None:
            self.base_ratio = base_ratio
        self.seed = secrets.randbelow(2**32) if seed is None else seed
        layout = self.to_layout()
        output = RegionalDiffusionPipeline(self.load())(self._request(layout), callback)
        return self._record("generate", layout, output)

    def to_layout(self) -> Layout:
        """The canvas as a layout (masks inlined), e.g. to save or to reproduce."""
        specs = []
        for region in self._regions:
            prompting = self._prompting.get(region.id)
            if prompting is None:
                raise InvalidInputError(
                    f"region {region.label!r} has no prompt; call "
                    f"apply_to_region({region.label!r}, prompt=...) or remove it"
                )
            shape: dict[str, Any]
            if region.kind == "polygon":
                shape = {"polygon": list(region.polygon or ())}
            elif region.kind == "box":
                shape = {"box": region.box}
            else:
                shape = {"mask_png": encode_mask_png(region.rasterize())}
            specs.append(
                RegionSpec(
                    name=region.name,
                    prompt=prompting.prompt,
                    negative_prompt=prompting.negative_prompt,
                    weight=prompting.weight,
                    z=region.z,
                    model=prompting.model,
                    seed=prompting.seed,
                    guidance_scale=prompting.guidance_scale,
                    step_window=prompting.step_window,
                    **shape,
                )
            )
        return Layout(
            width=self.width,
            height=self.height,
            model=self.model,
            mode=self.mode,  # type: ignore[arg-type]
            steps=self.steps,
            guidance_scale=self.guidance_scale,
            seed=self.seed,
            base_prompt=self.base_prompt,
            negative_prompt=self.negative_prompt,
            base_ratio=self.base_ratio,
            scheduler=self.scheduler,
            clip_to_canvas=self.clip_to_canvas,
            regions=specs,
        )

    @classmethod
    def from_layout(
        cls,
        layout: Layout,
        *,
        model: str | ModelBundle | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> Self:
        """A canvas holding everything a layout describes (``model`` overrides its model)."""
        canvas = cls(
            layout.width,
            layout.height,
            model if model is not None else layout.model,
            device=device,
            dtype=dtype,
        )
        canvas.set_layout(layout)
        return canvas

    def set_layout(self, layout: Layout) -> None:
        """Replace settings, regions and prompts by those of ``layout`` (size must match)."""
        if (layout.width, layout.height) != (self.width, self.height):
            raise InvalidInputError(
                f"layout is {layout.width}x{layout.height}, canvas is {self.width}x{self.height}"
            )
        self.base_prompt, self.negative_prompt = layout.base_prompt, layout.negative_prompt
        if layout.steps is not None:
            self.steps = layout.steps
        if layout.guidance_scale is not None:
            self.guidance_scale = layout.guidance_scale
        if layout.base_ratio is not None:
            self.base_ratio = layout.base_ratio
        if layout.scheduler is not None:
            self.scheduler = layout.scheduler
        self.mode = layout.mode
        self.clip_to_canvas, self.seed = layout.clip_to_canvas, layout.seed
        self._regions, self._prompting, self._counter = [], {}, 0
        for index, spec in enumerate(layout.regions):
            label = spec.name or f"region {index + 1}"
            if spec.polygon is not None:
                region = self.create_region(spec.polygon, name=spec.name, z=spec.z)
            elif spec.box is not None:
                region = self.create_region(box=spec.box, name=spec.name, z=spec.z)
            elif spec.mask is not None:
                region = self.create_region(mask=spec.mask, name=spec.name, z=spec.z)
            else:
                assert spec.mask_png is not None
                mask = decode_mask_png(spec.mask_png, label)
                region = self.create_region(mask=mask, name=spec.name, z=spec.z)
            self.apply_to_region(
                region,
                spec.prompt,
                spec.negative_prompt,
                weight=spec.weight,
                model=spec.model,
                seed=spec.seed,
                guidance_scale=spec.guidance_scale,
                step_window=spec.step_window,
            )

    def load(self) -> ModelBundle:
        """Load the model now (otherwise the first generation does it)."""
        if self._bundle is None:
            self._bundle = load_model(self.model, device=self.device, dtype=self.dtype)
        return self._bundle

    def load_for_edits(self) -> ModelBundle:
        """The model edits use: the dedicated inpainting checkpoint if one was given."""
        if self.inpaint_model is None:
            return self.load()
        if not isinstance(self.inpaint_model, ModelBundle):
            self.inpaint_model = load_model(
                self.inpaint_model, device=self.device, dtype=self.dtype
            )
        return self.inpaint_model

    def _request(self, layout: Layout) -> GenerationRequest:
        for spec in layout.regions:
            if spec.model is not None and spec.model != layout.model:
                raise InvalidInputError(
                    f"region {spec.name!r} asks for model {spec.model!r}, but every region "
                    f"is drawn with the canvas model {layout.model!r} (one latent space); "
                    "drop the region's model= or change the canvas model"
                )
        assert layout.seed is not None
        order = stacking_order(self._regions)
        return GenerationRequest(
            width=layout.width,
            height=layout.height,
            prompt=layout.base_prompt,
            negative_prompt=layout.negative_prompt,
            regions=[self._region_prompt(self._regions[i]) for i in order],
            steps=layout.steps if layout.steps is not None else self.steps,
            guidance_scale=(
                layout.guidance_scale if layout.guidance_scale is not None else self.guidance_scale
            ),
            seed=layout.seed,
            base_ratio=layout.base_ratio if layout.base_ratio is not None else self.base_ratio,
            scheduler=layout.scheduler,
            mode=layout.mode,
        )

    def _region_prompt(self, region: Region) -> RegionPrompt:
        prompting = self._prompting[region.id]
        return RegionPrompt(
            mask=region.rasterize(),
            prompt=prompting.prompt,
            negative_prompt=prompting.negative_prompt,
            weight=prompting.weight,
            label=region.label,
            seed=prompting.seed,
            guidance_scale=prompting.guidance_scale,
            step_window=prompting.step_window,
        )

    def _model_info(self) -> dict[str, str]:
        bundle = self.load()
        return {"source": bundle.source, "kind": bundle.kind, "dtype": str(bundle.dtype)}

    @classmethod
    def from_image(
        cls,
        path: str | Path,
        *,
        model: ModelBundle | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> PakatiCanvas:
        """A canvas continuing from a PNG Pakati made: its layout, steps and pixels.

        Later edits keep these pixels and extend the recorded steps, so the edited image can
        again be reproduced from its own metadata.
        """
        metadata = read_png_metadata(path)
        layout = parse_layout(metadata["layout"], source=f"metadata of {path}")
        canvas = cls.from_layout(layout, model=model, device=device, dtype=dtype)
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        if image.size != (layout.width, layout.height):
            raise InvalidInputError(f"{path}: the image size does not match its metadata")
        steps = metadata.get("steps") or [{"action": "generate", "layout": metadata["layout"]}]
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            canvas.history.add(
                HistoryEntry(
                    id=canvas.history.new_id(),
                    action=step["action"],
                    parent=canvas.history.head,
                    layout=step["layout"],
                    locked=list(step.get("locked", [])),
                    targets=list(step.get("targets", [])),
                    params=dict(step.get("params", {})),
                    image_sha256=image_sha256(image) if last else step.get("image_sha256"),
                    image=image if last else None,
                )
            )
        canvas._locked = list(steps[-1].get("locked", []))
        canvas._image = image
        return canvas
