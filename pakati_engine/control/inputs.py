"""A region's control as the pipeline sees it, and how a user's control image becomes one.

A control image is either canvas-sized (used as it is) or the size of the region's bounding
box (placed at the box, black elsewhere). ``preprocess`` turns an ordinary picture into a
map first (``outline``, ``canny``). The result is always a canvas-sized map, which is what
the layout and the PNG metadata store (inline, as a PNG), so a generation reproduces from
its metadata alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.control.preprocess import make_control_map
from pakati_engine.errors import InvalidInputError
from pakati_engine.images import open_image
from pakati_engine.layout import decode_png_base64, encode_png_base64

ControlSource = Image.Image | NDArray[np.generic] | str | Path


@dataclass(frozen=True)
class RegionControlInput:
    """One region's ControlNet, its canvas-sized map and when and how strongly it acts."""

    controlnet: str
    image: NDArray[np.float32]
    """(H, W, 3) control map in [0, 1], canvas-sized (or crop-sized inside an edit)."""
    scale: float = 1.0
    window: tuple[float, float] = (0.0, 1.0)
    """Fractions of the steps during which the control acts (start inclusive)."""

    def active(self, index: int, steps: int) -> bool:
        """Whether step ``index`` of ``steps`` lies in the window."""
        start, end = self.window
        return start <= index / steps < end

    def cropped(self, box: tuple[int, int, int, int]) -> RegionControlInput:
        x0, y0, x1, y1 = box
        return replace(self, image=np.ascontiguousarray(self.image[y0:y1, x0:x1]))

    def resized(self, size: tuple[int, int]) -> RegionControlInput:
        """Scaled to ``size`` (width, height), as a zoomed edit scales its crop."""
        pixels = Image.fromarray((self.image * 255).round().astype(np.uint8))
        scaled = pixels.resize(size, Image.Resampling.BILINEAR)
        return replace(self, image=np.asarray(scaled, dtype=np.float32) / 255.0)


def check_window(window: tuple[float, float], label: str) -> tuple[float, float]:
    try:
        start, end = (float(v) for v in window)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"region {label!r}: control_window must be two numbers, got {window!r}"
        ) from error
    if not 0.0 <= start < end <= 1.0:
        raise InvalidInputError(
            f"region {label!r}: control_window {window} must satisfy 0 <= start < end <= 1 "
            "(fractions of the steps)"
        )
    return start, end


def load_control_source(source: ControlSource, label: str) -> Image.Image:
    """A control image given as an image, an array or a file path."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        array = source
        if array.dtype != np.uint8:
            if not np.isfinite(array).all():
                raise InvalidInputError(f"region {label!r}: the control image has NaN or inf")
            scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
            array = (array.astype(np.float64) * scale).clip(0, 255).round().astype(np.uint8)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise InvalidInputError(
                f"region {label!r}: a control image array must be (H, W), (H, W, 3) or "
                f"(H, W, 4), got {array.shape}"
            )
        return Image.fromarray(np.ascontiguousarray(array[..., :3]))
    return open_image(source, f"control image of region {label!r}").convert("RGB")


def place_control_map(
    source: ControlSource,
    preprocess: str | None,
    region_box: tuple[int, int, int, int],
    canvas_size: tuple[int, int],
    label: str,
) -> Image.Image:
    """The canvas-sized control map of a region (see the module docstring)."""
    picture = load_control_source(source, label)
    control = make_control_map(picture, preprocess)
    width, height = canvas_size
    x0, y0, x1, y1 = region_box
    if control.size == (width, height):
        return control
    if control.size == (x1 - x0, y1 - y0):
        placed = Image.new("RGB", (width, height))
        placed.paste(control, (x0, y0))
        return placed
    raise InvalidInputError(
        f"region {label!r}: the control image is {control.width}x{control.height}; give a "
        f"canvas-sized ({width}x{height}) image, or one the size of the region's box "
        f"({x1 - x0}x{y1 - y0}, placed at ({x0}, {y0}))"
    )


def encode_control_png(image: Image.Image) -> str:
    return encode_png_base64(image.convert("RGB"))


def decode_control_png(data: str, label: str) -> Image.Image:
    what = f"region {label!r}: control image_png"
    return decode_png_base64(data, what, f"control image of region {label!r}").convert("RGB")


def as_control_array(image: Image.Image) -> NDArray[np.float32]:
    """(H, W, 3) float32 in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
