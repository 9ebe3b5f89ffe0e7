"""Reference images: an annotated picture of what (part of) the result should look like.

A :class:`ReferenceImage` is validated when it is created: the file must exist, be one of
the supported formats, decode completely, and stay under a pixel limit (a small file can
claim a gigantic size and exhaust memory when decoded, a "decompression bomb"). Every
failure raises :class:`InvalidInputError` with a message saying what is wrong.

The dict form (``to_dict`` / ``from_dict``) is what a project or template stores; it keeps
the file's SHA-256 so that a reference whose file changed later is noticed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from pakati_engine.errors import InvalidInputError

SUPPORTED_FORMATS: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"})
"""Pillow format names accepted as references."""

DEFAULT_MAX_PIXELS = 64_000_000
"""Largest accepted width x height (64 MP, e.g. 8000x8000). Pillow's own limit (about
89 MP) still applies above this."""

REFERENCE_ASPECTS: tuple[str, ...] = (
    "color",
    "texture",
    "composition",
    "lighting",
    "style",
    "general",
)
_ASPECT_ALIASES = {"colour": "color"}
DICT_VERSION = 1


def normalize_aspect(aspect: str) -> str:
    """Validate an aspect name; "colour" is accepted for "color"."""
    key = _ASPECT_ALIASES.get(str(aspect).lower(), str(aspect).lower())
    if key not in REFERENCE_ASPECTS:
        raise InvalidInputError(
            f"unknown reference aspect {aspect!r}; choose from {', '.join(REFERENCE_ASPECTS)}"
        )
    return key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open ``path``, refusing unsupported formats and oversized images before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InvalidInputError(
            f"{path}: the image claims more pixels than Pillow allows ({err}); "
            "it may be a decompression bomb. Use a smaller image."
        ) from err
    except UnidentifiedImageError as err:
        raise InvalidInputError(
            f"{path}: not a recognised image file; supported formats: "
            f"{', '.join(sorted(SUPPORTED_FORMATS))}"
        ) from err
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot be read as an image ({err})") from err
    if image.format not in SUPPORTED_FORMATS:
        fmt = image.format
        image.close()
        raise InvalidInputError(
            f"{path}: unsupported image format {fmt}; convert it to one of "
            f"{', '.join(sorted(SUPPORTED_FORMATS))}"
        )
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise InvalidInputError(
            f"{path}: {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{max_pixels} (possible decompression bomb); downscale the image or raise "
            "max_pixels"
        )
    return image


def _decode(path: Path, max_pixels: int) -> tuple[Image.Image, str]:
    """Fully decode the first frame, upright (EXIF orientation applied); also the format."""
    image = _open_checked(path, max_pixels)
    fmt = str(image.format)
    try:
        with image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            return (upright if upright is not image else image.copy()), fmt
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InvalidInputError(
            f"{path}: the {image.format} file is truncated or corrupt ({err})"
        ) from err


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB view: transparency composited over white, high-bit-depth greys rescaled."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        grey = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass
class ReferenceImage:
    """An annotated reference image, validated on creation.

    Args:
        path: the image file (PNG, JPEG, WebP, BMP, TIFF or GIF; first frame).
        description: what to take from it ("warm golden hour lighting").
        aspect: which aspect it is a reference for: color, texture, composition,
            lighting, style or general ("colour" is accepted).
        region: name of the region it is attached to, or None for the whole canvas.
        metadata: free JSON-serialisable annotations ({"style": "impressionist"}).
        max_pixels: pixel limit for this file (default ``DEFAULT_MAX_PIXELS``).

    Raises:
        InvalidInputError: missing, unreadable, unsupported, corrupt or oversized files,
            an unknown aspect, or metadata that is not JSON-serialisable.

    After validation ``width``, ``height`` (upright), ``format`` and ``sha256`` are set.
    """

    path: Path
    description: str = ""
    aspect: str = "general"
    region: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    max_pixels: InitVar[int | None] = None
    width: int = field(init=False, default=0)
    height: int = field(init=False, default=0)
    format: str = field(init=False, default="")
    sha256: str = field(init=False, default="")

    def __post_init__(self, max_pixels: int | None) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise InvalidInputError(
                f"reference path must be a path, got {type(self.path).__name__}"
            )
        self.path = Path(self.path).expanduser()
        self.aspect = normalize_aspect(self.aspect)
        if not isinstance(self.description, str):
            raise InvalidInputError("reference description must be a string")
        if self.region is not None and not isinstance(self.region, str):
            raise InvalidInputError("reference region must be a region name (string) or None")
        if not isinstance(self.metadata, dict):
            raise InvalidInputError("reference metadata must be a dict")
        try:
            json.dumps(self.metadata)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"reference metadata must be JSON-serialisable: {err}") from err
        self._max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
        if not self.path.exists():
            raise InvalidInputError(f"reference image {self.path} does not exist")
        if not self.path.is_file():
            raise InvalidInputError(f"reference image {self.path} is not a file")
        image, self.format = _decode(self.path, self._max_pixels)
        self.width, self.height = image.size
        self.sha256 = _sha256(self.path)

    def to_pil(self) -> Image.Image:
        """The image as an upright RGB PIL image."""
        return _to_rgb(_decode(self.path, self._max_pixels)[0])

    def to_array(self) -> NDArray[np.uint8]:
        """The image as an upright (H, W, 3) uint8 RGB array."""
        return np.asarray(self.to_pil(), dtype=np.uint8)

    def with_region(self, region: str | None) -> ReferenceImage:
        """A copy attached to ``region`` (validated again)."""
        return dataclasses.replace(self, region=region, max_pixels=self._max_pixels)

    def to_dict(self, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Plain JSON-ready dict; the path is made relative to ``relative_to`` when inside it."""
        path = self.path
        if relative_to is not None:
            try:
                path = self.path.resolve().relative_to(Path(relative_to).resolve())
            except ValueError:
                path = self.path.resolve()
        return {
            "version": DICT_VERSION,
            "path": path.as_posix(),
            "description": self.description,
            "aspect": self.aspect,
            "region": self.region,
            "metadata": dict(self.metadata),
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        base_dir: str | os.PathLike[str] | None = None,
        verify_hash: bool = True,
        max_pixels: int | None = None,
    ) -> ReferenceImage:
        """Rebuild a reference from ``to_dict`` output, validating the file again.

        Relative paths are resolved against ``base_dir``. With ``verify_hash`` a file
        whose SHA-256 differs from the stored one is an error.
        """
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise InvalidInputError("a stored reference must be a dict with a 'path' string")
        version = data.get("version", DICT_VERSION)
        if not isinstance(version, int) or version > DICT_VERSION:
            raise InvalidInputError(
                f"stored reference has version {version!r}; this Pakati reads up to {DICT_VERSION}"
            )
        path = Path(data["path"])
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        ref = cls(
            path=path,
            description=data.get("description", ""),
            aspect=data.get("aspect", "general"),
            region=data.get("region"),
            metadata=dict(data.get("metadata") or {}),
            max_pixels=max_pixels,
        )
        stored = data.get("sha256")
        if verify_hash and stored and stored != ref.sha256:
            raise InvalidInputError(
                f"reference image {path} changed since it was stored (SHA-256 differs); "
                "re-add it or load with verify_hash=False"
            )
        return ref
