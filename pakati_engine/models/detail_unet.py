"""A clean-image-predicting UNet with a detail head that sees its input.

The embedded model predicts the clean image x0 from a 16x16x192 pixel-unshuffled latent
through a first UNet level of 64 channels: everything it outputs has passed that
bottleneck. Objects of several 8 px patches come out right; a 10-14 px circle does not,
even from an almost clean input (the denoising probe reads 0.60 for 10-12 px objects at
t = 10), because its outline does not fit through 64 channels per cell.

This UNet adds a small convolutional head's output to the UNet's. The head sees, at the
latent's resolution, the least-squares estimate of x0 from the noisy input alone
(``c_skip(t) * x_t``, the factor of Karras et al. 2022, "Elucidating the design space of
diffusion-based generative models": about 1 where little noise is left, near 0 where x_t
is mostly noise) next to the UNet's last features (what the prompt and the layout ask
for), so it can put back the outline detail that the bottleneck lost. A linear skip alone
cannot: it would pass the noise through with the detail, and the UNet cannot carry
per-pixel noise to cancel it. The head's last convolution starts at zero, so a model
converted from a plain UNet starts out computing exactly what it did before.

The class keeps ``UNet2DConditionModel``'s constructor signature (so its saved config is
the same and ``from_pretrained`` fills it the same way); ``c_skip`` per timestep is a
saved buffer, written by training from the noise schedule.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

#: Length of the ``c_skip`` table: the training schedule's number of timesteps.
SKIP_TIMESTEPS = 1000

DETAIL_CHANNELS = 128
"""Width of the detail head's hidden layer."""


class DetailUNet2DConditionModel(UNet2DConditionModel):
    """``UNet2DConditionModel`` plus ``detail_head([c_skip(t) x_t, UNet features])``."""

    @functools.wraps(UNet2DConditionModel.__init__)  # type: ignore[misc]  # its signature
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        features = self.config.block_out_channels[0]
        channels_in, channels_out = self.config.in_channels, self.config.out_channels
        self.detail_head = torch.nn.Sequential(
            torch.nn.Conv2d(channels_in + features, DETAIL_CHANNELS, 3, padding=1),
            torch.nn.SiLU(),
            torch.nn.Conv2d(DETAIL_CHANNELS, channels_out, 3, padding=1),
        )
        for param in self.detail_head[-1].parameters():
            torch.nn.init.zeros_(param)
        self.register_buffer("input_skip_scale", torch.zeros(SKIP_TIMESTEPS))
        self._features: list[torch.Tensor] = []
        self.conv_out.register_forward_pre_hook(self._keep_features)

    def _keep_features(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self._features.append(inputs[0])

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        *args: Any,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> UNet2DConditionOutput | tuple[torch.Tensor]:
        self._features.clear()
        try:
            output = super().forward(
                sample, timestep, encoder_hidden_states, *args, return_dict=False, **kwargs
            )[0]
            features = self._features[-1]  # (B, F, h, w): what conv_out turned into x0
        finally:
            self._features.clear()
        steps = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        steps = steps.round().long().clamp(0, SKIP_TIMESTEPS - 1)
        scale = self.input_skip_scale[steps].to(output.dtype).reshape(-1, 1, 1, 1)  # (B|1,...)
        estimate = scale * sample.to(output.dtype)  # (B, C, h, w) x0 from x_t alone
        head_input = torch.cat([estimate, features.to(output.dtype)], dim=1)
        output = output + self.detail_head(head_input)
        return UNet2DConditionOutput(sample=output) if return_dict else (output,)


def skip_scale(alphas_cumprod: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """``c_skip`` per timestep for ``x_t = a x0 + s noise`` (a^2 + s^2 = 1): the factor of
    the least-squares estimate of x0 from x_t for data of standard deviation ``sigma_data``,
    ``a sd^2 / (a^2 sd^2 + s^2)``. About 1 at low noise, near 0 at high noise."""
    alpha_bar = alphas_cumprod.double()  # (T,)
    variance = sigma_data**2
    scale = alpha_bar.sqrt() * variance / (alpha_bar * variance + (1.0 - alpha_bar))
    return scale.float()
