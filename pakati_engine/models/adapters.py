"""LoRA adapters and textual-inversion embeddings on a loaded model, through diffusers.

Loading uses diffusers' own loaders (``load_lora_weights`` and ``load_textual_inversion``
semantics: diffusers- and kohya-format LoRA files, A1111 and diffusers embedding files),
called on a small stand-in for a pipeline that holds the bundle's UNet, text encoders and
tokenizers. A LoRA is loaded once per model under an adapter name; which adapters act, and
how strongly, is then chosen before every generation (:func:`activate_loras`), so canvases
that share one loaded model each get exactly their own LoRAs. An embedding adds a token to
the tokenizer; it only acts where a prompt uses that token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.prompt_cache import clear_prompt_cache


def _peft_available() -> bool:
    try:
        import peft  # noqa: F401
    except ImportError:
        return False
    return True


def adapter_name(source: str) -> str:
    """A LoRA's default adapter name: its file or folder name, made identifier-safe."""
    stem = Path(source).stem or "lora"
    return re.sub(r"[^0-9A-Za-z_]", "_", stem)


def load_lora(bundle: ModelBundle, source: str | Path, name: str | None = None) -> str:
    """Load the LoRA at ``source`` (a ``.safetensors`` file or a folder holding
    ``pytorch_lora_weights.safetensors``) into ``bundle`` as adapter ``name``; the name.

    Loading the same source under the same name again does nothing; another source under a
    name already used is refused.
    """
    source = str(source)
    name = name or adapter_name(source)
    loaded: dict[str, str] = bundle.adapters.setdefault("loras", {})
    if loaded.get(name) == source:
        return name
    if name in loaded:
        raise InvalidInputError(
            f"LoRA name {name!r} is already used by {loaded[name]!r} on this model; give "
            "this one another name"
        )
    if not Path(source).exists():
        raise ModelNotFoundError(
            f"LoRA {source!r} does not exist: give a .safetensors file or a folder with "
            "pytorch_lora_weights.safetensors"
        )
    if not _peft_available():
        raise ModelNotFoundError(
            "loading a LoRA needs the peft package (diffusers loads LoRAs through it): "
            "pip install 'pakati[lora]'"
        )
    target = _loader_target(bundle)
    try:
        target.load_lora_weights(source, adapter_name=name)
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        raise InvalidInputError(
            f"LoRA {source!r} does not fit model {bundle.source!r} ({error}); a LoRA must be "
            f"trained for this model's architecture ({bundle.kind.upper()})"
        ) from error
    loaded[name] = source
    # diffusers makes a newly loaded adapter act: which act is unknown until chosen.
    bundle.active_loras = None
    clear_prompt_cache(bundle)
    return name


def activate_loras(bundle: ModelBundle, weights: Mapping[str, float]) -> None:
    """Make exactly the adapters in ``weights`` act, each at its weight (none: no LoRA)."""
    loaded: dict[str, str] = bundle.adapters.get("loras", {})
    missing = [name for name in weights if name not in loaded]
    if missing:
        raise InvalidInputError(f"LoRA {missing[0]!r} is not loaded on this model")
    if not loaded:
        return
    target = _loader_target(bundle)
    bundle.active_loras = {name: float(weight) for name, weight in weights.items()}
    if not weights:
        target.disable_lora()
        return
    target.enable_lora()
    target.set_adapters(list(weights), [float(w) for w in weights.values()])


def load_textual_inversion(bundle: ModelBundle, source: str | Path, token: str) -> None:
    """Add ``token`` with the learned embedding at ``source`` (A1111 ``.pt``/``.safetensors``
    or diffusers ``learned_embeds``); SDXL files hold ``clip_l`` and ``clip_g`` vectors."""
    source = str(source)
    loaded: dict[str, str] = bundle.adapters.setdefault("embeddings", {})
    if loaded.get(token) == source:
        return
    if token in loaded:
        raise InvalidInputError(
            f"token {token!r} already has the embedding {loaded[token]!r} on this model; "
            "choose another token"
        )
    if not Path(source).is_file():
        raise ModelNotFoundError(f"embedding file {source!r} does not exist")
    target = _loader_target(bundle)
    try:
        if bundle.kind == "sdxl":
            vectors = _sdxl_vectors(source)
            target.load_textual_inversion(
                vectors["clip_l"], token=token, tokenizer=bundle.tokenizer,
                text_encoder=bundle.text_encoder,
            )  # fmt: skip
            target.load_textual_inversion(
                vectors["clip_g"], token=token, tokenizer=bundle.tokenizer_2,
                text_encoder=bundle.text_encoder_2,
            )  # fmt: skip
        else:
            target.load_textual_inversion(source, token=token)
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        raise InvalidInputError(
            f"embedding {source!r} does not fit model {bundle.source!r} ({error})"
        ) from error
    loaded[token] = source
    clear_prompt_cache(bundle)


def expand_embedding_tokens(bundle: ModelBundle, text: str) -> str:
    """``text`` with each multi-vector embedding token spelled out as its vector tokens
    (``<tok>`` -> ``<tok> <tok>_1 ...``), as diffusers' ``maybe_convert_prompt`` does."""
    if not bundle.adapters.get("embeddings"):
        return text
    return str(_loader_target(bundle).maybe_convert_prompt(text, bundle.tokenizer))


def _sdxl_vectors(source: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not source.endswith(".safetensors"):
        raise InvalidInputError("an SDXL embedding must be a .safetensors file")
    state = load_file(source)
    if "clip_l" not in state or "clip_g" not in state:
        raise InvalidInputError(
            f"{source!r} is not an SDXL embedding: it needs clip_l and clip_g vectors"
        )
    return state


def _loader_target(bundle: ModelBundle) -> Any:
    """What diffusers' loader mixins expect of a pipeline, holding ``bundle``'s parts.

    The mixins are imported here, not at module level: diffusers' loaders import peft."""
    from diffusers.loaders import (
        StableDiffusionLoraLoaderMixin,
        StableDiffusionXLLoraLoaderMixin,
        TextualInversionLoaderMixin,
    )

    lora = (
        StableDiffusionXLLoraLoaderMixin
        if bundle.kind == "sdxl"
        else StableDiffusionLoraLoaderMixin
    )
    components: dict[str, Any] = {"unet": bundle.unet, "text_encoder": bundle.text_encoder}
    if bundle.kind == "sdxl":
        components["text_encoder_2"] = bundle.text_encoder_2
    target: Any = type("PakatiLoaderTarget", (lora, TextualInversionLoaderMixin), {})()
    target.__dict__.update(
        components,
        tokenizer=bundle.tokenizer,
        tokenizer_2=bundle.tokenizer_2,
        hf_device_map=None,  # no accelerate device map: nothing to move while loading
        components=components,
    )
    return target


def prepare_adapters(bundle: ModelBundle, loras: Any, embeddings: Any) -> None:
    """Before a generation: load what a layout's ``loras``/``embeddings`` name (once per
    model) and make exactly its LoRAs act, at their weights."""
    for embedding in embeddings:
        load_textual_inversion(bundle, embedding.path, embedding.token)
    weights: dict[str, float] = {}
    for lora in loras:
        name = load_lora(bundle, lora.path, lora.name)
        if name in weights:
            raise InvalidInputError(f"LoRA {name!r} is listed twice; list it once")
        weights[name] = lora.weight
    activate_loras(bundle, weights)
