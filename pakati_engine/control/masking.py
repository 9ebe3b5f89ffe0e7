"""ControlNet residuals masked to a region: the one operation per-region control adds.

diffusers adds a ControlNet's down and mid residuals to the UNet everywhere. Multiplying
each residual by the region's mask, area-pooled to that residual's resolution (the pooling
the attention masks use), makes the control act inside the region only: outside it every
residual is exactly zero, so the UNet there computes what it would with no ControlNet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pakati_engine.regions.masks import pool_masks

Residuals = tuple[list[torch.Tensor], torch.Tensor]
"""(down-block residuals, mid-block residual), as a ControlNet returns them."""


def pooled_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask area-pooled to the (h, w) of ``like`` (B, C, h, w): (B, 1, h, w)."""
    size = (like.shape[-2], like.shape[-1])
    if tuple(mask.shape[-2:]) == size:
        return mask
    return pool_masks(mask[:, 0], size)[:, None]  # (B, 1, h, w)


def mask_residuals(
    down: Sequence[torch.Tensor], mid: torch.Tensor, mask: torch.Tensor
) -> Residuals:
    """Each residual times ``mask`` (B, 1, H, W) pooled to its resolution."""
    masked = [d * pooled_mask(mask, d).to(d.dtype) for d in down]  # (B, C_i, h_i, w_i) each
    return masked, mid * pooled_mask(mask, mid).to(mid.dtype)


def sum_groups(residuals: Residuals, groups: int) -> Residuals:
    """Sum a batch laid out as ``groups`` consecutive blocks of B rows into B rows.

    A batched ControlNet call over R regions returns (R * B, ...) residuals, region-major;
    the UNet needs their sum per row: (B, ...).
    """
    down, mid = residuals

    def fold(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.unflatten(0, (groups, -1)).sum(dim=0)  # (R, B, ...) -> (B, ...)

    return [fold(d) for d in down], fold(mid)
