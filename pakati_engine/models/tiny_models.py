"""Tiny seeded random SD1.x- and SDXL-shaped models, built in code.

They have the real architecture (UNet with cross-attention, KL VAE with an 8x factor, CLIP
text encoders with the real CLIP tokenizer) at a fraction of the size, so every code path
can be exercised offline on a CPU. Their pictures are noise: random weights draw nothing.
Tests use them, and ``tiny-random`` is the README's default model until trained weights
ship. Building is local and deterministic; nothing is downloaded.

The diffusers and transformers model classes are imported inside the builders: finding an
already built ``tiny-random`` (``ensure_builtin_tiny_model``, which the catalog calls to
resolve the name) and ``sd15_unet_config`` then import none of them (about 4 s on 2 cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from pakati_engine.models.protocols import VAE, Scheduler, TextEncoder, Tokenizer
from pakati_engine.models.tokenizer_files import (
    END_TOKEN,
    START_TOKEN,
    VOCAB_SIZE,
    write_clip_tokenizer,
)

BOS_ID, EOS_ID = VOCAB_SIZE - 2, VOCAB_SIZE - 1

#: UNet settings shared by the tiny SD and SDXL shapes: cross-attention at both levels.
TINY_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "norm_num_groups": 8,
}


def pakati_home() -> Path:
    """Pakati's own cache folder (``PAKATI_HOME``, else ``~/.cache/pakati``)."""
    return Path(os.environ.get("PAKATI_HOME", "~/.cache/pakati")).expanduser()


def clip_text_encoder(
    seed: int, hidden: int, projection: int | None = None, layers: int = 2, heads: int = 4
) -> TextEncoder:
    """A seeded random CLIP text encoder (with a projection head for SDXL's second one)."""
    # Lazy: builders only (see the module docstring).
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=hidden * (4 if layers > 2 else 2),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=EOS_ID,
        projection_dim=projection or hidden,
    )
    torch.manual_seed(seed)
    model_cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return model_cls(config).eval()


def _vae(seed: int) -> VAE:
    # Lazy: builders only (see the module docstring).
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),  # 3 downsamples: the SD factor of 8
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=64,
    ).eval()


def clip_tokenizer(tokenizer_dir: str | Path | None = None) -> Tokenizer:
    """The real CLIP tokenizer, written offline from open_clip's BPE table when needed."""
    # Lazy: builders only (see the module docstring).
    from transformers import CLIPTokenizer

    if tokenizer_dir:
        folder = Path(tokenizer_dir)
        if not (folder / "vocab.json").is_file():
            write_clip_tokenizer(folder)
    else:
        folder = _shared_tokenizer_folder()
    tokenizer = CLIPTokenizer.from_pretrained(str(folder))
    assert tokenizer.bos_token == START_TOKEN and tokenizer.eos_token == END_TOKEN
    return tokenizer


def _shared_tokenizer_folder() -> Path:
    """The tokenizer in Pakati's cache, written whole or not at all.

    Two processes building tiny models at once both write it: each writes a folder of its
    own and renames it into place (a reader saw a vocab.json whose merges.txt was not yet
    written, and failed, when both wrote the same folder).
    """
    folder = pakati_home() / "clip_tokenizer"
    if (folder / "special_tokens_map.json").is_file():  # the last file written
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".clip_tokenizer.", dir=folder.parent))
    try:
        write_clip_tokenizer(partial)
        if folder.is_dir() and not (folder / "special_tokens_map.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # left half-written by an older Pakati
        try:
            partial.rename(folder)
        except OSError:
            if not (folder / "special_tokens_map.json").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def build_tiny_sd(seed: int = 0, tokenizer_dir: str | Path | None = None) -> dict[str, Any]:
    """Components of a tiny SD1.x-shaped model, cross-attention at both UNet levels."""
    # Lazy: builders only (see the module docstring).
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET, cross_attention_dim=32, attention_head_dim=4).eval()
    return {
        "unet": unet,
        "vae": _vae(seed + 1),
        "text_encoder": clip_text_encoder(seed + 2, 32),
        "tokenizer": clip_tokenizer(tokenizer_dir),
        "scheduler": sd_scheduler(),
    }


def sd_scheduler() -> Scheduler:
    """Stable Diffusion 1.x's DDIM schedule."""
    # Lazy: builders only (see the module docstring).
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def build_tiny_sdxl(seed: int = 0, tokenizer_dir: str | Path | None = None) -> dict[str, Any]:
    """Components of a tiny SDXL-shaped model: two text encoders, pooled embeds, time ids."""
    # Lazy: builders only (see the module docstring).
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **TINY_UNET,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # time ids + pooled text
        cross_attention_dim=64,  # 32 + 32 from the two encoders
    ).eval()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    tokenizer = clip_tokenizer(tokenizer_dir)
    return {
        "unet": unet,
        "vae": _vae(seed + 1),
        "text_encoder": clip_text_encoder(seed + 2, 32),
        "tokenizer": tokenizer,
        "text_encoder_2": clip_text_encoder(seed + 3, 32, projection=32),
        "tokenizer_2": tokenizer,
        "scheduler": scheduler,
    }


def save_tiny_model(
    folder: str | Path,
    kind: str = "sd",
    seed: int = 0,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Write a tiny model as a standard diffusers folder (``model_index.json`` and parts)."""
    # Lazy: builders only (see the module docstring).
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    folder = Path(folder)
    if kind == "sdxl":
        pipe: Any = StableDiffusionXLPipeline(**build_tiny_sdxl(seed, tokenizer_dir))
    else:
        pipe = StableDiffusionPipeline(
            **build_tiny_sd(seed, tokenizer_dir),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    pipe.save_pretrained(str(folder))
    return folder


def ensure_builtin_tiny_model(name: str) -> Path:
    """Build ``tiny-random`` / ``tiny-random-sdxl`` under Pakati's cache on first use.

    Each process builds in a folder of its own and renames it into place; when two build at
    once, the second finds the first's model there and discards its own copy.
    """
    kind = "sdxl" if name.endswith("sdxl") else "sd"
    folder = pakati_home() / "models" / name
    if (folder / "model_index.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=folder.parent))
    try:
        save_tiny_model(partial, kind=kind, seed=0)
        try:
            partial.rename(folder)
        except OSError:
            if not (folder / "model_index.json").is_file():
                raise  # not another builder's finished model: a real failure
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def sd15_unet_config() -> dict[str, Any]:
    """The UNet configuration of Stable Diffusion 1.5 (for benchmarks with random weights)."""
    return {
        "sample_size": 64,
        "in_channels": 4,
        "out_channels": 4,
        "layers_per_block": 2,
        "block_out_channels": (320, 640, 1280, 1280),
        "down_block_types": (
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        "up_block_types": (
            "UpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
        ),
        "cross_attention_dim": 768,
        "attention_head_dim": 8,
    }
