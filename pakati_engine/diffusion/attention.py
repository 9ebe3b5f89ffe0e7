"""Regional cross-attention: one UNet pass routes each pixel to its own region's prompt.

The prompt embeddings of the base prompt and of every region are concatenated on the token
axis: ``[base | region 1 | ... | region N]``, each span ``tokens_per_prompt`` long. In every
cross-attention layer the processor adds a bias to the attention logits so that a pixel
attends only to the tokens of what covers it there:

* region k's tokens get ``log(visible_k)`` (0 inside, -inf outside, fractional on
  anti-aliased edges), the base tokens get ``log(background)``; so uncovered pixels follow
  the base prompt and covered pixels only their region's prompt;
* a second, unbiased attention over the base tokens alone is mixed in with a per-pixel
  share (``base_ratio`` inside a region of weight 1), so the base prompt is seen everywhere.

Because a pixel outside region k gives exactly zero weight to region k's tokens, changing
region k's prompt cannot change that pixel's attention output: routing is exact, not
approximate. The processors are installed on the cross-attention layers inside
:func:`regional_attention` (or a reusable :class:`RegionalRouting`, which latent mode enters
once per region pass), which restores the model's own processors afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from pakati_engine.models.protocols import UNet
from pakati_engine.regions.masks import attention_sizes, pool_masks


@dataclass(frozen=True)
class Routing:
    """What one attention resolution needs.

    ``bias``: additive logits bias, shape (B or 1, 1, HW, T).
    ``base_share``: weight of the base-only attention per pixel, (B or 1, 1, HW, 1), or
    None where it is zero everywhere (then the base-only attention is skipped).
    """

    bias: torch.Tensor
    base_share: torch.Tensor | None


class RegionalAttentionController:
    """Holds region masks and token spans; hands each layer its routing by resolution.

    Args:
        visible: visible region masks, (B or 1, N, H, W), bottom-to-top, at any resolution
            (usually pixels); pooled by area to each attention resolution.
        background: uncovered share, (B or 1, H, W); ``visible.sum(1) + background == 1``.
        tokens_per_prompt: length of each prompt's span on the token axis.
        latent_size: (h, w) of the latents the UNet sees.
        base_ratio: share of the base prompt inside a region of weight 1.
        weights: per-region strength of its prompt against the base prompt; the region's
            share inside it is ``clamp((1 - base_ratio) * weight, 0, 1)``.
    """

    def __init__(
        self,
        visible: torch.Tensor,
        background: torch.Tensor,
        tokens_per_prompt: int,
        latent_size: tuple[int, int],
        base_ratio: float = 0.2,
        weights: Sequence[float] | None = None,
    ) -> None:
        if visible.ndim != 4 or background.ndim != 3:
            raise ValueError("visible must be (B, N, H, W) and background (B, H, W)")
        self.visible = visible.float()
        self.background = background.float()
        self.num_regions = visible.shape[1]
        self.tokens_per_prompt = tokens_per_prompt
        self.base_ratio = float(base_ratio)
        self.weights = torch.tensor(
            list(weights) if weights is not None else [1.0] * self.num_regions,
            dtype=torch.float32,
        )
        if self.weights.numel() != self.num_regions:
            raise ValueError("one weight per region is needed")
        self._sizes = {h * w: (h, w) for h, w in attention_sizes(*latent_size)}
        self._cache: dict[tuple[int, torch.device, torch.dtype], Routing] = {}

    @property
    def num_tokens(self) -> int:
        return self.tokens_per_prompt * (self.num_regions + 1)

    def routing(self, sequence_length: int, device: torch.device, dtype: torch.dtype) -> Routing:
        key = (sequence_length, device, dtype)
        if key not in self._cache:
            self._cache[key] = self._build(sequence_length, device, dtype)
        return self._cache[key]

    def _build(self, sequence_length: int, device: torch.device, dtype: torch.dtype) -> Routing:
        if sequence_length not in self._sizes:
            raise ValueError(
                f"no attention resolution with {sequence_length} positions for a latent of "
                f"{max(self._sizes.values())}; known: {sorted(self._sizes.values())}"
            )
        size = self._sizes[sequence_length]
        batch = self.visible.shape[0]
        visible = pool_masks(self.visible.flatten(0, 1), size)  # (B*N, h, w)
        visible = visible.view(batch, self.num_regions, -1)  # (B, N, HW)
        background = pool_masks(self.background, size).view(batch, 1, -1)  # (B, 1, HW)

        groups = torch.cat([background, visible], dim=1)  # (B, N+1, HW)
        bias = torch.log(groups).transpose(1, 2)  # (B, HW, N+1); log(0) = -inf
        bias = bias.repeat_interleave(self.tokens_per_prompt, dim=2)  # (B, HW, T)

        region_share = ((1.0 - self.base_ratio) * self.weights).clamp(0.0, 1.0)  # (N,)
        base_share = (visible * (1.0 - region_share)[None, :, None]).sum(dim=1)  # (B, HW)
        share: torch.Tensor | None = base_share[:, None, :, None]  # (B, 1, HW, 1)
        if not bool((base_share > 0).any()):
            share = None
        return Routing(
            bias=bias[:, None].to(device=device, dtype=dtype),  # (B, 1, HW, T)
            base_share=None if share is None else share.to(device=device, dtype=dtype),
        )


def _version_of(tensor: torch.Tensor) -> int:
    """The tensor's in-place version counter; -1 for inference tensors, which have none."""
    return -1 if tensor.is_inference() else tensor._version


