"""Reading image files safely: the size is checked from the header before any pixel is
decoded, so a small file that expands to gigabytes (a decompression bomb) is refused with a
clear error instead of exhausting memory, and unreadable files say so."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pakati_engine.errors import InvalidInputError, ResourceLimitError

#: The most pixels Pakati decodes from one image: the largest canvas a layout allows.
MAX_PIXELS = 8192 * 8192


def open_image(source: str | Path | bytes, label: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The decoded image at ``source`` (a path, or the file's bytes), checked first.

    ``label`` names the image in messages ("mask of region 'sky'", "image 'a.png'").
    """
    with open_header(source, label) as opened:
        check_pixels(opened.size, label, max_pixels)
        try:
            opened.load()
        except (OSError, ValueError, SyntaxError) as error:
            raise InvalidInputError(f"{label} is damaged or truncated ({error})") from error
        return opened.copy()


def open_header(source: str | Path | bytes, label: str) -> Image.Image:
    """The image opened lazily (header and leading chunks read, no pixels decoded)."""
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise InvalidInputError(f"{label} does not exist (looked for {str(source)!r})")
    try:
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as error:
        raise ResourceLimitError(
            f"{label} is too large to read safely ({error}); use an image of at most "
            f"{MAX_PIXELS:,} pixels"
        ) from error
    except UnidentifiedImageError as error:
        # Pillow's message names the file object ("<_io.BytesIO object at 0x...>"), not the
        # user's image: say what the bytes are not instead.
        raise InvalidInputError(
            f"{label} is not a readable image: its bytes are in no image format Pakati reads "
            "(PNG, JPEG, WebP, BMP, GIF, TIFF)"
        ) from error
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidInputError(f"{label} is not a readable image ({error})") from error


def check_pixels(size: tuple[int, int], label: str, max_pixels: int = MAX_PIXELS) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ResourceLimitError(
            f"{label} is {width}x{height} ({width * height:,} pixels); Pakati reads images "
            f"of at most {max_pixels:,} pixels (8192x8192): use a smaller image"
        )
