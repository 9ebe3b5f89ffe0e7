"""Typed configuration of the embedded text-to-image model and of its training run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the model that training builds and export writes.

    The UNet sees 128x128 images pixel-unshuffled by ``patch_size`` (8: a 16x16x192
    latent) and cross-attends at both levels (16x16 and 8x8), so the regional masks of
    layout cells of 38 px and more reach the first level. The first recipe (patch 4, a
    conv-only 32x32 level, 1.7M parameters) learnt too slowly on 2 CPU cores: the same
    compute per sample buys twice the channels at the coarser patch.
    """

    image_size: int = 128
    patch_size: int = 8
    block_out_channels: tuple[int, ...] = (64, 128)
    layers_per_block: int = 1
    attention_from_level: int = 0
    """Index of the first UNet level with cross-attention (earlier levels: convolution only)."""
    attention_heads: int = 4
    norm_num_groups: int = 16
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_tokens: int = 24
    """Span of one prompt on the token axis (the tokenizer's ``model_max_length``)."""
    prediction_type: str = "sample"
    """What the UNet predicts: "sample" (the clean image x0), "v_prediction" or "epsilon".
    x0: a pixel-unshuffled latent has more channels (48) than the UNet's first level
    (32), so the UNet cannot carry per-pixel noise from input to output; epsilon or v
    targets need exactly that, and samples kept their initial noise. The clean image is
    smooth (flat colours and shapes), so predicting it needs no such path."""
    beta_schedule: str = "squaredcos_cap_v2"
    snr_shift: float = 8.0
    """Noise-schedule shift: every timestep's signal-to-noise ratio is divided by
    ``snr_shift**2`` (Hoogeboom et al. 2023, "simple diffusion"). A flat-coloured object of
    a few 8x8 patches stays visible through far more noise than the cosine schedule was made
    for: unshifted, its place and outline are fixed in the first one or two of 20 sampling
    steps, from an all-noise guess, and came out as blobs. Shifted by 8, placement is decided
    over t ~ 550-830 and outline over t ~ 150-550. 1: the plain schedule."""
    train_timesteps: int = 1000
    detail_head: bool = False
    """Add a detail head that sees the noisy input next to the UNet's last features
    (:class:`~pakati_engine.models.detail_unet.DetailUNet2DConditionModel`): outline detail
    need not pass the UNet's first level, which is too narrow for a 10-14 px object. Turned
    on for a run resumed with ``--detail-head`` (the head's output starts at zero, so the
    model computes what it did before)."""
    skip_sigma_data: float = 0.5
    """Standard deviation of the data assumed by the head's x0-from-x_t estimate."""

    @property
    def latent_channels(self) -> int:
        return 3 * self.patch_size**2

    @property
    def latent_size(self) -> int:
        return self.image_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        # Checkpoints from before these fields: attention at the coarser level only, and
        # the plain (unshifted) noise schedule.
        values = {"attention_from_level": 1, "snr_shift": 1.0, **values}
        values["block_out_channels"] = tuple(values["block_out_channels"])
        return cls(**values)


TINY_MODEL = ModelConfig(
    image_size=32,
    patch_size=4,
    block_out_channels=(16, 32, 32),
    attention_heads=2,
    norm_num_groups=8,
    text_hidden=32,
    text_layers=1,
    text_heads=2,
    max_tokens=12,
)
"""A seconds-to-train configuration for tests."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (saved in the checkpoint)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = 64
    learning_rate: float = 8e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    min_snr_gamma: float = 5.0
    """Min-SNR loss weighting (Hang et al. 2023): x0-loss weight at most this; 0: off."""
    snr_floor: float = 1.0
    """x0-loss weight at least this ("truncated SNR", Salimans & Ho 2022). Plain min-SNR
    weights the x0 loss by the SNR itself at high noise, close to zero for the cosine
    schedule's upper half, which left the first sampling steps untrained: samples kept
    their initial noise. The floor trains them."""
    plain_fraction: float = 0.15
    """Share of samples with one whole-scene caption and no regions."""
    plain_max_objects: int = 2
    """Plain samples have at most this many objects, so their caption fits one span."""
    caption_dropout: float = 0.1
    """Share of samples with every prompt emptied (the unconditional branch of guidance)."""
    region_dropout: float = 0.05
    """Share of regions whose prompt alone is emptied."""
    base_ratio_range: tuple[float, float] = (0.05, 0.35)
    max_regions: int = 4
    """Regional samples have ``min_regions`` to this many objects (at most 6); every sample
    carries this many region prompts (padded with empty ones)."""
    min_regions: int = 1
    small_fraction: float = 0.0
    """Share of a regional sample's objects drawn small (10-20 px on 128, in a box of their
    own); plain samples never have small objects. The shipped run to step 13107 had 1-4
    objects and none small; its fine-tune mixes in 5-6 objects and small ones."""
    small_loss_weight: float = 1.0
    """Loss weight of the pixels in a small object's box (the rest weigh 1). A 10-20 px
    circle and square differ in a few dozen pixels of 16384, about 0.2% of a plain mean
    loss, so the model learnt the colour and place of small objects but drew them as
    ambiguous blobs; weighting their boxes makes their outline a sizeable share of the
    loss. 1: the plain mean (every run before the small-object fine-tune)."""
    train_only: tuple[str, ...] = ()
    """UNet modules that are trained (top-level names or dotted prefixes: ``detail_head``,
    ``up_blocks.1``, ``conv_out``); the rest of the UNet and the text encoder stay as they
    are, so what the model draws at high noise (placement, colour) is kept. Empty: all is
    trained. ``--head-only`` is ``("detail_head",)``."""
    low_noise_fraction: float = 0.0
    """Share of samples whose timestep is drawn below ``low_noise_below`` instead of over
    the whole schedule. With the shifted schedule only t < ~60 has a signal-to-noise ratio
    above 1, about 6% of uniform draws, and that is where outline detail is settled."""
    low_noise_below: int = 250
    eval_every_minutes: float = 12.0
    eval_layouts: int = 12
    eval_steps: int = 20
    eval_guidance: float = 3.0
    export_every_minutes: float = 20.0
    log_every_steps: int = 20
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        values["model"] = ModelConfig.from_dict(values["model"])
        values["base_ratio_range"] = tuple(values["base_ratio_range"])
        # Checkpoints written before train_only say head_only (True: the detail head alone).
        if values.pop("head_only", False):
            values.setdefault("train_only", ("detail_head",))
        values["train_only"] = tuple(values.get("train_only", ()))
        return cls(**values)
