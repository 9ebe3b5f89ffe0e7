"""A parameter-free "VAE" for pixel-space models: pixel-unshuffle in, pixel-shuffle out.

A small pixel-space UNet is much cheaper on a pixel-unshuffled image (each r x r block of
RGB pixels becomes 3 r^2 channels at 1/r the resolution). Packaged as a diffusers model
with the VAE's interface (``encode(...).latent_dist.mode()``, ``decode(...).sample``,
``config.scaling_factor``), such a model is a standard diffusers folder that the same
loader and pipeline handle as Stable Diffusion; ``model_index.json`` names it as
``["pakati_engine.models.pixel_vae", "PixelUnshuffleVAE"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


@dataclass
class _Exact:
    """Stands in for a latent distribution: encoding is deterministic."""

    latents: torch.Tensor

    def mode(self) -> torch.Tensor:
        return self.latents

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.latents


@dataclass
class _EncoderOutput:
    latent_dist: _Exact


@dataclass
class _DecoderOutput:
    sample: torch.Tensor


class PixelUnshuffleVAE(ModelMixin, ConfigMixin):
    """Images in [-1, 1], (B, 3, H, W) <-> latents (B, 3 r^2, H / r, W / r); lossless."""

    @register_to_config
    def __init__(self, patch_size: int = 2, in_channels: int = 3, scaling_factor: float = 1.0):
        super().__init__()
        # One saved buffer: gives the module a dtype/device and a weights file to load.
        self.register_buffer("anchor", torch.zeros(1))

    @property
    def scale_factor(self) -> int:
        return int(self.config.patch_size)

    @property
    def latent_channels(self) -> int:
        return int(self.config.in_channels * self.config.patch_size**2)

    @overload
    def encode(self, images: torch.Tensor, return_dict: Literal[True] = True) -> _EncoderOutput: ...

    @overload
    def encode(self, images: torch.Tensor, return_dict: Literal[False]) -> tuple[_Exact]: ...

    def encode(
        self, images: torch.Tensor, return_dict: bool = True
    ) -> _EncoderOutput | tuple[_Exact]:
        latents = F.pixel_unshuffle(images, self.config.patch_size)  # (B, 3 r^2, H/r, W/r)
        output = _EncoderOutput(_Exact(latents))
        return output if return_dict else (output.latent_dist,)

    @overload
    def decode(
        self, latents: torch.Tensor, return_dict: Literal[True] = True
    ) -> _DecoderOutput: ...

    @overload
    def decode(self, latents: torch.Tensor, return_dict: Literal[False]) -> tuple[torch.Tensor]: ...

    def decode(
        self, latents: torch.Tensor, return_dict: bool = True
    ) -> _DecoderOutput | tuple[torch.Tensor]:
        images = F.pixel_shuffle(latents, self.config.patch_size)  # (B, 3, H, W)
        return _DecoderOutput(images) if return_dict else (images,)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(
            F.pixel_unshuffle(images, self.config.patch_size), self.config.patch_size
        )
