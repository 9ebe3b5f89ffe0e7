"""The layout file: a canvas, a model, sampling settings and regions with their prompts.

This pydantic schema is the boundary between users (``layout.json``, the CLI, the agent)
and the engine. A layout plus its seed reproduces an image exactly, so it is also what a
PNG's metadata stores. Example::

    {
      "width": 512, "height": 512, "model": "tiny-random",
      "steps": 30, "guidance_scale": 7.5, "seed": 42,
      "base_prompt": "a landscape", "negative_prompt": "blurry",
      "regions": [
        {"name": "sky", "box": [0, 0, 512, 200], "prompt": "dramatic sunset sky"},
        {"name": "lake", "polygon": [[0, 200], [512, 200], [512, 512], [0, 512]],
         "prompt": "a calm blue lake", "negative_prompt": "boats", "weight": 1.0},
        {"name": "boat", "mask": "boat_mask.png", "prompt": "a red sailing boat", "z": 1}
      ]
    }

Coordinates are canvas pixels from the top-left corner. A region gives exactly one of
``polygon``, ``box``, ``mask`` (an image file, relative to the layout file) or ``mask_png``
(the mask inlined as base64 PNG, which is how PNG metadata carries masks). A region's
``control`` names a ControlNet and its map (a file, or ``image_png`` inline), which acts
inside that region only.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pakati_engine.control.preprocess import NEEDS_ANNOTATOR, PREPROCESSORS
from pakati_engine.errors import InvalidInputError
from pakati_engine.images import open_image
from pakati_engine.models.catalog import default_model_name

LAYOUT_VERSION = 1


class ControlSpec(BaseModel):
    """A ControlNet acting inside one region only: which one, its map, when, how strongly."""

    model_config = ConfigDict(extra="forbid")

    controlnet: str = Field(
        description="Shipped name (pakati-shapes-outline), a local diffusers ControlNet "
        "folder, or a hub id in the local Hugging Face cache."
    )
    image: str | None = Field(
        default=None,
        description="Control image path, relative to the layout: canvas-sized, or the size "
        "of the region's box (placed at the box).",
    )
    image_png: str | None = Field(
        default=None,
        description="The canvas-sized control map as base64 PNG (how PNG metadata carries it).",
    )
    preprocess: str | None = Field(
        default=None,
        description="Turn `image` into a map first: 'outline' or 'canny'; None: a ready map.",
    )
    scale: float = Field(
        default=1.0, ge=0.0, le=4.0, allow_inf_nan=False, description="Control strength."
    )
    window: tuple[float, float] = Field(
        default=(0.0, 1.0), description="Fractions of the steps during which the control acts."
    )

    @field_validator("window")
    @classmethod
    def _ordered_window(cls, window: tuple[float, float]) -> tuple[float, float]:
        start, end = window
        if not 0.0 <= start < end <= 1.0:
            raise ValueError(
                f"window must be (start, end) with 0 <= start < end <= 1, got {window}"
            )
        return window

    @field_validator("preprocess")
    @classmethod
    def _known_preprocess(cls, name: str | None) -> str | None:
        if name is None or name in PREPROCESSORS:
            return name
        if name in NEEDS_ANNOTATOR:
            raise ValueError(
                f"preprocess {name!r} needs {NEEDS_ANNOTATOR[name]}, which Pakati does not "
                "ship; pass a ready map as the image with no preprocess"
            )
        raise ValueError(f"unknown preprocess {name!r}; choose {', '.join(PREPROCESSORS)}")

    @model_validator(mode="after")
    def _one_image(self) -> ControlSpec:
        if (self.image is None) == (self.image_png is None):
            raise ValueError("a control needs exactly one of image (a file) or image_png")
        if self.image_png is not None and self.preprocess is not None:
            raise ValueError("image_png is a ready map: preprocess applies to `image` only")
        return self


class LoraSpec(BaseModel):
    """A LoRA adapter applied to the canvas model for this generation."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="A LoRA .safetensors file, or a folder holding "
        "pytorch_lora_weights.safetensors (relative to the layout file)."
    )
    weight: float = Field(
        default=1.0, ge=-4.0, le=4.0, allow_inf_nan=False, description="Strength (1 = as trained)."
    )
    name: str | None = Field(default=None, description="Adapter name; default: the file name.")


