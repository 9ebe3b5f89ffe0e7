"""Generation parameters inside the PNG (a text chunk) and beside it (a JSON sidecar).

The ``pakati`` text chunk holds JSON: the layout with its resolved seed (masks inlined), the
model that was used and the Pakati version; that is enough to regenerate the image. A
``parameters`` chunk gives the settings in the "infotext" format of the AUTOMATIC1111 web UI,
which other image tools read (:mod:`pakati_engine.infotext`).
Writing never replaces an existing file unless asked to, and is atomic (write, then rename).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from pakati_engine.errors import InvalidInputError, ResourceLimitError
from pakati_engine.images import open_header
from pakati_engine.infotext import format_infotext
from pakati_engine.outputs import write_files

TEXT_KEY = "pakati"
SUMMARY_KEY = "parameters"


def sidecar_path(image_path: str | Path) -> Path:
    return Path(image_path).with_suffix(".json")


def save_png_with_metadata(
    image: Image.Image,
    path: str | Path,
    metadata: dict[str, Any],
    *,
    overwrite: bool = False,
    sidecar: bool = True,
) -> Path:
    """Write ``image`` as PNG with ``metadata`` embedded, plus ``<name>.json`` beside it:
    both or neither, never replacing an existing file unless ``overwrite``."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(
            f"{str(path)!r}: Pakati writes PNG (it carries the generation parameters); "
            "use a .png file name"
        )
    text = json.dumps(metadata, sort_keys=True)
    info = PngImagePlugin.PngInfo()
    info.add_itxt(TEXT_KEY, text, zip=True)
    info.add_text(SUMMARY_KEY, summary_line(metadata))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    payloads = {path: buffer.getvalue()}
    if sidecar:
        payloads[sidecar_path(path)] = json.dumps(metadata, indent=2, sort_keys=True).encode()
    write_files(payloads, overwrite=overwrite)  # both or neither
    return path


#: The most metadata Pakati reads (PNG text chunk or sidecar) and how deeply it may nest.
MAX_METADATA_BYTES = 64 * 1024 * 1024
MAX_METADATA_DEPTH = 64


def read_png_metadata(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """The ``pakati`` metadata of a PNG, with clear errors when it is not there.

    ``name`` is what messages call the image (the server says "the uploaded PNG", not the
    path it stored the upload at); by default its path. Only the header and the text chunks
    before the pixels are read; no pixel is decoded.
    """
    path = Path(path)
    source = name or str(path)
    # Pillow refuses, as not readable, a text chunk that expands past its limit.
    with open_header(path, f"image {source!r}") as image:
        text = image.info.get(TEXT_KEY)
    if not isinstance(text, str):
        raise InvalidInputError(
            f"{source!r} carries no Pakati metadata: it was not made by Pakati, or another "
            "program re-saved it without its text chunks. The JSON sidecar, if you kept it, "
            "holds the same parameters."
        )
    return parse_metadata(text, source)


def read_metadata_file(path: str | Path) -> dict[str, Any]:
    """The metadata of a Pakati output: from the PNG, or from its ``.json`` sidecar."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return read_png_metadata(path)
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ResourceLimitError(
                f"sidecar {str(path)!r} is larger than {MAX_METADATA_BYTES:,} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"{str(path)!r} is not a readable sidecar ({error})") from error
    return parse_metadata(text, str(path))


def parse_metadata(text: str, source: str) -> dict[str, Any]:
    """Decode and check metadata text: a JSON object with a layout, bounded in size and
    depth, whose recorded steps (if any) are well-formed."""
    if len(text) > MAX_METADATA_BYTES:
        raise ResourceLimitError(f"{source!r}: its metadata is larger than Pakati reads")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise InvalidInputError(f"{source!r}: its Pakati metadata is corrupt ({reason})") from error
    if _depth(data) > MAX_METADATA_DEPTH:
        raise InvalidInputError(f"{source!r}: its Pakati metadata is nested too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("layout"), dict):
        raise InvalidInputError(
            f"{source!r}: its Pakati metadata has no layout (expected a JSON object with a "
            '"layout" object)'
        )
    steps = data.get("steps", [])
    if not isinstance(steps, list) or not all(_is_step(step) for step in steps):
        raise InvalidInputError(
            f'{source!r}: its Pakati metadata has malformed "steps" (a list of objects, each '
            'with an "action" name and a "layout" object)'
        )
    return data


def _is_step(step: object) -> bool:
    if not isinstance(step, dict):
        return False
    lists_ok = all(isinstance(step.get(key, []), list) for key in ("locked", "targets"))
    return (
        isinstance(step.get("action"), str)
        and isinstance(step.get("layout"), dict)
        and isinstance(step.get("params", {}), dict)
        and lists_ok
    )


def _depth(value: object) -> int:
    """Nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def summary_line(metadata: dict[str, Any]) -> str:
    """The ``parameters`` text other image tools read (see :mod:`pakati_engine.infotext`)."""
    return format_infotext(metadata)
