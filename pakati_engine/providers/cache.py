"""Provider results cached by a hash of the request, so a re-run does not pay twice.

The key covers everything that shapes the answer (provider, host, model, task, prompts,
size, seed, strength and the bytes of the image and mask sent) and nothing secret: the key
is not part of it. Entries are PNG files under ``$PAKATI_HOME/cache/providers``, written
atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from pakati_engine.outputs import atomic_write_bytes
from pakati_engine.providers.types import ImageJob


def default_cache_dir() -> Path:
    home = Path(os.environ.get("PAKATI_HOME", "~/.cache/pakati")).expanduser()
    return home / "cache" / "providers"


def job_key(job: ImageJob, provider: str, host: str) -> str:
    """A hex digest naming ``job`` as sent to ``provider`` at ``host``."""
    digest = hashlib.sha256()
    fields = {
        "provider": provider,
        "host": host,
        "model": job.model,
        "task": job.task,
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "size": list(job.size),
        "seed": job.seed,
        "strength": job.strength if job.task == "image-to-image" else None,
    }
    digest.update(json.dumps(fields, sort_keys=True).encode())
    if job.image is not None:
        digest.update(np.asarray(job.image.convert("RGB")).tobytes())
    if job.mask is not None:
        digest.update(np.packbits(np.asarray(job.mask, dtype=bool)).tobytes())
    return digest.hexdigest()


class ResultCache:
    """A folder of PNG results keyed by :func:`job_key`."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = default_cache_dir() if folder is None else Path(folder)

    def get(self, key: str) -> Image.Image | None:
        path = self.folder / f"{key}.png"
        if not path.is_file():
            return None
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except OSError:
            return None  # a damaged entry is a miss; it is overwritten on the next store

    def put(self, key: str, image: Image.Image) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        atomic_write_bytes(self.folder / f"{key}.png", buffer.getvalue())
