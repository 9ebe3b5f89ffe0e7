"""A short model hash for the ``Model hash`` of PNG infotext, the way other tools write it.

A single-file checkpoint gets the first 10 hex digits of the SHA-256 of the file, which is
the hash the AUTOMATIC1111 web UI writes and model sites search by. A diffusers folder has
no such convention: it gets the same digest over its UNet weight files (sorted by name),
which changes whenever the denoiser does. Digests are cached by path, size and mtime, so a
large checkpoint is read once per process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pakati_engine.errors import PakatiError
from pakati_engine.models.catalog import resolve_model

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt")
_CACHE: dict[tuple[str, ...], str] = {}


def model_hash(source: str) -> str | None:
    """10 hex digits identifying the weights of ``source``; None when it has no local files."""
    try:
        path = resolve_model(source)
    except (PakatiError, OSError):
        return None
    files = [path] if path.is_file() else _unet_files(path)
    if not files:
        return None
    return _digest(files)[:10]


def file_short_hash(path: str | Path) -> str | None:
    """12 hex digits of a LoRA's or embedding's SHA-256 (the web UI's ``Lora hashes`` /
    ``TI hashes``); a folder's ``pytorch_lora_weights.safetensors``; None when absent."""
    file = Path(path)
    if file.is_dir():
        file = file / "pytorch_lora_weights.safetensors"
    if not file.is_file():
        return None
    return _digest([file])[:12]


def _unet_files(folder: Path) -> list[Path]:
    unet = folder / "unet"
    if not unet.is_dir():
        return []
    return sorted(p for p in unet.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def _digest(files: list[Path]) -> str:
    key = tuple(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    if key not in _CACHE:
        sha = hashlib.sha256()
        for file in files:
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
        _CACHE[key] = sha.hexdigest()
    return _CACHE[key]