class EmbeddingSpec(BaseModel):
    """A textual-inversion embedding: a new token that prompts may use."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Embedding file (A1111 .pt/.safetensors or diffusers .bin).")
    token: str = Field(min_length=1, description="The token prompts write, e.g. '<my-style>'.")


class RegionSpec(BaseModel):
    """One region: where it is (exactly one shape field) and what it should show."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="Name used by edits, messages, the CLI.")
    polygon: list[tuple[float, float]] | None = Field(
        default=None, description="Vertices [[x, y], ...] in canvas pixels (3 or more)."
    )
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="[x0, y0, x1, y1] in canvas pixels, x1 > x0, y1 > y0."
    )
    mask: str | None = Field(
        default=None, description="Mask image path (white = inside), relative to the layout."
    )
    mask_png: str | None = Field(default=None, description="Mask as base64-encoded PNG.")
    prompt: str = Field(description="What this region should show.")
    negative_prompt: str = Field(default="", description="What this region should avoid.")
    weight: float = Field(
        default=1.0,
        ge=0.0,
        allow_inf_nan=False,
        description="Strength of the region prompt against the base prompt (1 = default).",
    )
    z: int = Field(default=0, description="Stacking order: higher is on top; ties by order.")
    seed: int | None = Field(
        default=None, ge=0, lt=2**63, description="Own noise seed; changes only this region."
    )
    guidance_scale: float | None = Field(
        default=None, ge=0.0, le=50.0, description="Own guidance scale (mode 'latent' only)."
    )
    step_window: tuple[float, float] = Field(
        default=(0.0, 1.0),
        description="Fractions of the steps during which this prompt acts (mode 'latent').",
    )
    model: str | None = Field(
        default=None,
        description="Model for this region (see `pakati models`); one other than the canvas "
        "model redraws the region from a crop after the base pass (remote services too).",
    )
    control: ControlSpec | None = Field(
        default=None, description="A ControlNet acting inside this region only."
    )

    @field_validator("step_window")
    @classmethod
    def _ordered_window(cls, window: tuple[float, float]) -> tuple[float, float]:
        start, end = window
        if not 0.0 <= start < end <= 1.0:
            raise ValueError(
                f"step_window must be (start, end) with 0 <= start < end <= 1, got {window}"
            )
        return window

    @model_validator(mode="after")
    def _one_shape(self) -> RegionSpec:
        given = [f for f in ("polygon", "box", "mask", "mask_png") if getattr(self, f) is not None]
        if len(given) != 1:
            label = self.name or "unnamed region"
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"region {label!r} needs exactly one of polygon, box, mask, mask_png "
                f"(found: {found})"
            )
        return self


