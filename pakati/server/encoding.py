"""Small pieces the server's light modules share (no torch): plain names, PNG bytes with
Pakati metadata, and preview images for progress events."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, PngImagePlugin

from pakati_engine.errors import InvalidInputError
from pakati_engine.metadata import SUMMARY_KEY, TEXT_KEY, summary_line

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Seconds between two preview images of one generation (the last step always has one).
PREVIEW_EVERY_S = 0.2
PREVIEW_SIDE = 256

StepReporter = Callable[[int, int, str | None], None]


def plain_name(text: str, what: str = "name") -> str:
    """``text`` if it is a plain file name (no folder, no '..'), else a clear error."""
    if not NAME.fullmatch(text) or ".." in text:
        raise InvalidInputError(
            f"{what} {text!r} is not a plain name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return text


def png_bytes(image: Image.Image, metadata: dict[str, Any] | None = None) -> bytes:
    """``image`` as PNG; with ``metadata`` the Pakati text chunks that let it be reproduced."""
    info = None
    if metadata is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(TEXT_KEY, json.dumps(metadata, sort_keys=True), zip=True)
        info.add_text(SUMMARY_KEY, summary_line(metadata))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def preview_url(image: Image.Image) -> str:
    """A small data URL of ``image`` (at most PREVIEW_SIDE pixels a side)."""
    small = image.convert("RGB")
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return "data:image/png;base64," + base64.b64encode(png_bytes(small)).decode("ascii")


def previewer(report: StepReporter) -> Callable[[int, int, Callable[[], Image.Image]], None]:
    """A latent observer that reports every step and a preview at most every 0.2 s."""
    last = [0.0]

    def observe(step: int, total: int, decode: Callable[[], Image.Image]) -> None:
        now = time.perf_counter()
        preview = None
        if step == 0 or step + 1 == total or now - last[0] >= PREVIEW_EVERY_S:
            preview = preview_url(decode())
            last[0] = now
        report(step + 1, total, preview)

    return observe
