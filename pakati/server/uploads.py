"""Uploaded files, checked before anything trusts them.

Bodies are read in chunks and refused past the size limit (413) without being read whole;
images are identified by Pillow from their header, must be PNG, JPEG or WebP, and their
pixel count is checked before any pixel is decoded (a decompression bomb is a 413, not an
exhausted server). Layout JSON must parse and validate. Stored uploads are named by the
hash of their content inside the project folder, so no upload names a path.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from PIL import Image

from pakati_engine.errors import PakatiError, ResourceLimitError
from pakati_engine.images import check_pixels, open_header
from pakati_engine.outputs import atomic_write_bytes

#: Largest upload (bytes) and largest image (pixels) the server accepts by default.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes and 400 when empty."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the upload is {declared} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the upload is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise HTTPException(400, "the upload is empty: send the file's bytes as the body")
    return body


def checked_image(data: bytes, label: str, max_pixels: int = MAX_UPLOAD_PIXELS) -> str:
    """The format of an uploaded image (PNG, JPEG or WebP), checked without decoding it."""
    try:
        with open_header(data, label) as image:
            kind = image.format or "unknown"
            check_pixels(image.size, label, max_pixels)
    except ResourceLimitError as error:
        raise HTTPException(413, str(error)) from error
    except Image.DecompressionBombError as error:
        raise HTTPException(413, f"{label} is too large to read safely ({error})") from error
    except PakatiError as error:
        raise HTTPException(415, f"{label} is not an image Pakati reads ({error})") from error
    if kind not in IMAGE_FORMATS:
        raise HTTPException(415, f"{label} is {kind}; upload a PNG, JPEG or WebP image instead")
    return kind


def store(folder: Path, data: bytes, suffix: str) -> Path:
    """Keep ``data`` in ``folder`` under the hash of its content (never overwriting)."""
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if not path.exists():
        atomic_write_bytes(path, data)  # whole or not at all: a full disk leaves nothing
    return path


def json_body(data: bytes, label: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise HTTPException(400, f"{label} is not valid JSON ({error})") from error
