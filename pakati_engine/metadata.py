"""Generation parameters inside the PNG (a text chunk) and beside it (a JSON sidecar).

The ``pakati`` text chunk holds JSON: the layout with its resolved seed (masks inlined), the
model that was used and the Pakati version; that is enough to regenerate the image. A
``parameters`` chunk gives the same in the one-line style other image tools show.
Writing never replaces an existing file unless asked to, and is atomic (write, then rename).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from pakati_engine.errors import InvalidInputError

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
    """Write ``image`` as PNG with ``metadata`` embedded, plus ``<name>.json`` beside it."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(
            f"{str(path)!r}: Pakati writes PNG (it carries the generation parameters); "
            "use a .png file name"
        )
    targets = [path, sidecar_path(path)] if sidecar else [path]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); choose another name or pass "
            "overwrite=True (CLI: --overwrite) to replace"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metadata, sort_keys=True)
    info = PngImagePlugin.PngInfo()
    info.add_itxt(TEXT_KEY, text, zip=True)
    info.add_text(SUMMARY_KEY, summary_line(metadata))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buffer.getvalue())
    if sidecar:
        payload = json.dumps(metadata, indent=2, sort_keys=True).encode("utf-8")
        atomic_write_bytes(sidecar_path(path), payload)
    return path


def read_png_metadata(path: str | Path) -> dict[str, Any]:
    """The ``pakati`` metadata of a PNG, with clear errors when it is not there."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image {str(path)!r} does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            text = image.text.get(TEXT_KEY) if hasattr(image, "text") else None
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidInputError(f"{str(path)!r} is not a readable image ({error})") from error
    if text is None:
        raise InvalidInputError(
            f"{str(path)!r} carries no Pakati metadata: it was not made by Pakati, or another "
            "program re-saved it without its text chunks. The JSON sidecar, if you kept it, "
            "holds the same parameters."
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"{str(path)!r}: its Pakati metadata is corrupt ({error})"
        ) from error
    if not isinstance(data, dict) or "layout" not in data:
        raise InvalidInputError(f"{str(path)!r}: its Pakati metadata has no layout")
    return data


def summary_line(metadata: dict[str, Any]) -> str:
    layout = metadata.get("layout", {})
    regions = "; ".join(
        f"{r.get('name') or i}: {r.get('prompt', '')}"
        for i, r in enumerate(layout.get("regions", []))
    )
    return (
        f"{layout.get('base_prompt', '')}\nNegative prompt: {layout.get('negative_prompt', '')}\n"
        f"Steps: {layout.get('steps')}, CFG scale: {layout.get('guidance_scale')}, "
        f"Seed: {layout.get('seed')}, Size: {layout.get('width')}x{layout.get('height')}, "
        f"Model: {layout.get('model')}, Regions: {regions}"
    )


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, then renamed)
        dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        # Temporary files are private (0600); give the result the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
