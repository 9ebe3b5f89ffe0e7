"""Control maps made from ordinary pictures, offline.

* ``outline``: where the colour changes between neighbouring pixels, both sides of the
  change marked (lines two pixels wide), white on black. On a picture of flat-coloured
  shapes (the shapes world, a logo, a diagram) this is exactly each shape's outline, and it
  is what the shipped ``pakati-shapes-outline`` ControlNet was trained on.
* ``canny``: Canny edges of the luminance (scikit-image), for photographs.

Maps that need an annotator model (pose, depth, normals, segmentation, line art) are not
made here: those models' weights are not shipped, so a user passes a ready map instead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.errors import InvalidInputError

PREPROCESSORS = ("outline", "canny")
"""Preprocessors that run offline with no model."""

NEEDS_ANNOTATOR = {
    "openpose": "a pose estimator (OpenPose)",
    "pose": "a pose estimator (OpenPose)",
    "depth": "a depth estimator (MiDaS, Depth Anything)",
    "normal": "a surface-normal estimator",
    "seg": "a segmentation model",
    "segmentation": "a segmentation model",
    "lineart": "a line-art model",
    "softedge": "an HED/PiDiNet edge model",
    "mlsd": "an M-LSD line detector",
}

#: A colour step above this (largest channel difference, 0-255) between neighbours is an edge.
OUTLINE_STEP = 40


def _rgb(image: Image.Image | NDArray[np.generic]) -> NDArray[np.int16]:
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] < 3:
        raise InvalidInputError(f"expected an RGB image, got an array of shape {array.shape}")
    return array[..., :3].astype(np.int16)  # (H, W, 3)


def outline_map(image: Image.Image | NDArray[np.generic], step: int = OUTLINE_STEP) -> Image.Image:
    """White lines on black where neighbouring pixels differ by more than ``step``."""
    rgb = _rgb(image)
    edges = np.zeros(rgb.shape[:2], dtype=bool)  # (H, W)
    across = np.abs(rgb[:, 1:] - rgb[:, :-1]).max(axis=2) > step  # (H, W-1)
    down = np.abs(rgb[1:] - rgb[:-1]).max(axis=2) > step  # (H-1, W)
    edges[:, 1:] |= across
    edges[:, :-1] |= across
    edges[1:] |= down
    edges[:-1] |= down
    return _as_map(edges)


def canny_map(image: Image.Image | NDArray[np.generic], sigma: float = 1.0) -> Image.Image:
    """Canny edges of the image's luminance, white on black."""
    from skimage.feature import canny

    rgb = _rgb(image).astype(np.float64) / 255.0
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])  # (H, W)
    return _as_map(canny(luminance, sigma=sigma))


def _as_map(edges: NDArray[np.bool_]) -> Image.Image:
    gray = np.where(edges, 255, 0).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))


def make_control_map(
    image: Image.Image | NDArray[np.generic], preprocess: str | None
) -> Image.Image:
    """The control map for ``image``: the image itself (a ready map) or a preprocessor's."""
    if preprocess is None:
        return Image.fromarray(_rgb(image).astype(np.uint8))
    if preprocess == "outline":
        return outline_map(image)
    if preprocess == "canny":
        return canny_map(image)
    if preprocess in NEEDS_ANNOTATOR:
        raise InvalidInputError(
            f"preprocess={preprocess!r} needs {NEEDS_ANNOTATOR[preprocess]}, whose weights "
            "Pakati does not ship; make the map with that tool and pass it as "
            "controlnet_input with preprocess=None"
        )
    raise InvalidInputError(
        f"unknown preprocess {preprocess!r}; choose one of {', '.join(PREPROCESSORS)}, "
        "or None for a ready control map"
    )
