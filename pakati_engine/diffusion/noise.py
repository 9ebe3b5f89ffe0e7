"""Initial noise from the canvas seed, with per-region seeds owning their regions' cells.

The canvas seed draws noise for the whole latent. A region with its own seed replaces the
noise of the latent cells it owns (those where it is the largest visible share) with noise
drawn from its seed, so changing a region's seed changes only that region's noise.
Everything is drawn on the CPU in float32, so every device starts from the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pakati_engine.regions.masks import pool_masks


def owned_cells(visible: np.ndarray, background: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) bool: for each region, the latent cells where its visible share is largest."""
    stacked = np.concatenate([background[None], visible]).astype(np.float32)  # (N+1, H, W)
    pooled = pool_masks(torch.from_numpy(stacked), size)  # (N+1, h, w)
    owner = pooled.argmax(dim=0)  # (h, w); 0 = background
    return torch.stack([owner == k + 1 for k in range(visible.shape[0])])  # (N, h, w)


def seeded_noise(
    shape: tuple[int, int, int, int],
    seed: int,
    region_seeds: Sequence[int | None] = (),
    owned: torch.Tensor | None = None,
) -> torch.Tensor:
    """Noise of ``shape`` (1, C, h, w) from ``seed``; regions with a seed own their cells."""
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))  # (1, C, h, w)
    for index, region_seed in enumerate(region_seeds):
        if region_seed is None:
            continue
        assert owned is not None, "owned cells are needed for per-region seeds"
        own = torch.randn(shape, generator=torch.Generator().manual_seed(region_seed))
        noise = torch.where(owned[index][None, None], own, noise)
    return noise
