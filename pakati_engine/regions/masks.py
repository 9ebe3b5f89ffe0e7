"""Stacking region masks by z-order and pooling them to every attention resolution.

The visible part of a region is its coverage minus whatever lies above it, so the visible
masks of all regions plus the background always sum to one at every pixel. Pooling uses
area averaging, which keeps that sum and makes a low-resolution cell's weight the fraction
of it each region occupies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pakati_engine.regions.region import MIN_COVERAGE, Region


@dataclass(frozen=True)
class StackedMasks:
    """Visible masks in drawing order (bottom first) and the uncovered background.

    ``visible`` has shape (N, H, W) and ``background`` (H, W); together they sum to one.
    """

    visible: np.ndarray
    background: np.ndarray


def stacking_order(regions: Sequence[Region]) -> list[int]:
    """Indices of ``regions`` from bottom to top: by ``z``, then creation order."""
    return sorted(range(len(regions)), key=lambda i: (regions[i].z, i))


def stack_masks(coverages: Sequence[np.ndarray]) -> StackedMasks:
    """Turn coverages listed bottom-to-top into visible masks (later ones occlude earlier)."""
    if not coverages:
        raise ValueError("stack_masks needs at least one coverage mask")
    height, width = coverages[0].shape
    visible = np.zeros((len(coverages), height, width), dtype=np.float32)
    covered_above = np.zeros((height, width), dtype=np.float32)
    for index in range(len(coverages) - 1, -1, -1):  # top first
        share = np.clip(coverages[index] * (1.0 - covered_above), 0.0, 1.0)
        share[share <= MIN_COVERAGE] = 0.0
        visible[index] = share
        covered_above = np.clip(covered_above + share, 0.0, 1.0)
    background = 1.0 - covered_above
    background[background <= MIN_COVERAGE] = 0.0
    return StackedMasks(visible=visible, background=background)


def pool_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average (N, H, W) masks down to ``size`` = (h, w), zeroing float dust."""
    pooled = F.interpolate(masks[None], size=size, mode="area")[0]  # (N, h, w)
    return torch.where(pooled > MIN_COVERAGE, pooled, torch.zeros_like(pooled))


def attention_sizes(
    latent_height: int, latent_width: int, levels: int = 6
) -> list[tuple[int, int]]:
    """Spatial sizes a UNet's attention layers can run at: the latent halved repeatedly.

    Strided convolutions round up, so an odd size h becomes ceil(h / 2).
    """
    sizes = []
    h, w = latent_height, latent_width
    for _ in range(levels):
        sizes.append((h, w))
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return sizes
