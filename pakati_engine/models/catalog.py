"""Where a model is and what it recommends, decided without importing torch.

Pakati never downloads: every load is ``local_files_only``. A model is found as

1. a built-in name: ``pakati-shapes`` (the embedded model trained by Pakati's own scripts,
   shipped in ``pakati_engine/models/weights/shapes-t2i``) or ``tiny-random`` (random weights,
   built locally on first use, see ``tiny_models``),
2. a friendly alias (``stable-diffusion-xl`` -> its hub id) or a hub id ``org/name``, looked
   up in the local Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``),
3. a diffusers folder (with ``model_index.json``) or a single-file checkpoint.

``models.loading`` then reads a diffusers folder component by component from its
``model_index.json``, the way diffusers itself does, so folders without a VAE load too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati_engine.errors import ModelNotFoundError

if TYPE_CHECKING:
    from pakati_engine.models.bundle import ModelBundle

#: Friendly names users write, and the hub ids they mean (looked up in the local cache).
ALIASES: dict[str, tuple[str, ...]] = {
    "stable-diffusion-xl": ("stabilityai/stable-diffusion-xl-base-1.0",),
    "sdxl": ("stabilityai/stable-diffusion-xl-base-1.0",),
    "stable-diffusion-1.5": (
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "runwayml/stable-diffusion-v1-5",
    ),
    "sd15": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5"),
}


#: Image models that are services, not local diffusion models.
API_ONLY = ("dalle", "dall-e", "midjourney", "claude", "gpt-image")


#: The embedded model shipped with the package, and the file of its recommended settings.
EMBEDDED_MODEL = "pakati-shapes"


EMBEDDED_FOLDER = Path(__file__).parent / "weights" / "shapes-t2i"


RECOMMENDATIONS_FILE = "pakati.json"


RECOMMENDED_KEYS = ("width", "height", "steps", "guidance_scale", "scheduler", "base_ratio")


SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")


def resolve_model(name: str) -> Path:
    """Where ``name`` is on this machine, or a ModelNotFoundError saying where we looked."""
    lowered = name.lower()
    if any(lowered.startswith(prefix) for prefix in API_ONLY):
        raise ModelNotFoundError(
            f"{name!r} is an image service, not a local diffusion model: its API offers no "
            "per-region control of the denoising process. Use a local SD1.x or SDXL "
            "diffusers model (a folder, a single file, or a hub id in your local cache)."
        )
    if lowered == EMBEDDED_MODEL:
        if not (EMBEDDED_FOLDER / "model_index.json").is_file():
            raise ModelNotFoundError(
                f"the embedded model is not in this installation (looked in "
                f"{str(EMBEDDED_FOLDER)!r}); train and export it with "
                "`python -m pakati_engine.training.train_t2i`, or use 'tiny-random'"
            )
        return EMBEDDED_FOLDER
    if lowered in ("tiny-random", "tiny-random-sdxl"):
        # Lazy: tiny_models imports torch, and this module stays torch-free (the layout
        # schema imports it, so `import pakati_engine.layout` loads no torch).
        from pakati_engine.models.tiny_models import ensure_builtin_tiny_model

        return ensure_builtin_tiny_model(lowered)
    looked: list[str] = []
    path = Path(name).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "model_index.json").is_file():
            raise ModelNotFoundError(
                f"folder {str(path)!r} is not a diffusers model: it has no model_index.json. "
                "Point to the folder that contains model_index.json, unet/ and text_encoder/."
            )
        if path.is_file() and path.suffix not in SINGLE_FILE_SUFFIXES:
            raise ModelNotFoundError(
                f"{str(path)!r} is not a model checkpoint (expected one of "
                f"{', '.join(SINGLE_FILE_SUFFIXES)} or a diffusers folder)"
            )
        return path
    looked.append(f"a local folder or file {str(path.resolve())!r}")
    repo_ids = ALIASES.get(lowered, (name,) if _looks_like_repo_id(name) else ())
    cache = hub_cache_dir()
    for repo_id in repo_ids:
        snapshot = _cached_snapshot(repo_id, cache)
        if snapshot is not None:
            return snapshot
        looked.append(f"hub id {repo_id!r} in the Hugging Face cache {str(cache)!r}")
    hint = (
        f"download it on a connected machine (hf download {repo_ids[0]}) and "
        "copy the cache, or pass the path of a local diffusers folder or checkpoint file"
        if repo_ids
        else "pass the path of a local diffusers folder or checkpoint file, or a hub id that "
        "is in your local Hugging Face cache"
    )
    raise ModelNotFoundError(
        f"model {name!r} not found. Looked for: {'; '.join(looked)}. Pakati never downloads "
        f"models: {hint}."
    )


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def embedded_model_available() -> bool:
    """Whether the trained embedded model (``pakati-shapes``) is installed."""
    return (EMBEDDED_FOLDER / "model_index.json").is_file()


def default_model_name() -> str:
    """The embedded trained model when installed, else the random-weight tiny model."""
    return EMBEDDED_MODEL if embedded_model_available() else "tiny-random"


def read_recommendations(folder: Path) -> dict[str, Any]:
    """A model folder's recommended settings (``pakati.json``), validated; {} if none."""
    path = folder / RECOMMENDATIONS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(f"{str(path)!r} is unreadable ({error})") from error
    if not isinstance(data, dict):
        raise ModelNotFoundError(f"{str(path)!r} must hold a JSON object")
    chosen = {key: data[key] for key in RECOMMENDED_KEYS if key in data}
    for key, value in chosen.items():
        if not _recommendation_ok(key, value):
            raise ModelNotFoundError(
                f"{str(path)!r}: {key} = {value!r} is not a usable setting (expected "
                f"{RECOMMENDED_RANGES[key]}); fix or remove it"
            )
    return chosen


