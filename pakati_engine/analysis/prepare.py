"""Turn the analyzer's inputs into comparable working-resolution views.

Resizing rule (documented here once, used by every aspect):

1. The image is cropped to the bounding box of its mask (if any); likewise the reference
   with its own optional mask. Without a reference mask the whole reference is used: a
   reference usually shows what one region should look like.
2. Both crops are resized, each keeping its own aspect ratio, so that their longest sides
   are equal to ``s = min(max_side, longest side of the image crop, longest side of the
   reference crop)``. Comparing at one common scale makes frequency-based measures
   (texture, style) comparable, and never upsampling avoids inventing blur that a texture
   measure would then report.
3. Measures that need pixel-aligned arrays (SSIM) additionally resample the reference view
   to the exact shape of the image view.

Masks are thresholded at 0.5 (bool masks as they are; uint8 masks are divided by 255).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage.color import rgb2lab

from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.errors import InvalidInputError

ImageInput = Union[Image.Image, NDArray[Any], str, "os.PathLike[str]", Any]
"""A PIL image, an HxWx3 (or HxW, HxWx4) array, a path, or anything with ``to_array()``."""

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

MIN_REGION_PIXELS = 16


@dataclass(frozen=True)
class ImageView:
    """One image at working resolution, with the arrays every measure needs.

    ``rgb`` is float32 sRGB in 0..1 (H, W, 3); ``lab`` is CIELAB (H, W, 3) with L* in
    0..100; ``lightness`` is L*/100 (H, W), the perceptual grey used by texture, lighting,
    composition and style; ``mask`` marks the pixels that belong to the analysed region
    (all True without a mask).
    """

    rgb: FloatArray
    lab: FloatArray
    lightness: FloatArray
    mask: BoolArray

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.lightness.shape
        return int(h), int(w)

    @property
    def full(self) -> bool:
        """True when every pixel is in the region (no mask or a rectangular one)."""
        return bool(self.mask.all())


def to_rgb_array(image: ImageInput) -> NDArray[np.uint8]:
    """Convert any accepted image input to an (H, W, 3) uint8 RGB array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if isinstance(image, (str, os.PathLike)):
        return ReferenceImage(Path(image)).to_array()
    if hasattr(image, "to_array") and not isinstance(image, np.ndarray):
        return to_rgb_array(image.to_array())
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(
            f"expected a PIL image, a numpy array or a path, got {type(image).__name__}"
        )
    arr = image
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidInputError(
            f"image array must be HxW, HxWx3 or HxWx4, got shape {tuple(image.shape)}"
        )
    arr = arr[..., :3]
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"image array is empty: shape {tuple(image.shape)}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidInputError("image array contains NaN or infinite values")
        if arr.min() < 0.0 or arr.max() > 1.0:
            raise InvalidInputError(
                "float image arrays must hold values in 0..1; convert 0..255 data to uint8"
            )
        return np.round(arr * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        if arr.min() < 0 or arr.max() > 255:
            raise InvalidInputError("integer image arrays must hold values in 0..255")
        return arr.astype(np.uint8)
    raise InvalidInputError(f"unsupported image array dtype {arr.dtype}")


def to_mask(mask: Any, shape: tuple[int, int], what: str = "mask") -> BoolArray:
    """Validate a region mask of the given (H, W) shape and return it as bool."""
    arr: NDArray[Any]
    if isinstance(mask, Image.Image):
        arr = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    else:
        arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.shape != shape:
        raise InvalidInputError(
            f"{what} has shape {arr.shape} but the image is {shape[0]}x{shape[1]} (HxW); "
            "give a mask of the image's size"
        )
    out: BoolArray
    if arr.dtype == np.bool_:
        out = arr.astype(np.bool_)
    elif arr.dtype == np.uint8:
        out = arr >= 128
    else:
        out = arr.astype(np.float32) >= 0.5
    if int(out.sum()) < MIN_REGION_PIXELS:
        raise InvalidInputError(
            f"{what} selects {int(out.sum())} pixels; at least {MIN_REGION_PIXELS} are needed"
        )
    return np.asarray(out, dtype=np.bool_)


def mask_box(mask: BoolArray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the True pixels, x1/y1 exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _resize_rgb(arr: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    img = Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def _resize_mask(mask: BoolArray, size: tuple[int, int]) -> BoolArray:
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(img) >= 128


def resize_float(arr: FloatArray, shape: tuple[int, int]) -> FloatArray:
    """Resample a 2-D float array to (H, W) with bilinear interpolation."""
    if arr.shape == shape:
        return arr
    img = Image.fromarray(arr.astype(np.float32), mode="F")
    out = img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.float32)


def _scaled_size(h: int, w: int, side: int) -> tuple[int, int]:
    """(width, height) with the longest side equal to ``side``."""
    scale = side / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def make_view(rgb: NDArray[np.uint8], mask: BoolArray) -> ImageView:
    """Build the float views of an already resized crop."""
    rgbf = rgb.astype(np.float32) / 255.0
    lab = rgb2lab(rgbf).astype(np.float32)
    lightness = np.ascontiguousarray(lab[..., 0] / 100.0, dtype=np.float32)
    if int(mask.sum()) < MIN_REGION_PIXELS:
        raise InvalidInputError(
            "the region is too small to analyse at working resolution; use a larger region"
        )
    return ImageView(rgb=rgbf, lab=lab, lightness=lightness, mask=mask)


@dataclass(frozen=True)
class PreparedPair:
    """Image and reference views at one common scale, plus what was done to get there."""

    image: ImageView
    reference: ImageView
    image_size: tuple[int, int]
    reference_size: tuple[int, int]
    region_box: tuple[int, int, int, int] | None


def prepare_pair(
    image: ImageInput,
    reference: ImageInput,
    mask: Any = None,
    reference_mask: Any = None,
    max_side: int = 256,
) -> PreparedPair:
    """Validate, crop and resize an image/reference pair (see the module docstring)."""
    if max_side < 16:
        raise InvalidInputError(f"max_side must be at least 16, got {max_side}")
    img = to_rgb_array(image)
    ref = to_rgb_array(reference)
    img_h, img_w = img.shape[:2]
    ref_h, ref_w = ref.shape[:2]

    box: tuple[int, int, int, int] | None = None
    img_mask = np.ones((img_h, img_w), dtype=np.bool_)
    if mask is not None:
        img_mask = to_mask(mask, (img_h, img_w))
        box = mask_box(img_mask)
        x0, y0, x1, y1 = box
        img = img[y0:y1, x0:x1]
        img_mask = img_mask[y0:y1, x0:x1]
    ref_mask = np.ones((ref_h, ref_w), dtype=np.bool_)
    if reference_mask is not None:
        ref_mask = to_mask(reference_mask, (ref_h, ref_w), what="reference mask")
        rx0, ry0, rx1, ry1 = mask_box(ref_mask)
        ref = ref[ry0:ry1, rx0:rx1]
        ref_mask = ref_mask[ry0:ry1, rx0:rx1]

    side = min(max_side, max(img.shape[:2]), max(ref.shape[:2]))
    img_size = _scaled_size(img.shape[0], img.shape[1], side)
    ref_size = _scaled_size(ref.shape[0], ref.shape[1], side)
    image_view = make_view(_resize_rgb(img, img_size), _resize_mask(img_mask, img_size))
    reference_view = make_view(_resize_rgb(ref, ref_size), _resize_mask(ref_mask, ref_size))
    return PreparedPair(
        image=image_view,
        reference=reference_view,
        image_size=(img_w, img_h),
        reference_size=(ref_w, ref_h),
        region_box=box,
    )
