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

The routing per resolution (see ``routing``) is built once per generation. When the masks
are shared by the batch (or, in latent mode's batched passes, by a few rows each), pixels
are grouped by the one prompt that reaches them and attend to that prompt's span only, so
the attention costs about the same for 1 or 8 regions; pixels on anti-aliased or
overlapping edges attend to all tokens with the bias. A batch row whose spans all hold one
prompt (under guidance, the negative row when no region has its own negative prompt) is
attended as plain attention over one span, projected once: routing cannot change it.

Because a pixel outside region k gives exactly zero weight to region k's tokens, changing
region k's prompt cannot change that pixel's attention output: routing is exact, not
approximate. The processors are installed on the cross-attention layers inside
:func:`regional_attention` (or a reusable :class:`RegionalRouting`, which latent mode enters
once per batched UNet call of its passes), which restores the model's own processors
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention

from pakati_engine.diffusion.routing import (
    DenseRouting,
    GroupedRouting,
    RegionalAttentionController,
    SampleGroupedRouting,
)
from pakati_engine.models.protocols import UNet

__all__ = [
    "RegionalAttentionController",
    "RegionalCrossAttnProcessor",
    "RegionalRouting",
    "cross_attention_layers",
    "cross_attention_names",
    "regional_attention",
]


def _version_of(tensor: torch.Tensor) -> int:
    """The tensor's in-place version counter; -1 for inference tensors, which have none."""
    return -1 if tensor.is_inference() else tensor._version


@dataclass(frozen=True)
class _Projections:
    """A processor's cached key/value projections of one prompt-embedding tensor.

    ``key``/``value``: (R, T, inner) for the routed rows (all rows when ``plain_rows`` is
    None). ``plain_rows``: rows whose spans all hold the same prompt, with their keys and
    values over one span, (P, span, inner); ``routed_rows`` the others. Row selectors are
    slices where the rows are contiguous.
    """

    source: torch.Tensor
    version: int
    split: bool
    key: torch.Tensor
    value: torch.Tensor
    routed_rows: slice | torch.Tensor | None = None
    plain_rows: slice | torch.Tensor | None = None
    plain_key: torch.Tensor | None = None
    plain_value: torch.Tensor | None = None


def _uniform_rows(encoder_hidden_states: torch.Tensor, span: int) -> list[bool]:
    """Per batch row: do all its ``span``-token spans hold the same embeddings?

    Such a row (under guidance, the negative row when the base prompt and every region share
    one negative prompt) gives every pixel, whatever its routing weights, plain attention
    over one span: with identical keys and values in every span, the weighted softmax over
    all spans is the softmax over one (the weights cancel), and the base-only share mixes
    two equal values. So it is computed as such, at the cost of plain attention.
    """
    batch, tokens, dim = encoder_hidden_states.shape
    spans = encoder_hidden_states.reshape(batch, tokens // span, span, dim)
    return [
        bool(torch.equal(spans[row], spans[row, :1].expand_as(spans[row]))) for row in range(batch)
    ]


def _rows(rows: list[int], batch: int) -> slice | torch.Tensor:
    """A batch-row selector: a slice (a view) where the rows are contiguous."""
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return slice(rows[0], rows[0] + len(rows))
    return torch.tensor(rows, dtype=torch.long)


class RegionalCrossAttnProcessor:
    """Cross-attention with regional routing (see the module docstring).

    Self-attention layers keep their own processor; this one is only installed on
    cross-attention layers.
    """

    def __init__(self, controller: RegionalAttentionController, name: str) -> None:
        self.controller = controller
        self.name = name
        self._cached: _Projections | None = None

    def _keys_values(
        self, attn: Attention, encoder_hidden_states: torch.Tensor, split: bool
    ) -> _Projections:
        """Key and value projections of the prompt tokens, reused across denoising steps.

        The prompt embeddings are the same tensor at every step of a generation, so their
        projections (N + 1 prompts' worth, the main extra cost of regions) are computed once,
        in one call of each projection. With ``split``, rows whose spans are all the same
        (the negative prompts under guidance, when no region has its own) are projected
        over one span only (see :class:`_Projections`).

        The cache holds the tensor itself (so its memory cannot be reused by another) and its
        version counter; it is bypassed when gradients are on (training). Tensors made under
        ``torch.inference_mode()`` have no version counter: for them the cache trusts the
        tensor's identity (the pipeline never writes into its prompt embeddings, and a new
        generation builds new processors).
        """
        cached = self._cached
        version = _version_of(encoder_hidden_states)
        if (
            cached is not None
            and cached.source is encoder_hidden_states
            and cached.version == version
            and cached.split == split
        ):
            return cached
        batch, tokens, _ = encoder_hidden_states.shape
        span = self.controller.tokens_per_prompt
        uniform = _uniform_rows(encoder_hidden_states, span) if split else [False] * batch
        if not any(uniform):
            projections = _Projections(
                encoder_hidden_states,
                version,
                split,
                attn.to_k(encoder_hidden_states),  # (B, T, inner)
                attn.to_v(encoder_hidden_states),
            )
        else:
            routed = [row for row in range(batch) if not uniform[row]]
            plain = [row for row in range(batch) if uniform[row]]
            # one projection call over the routed rows' tokens and one span of each plain row
            flat = torch.cat(
                [
                    encoder_hidden_states[routed].flatten(0, 1),
                    encoder_hidden_states[plain, :span].flatten(0, 1),
                ]
            )[None]  # (1, R * T + P * span, D)
            key, value = attn.to_k(flat)[0], attn.to_v(flat)[0]
            cut = len(routed) * tokens
            projections = _Projections(
                encoder_hidden_states,
                version,
                split,
                key[:cut].view(len(routed), tokens, -1),  # (R, T, inner)
                value[:cut].view(len(routed), tokens, -1),
                _rows(routed, batch),
                _rows(plain, batch),
                key[cut:].view(len(plain), span, -1),  # (P, span, inner)
                value[cut:].view(len(plain), span, -1),
            )
        if not torch.is_grad_enabled():
            self._cached = projections
        return projections

    def _attend(
        self,
        attn: Attention,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        routing: DenseRouting | GroupedRouting | None,
    ) -> torch.Tensor:
        """Routed multi-head attention: (b, HW, inner) queries (for a grouped routing, in its
        grouped order), (b, T, inner) keys and values -> (b, HW, heads, d) in the same order
        (a transposed view: the caller's reordering, if any, makes it contiguous). Without
        a routing, plain attention over the keys given."""
        batch = query.shape[0]
        span = self.controller.tokens_per_prompt
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (b, heads, HW, d)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (b, heads, T, d)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)  # (b, heads, T, d)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if routing is None:
            out = F.scaled_dot_product_attention(query, key, value, scale=attn.scale)
        elif isinstance(routing, GroupedRouting):
            out = _grouped_attention(query, key, value, routing, span, attn.scale)
        else:
            out = _dense_attention(query, key, value, routing, span, attn.scale)
        return out.transpose(1, 2)  # (b, HW, heads, d)

    def _routed(
        self,
        attn: Attention,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        routing: DenseRouting | GroupedRouting | SampleGroupedRouting,
    ) -> torch.Tensor:
        """(B, HW, inner) queries in pixel order, (B, T, inner) keys and values -> the
        routed attention (B, HW, inner) in pixel order."""
        batch, positions, inner = query.shape
        if isinstance(routing, SampleGroupedRouting):
            out = query.new_empty(batch, positions, attn.heads, inner // attn.heads)
            for rows, part in routing.parts:
                # rows x pixels in grouped order, gathered and put back in one index each
                where = (rows[:, None], part.order[None]) if part.order is not None else (rows,)
                out[where] = self._attend(attn, query[where], key[rows], value[rows], part)
            return out.view(batch, positions, inner)
        if isinstance(routing, GroupedRouting) and routing.order is not None:
            grouped = query[:, routing.order]  # (B, HW, inner), pixels grouped by prompt
            out = self._attend(attn, grouped, key, value, routing)  # (B, HW, heads, d) grouped
            assert routing.restore is not None
            return out[:, routing.restore].reshape(batch, positions, inner)  # pixel order
        out = self._attend(attn, query, key, value, routing)  # (B, HW, heads, d)
        return out.reshape(batch, positions, inner)

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

        routing = controller.routing(positions, hidden_states.device, hidden_states.dtype)
        query = attn.to_q(hidden_states)  # (B, HW, inner)
        # Rows whose spans are all one prompt's (see _uniform_rows) need no routing: only
        # with a mask shared by the batch, and not under gradients (training).
        split = isinstance(routing, GroupedRouting) and not torch.is_grad_enabled()
        projected = self._keys_values(attn, encoder_hidden_states, split)
        if projected.plain_rows is None:
            out = self._routed(attn, query, projected.key, projected.value, routing)
        else:
            assert projected.plain_key is not None and projected.plain_value is not None
            out = query.new_empty(query.shape)  # (B, HW, inner)
            rows = projected.plain_rows
            plain = self._attend(
                attn, query[rows], projected.plain_key, projected.plain_value, None
            )
            out[rows] = plain.reshape(-1, positions, query.shape[-1])
            routed = projected.routed_rows
            if routed is not None and projected.key.shape[0]:
                out[routed] = self._routed(
                    attn, query[routed], projected.key, projected.value, routing
                )
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _dense_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    routing: DenseRouting,
    span: int,
    scale: float,
) -> torch.Tensor:
    """Every pixel over every token, the routing as an additive bias: (B, heads, HW, d)."""
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=routing.bias, scale=scale)
    if routing.base_share is not None:
        base = F.scaled_dot_product_attention(
            query, key[:, :, :span], value[:, :, :span], scale=scale
        )  # (B, heads, HW, d)
        out = out + routing.base_share * (base - out)
    return out


