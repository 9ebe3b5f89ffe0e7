"""Loading SD1.x / SDXL models (diffusers folders, single files, the embedded model).

Where a name points is decided by ``models.catalog``; this module builds the components.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from safetensors import safe_open

from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.models.bundle import ModelBundle, ModelKind
from pakati_engine.models.catalog import read_recommendations, resolve_model
from pakati_engine.models.devices import select_device, select_dtype

#: Engine modules that models exported by earlier versions name, and where they are now.
MOVED_MODULES = {"pakati_engine.pixel_vae": "pakati_engine.models.pixel_vae"}

COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")

#: The classes a model folder may name, per component. ``model_index.json`` chooses which
#: module is imported and which class is called, so it is checked against this list first:
#: a folder naming ``["os", "system"]`` must not get to import or call anything.
_TEXT_ENCODERS = {
    ("transformers", "CLIPTextModel"),
    ("transformers", "CLIPTextModelWithProjection"),
}
_TOKENIZERS = {("transformers", "CLIPTokenizer"), ("transformers", "CLIPTokenizerFast")}
ALLOWED_CLASSES: dict[str, set[tuple[str, str]]] = {
    "unet": {
        ("diffusers", "UNet2DConditionModel"),
        ("pakati_engine.models.detail_unet", "DetailUNet2DConditionModel"),
    },
    "vae": {
        ("diffusers", "AutoencoderKL"),
        ("diffusers", "AutoencoderTiny"),
        ("pakati_engine.models.pixel_vae", "PixelUnshuffleVAE"),
    },
    "text_encoder": _TEXT_ENCODERS,
    "text_encoder_2": _TEXT_ENCODERS,
    "tokenizer": _TOKENIZERS,
    "tokenizer_2": _TOKENIZERS,
}


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
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def load_diffusers_folder(folder: Path, source: str) -> ModelBundle:
    """Load the components listed in ``model_index.json`` that the pipeline uses."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelNotFoundError(
            f"{str(folder)!r}: model_index.json is unreadable ({error})"
        ) from error
    if not isinstance(index, dict):
        raise InvalidInputError(f"{str(folder)!r}: model_index.json is not a JSON object")
    parts: dict[str, Any] = {}
    for name in (*COMPONENTS, "scheduler"):
        entry = index.get(name)
        if not entry or not isinstance(entry, list) or len(entry) != 2:
            continue
        if entry[0] is None or entry[1] is None:
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


def allowed_class(name: str, library: str, class_name: str) -> bool:
    """Whether component ``name`` may be ``library.class_name`` (schedulers: any diffusers
    class whose name ends in ``Scheduler``)."""
    if name == "scheduler":
        return (
            library == "diffusers"
            and class_name.isidentifier()
            and class_name.endswith("Scheduler")
        )
    return (library, class_name) in ALLOWED_CLASSES.get(name, set())


def _load_component(folder: Path, name: str, library: str, class_name: str) -> Any:
    library = MOVED_MODULES.get(library, library)
    if not (isinstance(library, str) and isinstance(class_name, str)) or not allowed_class(
        name, library, class_name
    ):
        known = sorted(f"{m}.{c}" for m, c in ALLOWED_CLASSES.get(name, set()))
        raise InvalidInputError(
            f"{str(folder)!r}: model_index.json names {library!r}.{class_name!r} as its "
            f"{name}; Pakati loads only known model classes here "
            f"({', '.join(known) or 'diffusers.*Scheduler'}), so this folder is refused unread"
        )
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
    parts: Mapping[str, Any], source: str, force_zeros: bool = False
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
    # Lazy: the pipeline classes take about 2.5 s to import and only single-file
    # checkpoints need them (folders load component by component).
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
        with safe_open(str(path), framework="pt") as handle:
            return any(key.startswith("conditioner.embedders.1") for key in handle.keys())  # noqa: SIM118
    except Exception as error:
        raise InvalidInputError(
            f"{str(path)!r} is not a readable safetensors checkpoint ({error})"
        ) from error