#: What each recommended setting may be (sizes and steps whole numbers, the rest numbers).
RECOMMENDED_RANGES = {
    "width": "a whole number 1-8192",
    "height": "a whole number 1-8192",
    "steps": "a whole number 1-1000",
    "guidance_scale": "a number 0-50",
    "base_ratio": "a number 0-1",
    "scheduler": "a scheduler name",
}


def _recommendation_ok(key: str, value: Any) -> bool:
    if key == "scheduler":
        return isinstance(value, str) and bool(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return False
    limits = {"width": 8192, "height": 8192, "steps": 1000, "guidance_scale": 50, "base_ratio": 1}
    if key in ("width", "height", "steps"):
        return isinstance(value, int) and 1 <= value <= limits[key]
    return 0 <= value <= limits[key]


def model_recommendations(source: str | Path | ModelBundle) -> dict[str, Any]:
    """Recommended settings of a model, without loading its weights."""
    if not isinstance(source, str | Path):  # a loaded ModelBundle
        return dict(source.recommended)
    location = resolve_model(str(source))
    return read_recommendations(location) if location.is_dir() else {}


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def cached_snapshots(repo_id: str, cache: Path) -> Iterator[Path]:
    """The snapshot folders of ``repo_id`` in the hub cache, found with huggingface_hub's
    own cache API (never a download): the ``main`` revision's first, then the others."""
    from huggingface_hub import scan_cache_dir, snapshot_download
    from huggingface_hub.errors import (
        CacheNotFound,
        CorruptedCacheException,
        LocalEntryNotFoundError,
    )

    main: Path | None
    try:
        main = Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):  # not cached under "main"
        main = None
    if main is not None:
        yield main
    try:
        scanned = scan_cache_dir(cache)
    except (CacheNotFound, CorruptedCacheException, OSError):
        return
    for repo in scanned.repos:
        if repo.repo_id != repo_id or repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            if revision.snapshot_path != main:
                yield revision.snapshot_path


def _cached_snapshot(repo_id: str, cache: Path) -> Path | None:
    """The snapshot folder of ``repo_id`` in the hub cache holding a diffusers pipeline."""
    for candidate in cached_snapshots(repo_id, cache):
        if (candidate / "model_index.json").is_file():
            return candidate
    return None
