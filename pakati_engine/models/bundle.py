"""``ModelBundle``: the parts of a text-to-image model that the regional pipeline uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from pakati_engine.models.protocols import (
    VAE,
    ProjectedTextEncoder,
    Scheduler,
    TextEncoder,
    Tokenizer,
    TorchModel,
    UNet,
)

ModelKind = Literal["sd", "sdxl"]


@dataclass
class ModelBundle:
    """The parts of a text-to-image model the regional pipeline uses.

    ``vae`` is None for a pixel-space model: latents are then the image itself in [-1, 1].
    ``text_encoder_2``/``tokenizer_2`` are set for SDXL.
    """

    kind: ModelKind
    unet: UNet
    vae: VAE | None
    text_encoder: TextEncoder
    tokenizer: Tokenizer
    scheduler: Scheduler
    source: str
    device: torch.device
    dtype: torch.dtype
    text_encoder_2: ProjectedTextEncoder | None = None
    tokenizer_2: Tokenizer | None = None
    force_zeros_for_empty_prompt: bool = False
    #: Generation settings the model was measured best with (its ``pakati.json``).
    recommended: dict[str, Any] = field(default_factory=dict)
    #: LoRAs and embeddings loaded into these modules (``pakati_engine.models.adapters``):
    #: ``{"loras": {adapter name: source}, "embeddings": {token: source}}``.
    adapters: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The LoRAs acting now, at their weights (set by ``adapters.activate_loras``); None
    #: when unknown (a LoRA was loaded and none chosen since).
    active_loras: dict[str, float] | None = field(default_factory=dict)

    @property
    def vae_scale_factor(self) -> int:
        if self.vae is None:
            return 1
        own = getattr(self.vae, "scale_factor", None)  # e.g. PixelUnshuffleVAE's patch size
        if own is not None:
            return int(own)
        return int(2 ** (len(self.vae.config.block_out_channels) - 1))

    def to(self, device: torch.device, dtype: torch.dtype) -> ModelBundle:
        modules: tuple[TorchModel | None, ...] = (
            self.unet,
            self.vae,
            self.text_encoder,
            self.text_encoder_2,
        )
        for module in modules:
            if module is not None:
                if module.dtype != dtype:
                    module.to(dtype=dtype)
                module.to(device=device)
                module.eval()
                module.requires_grad_(False)
        self.device, self.dtype = device, dtype
        return self
