"""Building the model's components (UNet, text encoder, tokenizer, schedulers) from a config.

Everything here is a standard diffusers / transformers class, so the exported folder loads
through :func:`pakati_engine.models.load_model` like any Stable Diffusion folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from pakati_engine.models.detail_unet import SKIP_TIMESTEPS, DetailUNet2DConditionModel, skip_scale
from pakati_engine.models.pixel_vae import PixelUnshuffleVAE
from pakati_engine.models.protocols import (
    SaveableScheduler,
    Tokenizer,
    TrainableTextEncoder,
    TrainableUNet,
    TrainingNoiseSchedule,
)
from pakati_engine.models.tokenizer_files import VOCAB_SIZE, write_clip_tokenizer
from pakati_engine.training.config import ModelConfig

BOS_ID, EOS_ID = VOCAB_SIZE - 2, VOCAB_SIZE - 1


def build_unet(config: ModelConfig, seed: int) -> TrainableUNet:
    """A pixel-space UNet: cross-attention from ``config.attention_from_level`` down; with
    ``config.detail_head``, the detail-head UNet (its x0-from-x_t factors from the schedule)."""
    levels = len(config.block_out_channels)
    plain = min(config.attention_from_level, levels)
    down = ("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * (levels - plain)
    up = tuple(name.replace("Down", "Up") for name in reversed(down))
    torch.manual_seed(seed)
    unet_class = DetailUNet2DConditionModel if config.detail_head else UNet2DConditionModel
    unet = unet_class(
        sample_size=config.latent_size,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        layers_per_block=config.layers_per_block,
        block_out_channels=config.block_out_channels,
        down_block_types=down,
        up_block_types=up,
        cross_attention_dim=config.text_hidden,
        attention_head_dim=config.attention_heads,  # diffusers: this is the number of heads
        norm_num_groups=config.norm_num_groups,
    )
    if config.detail_head:
        if config.train_timesteps != SKIP_TIMESTEPS:
            raise ValueError(f"a detail head needs {SKIP_TIMESTEPS} training timesteps")
        alphas = build_noise_scheduler(config).alphas_cumprod  # (T,)
        unet.input_skip_scale.copy_(skip_scale(alphas, config.skip_sigma_data))
    return unet


def build_text_encoder(config: ModelConfig, seed: int) -> TrainableTextEncoder:
    """A small CLIP text transformer over the full CLIP vocabulary.

    The token embedding stays at its seeded random initialisation (it is frozen in
    training): 49,408 rows of which the shapes world uses a few dozen, so training it would
    only bloat the optimizer state and the resumable checkpoint.
    """
    text_config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=config.text_hidden,
        intermediate_size=config.text_hidden * 2,
        num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads,
        max_position_embeddings=max(config.max_tokens, 16),
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=EOS_ID,
        projection_dim=config.text_hidden,
    )
    torch.manual_seed(seed + 1)
    return CLIPTextModel(text_config)


def token_embedding(text_encoder: TrainableTextEncoder) -> torch.nn.Parameter:
    """The frozen token-embedding table of a CLIP text model."""
    # An nn.Embedding's weight; torch types module attributes as ``Tensor | Module``.
    return cast(torch.nn.Parameter, text_encoder.get_input_embeddings().weight)


def write_tokenizer(folder: str | Path, max_tokens: int) -> Path:
    """Write the real CLIP tokenizer with a short ``model_max_length`` (the engine's span)."""
    folder = write_clip_tokenizer(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_max_length"] = max_tokens
    config_path.write_text(json.dumps(config, indent=2))
    return folder


def load_tokenizer(folder: str | Path) -> Tokenizer:
    return CLIPTokenizer.from_pretrained(str(folder))


def scheduler_config(config: ModelConfig) -> dict[str, Any]:
    """Noise schedule shared by training (DDPM forward process) and sampling.

    A shifted schedule is written out as ``trained_betas``, which every diffusers scheduler
    accepts and keeps in its saved config, so the shipped folder samples with exactly the
    schedule the model was trained on, whichever sampler the user picks.
    """
    values: dict[str, Any] = {
        "num_train_timesteps": config.train_timesteps,
        "beta_schedule": config.beta_schedule,
        "prediction_type": config.prediction_type,
    }
    if config.snr_shift != 1.0:
        values["trained_betas"] = shifted_betas(config)
    return values


def shifted_betas(config: ModelConfig) -> list[float]:
    """Betas whose cumulative signal-to-noise ratio is the base schedule's / ``snr_shift**2``."""
    base = DDPMScheduler(
        num_train_timesteps=config.train_timesteps, beta_schedule=config.beta_schedule
    )
    alpha_bar = base.alphas_cumprod.double()  # (T,)
    log_snr = torch.log(alpha_bar) - torch.log1p(-alpha_bar) - 2.0 * math.log(config.snr_shift)
    shifted = torch.sigmoid(log_snr)  # (T,) the shifted alpha-bar
    previous = torch.cat([torch.ones(1, dtype=shifted.dtype), shifted[:-1]])
    betas = (1.0 - shifted / previous).clamp(max=0.999)
    return [float(b) for b in betas]


def build_sampler(config: ModelConfig) -> SaveableScheduler:
    """The sampler shipped with the model: DPM-Solver++ (2M), robust to strong guidance."""
    return DPMSolverMultistepScheduler(
        **scheduler_config(config),
        algorithm_type="dpmsolver++",
        solver_order=2,
        timestep_spacing="trailing",
    )


def build_noise_scheduler(config: ModelConfig) -> TrainingNoiseSchedule:
    """The forward (noising) process used in training."""
    return DDPMScheduler(**scheduler_config(config))


def build_vae(config: ModelConfig) -> PixelUnshuffleVAE:
    return PixelUnshuffleVAE(patch_size=config.patch_size)
