"""Real model parts satisfy the engine's protocols.

mypy cannot see diffusers' types (to it they satisfy any protocol), so these checks run on
the objects themselves: the tiny SD/SDXL parts, every named sampler, the pixel VAE and the
parts training builds.
"""

from __future__ import annotations

import pytest
import torch

from pakati_engine.diffusion.schedulers import SCHEDULERS, make_scheduler
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.pixel_vae import PixelUnshuffleVAE
from pakati_engine.models.protocols import (
    VAE,
    PatchVAE,
    ProjectedTextEncoder,
    SaveableScheduler,
    Scheduler,
    TextEncoder,
    Tokenizer,
    TrainableTextEncoder,
    TrainableUNet,
    TrainingNoiseSchedule,
    UNet,
)


def test_tiny_model_parts_satisfy_the_protocols(bundle: ModelBundle) -> None:
    assert isinstance(bundle.unet, UNet)
    assert isinstance(bundle.vae, VAE)
    assert isinstance(bundle.text_encoder, TextEncoder)
    assert isinstance(bundle.tokenizer, Tokenizer)
    assert isinstance(bundle.scheduler, Scheduler)
    if bundle.kind == "sdxl":
        assert isinstance(bundle.text_encoder_2, ProjectedTextEncoder)
        assert isinstance(bundle.tokenizer_2, Tokenizer)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_named_sampler_is_a_scheduler(sd_bundle: ModelBundle, name: str) -> None:
    assert isinstance(make_scheduler(sd_bundle.scheduler, name), Scheduler)


def test_pixel_vae_is_a_lossless_patch_vae() -> None:
    vae = PixelUnshuffleVAE(patch_size=2)
    assert isinstance(vae, PatchVAE)
    images = torch.rand(1, 3, 8, 8) * 2 - 1
    latents = vae.encode(images).latent_dist.mode()  # (1, 12, 4, 4)
    assert latents.shape == (1, vae.latent_channels, 4, 4) and vae.scale_factor == 2
    assert torch.equal(vae.decode(latents).sample, images)
    assert torch.equal(vae.decode(latents, return_dict=False)[0], images)


def test_training_parts_satisfy_the_protocols() -> None:
    from pakati_engine.training.build import (
        build_noise_scheduler,
        build_sampler,
        build_text_encoder,
        build_unet,
        build_vae,
    )
    from pakati_engine.training.config import TINY_MODEL

    assert isinstance(build_unet(TINY_MODEL, seed=0), TrainableUNet)
    assert isinstance(build_text_encoder(TINY_MODEL, seed=0), TrainableTextEncoder)
    assert isinstance(build_vae(TINY_MODEL), PatchVAE)
    assert isinstance(build_sampler(TINY_MODEL), SaveableScheduler)
    assert isinstance(build_noise_scheduler(TINY_MODEL), TrainingNoiseSchedule)
