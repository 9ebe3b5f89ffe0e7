"""``PakatiCanvas``: regions with their own prompts on one canvas, generated in one pass.

The canvas holds one :class:`~pakati_engine.layout.Layout`, the single source of truth of
what it will draw (size, model, sampling settings, base prompt, every region's shape and
prompt), plus a cache of the layout's regions rasterised. Its settings (``canvas.steps``,
``canvas.base_prompt``, ...) read and write that layout; a generation hands it, as it is,
to :func:`pakati_engine.generation.request_from_layout`.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from PIL import Image
from pydantic import ValidationError

import pakati.foreign as foreign
from pakati.adapters import AdaptersMixin
from pakati.editing import EditingMixin
from pakati.history import HistoryEntry, image_sha256
from pakati.memory import MemoryMixin
from pakati.region_parameters import split_parameters
from pakati.results import GenerationResult
from pakati_engine.control.inputs import (
    ControlSource,
    check_window,
    encode_control_png,
    place_control_map,
)
from pakati_engine.control.loading import resolve_controlnet
from pakati_engine.diffusion.detail import detail_pass
from pakati_engine.diffusion.pipeline import RegionalDiffusionPipeline, StepCallback
from pakati_engine.errors import InvalidInputError
from pakati_engine.generation import (
    GENERAL_DEFAULTS,
    inline_control,
    region_from_spec,
    region_id,
    request_from_layout,
)
from pakati_engine.images import open_header, open_image
from pakati_engine.layout import (
    ControlSpec,
    Layout,
    RegionSpec,
    encode_mask_png,
    format_validation_error,
    parse_layout,
)
from pakati_engine.metadata import read_png_metadata
from pakati_engine.models.adapters import prepare_adapters
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import default_model_name, model_recommendations
from pakati_engine.models.hashing import model_hash
from pakati_engine.models.loading import load_model
from pakati_engine.providers.registry import Registry
from pakati_engine.regions.region import Region, load_mask_array
from pakati_engine.resources import check_fits, native_size_warning

#: Canvas settings that live in the layout; ``canvas.<name>`` reads and writes them.
LAYOUT_SETTINGS = (
    "base_prompt",
    "negative_prompt",
    "steps",
    "guidance_scale",
    "base_ratio",
    "scheduler",
    "mode",
    "seed",
    "clip_to_canvas",
)


def _layout_setting(name: str) -> property:
    def get(canvas: PakatiCanvas) -> Any:
        return getattr(canvas._layout, name)

    def set_(canvas: PakatiCanvas, value: Any) -> None:
        canvas._update_layout(**{name: value})

    return property(get, set_, doc=f"The layout's ``{name}``.")


class PakatiCanvas(EditingMixin, AdaptersMixin, MemoryMixin):
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

    Editing (lock, regenerate, refine, undo, redo, projects) comes from ``EditingMixin``;
    LoRAs and textual-inversion embeddings (``load_lora``, ``load_textual_inversion``) from
    ``AdaptersMixin``; attention slicing, VAE tiling and CPU offload from ``MemoryMixin``.
    """

    base_prompt = _layout_setting("base_prompt")
    negative_prompt = _layout_setting("negative_prompt")
    steps = _layout_setting("steps")
    guidance_scale = _layout_setting("guidance_scale")
    base_ratio = _layout_setting("base_ratio")
    scheduler = _layout_setting("scheduler")
    mode = _layout_setting("mode")
    seed = _layout_setting("seed")
    clip_to_canvas = _layout_setting("clip_to_canvas")

    #: Regions whose model cannot be used here (no key, no weights), or is ``"auto"``, get
    #: the registry's pick, ranked by ``stand_in`` (else ``PAKATI_STAND_IN``), then
    #: ``model_preference``, then the canvas model, then measured quality, cost, latency;
    #: with a warning and the reason recorded. ``model_fallback = False`` refuses an
    #: unusable model instead. ``model_registry``: the model cards to choose from (None:
    #: built-in and user cards, keys from the environment or .env; a .env base URL gets a
    #: key only with ``trust_env_file``).
    model_fallback: bool = True
    stand_in: str | None = None
    model_preference: tuple[str, ...] = ()
    model_registry: Registry | None = None
    trust_env_file: bool = False
    #: Remote regions requested at once when their crops are independent (None: 4).
    provider_concurrency: int | None = None

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
        self.device = device
        self.dtype = dtype
        # Settings not given follow the model's recommendations, then Pakati's defaults.
        recommended = {**GENERAL_DEFAULTS, **model_recommendations(model)}

        def pick(value: Any, key: str) -> Any:
            return value if value is not None else recommended.get(key)

        size = (pick(width, "width"), pick(height, "height"))
        if int(size[0]) <= 0 or int(size[1]) <= 0:
            raise InvalidInputError(f"canvas size must be positive, got {width}x{height}")
        self._layout = _validated(
            {
                "width": int(size[0]),
                "height": int(size[1]),
                "model": model.source if isinstance(model, ModelBundle) else str(model),
                "mode": mode,
                "steps": pick(steps, "steps"),
                "guidance_scale": pick(guidance_scale, "guidance_scale"),
                "base_ratio": pick(base_ratio, "base_ratio"),
                "scheduler": pick(scheduler, "scheduler"),
                "base_prompt": base_prompt,
                "negative_prompt": negative_prompt,
                "clip_to_canvas": clip_to_canvas,
            },
            "canvas settings",
        )
        #: The layout's regions rasterised, in layout order (a cache; the layout rules).
        self._regions: list[Region] = []
        #: Names of regions created but not yet given a prompt.
        self._unprompted: set[str] = set()
        self._init_editing()

    # The layout ------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return self._layout.width

    @property
    def height(self) -> int:
        return self._layout.height

    @property
    def model(self) -> str:
        """Name of the model the canvas draws with (as recorded in its layout)."""
        return self._layout.model

    @model.setter
    def model(self, value: str) -> None:
        self._update_layout(model=value)

    def _update_layout(self, **changes: Any) -> None:
        data = {**self._layout.model_dump(), **changes}
        self._layout = _validated(data, "canvas settings")

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
        index = len(self._regions)
        name = name or region_id(index)
        if any(r.name == name for r in self._regions):
            raise InvalidInputError(f"a region named {name!r} already exists on this canvas")
        shape: dict[str, Any]
        if points is not None:
            shape = {"polygon": [tuple(point) for point in points]}
        elif box is not None:
            shape = {"box": tuple(box)}
        else:
            assert mask is not None
            shape = {"mask_png": encode_mask_png(load_mask_array(mask, name))}
        spec = _validated_region({"name": name, "prompt": "", "z": z, **shape}, name)
        region = region_from_spec(spec, index, self.width, self.height, self.clip_to_canvas)
        if region.kind == "polygon" and spec.polygon is not None:
            # Keep what was rasterised (clipping may have changed the vertices).
            spec = spec.model_copy(update={"polygon": list(region.polygon or ())})
        self._layout = self._layout.model_copy(update={"regions": [*self._layout.regions, spec]})
        self._regions.append(region)
        self._unprompted.add(name)
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
        controlnet: str | None = None,
        controlnet_input: ControlSource | None = None,
        preprocess: str | None = None,
        control_scale: float = 1.0,
        control_window: tuple[float, float] = (0.0, 1.0),
        parameters: dict[str, Any] | None = None,
    ) -> Region:
        """Set what ``region`` (a Region, its name or its id) should show.

        ``seed`` gives the region its own noise; ``guidance_scale`` and ``step_window`` are
        per-region settings of latent mode. ``controlnet`` (a shipped name such as
        ``pakati-shapes-outline``, a local ControlNet folder, or a hub id in the local cache)
        with ``controlnet_input`` (a control map, or a picture that ``preprocess``, "outline"
        or "canny", turns into one; canvas-sized, or the size of the region's box) adds
        structural control that acts inside this region only, with ``control_scale`` and
        during ``control_window`` (fractions of the steps).

        ``parameters`` is the product description's form of the per-region settings:
        ``{"guidance_scale": ..., "step_window": ..., "seed": ..., "weight": ...}`` (see
        :func:`pakati.region_parameters.split_parameters`; ``steps`` is refused with the reason).
        """
        target = self.region(region)
        if parameters:
            given = {"guidance_scale": guidance_scale, "seed": seed, "weight": weight,
                     "step_window": step_window}  # fmt: skip
            chosen = split_parameters(parameters, given, target.label, self.mode)
            guidance_scale, seed = chosen["guidance_scale"], chosen["seed"]
            weight, step_window = chosen["weight"], chosen["step_window"]
        try:
            window = tuple(float(v) for v in step_window)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(
                f"region {target.label!r}: step_window must be two numbers, got {step_window!r}"
            ) from error
        control = self._control_for(
            target, controlnet, controlnet_input, preprocess, control_scale, control_window
        )
        self._update_region(
            target,
            prompt=prompt,
            negative_prompt=negative_prompt,
            weight=weight,
            model=model,
            seed=seed,
            guidance_scale=guidance_scale,
            step_window=window,
            control=control,
        )
        self._unprompted.discard(target.name or "")
        return target

    def _control_for(
        self,
        target: Region,
        controlnet: str | None,
        source: ControlSource | None,
        preprocess: str | None,
        scale: float,
        window: tuple[float, float],
    ) -> dict[str, Any] | None:
        """The region's control as a layout entry (its map prepared and inlined), or None."""
        label = target.label
        if controlnet is None:
            if source is not None or preprocess is not None:
                raise InvalidInputError(
                    f"region {label!r}: controlnet_input/preprocess need controlnet= "
                    "(e.g. 'pakati-shapes-outline', or a ControlNet folder)"
                )
            return None
        if source is None:
            raise InvalidInputError(
                f"region {label!r}: controlnet={controlnet!r} needs controlnet_input= (a "
                "control map, or a picture with preprocess='outline' or 'canny')"
            )
        resolve_controlnet(controlnet)  # an unknown name fails here, not at generation
        try:
            scale = float(scale)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(
                f"region {label!r}: control_scale must be a number, got {scale!r}"
            ) from error
        start, end = check_window(window, label)
        spec = _validated_control(
            {
                "controlnet": controlnet,
                "image": "-",
                "preprocess": preprocess,
                "scale": scale,
                "window": (start, end),
            },
            label,
        )
        placed = place_control_map(
            source, spec.preprocess, target.bounding_box(), (self.width, self.height), label
        )
        inlined = spec.model_copy(
            update={"image": None, "image_png": encode_control_png(placed), "preprocess": None}
        )
        return inlined.model_dump()

    def region(self, key: Region | str) -> Region:
        """Look a region up by object, name or id."""
        wanted = key.id if isinstance(key, Region) else key
        for region in self._regions:
            if wanted in (region.id, region.name):
                return region
        known = ", ".join(r.label for r in self._regions) or "none yet"
        raise InvalidInputError(f"no region {wanted!r} on this canvas (regions: {known})")

    def region_spec(self, key: Region | str) -> RegionSpec:
        """The layout entry of a region: its shape, prompts and settings (a copy)."""
        return self._layout.regions[self._index(key)].model_copy(deep=True)

    @property
    def regions(self) -> list[Region]:
        return list(self._regions)

    def _index(self, key: Region | str) -> int:
        return self._regions.index(self.region(key))

    def _update_region(self, key: Region | str, **changes: Any) -> None:
        index = self._index(key)
        specs = list(self._layout.regions)
        label = self._regions[index].label
        specs[index] = _validated_region({**specs[index].model_dump(), **changes}, label)
        self._layout = self._layout.model_copy(update={"regions": specs})

    # Generation ------------------------------------------------------------------------

    def generate(
        self,
        seed: int | None = None,
        *,
        steps: int | None = None,
        guidance_scale: float | None = None,
        base_ratio: float | None = None,
        detail: bool | None = None,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Generate the whole canvas in one pass; the same seed gives the same pixels.

        ``detail=True`` (kept in the layout) adds the detail pass: each small region is then
        redrawn zoomed in at the model's working size, which draws small objects' shapes
        far better (:mod:`pakati_engine.diffusion.detail`); ``False`` turns it off again.
        """
        changes: dict[str, Any] = {
            key: value
            for key, value in (
                ("steps", steps),
                ("guidance_scale", guidance_scale),
                ("base_ratio", base_ratio),
            )
            if value is not None
        }
        if detail is not None:
            changes["detail"] = detail or None
        changes["seed"] = secrets.randbelow(2**32) if seed is None else seed
        previous = self._layout
        self._update_layout(**changes)
        try:
            layout = self.to_layout()
            bundle = self.load()
            check_fits(bundle, layout.width, layout.height)
            prepare_adapters(bundle, layout.loras, layout.embeddings)
            far = native_size_warning(bundle, layout.width, layout.height)
            if far is not None:
                warnings.warn(far, UserWarning, stacklevel=2)
            plan = None
            if foreign.needs_models(layout):  # regions drawn by other models: pakati.foreign
                registry, plan = foreign.canvas_plan(self, layout)
            base = layout if plan is None else plan.base_layout
            request = request_from_layout(base, bundle.recommended, self._regions)
            pipe = RegionalDiffusionPipeline(bundle)
            output = pipe(request, callback)
            if layout.detail:
                output = detail_pass(pipe, request, output, callback)
            if plan is not None and plan.foreign:
                output = foreign.draw_foreign(
                    output,
                    plan,
                    layout,
                    self._regions,
                    registry,
                    pipe,
                    locked=self.locked,
                    concurrency=self.provider_concurrency,
                )
        except BaseException:
            self._layout = previous  # a failed generation leaves the canvas as it was
            raise
        result = self._record("generate", layout, output)
        if plan is not None:
            result.models = plan.records
        return result

    def to_layout(self) -> Layout:
        """The canvas as a layout (masks inlined), e.g. to save or to reproduce."""
        if self._unprompted:
            label = next(r.label for r in self._regions if r.name in self._unprompted)
            raise InvalidInputError(
                f"region {label!r} has no prompt; call "
                f"apply_to_region({label!r}, prompt=...) or remove it"
            )
        return self._layout.model_copy(deep=True)

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
        """Replace settings, regions and prompts by those of ``layout`` (size must match).

        Settings the layout leaves as None keep the canvas's values; the canvas keeps its
        model. Regions whose shape did not change keep their rasterised masks.
        """
        if (layout.width, layout.height) != (self.width, self.height):
            raise InvalidInputError(
                f"layout is {layout.width}x{layout.height}, canvas is {self.width}x{self.height}"
            )
        update = layout.model_dump(exclude={"regions", "model", "version"})
        for key in ("steps", "guidance_scale", "base_ratio", "scheduler"):
            if update[key] is None:
                update[key] = getattr(self._layout, key)
        new = _validated({**self._layout.model_dump(), **update, "regions": []}, "layout")
        cached = {
            _shape_key(s): r for s, r in zip(self._layout.regions, self._regions, strict=True)
        }
        regions: list[Region] = []
        for index, spec in enumerate(layout.regions):
            region = cached.get(_shape_key(spec))
            if region is None or region.id != region_id(index):
                region = region_from_spec(
                    spec, index, self.width, self.height, layout.clip_to_canvas
                )
            regions.append(region)
        specs = [
            _inlined(spec, region) for spec, region in zip(layout.regions, regions, strict=True)
        ]
        self._layout = new.model_copy(update={"regions": specs})
        self._regions = regions
        self._unprompted = set()

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

    def _model_info(self) -> dict[str, str]:
        bundle = self.load()
        info = {"source": bundle.source, "kind": bundle.kind, "dtype": str(bundle.dtype)}
        info["scheduler"] = type(bundle.scheduler).__name__
        karras = bool(bundle.scheduler.config.get("use_karras_sigmas", False))
        info["schedule"] = "Karras" if karras else "Automatic"
        digest = model_hash(bundle.source)
        if digest is not None:
            info["hash"] = digest
        return info

    @classmethod
    def from_image(
        cls,
        path: str | Path,
        *,
        model: ModelBundle | None = None,
        device: str | None = None,
        dtype: str | None = None,
        name: str | None = None,
    ) -> PakatiCanvas:
        """A canvas continuing from a PNG Pakati made: its layout, steps and pixels.

        Later edits keep these pixels and extend the recorded steps, so the edited image can
        again be reproduced from its own metadata. ``name`` is what messages call the image
        (by default its path).
        """
        source = name or str(path)
        metadata = read_png_metadata(path, name=source)
        layout = parse_layout(metadata["layout"], source=f"metadata of {source}")
        canvas = cls.from_layout(layout, model=model, device=device, dtype=dtype)
        with open_header(path, f"image {source!r}") as opened:
            if opened.size != (layout.width, layout.height):
                raise InvalidInputError(f"{source}: the image size does not match its metadata")
        image = open_image(path, f"image {source!r}").convert("RGB")
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


def _validated(data: dict[str, Any], source: str) -> Layout:
    try:
        return Layout.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(format_validation_error(error, source)) from error


def _validated_control(data: dict[str, Any], label: str) -> ControlSpec:
    try:
        return ControlSpec.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(
            format_validation_error(error, f"control of region {label!r}")
        ) from error


def _validated_region(data: dict[str, Any], label: str) -> RegionSpec:
    try:
        return RegionSpec.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(format_validation_error(error, f"region {label!r}")) from error


def _inlined(spec: RegionSpec, region: Region) -> RegionSpec:
    """``spec`` named as its region, a mask file inlined (a layout must stand on its own)."""
    update: dict[str, Any] = {"name": region.name}
    if spec.mask is not None:
        update.update(mask=None, mask_png=encode_mask_png(region.rasterize()))
    if spec.control is not None:
        update.update(control=inline_control(spec.control, region))
    return spec.model_copy(update=update)


def _shape_key(spec: RegionSpec) -> str:
    """What a region's rasterised mask depends on (its name too: it is the region's label)."""
    return spec.model_dump_json(include={"name", "polygon", "box", "mask", "mask_png", "z"})
