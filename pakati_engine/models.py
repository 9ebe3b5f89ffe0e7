"""Finding and loading SD1.x / SDXL models from local folders, files and the Hugging Face cache.

Pakati never downloads: every load is ``local_files_only``. A model is found as

1. a built-in name: ``pakati-shapes`` (the embedded model trained by Pakati's own scripts,
   shipped in ``pakati_engine/weights/shapes-t2i``) or ``tiny-random`` (random weights,
   built locally on first use, see ``tiny_models``),
2. a friendly alias (``stable-diffusion-xl`` -> its hub id) or a hub id ``org/name``, looked
   up in the local Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``),
3. a diffusers folder (with ``model_index.json``) or a single-file checkpoint.

A diffusers folder is read component by component from ``model_index.json``, the way
diffusers itself does, so folders without a VAE (pixel-space models) load too.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from pakati_engine.devices import select_device, select_dtype
from pakati_engine.errors import InvalidInputError, ModelNotFoundError

ModelKind = Literal["sd", "sdxl"]

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

COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")


@dataclass
class ModelBundle:
    """The parts of a text-to-image model the regional pipeline uses.

    ``vae`` is None for a pixel-space model: latents are then the image itself in [-1, 1].
    ``text_encoder_2``/``tokenizer_2`` are set for SDXL.
    """

    kind: ModelKind
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    source: str
    device: torch.device
    dtype: torch.dtype
    text_encoder_2: Any = None
    tokenizer_2: Any = None
    force_zeros_for_empty_prompt: bool = False
    #: Generation settings the model was measured best with (its ``pakati.json``).
    recommended: dict[str, Any] = field(default_factory=dict)

    @property
    def vae_scale_factor(self) -> int:
        if self.vae is None:
            return 1
        own = getattr(self.vae, "scale_factor", None)  # e.g. PixelUnshuffleVAE's patch size
        if own is not None:
            return int(own)
        return int(2 ** (len(self.vae.config.block_out_channels) - 1))

    def to(self, device: torch.device, dtype: torch.dtype) -> ModelBundle:
        for module in (self.unet, self.vae, self.text_encoder, self.text_encoder_2):
            if module is not None:
                if module.dtype != dtype:
                    module.to(dtype=dtype)
                module.to(device=device)
                module.eval()
                module.requires_grad_(False)
        self.device, self.dtype = device, dtype
        return self


def load_model(
    source: str | Path,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    config: str | Path | None = None,
) -> ModelBundle:
    """Load a model for regional generation. See the module docstring for the search order.

    ``config`` is only for single-file checkpoints: a local diffusers folder (or cached hub
    id) whose configs describe the checkpoint's architecture.
    """
    _quiet_loading()
    chosen_device = select_device(device)
    chosen_dtype = select_dtype(chosen_device, dtype)
    name = str(source)
    folder_or_file = resolve_model(name)
    if folder_or_file.is_file():
        bundle = _load_single_file(folder_or_file, name, config)
    else:
        bundle = load_diffusers_folder(folder_or_file, name)
    return bundle.to(chosen_device, chosen_dtype)


def _quiet_loading() -> None:
    """Loading progress bars from diffusers/transformers would drown Pakati's own progress."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


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
        from pakati_engine.tiny_models import ensure_builtin_tiny_model

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
        f"download it on a connected machine (huggingface-cli download {repo_ids[0]}) and "
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


