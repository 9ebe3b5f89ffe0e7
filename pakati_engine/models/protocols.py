"""The parts of a text-to-image model as the engine uses them, as structural types.

mypy cannot follow diffusers (pyproject skips it), so its UNet, VAE and schedulers are
untyped; these protocols say what Pakati calls on each part, and so give the engine its
types. Only the members the engine uses are listed; a part may have many more. They are
structural: diffusers' ``UNet2DConditionModel``, ``AutoencoderKL`` and schedulers,
transformers' CLIP text models and tokenizers, Pakati's own
:class:`~pakati_engine.models.pixel_vae.PixelUnshuffleVAE` and the tiny test models satisfy
them without naming them.

mypy checks that only for the transformers parts: to it a class with an untyped base (all
of diffusers, and ``PixelUnshuffleVAE``) satisfies any protocol. So the part protocols are
``runtime_checkable``, and tests check the real objects with ``isinstance`` (which checks
that the members exist; the pipeline tests exercise them).

Training uses a few members more (``Trainable*``, ``Saveable``, ``TrainingNoiseSchedule``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, Protocol, Self, overload, runtime_checkable

import torch
from torch.utils.hooks import RemovableHandle


class FrozenConfig(Protocol):
    """A model's or scheduler's config (diffusers' ``FrozenDict``): a read-only mapping
    whose keys are also attributes. Values are whatever the saved config holds."""

    def __contains__(self, key: object, /) -> bool: ...

    def get(self, key: str, default: Any = None, /) -> Any: ...

    def __getattr__(self, name: str, /) -> Any: ...


class UNetConfig(FrozenConfig, Protocol):
    @property
    def in_channels(self) -> int: ...

    @property
    def out_channels(self) -> int: ...


class VAEConfig(FrozenConfig, Protocol):
    """``latent_channels``, ``shift_factor`` and ``block_out_channels`` are optional keys."""

    @property
    def scaling_factor(self) -> float: ...


class TorchModel(Protocol):
    """A torch module as diffusers' ``ModelMixin`` and transformers' ``PreTrainedModel``
    make it: with a ``dtype`` and a ``device``."""

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    # Open signature: transformers wraps ``PreTrainedModel.to`` in a decorator whose type
    # has none of ``torch.nn.Module.to``'s overloads. Pakati calls ``to(device)``,
    # ``to(dtype)``, ``to(device=...)`` and ``to(dtype=...)``.
    def to(self, *args: Any, **kwargs: Any) -> Self: ...

    def eval(self) -> Self: ...

    def train(self, mode: bool = True) -> Self: ...

    def requires_grad_(self, requires_grad: bool = True) -> Self: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def named_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]: ...


class UNetOutput(Protocol):
    @property
    def sample(self) -> torch.Tensor: ...


@runtime_checkable
class UNet(TorchModel, Protocol):
    """The noise predictor: ``unet(latents, t, encoder_hidden_states=...)``.

    Regional attention walks its modules for the cross-attention layers and swaps their
    processors; the pipeline counts its calls with a forward pre-hook.
    """

    @property
    def config(self) -> UNetConfig: ...

    @overload
    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        /,
        encoder_hidden_states: torch.Tensor,
        *,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        down_block_additional_residuals: list[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: Literal[True] = True,
    ) -> UNetOutput: ...

    @overload
    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        /,
        encoder_hidden_states: torch.Tensor,
        *,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        down_block_additional_residuals: list[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: Literal[False],
    ) -> tuple[torch.Tensor, ...]: ...

    def named_modules(self) -> Iterator[tuple[str, torch.nn.Module]]: ...

    def register_forward_pre_hook(
        self, hook: Callable[[torch.nn.Module, tuple[Any, ...]], None], /
    ) -> RemovableHandle: ...


class LatentDistribution(Protocol):
    def mode(self) -> torch.Tensor: ...


class VAEEncoding(Protocol):
    @property
    def latent_dist(self) -> LatentDistribution: ...


class VAEDecoding(Protocol):
    @property
    def sample(self) -> torch.Tensor: ...


@runtime_checkable
class VAE(TorchModel, Protocol):
    """Images in [-1, 1] <-> latents; a pixel-space model has none (``ModelBundle.vae``
    None). ``PixelUnshuffleVAE`` is one, with ``scale_factor`` and ``latent_channels``
    of its own (see :class:`PatchVAE`)."""

    @property
    def config(self) -> VAEConfig: ...

    def encode(self, images: torch.Tensor, /) -> VAEEncoding: ...

    @overload
    def decode(
        self, latents: torch.Tensor, /, *, return_dict: Literal[True] = True
    ) -> VAEDecoding: ...

    @overload
    def decode(
        self, latents: torch.Tensor, /, *, return_dict: Literal[False]
    ) -> tuple[torch.Tensor, ...]: ...


@runtime_checkable
class PatchVAE(VAE, Protocol):
    """A VAE whose latent factor and channels follow from its patch size, not its config."""

    @property
    def scale_factor(self) -> int: ...

    @property
    def latent_channels(self) -> int: ...


class TextEncoderOutput(Protocol):
    """Index 0 is the last hidden state, (M, L, D)."""

    def __getitem__(self, index: int, /) -> torch.Tensor: ...


class TextEncoderHiddenStates(TextEncoderOutput, Protocol):
    @property
    def hidden_states(self) -> tuple[torch.Tensor, ...]: ...


@runtime_checkable
class TextEncoder(TorchModel, Protocol):
    """Token ids (M, L) -> hidden states; SDXL reads the penultimate layer."""

    @overload
    def __call__(
        self, input_ids: torch.Tensor, /, *, output_hidden_states: Literal[False] = False
    ) -> TextEncoderOutput: ...

    @overload
    def __call__(
        self, input_ids: torch.Tensor, /, *, output_hidden_states: Literal[True]
    ) -> TextEncoderHiddenStates: ...


class ProjectedHiddenStates(TextEncoderHiddenStates, Protocol):
    @property
    def text_embeds(self) -> torch.Tensor: ...


@runtime_checkable
class ProjectedTextEncoder(TorchModel, Protocol):
    """SDXL's second text encoder: hidden states and pooled, projected ``text_embeds``."""

    def __call__(
        self, input_ids: torch.Tensor, /, *, output_hidden_states: Literal[True]
    ) -> ProjectedHiddenStates: ...


class TokenTensors(Protocol):
    @property
    def input_ids(self) -> torch.Tensor: ...


class TokenLists(Protocol):
    @property
    def input_ids(self) -> list[list[int]]: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Texts -> token ids; prompts are padded and cut to ``model_max_length`` tokens."""

    @property
    def model_max_length(self) -> int: ...

    @overload
    def __call__(
        self,
        text: list[str],
        /,
        *,
        padding: bool | str = False,
        max_length: int | None = None,
        truncation: bool | str = False,
        return_tensors: Literal["pt"],
    ) -> TokenTensors: ...

    @overload
    def __call__(self, text: list[str], /) -> TokenLists: ...


class NoiseSchedule(Protocol):
    """The forward (noising) process a scheduler defines."""

    @property
    def config(self) -> FrozenConfig: ...

    @property
    def alphas_cumprod(self) -> torch.Tensor: ...  # (T,) over the training timesteps

    def add_noise(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, /
    ) -> torch.Tensor: ...


@runtime_checkable
class Scheduler(NoiseSchedule, Protocol):
    """A sampler, stepped by the pipeline's denoising loop."""

    @classmethod
    def from_config(cls, config: FrozenConfig, /) -> Self: ...

    @property
    def timesteps(self) -> torch.Tensor: ...  # set by ``set_timesteps``

    @property
    def order(self) -> int: ...

    @property
    def init_noise_sigma(self) -> float | torch.Tensor: ...

    def set_timesteps(
        self, num_inference_steps: int, /, device: torch.device | str | None = None
    ) -> None: ...

    def scale_model_input(
        self, sample: torch.Tensor, timestep: torch.Tensor | int, /
    ) -> torch.Tensor: ...

    def step(
        self,
        model_output: torch.Tensor,
        timestep: torch.Tensor | int,
        sample: torch.Tensor,
        /,
        *,
        generator: torch.Generator | None = None,
        return_dict: Literal[False],
    ) -> tuple[torch.Tensor, ...]: ...


# What training uses besides.


class Saveable(Protocol):
    """A part that writes itself into a diffusers model folder's subfolder."""

    def save_pretrained(
        self, save_directory: str, /, *, safe_serialization: bool = True
    ) -> None: ...


@runtime_checkable
class TrainableUNet(UNet, Saveable, Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any: ...


@runtime_checkable
class TrainableTextEncoder(TextEncoder, Saveable, Protocol):
    def get_input_embeddings(self) -> torch.nn.Module: ...


@runtime_checkable
class SaveableScheduler(Scheduler, Saveable, Protocol):
    pass


@runtime_checkable
class TrainingNoiseSchedule(NoiseSchedule, Protocol):
    """The forward process of training; ``get_velocity`` is the v-prediction target."""

    def get_velocity(
        self, sample: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, /
    ) -> torch.Tensor: ...