class RegionalCrossAttnProcessor:
    """Cross-attention with regional routing (see the module docstring).

    Self-attention layers keep their own processor; this one is only installed on
    cross-attention layers.
    """

    def __init__(self, controller: RegionalAttentionController, name: str) -> None:
        self.controller = controller
        self.name = name
        self._cached: tuple[torch.Tensor, int, torch.Tensor, torch.Tensor] | None = None

    def _keys_values(
        self, attn: Attention, encoder_hidden_states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Key and value projections of the prompt tokens, reused across denoising steps.

        The prompt embeddings are the same tensor at every step of a generation, so their
        projections (N + 1 prompts' worth, the main extra cost of regions) are computed once.
        The cache holds the tensor itself (so its memory cannot be reused by another) and its
        version counter; it is bypassed when gradients are on (training). Tensors made under
        ``torch.inference_mode()`` have no version counter: for them the cache trusts the
        tensor's identity (the pipeline never writes into its prompt embeddings, and a new
        generation builds new processors).
        """
        cached = self._cached
        version = _version_of(encoder_hidden_states)
        if cached is not None and cached[0] is encoder_hidden_states and cached[1] == version:
            return cached[2], cached[3]
        key = attn.to_k(encoder_hidden_states)  # (B, T, inner)
        value = attn.to_v(encoder_hidden_states)  # (B, T, inner)
        if not torch.is_grad_enabled():
            self._cached = (encoder_hidden_states, version, key, value)
        return key, value

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if encoder_hidden_states is None:
            raise ValueError(f"{self.name}: regional processor installed on a self-attention layer")
        controller = self.controller
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch, positions, _ = hidden_states.shape  # (B, HW, C)
        if encoder_hidden_states.shape[1] != controller.num_tokens:
            raise ValueError(
                f"{self.name}: got {encoder_hidden_states.shape[1]} prompt tokens, expected "
                f"{controller.num_tokens} ({controller.num_regions} regions + base)"
            )
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)

        query = attn.to_q(hidden_states)  # (B, HW, inner)
        key, value = self._keys_values(attn, encoder_hidden_states)  # (B, T, inner) each
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, HW, d)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, T, d)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, T, d)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        routing = controller.routing(positions, query.device, query.dtype)
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=routing.bias, scale=attn.scale
        )  # (B, heads, HW, d)
        if routing.base_share is not None:
            span = controller.tokens_per_prompt
            base = F.scaled_dot_product_attention(
                query, key[:, :, :span], value[:, :, :span], scale=attn.scale
            )  # (B, heads, HW, d)
            out = out + routing.base_share * (base - out)

        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim)  # (B, HW, inner)
        out = out.to(query.dtype)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def cross_attention_layers(unet: UNet) -> list[tuple[str, Attention]]:
    """(processor name as in ``unet.attn_processors``, layer) of the cross-attention layers."""
    return [
        (f"{name}.processor", module)
        for name, module in unet.named_modules()
        if isinstance(module, Attention) and module.is_cross_attention
    ]


def cross_attention_names(unet: UNet) -> list[str]:
    """Processor names (as in ``unet.attn_processors``) of the cross-attention layers."""
    return [name for name, _ in cross_attention_layers(unet)]


class RegionalRouting:
    """Regional processors for one controller, built once and swapped in as a context.

    Finding the layers walks the whole UNet; swapping processors only touches the
    cross-attention layers, and the processors keep their cached prompt projections between
    entries. Entering returns the installed processors by name; leaving restores the
    layers' own.
    """

    def __init__(self, unet: UNet, controller: RegionalAttentionController) -> None:
        self.layers = sorted(cross_attention_layers(unet), key=lambda pair: pair[0])
        if not self.layers:
            raise ValueError("this UNet has no cross-attention layers to route")
        self.processors = {
            name: RegionalCrossAttnProcessor(controller, name) for name, _ in self.layers
        }
        self._original: list[Any] = []

    def __enter__(self) -> dict[str, RegionalCrossAttnProcessor]:
        self._original = [layer.processor for _, layer in self.layers]
        for name, layer in self.layers:
            layer.set_processor(self.processors[name])
        return self.processors

    def __exit__(self, *exc: object) -> None:
        for (_, layer), original in zip(self.layers, self._original, strict=True):
            layer.set_processor(original)
        self._original = []


@contextmanager
def regional_attention(
    unet: UNet, controller: RegionalAttentionController
) -> Iterator[dict[str, RegionalCrossAttnProcessor]]:
    """Install regional processors on every cross-attention layer; restore on exit."""
    with RegionalRouting(unet, controller) as installed:
        yield installed
