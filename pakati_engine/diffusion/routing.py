"""Which prompt tokens each pixel of a cross-attention layer may see, per resolution.

The controller turns the stacked region masks into one routing per attention resolution,
built the first time a layer of that resolution asks and reused by every layer and step of
the generation. Groups are the base prompt (index 0, weighted by the uncovered share) and
the regions (1..N, weighted by their visible share); a pixel may see a group's tokens where
its weight is above zero.

* :class:`GroupedRouting` (masks shared by the whole batch, as in generation): pixels are
  sorted by group, so those seen by one group alone attend to one prompt's span as one
  contiguous block; pixels on anti-aliased or overlapping edges keep a log-weight bias over
  all tokens. The cost of the
  attention then hardly depends on the number of regions.
* :class:`DenseRouting` (a mask per sample, as in training): one additive bias of shape
  (B, 1, HW, T) over all tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pakati_engine.regions.masks import attention_sizes, pool_masks


@dataclass(frozen=True)
class DenseRouting:
    """``bias``: additive logits bias, (B or 1, 1, HW, T). ``base_share``: weight of the
    base-only attention per pixel, (B or 1, 1, HW, 1), or None where it is zero everywhere."""

    bias: torch.Tensor
    base_share: torch.Tensor | None


@dataclass(frozen=True)
class GroupedRouting:
    """Routing for masks shared by the batch, with the pixels sorted by group.

    ``order``: pixel indices in grouped order (None: already in order); ``restore`` its
    inverse. ``chunks``: (group, start, stop) ranges of the grouped order; group 0 is the
    base prompt, 1..N the regions, -1 the pixels several groups reach (edges), which attend
    to all tokens with ``mixed_bias`` (1, 1, n, T). ``base_share``: weight of the base-only
    attention per pixel in grouped order, (1, 1, HW, 1), or None where it is zero everywhere.
    """

    order: torch.Tensor | None
    restore: torch.Tensor | None
    chunks: list[tuple[int, int, int]]
    mixed_bias: torch.Tensor | None
    base_share: torch.Tensor | None


@dataclass(frozen=True)
class SampleGroupedRouting:
    """Masks per sample, few of them distinct (latent mode's batched passes): the rows
    (batch indices) sharing each mask, with that mask's :class:`GroupedRouting`."""

    parts: list[tuple[torch.Tensor, GroupedRouting]]


Routing = DenseRouting | GroupedRouting | SampleGroupedRouting

#: Most distinct masks per batch that are grouped row by row; more, or any number with
#: gradients on (training batches, a mask per sample), keep the dense bias: one kernel call
#: for the whole batch.
MAX_GROUPED_MASKS = 16


class RegionalAttentionController:
    """Holds region masks and token spans; hands each layer its routing by resolution.

    Args:
        visible: visible region masks, (B or 1, N, H, W), bottom-to-top, at any resolution
            (usually pixels); pooled by area to each attention resolution.
        background: uncovered share, (B or 1, H, W); ``visible.sum(1) + background == 1``.
        tokens_per_prompt: length of each prompt's span on the token axis.
        latent_size: (h, w) of the latents the UNet sees.
        base_ratio: share of the base prompt inside a region of weight 1.
        weights: per-region strength of its prompt against the base prompt, (N,) or per
            sample (B, N); the region's share inside it is
            ``clamp((1 - base_ratio) * weight, 0, 1)``.
        grouped: group pixels by the prompts that reach them (:class:`GroupedRouting`)
            when the batch shares one mask, or (:class:`SampleGroupedRouting`) has at most
            ``MAX_GROUPED_MASKS`` distinct ones; otherwise, or when False, the dense bias.
    """

    def __init__(
        self,
        visible: torch.Tensor,
        background: torch.Tensor,
        tokens_per_prompt: int,
        latent_size: tuple[int, int],
        base_ratio: float = 0.2,
        weights: Sequence[float] | torch.Tensor | None = None,
        grouped: bool = True,
    ) -> None:
        if visible.ndim != 4 or background.ndim != 3:
            raise ValueError("visible must be (B, N, H, W) and background (B, H, W)")
        self.visible = visible.float()
        self.background = background.float()
        self.num_regions = visible.shape[1]
        self.tokens_per_prompt = tokens_per_prompt
        self.base_ratio = float(base_ratio)
        self.weights = torch.as_tensor(
            weights if weights is not None else [1.0] * self.num_regions, dtype=torch.float32
        ).reshape(-1, self.num_regions)  # (1 or B, N)
        if self.weights.numel() not in (self.num_regions, visible.shape[0] * self.num_regions):
            raise ValueError("one weight per region (or per sample and region) is needed")
        self.grouped = grouped
        self._rows = self._distinct_rows()
        self._sizes = {h * w: (h, w) for h, w in attention_sizes(*latent_size)}
        self._cache: dict[tuple[int, torch.device, torch.dtype], Routing] = {}

    def _distinct_rows(self) -> list[torch.Tensor]:
        """Batch indices of the rows sharing each distinct (visible, background, weights)."""
        batch = max(self.visible.shape[0], self.background.shape[0], self.weights.shape[0])
        rows: list[list[int]] = []
        for index in range(batch):
            for members in rows:
                if self._same_row(index, members[0]):
                    members.append(index)
                    break
            else:
                rows.append([index])
        return [torch.tensor(members) for members in rows]

    def _same_row(self, a: int, b: int) -> bool:
        def row(tensor: torch.Tensor, index: int) -> torch.Tensor:
            return tensor[index if tensor.shape[0] > 1 else 0]

        return all(
            torch.equal(row(tensor, a), row(tensor, b))
            for tensor in (self.visible, self.background, self.weights)
        )

    @property
    def num_tokens(self) -> int:
        return self.tokens_per_prompt * (self.num_regions + 1)

    def routing(self, sequence_length: int, device: torch.device, dtype: torch.dtype) -> Routing:
        key = (sequence_length, device, dtype)
        if key not in self._cache:
            self._cache[key] = self._build(sequence_length, device, dtype)
        return self._cache[key]

    def _groups(self, sequence_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Group weights (B, N+1, HW) at this resolution and the base share (B, HW)."""
        if sequence_length not in self._sizes:
            raise ValueError(
                f"no attention resolution with {sequence_length} positions for a latent of "
                f"{max(self._sizes.values())}; known: {sorted(self._sizes.values())}"
            )
        size = self._sizes[sequence_length]
        batch = self.visible.shape[0]
        visible = pool_masks(self.visible.flatten(0, 1), size)  # (B*N, h, w)
        visible = visible.view(batch, self.num_regions, -1)  # (B, N, HW)
        background = pool_masks(self.background, size).view(-1, 1, sequence_length)  # (B, 1, HW)
        groups = torch.cat([background.expand(batch, -1, -1), visible], dim=1)  # (B, N+1, HW)
        region_share = ((1.0 - self.base_ratio) * self.weights).clamp(0.0, 1.0)  # (1 or B, N)
        base_share = (visible * (1.0 - region_share)[:, :, None]).sum(dim=1)  # (B, HW)
        return groups, base_share

    def _bias(self, groups: torch.Tensor) -> torch.Tensor:
        """(B, n, N+1) group weights -> (B, 1, n, T) additive bias; log(0) = -inf."""
        bias = torch.log(groups).transpose(1, 2)  # (B, n, N+1)
        return bias.repeat_interleave(self.tokens_per_prompt, dim=2)[:, None]  # (B, 1, n, T)

    def _build(self, sequence_length: int, device: torch.device, dtype: torch.dtype) -> Routing:
        groups, base_share = self._groups(sequence_length)  # (B, N+1, HW), (B, HW)
        per_sample = len(self._rows) > 1
        if (
            not self.grouped
            or len(self._rows) > MAX_GROUPED_MASKS
            or (per_sample and torch.is_grad_enabled())  # training: one call, and its backward
        ):
            share = None
            if bool((base_share > 0).any()):
                share = base_share[:, None, :, None].to(device=device, dtype=dtype)
            bias = self._bias(groups).to(device=device, dtype=dtype)  # (B, 1, HW, T)
            return DenseRouting(bias, share)  # share: (B, 1, HW, 1)
        if groups.shape[0] == 1:
            return self._grouped(groups, base_share, device, dtype)
        return SampleGroupedRouting(
            [
                (
                    rows.to(device),
                    self._grouped(groups[rows[:1]], base_share[rows[:1]], device, dtype),
                )
                for rows in self._rows
            ]
        )

    def _grouped(
        self,
        groups: torch.Tensor,
        base_share: torch.Tensor,
        device: torch.device,
        dtype: torch.dtype,
    ) -> GroupedRouting:
        """One mask's routing from its group weights (1, N+1, HW) and base share (1, HW)."""
        sequence_length = groups.shape[2]
        share = None
        if bool((base_share > 0).any()):
            share = base_share[:, None, :, None].to(device=device, dtype=dtype)  # (1, 1, HW, 1)
        seen = groups[0] > 0  # (N+1, HW)
        alone = seen.sum(dim=0) == 1  # (HW,)
        parts = [(g, torch.nonzero(seen[g] & alone).flatten()) for g in range(seen.shape[0])]
        parts.append((-1, torch.nonzero(~alone).flatten()))
        chunks, start = [], 0
        for group, pixels in parts:
            if pixels.numel():
                chunks.append((group, start, start + pixels.numel()))
                start += pixels.numel()
        order = torch.cat([pixels for _, pixels in parts])  # (HW,)
        mixed = parts[-1][1]
        mixed_bias = None
        if mixed.numel():
            mixed_bias = self._bias(groups[:, :, mixed]).to(device=device, dtype=dtype)
        in_order = bool((order == torch.arange(sequence_length)).all())
        return GroupedRouting(
            order=None if in_order else order.to(device),
            restore=None if in_order else torch.argsort(order).to(device),
            chunks=chunks,
            mixed_bias=mixed_bias,
            base_share=None if share is None else share[:, :, order.to(share.device)],
        )