class Layout(BaseModel):
    """A whole generation: canvas, model, sampling settings, base prompt and regions."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=LAYOUT_VERSION, description="Schema version of this file.")
    width: int = Field(gt=0, le=8192, description="Canvas width in pixels.")
    height: int = Field(gt=0, le=8192, description="Canvas height in pixels.")
    model: str = Field(
        default_factory=default_model_name,
        description="Model folder, file, hub id in the local cache, or alias; default: the "
        "embedded model (pakati-shapes) when installed, else tiny-random.",
    )
    mode: Literal["attention", "latent"] = Field(
        default="attention",
        description="'attention': one UNet pass per step; 'latent': one pass per region "
        "(slower; allows per-region guidance scales and step windows).",
    )
    steps: int | None = Field(
        default=None, ge=1, le=1000, description="Denoising steps; None: the model's choice."
    )
    guidance_scale: float | None = Field(
        default=None,
        ge=0.0,
        le=50.0,
        description="Classifier-free guidance (<= 1 disables); None: the model's choice.",
    )
    seed: int | None = Field(
        default=None, ge=0, lt=2**63, description="Noise seed; None draws one and records it."
    )
    base_prompt: str = Field(default="", description="Seen everywhere; rules uncovered pixels.")
    negative_prompt: str = Field(default="", description="Negative prompt of the base prompt.")
    base_ratio: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of the base prompt inside regions; None: the model's choice (0.2).",
    )
    scheduler: str | None = Field(default=None, description="Sampler name; None = the model's.")
    clip_to_canvas: bool = Field(
        default=False,
        description="Clip regions that leave the canvas (with a warning) instead of failing.",
    )
    detail: bool | None = Field(
        default=None,
        description="Detail pass: after the main pass, redraw each small region zoomed in at "
        "the model's working size (sharper small objects, slower); None or false: off.",
    )
    regions: list[RegionSpec] = Field(default_factory=list)
    # Left out of dumps when empty, so files and PNGs without adapters stay readable by
    # Pakati versions older than these fields (their layouts forbid unknown keys).
    loras: list[LoraSpec] = Field(
        default_factory=list,
        description="LoRA adapters on the canvas model (every region).",
        exclude_if=lambda value: not value,
    )
    embeddings: list[EmbeddingSpec] = Field(
        default_factory=list,
        description="Textual-inversion tokens the prompts may use.",
        exclude_if=lambda value: not value,
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != LAYOUT_VERSION:
            raise ValueError(
                f"layout version {version} is not one this Pakati reads (it reads version "
                f"{LAYOUT_VERSION}); write the layout for version {LAYOUT_VERSION} or use the "
                "Pakati that made it"
            )
        return version

    @model_validator(mode="after")
    def _unique_names(self) -> Layout:
        names = [r.name for r in self.regions if r.name]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"region names must be unique; repeated: {', '.join(duplicates)}")
        return self


def load_layout(path: str | Path) -> Layout:
    """Read and validate a layout file; mask paths are made relative to its folder."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"layout file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise InvalidInputError(f"layout file {str(path)!r} is not valid JSON: {reason}") from error
    layout = parse_layout(data, source=str(path))
    for region in layout.regions:
        if region.mask is not None and not Path(region.mask).is_absolute():
            region.mask = str(path.parent / region.mask)
        control = region.control
        if control is not None and control.image and not Path(control.image).is_absolute():
            control.image = str(path.parent / control.image)
    extras: list[LoraSpec | EmbeddingSpec] = [*layout.loras, *layout.embeddings]
    for extra in extras:
        if not Path(extra.path).is_absolute():
            extra.path = str(path.parent / extra.path)
    return layout


def parse_layout(data: object, source: str = "layout") -> Layout:
    """Validate a decoded layout, turning pydantic's errors into one readable message."""
    try:
        return Layout.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(format_validation_error(error, source)) from error


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid layout:"]
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}")
    lines.append("See the schema in pakati_engine/layout.py (or `pakati schema`).")
    return "\n".join(lines)


def encode_png_base64(image: Image.Image) -> str:
    """An image as base64 PNG (how layouts and PNG metadata inline masks and control maps)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png_base64(data: str, what: str, label: str) -> Image.Image:
    """The image inlined as base64 PNG; ``what`` names the field in the error, ``label`` the
    image in the checks of :func:`open_image`."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as error:
        raise InvalidInputError(f"{what} is not a base64 PNG ({error})") from error
    return open_image(raw, label)


def encode_mask_png(mask_array: object) -> str:
    """Base64 PNG of a float [0, 1] mask (8-bit grey)."""
    array = np.asarray(mask_array, dtype=np.float32)
    return encode_png_base64(Image.fromarray((array * 255).round().astype(np.uint8), mode="L"))


def decode_mask_png(data: str, label: str) -> Image.Image:
    return decode_png_base64(data, f"region {label!r}: mask_png", f"region {label!r}: mask_png")