def load_diffusers_folder(folder: Path, source: str) -> ModelBundle:
    """Load the components listed in ``model_index.json`` that the pipeline uses."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelNotFoundError(
            f"{str(folder)!r}: model_index.json is unreadable ({error})"
        ) from error
    parts: dict[str, Any] = {}
    for name in (*COMPONENTS, "scheduler"):
        entry = index.get(name)
        if not entry or entry[0] is None or entry[1] is None:
            continue
        parts[name] = _load_component(folder, name, entry[0], entry[1])
    missing = [n for n in ("unet", "text_encoder", "tokenizer", "scheduler") if n not in parts]
    if missing:
        raise ModelNotFoundError(
            f"{str(folder)!r} ({index.get('_class_name', 'unknown pipeline')}) lacks "
            f"{', '.join(missing)}: Pakati's regional engine needs an SD1.x/SDXL-style model "
            "with a UNet, a CLIP text encoder, a tokenizer and a scheduler"
        )
    bundle = bundle_from_components(
        parts, source, bool(index.get("force_zeros_for_empty_prompt", False))
    )
    bundle.recommended = read_recommendations(folder)
    return bundle


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
    return {key: data[key] for key in RECOMMENDED_KEYS if key in data}


def model_recommendations(source: str | Path | ModelBundle) -> dict[str, Any]:
    """Recommended settings of a model, without loading its weights."""
    if isinstance(source, ModelBundle):
        return dict(source.recommended)
    location = resolve_model(str(source))
    return read_recommendations(location) if location.is_dir() else {}


def _load_component(folder: Path, name: str, library: str, class_name: str) -> Any:
    try:
        # Usually diffusers or transformers; a model may also name a module of pakati_engine.
        module = importlib.import_module(library)
    except ImportError as error:
        raise ModelNotFoundError(
            f"{str(folder)!r}: component {name!r} needs the package {library!r} ({error})"
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelNotFoundError(
            f"{str(folder)!r}: component {name!r} needs {library}.{class_name}, which this "
            f"installation of {library} does not have (upgrade {library}?)"
        )
    try:
        return cls.from_pretrained(str(folder), subfolder=name, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(
            f"{str(folder)!r}: could not load component {name!r} ({class_name}): {error}"
        ) from error


def bundle_from_components(
    parts: dict[str, Any], source: str, force_zeros: bool = False
) -> ModelBundle:
    """A bundle from already built components (``unet``, ``text_encoder``, ... by name)."""
    kind: ModelKind = "sdxl" if parts.get("text_encoder_2") is not None else "sd"
    return ModelBundle(
        kind=kind,
        unet=parts["unet"],
        vae=parts.get("vae"),
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        scheduler=parts["scheduler"],
        text_encoder_2=parts.get("text_encoder_2"),
        tokenizer_2=parts.get("tokenizer_2"),
        source=source,
        device=torch.device("cpu"),
        dtype=torch.float32,
        force_zeros_for_empty_prompt=force_zeros,
    )


def _load_single_file(path: Path, source: str, config: str | Path | None) -> ModelBundle:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    pipeline_cls = (
        StableDiffusionXLPipeline if _is_sdxl_checkpoint(path) else StableDiffusionPipeline
    )
    kwargs: dict[str, Any] = {"local_files_only": True}
    if config is not None:
        kwargs["config"] = str(resolve_model(str(config)))
    try:
        pipe = pipeline_cls.from_single_file(str(path), **kwargs)
    except Exception as error:  # diffusers raises many types here; all mean "cannot load"
        raise ModelNotFoundError(
            f"could not load single-file checkpoint {str(path)!r} as {pipeline_cls.__name__}: "
            f"{error}. Loading a single file needs the matching diffusers configs locally: "
            "pass config= (a local diffusers folder of the same architecture, or a hub id in "
            "your cache)."
        ) from error
    parts = {name: getattr(pipe, name, None) for name in (*COMPONENTS, "scheduler")}
    return bundle_from_components(parts, source, pipeline_cls is StableDiffusionXLPipeline)


def _is_sdxl_checkpoint(path: Path) -> bool:
    if path.suffix != ".safetensors":
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return any(key.startswith("conditioner.embedders.1") for key in handle.keys())  # noqa: SIM118
    except Exception as error:
        raise InvalidInputError(
            f"{str(path)!r} is not a readable safetensors checkpoint ({error})"
        ) from error


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _cached_snapshot(repo_id: str, cache: Path) -> Path | None:
    """The snapshot folder of ``repo_id`` in the hub cache, following refs/main."""
    repo_folder = cache / f"models--{repo_id.replace('/', '--')}"
    ref = repo_folder / "refs" / "main"
    snapshots = repo_folder / "snapshots"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if (candidate / "model_index.json").is_file():
            return candidate
    if snapshots.is_dir():
        for candidate in sorted(snapshots.iterdir()):
            if (candidate / "model_index.json").is_file():
                return candidate
    return None
