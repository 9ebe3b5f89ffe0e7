"""Training samples for the outline ControlNet: one controlled object per scene.

Each sample is a regional shapes-world scene (as the text-to-image model trains on) in
which one object, chosen at random, is *controlled*: its region prompt names its colour
only ("a red object"), the control map holds its outline (what ``preprocess="outline"``
makes of the picture) inside its layout cell and nothing elsewhere, and the ControlNet's
residuals are masked to that cell. The shape can only come from the control; the other
objects keep their full captions, so the model also learns to leave uncontrolled regions
to their prompts. One controlled region per sample is what inference sees: each region's
ControlNet pass gets its own map alone, masked to its own region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pakati_engine.control.preprocess import outline_map
from pakati_engine.training.data import TrainingBatch, make_batch
from pakati_engine.world.scene import color_only_prompt, pixel_cell


@dataclass(frozen=True)
class ControlBatch:
    """A text-to-image training batch plus each sample's control map and control mask."""

    base: TrainingBatch
    control: torch.Tensor
    """(B, 3, H, W) control maps in [0, 1] (white outline on black)."""
    mask: torch.Tensor
    """(B, 1, H, W) the controlled object's cell: where the residuals act."""
    controlled: list[int]
    """Per sample, the index of the controlled object."""


def control_batch(
    rng: np.random.Generator,
    batch_size: int,
    size: int,
    max_regions: int = 4,
    small_fraction: float = 0.15,
    caption_dropout: float = 0.1,
) -> ControlBatch:
    """Draw a batch from ``rng`` (the only source of randomness)."""
    base = make_batch(
        rng,
        batch_size,
        size,
        max_regions=max_regions,
        plain_fraction=0.0,
        caption_dropout=caption_dropout,
        region_dropout=0.0,
        small_fraction=small_fraction,
    )
    pixels = ((base.pixels + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    images = pixels.permute(0, 2, 3, 1).numpy()  # (B, H, W, 3)
    control = np.zeros((batch_size, size, size, 3), dtype=np.float32)
    mask = np.zeros((batch_size, 1, size, size), dtype=np.float32)
    prompts = [list(row) for row in base.prompts]
    controlled: list[int] = []
    for b, spec in enumerate(base.specs):
        k = int(rng.integers(len(spec.objects)))
        controlled.append(k)
        x0, y0, x1, y1 = pixel_cell(spec.objects[k])
        outline = np.asarray(outline_map(images[b]), dtype=np.float32) / 255.0  # (H, W, 3)
        control[b, y0:y1, x0:x1] = outline[y0:y1, x0:x1]
        mask[b, 0, y0:y1, x0:x1] = 1.0
        if prompts[b][1 + k]:  # a dropped caption stays empty
            prompts[b][1 + k] = color_only_prompt(spec.objects[k].color)
    return ControlBatch(
        base=TrainingBatch(
            pixels=base.pixels,
            prompts=prompts,
            visible=base.visible,
            background=base.background,
            specs=base.specs,
        ),
        control=torch.from_numpy(control).permute(0, 3, 1, 2).contiguous(),  # (B, 3, H, W)
        mask=torch.from_numpy(mask),
        controlled=controlled,
    )
