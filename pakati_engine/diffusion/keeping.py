"""Keeping pixels exactly: locked regions during regeneration and refinement.

During a regeneration only the *editable* mask changes. At every step the latents outside
it are replaced by the kept image's latents noised to the current step,
``x = M * x_region + (1 - M) * x_original`` (the product description's formula), so the
model sees a consistent context. After decoding, the result is composited with the kept
pixels through a feathered mask that is 1 on the editable mask and falls to 0 within
``feather`` pixels outside it; beyond that band the kept bytes are copied, so they are
identical, not merely close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage


@dataclass
class KeepSpec:
    """A kept image and what may change in it.

    ``image``: the kept RGB image; ``editable``: (H, W) float mask, > 0 where pixels may
    change; ``feather``: width in pixels of the blend band outside the editable mask;
    ``frozen``: (H, W) bool, pixels that never change, not even in the band (locked regions).
    """

    image: Image.Image
    editable: np.ndarray
    feather: int = 8
    frozen: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.editable.shape != (self.image.height, self.image.width):
            raise ValueError("the editable mask must have the kept image's size")
        if self.feather < 0:
            raise ValueError("feather must be >= 0")

    def blend_weights(self) -> np.ndarray:
        """(H, W) float32: 1 on the editable mask, a linear ramp over ``feather`` px, then 0."""
        inside = self.editable > 0
        if self.feather == 0:
            weights = inside.astype(np.float32)
        else:
            distance = ndimage.distance_transform_edt(~inside)  # px from the editable mask
            ramp = np.clip(1.0 - (distance - 0.5) / self.feather, 0.0, 1.0)
            weights = np.where(inside, 1.0, ramp).astype(np.float32)
        if self.frozen is not None:
            weights[self.frozen] = 0.0
        return weights

    def crop(self, box: tuple[int, int, int, int]) -> KeepSpec:
        """The same spec restricted to the pixel box (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = box
        frozen = None if self.frozen is None else self.frozen[y0:y1, x0:x1]
        return KeepSpec(self.image.crop(box), self.editable[y0:y1, x0:x1], self.feather, frozen)

    def protected(self) -> np.ndarray:
        """(H, W) bool: pixels guaranteed byte-identical to the kept image."""
        return self.blend_weights() == 0.0


def latent_edit_mask(editable: np.ndarray, size: tuple[int, int], feather_px: int) -> torch.Tensor:
    """(1, 1, h, w) float mask of latent cells that may change.

    A cell is editable if any pixel of it lies in the editable mask dilated by half the
    feather band, so the generated content covers the blend band's inner part.
    """
    inside = editable > 0
    grow = feather_px // 2
    if grow > 0:
        inside = ndimage.binary_dilation(inside, iterations=grow)
    tensor = torch.from_numpy(inside.astype(np.float32))[None, None]  # (1, 1, H, W)
    return F.adaptive_max_pool2d(tensor, size)  # (1, 1, h, w)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB image -> (1, 3, H, W) float in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1)[None]  # (1, 3, H, W)


def composite(generated: Image.Image, keep: KeepSpec) -> Image.Image:
    """Blend ``generated`` into the kept image; protected pixels are copied byte for byte."""
    kept = np.asarray(keep.image.convert("RGB"))  # (H, W, 3) uint8
    new = np.asarray(generated.convert("RGB"))
    weights = keep.blend_weights()[..., None]  # (H, W, 1)
    mixed = np.round(weights * new + (1.0 - weights) * kept).astype(np.uint8)
    result = np.where(weights == 0.0, kept, mixed)
    return Image.fromarray(result)
