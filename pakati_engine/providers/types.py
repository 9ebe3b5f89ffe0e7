"""The provider protocol: what any image model outside the canvas's own is asked to do.

A provider gets an :class:`ImageJob` (a prompt, a size it accepts, and for edits an image
and a mask) and returns an :class:`ProviderImage`. It never sees the canvas: the caller
(:mod:`.compose`) crops, snaps the size, and composites the answer inside the region's own
feathered mask, so what a provider does outside its mask cannot reach the canvas.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from PIL import Image

from pakati_engine.errors import PakatiError

#: What a provider can be asked to do.
Task = Literal["text-to-image", "edit", "image-to-image"]
TASKS: tuple[Task, ...] = ("text-to-image", "edit", "image-to-image")


@dataclass(frozen=True)
class ImageJob:
    """One request to a provider.

    ``size`` is (width, height) and is one the model accepts. For ``edit``, ``image`` is the
    crop at that size and ``mask`` a (H, W) bool array, True where the model should draw.
    For ``image-to-image``, ``image`` is the starting picture and ``strength`` how much of it
    may change.
    """

    task: Task
    model: str
    prompt: str
    size: tuple[int, int]
    negative_prompt: str = ""
    image: Image.Image | None = None
    mask: np.ndarray | None = None
    seed: int | None = None
    strength: float = 0.8
    #: Who asks (a region's label), for error messages.
    label: str = ""


@dataclass
class ProviderImage:
    """A provider's answer: the image, and what it cost."""

    image: Image.Image
    #: Whether the same job gives the same pixels again (a seed the provider honours).
    reproducible: bool
    calls: int = 1
    bytes_sent: int = 0
    cached: bool = False
    notes: list[str] = field(default_factory=list)


class ImageProvider(Protocol):
    """Anything that turns an :class:`ImageJob` into pixels."""

    name: str

    def run(self, job: ImageJob) -> ProviderImage: ...


class ProviderError(PakatiError):
    """A provider could not make the image (unreachable, failed, timed out, bad answer)."""


class ContentRefusedError(ProviderError):
    """The provider refused the prompt or image on content grounds."""


class ProviderUnavailableError(ProviderError):
    """The model cannot be used here (no key, no weights, no such task, no public API)."""


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def alpha_mask_png(mask: np.ndarray) -> bytes:
    """OpenAI's mask: RGBA, alpha 0 where the model should draw, 255 where it should keep."""
    alpha = np.where(mask, 0, 255).astype(np.uint8)  # (H, W)
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    return png_bytes(Image.fromarray(rgba, mode="RGBA"))