def _grouped_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    routing: GroupedRouting,
    span: int,
    scale: float,
) -> torch.Tensor:
    """Each pixel over only the tokens it may see; query and output (B, heads, HW, d) with
    the pixels in the routing's grouped order.

    Pixels seen by one prompt alone attend to that prompt's span (77 tokens, not 77 x
    (N + 1)); the few pixels on anti-aliased or overlapping edges attend to all tokens with
    the log-weight bias, as the dense path does. Mathematically the same as the dense path
    (a -inf bias gives a token exactly zero weight), so a pixel never reads a token of a
    prompt that does not reach it. The base-only attention, where a base share needs it
    everywhere, is computed once over all pixels and the regions' outputs are mixed into it
    in place (``lerp``: own + share * (base - own)).
    """
    base_key, base_value = key[:, :, :span], value[:, :, :span]
    share = routing.base_share
    if share is not None:
        out = F.scaled_dot_product_attention(query, base_key, base_value, scale=scale)
        if torch.is_grad_enabled():  # the attention's backward needs its output unchanged
            out = out.clone()
    else:
        out = torch.empty_like(query)  # (B, heads, HW, d)
    for group, start, stop in routing.chunks:
        rows = slice(start, stop)
        if group == 0:  # uncovered pixels: the base prompt alone, no share to mix
            if share is None:
                out[:, :, rows] = F.scaled_dot_product_attention(
                    query[:, :, rows], base_key, base_value, scale=scale
                )
            continue
        if group > 0:
            tokens = slice(group * span, (group + 1) * span)
            own = F.scaled_dot_product_attention(
                query[:, :, rows], key[:, :, tokens], value[:, :, tokens], scale=scale
            )  # (B, heads, n, d)
        else:  # edges: every token, weighted by the bias
            own = F.scaled_dot_product_attention(
                query[:, :, rows], key, value, attn_mask=routing.mixed_bias, scale=scale
            )  # (B, heads, n, d)
        if share is None:
            out[:, :, rows] = own
        elif torch.is_grad_enabled():
            out[:, :, rows] = torch.lerp(own, out[:, :, rows], share[:, :, rows])
        else:
            torch.lerp(own, out[:, :, rows], share[:, :, rows], out=out[:, :, rows])
    return out


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
