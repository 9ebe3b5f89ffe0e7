"""Training samples: shapes-world scenes with their prompts laid out as the engine uses them.

Each sample has ``1 + max_regions`` prompts, ``[base | region 1 | ... | region N]``:

* regional samples (most): the base prompt names the background ("a white background"),
  each object's caption ("a red circle") is routed to its layout cell; scenes with fewer
  objects are padded with empty regions (mask zero everywhere, empty prompt); they have
  ``min_regions`` to ``max_regions`` objects (1-6), each small (a 10-20 px object in a box
  of its own, see :mod:`pakati_engine.world.sampling`) with probability ``small_fraction``;
* plain samples: the whole-scene caption is the base prompt and every region is empty, which
  under the regional processor is exactly plain cross-attention over one prompt;
* caption dropout empties every prompt of a sample (the unconditional branch of
  classifier-free guidance, which the pipeline runs with empty negative prompts in the same
  routing); region dropout empties one region's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from pakati_engine.world import generate_batch
from pakati_engine.world.colors import article
from pakati_engine.world.sampling import SMALL_SIZE, SceneSpec
from pakati_engine.world.scene import pixel_cell


def background_prompt(color: str) -> str:
    """The base prompt that names a background colour: "a white background"."""
    return f"{article(color)} {color} background"


@dataclass(frozen=True)
class TrainingBatch:
    """One batch, ready for the UNet and the regional controller."""

    pixels: torch.Tensor
    """(B, 3, H, W) in [-1, 1]."""
    prompts: list[list[str]]
    """Per sample, ``1 + max_regions`` prompts: base first."""
    visible: torch.Tensor
    """(B, max_regions, H, W) region masks (cells), zero for empty regions."""
    background: torch.Tensor
    """(B, H, W) uncovered share: ``1 - visible.sum(1)``."""
    specs: list[SceneSpec]
    """The scenes drawn (ground truth of every object, in region order)."""
    loss_weights: torch.Tensor | None = None
    """(B, H, W) per-pixel loss weights (see :func:`small_object_weights`); None: uniform."""


def cell_masks(specs: list[SceneSpec], max_regions: int, size: int) -> NDArray[np.float32]:
    """(B, max_regions, size, size) 0/1 masks of each object's layout cell."""
    masks = np.zeros((len(specs), max_regions, size, size), dtype=np.float32)
    for b, spec in enumerate(specs):
        for k, obj in enumerate(spec.objects):
            x0, y0, x1, y1 = pixel_cell(obj)
            masks[b, k, y0:y1, x0:x1] = 1.0
    return masks


def small_object_weights(specs: list[SceneSpec], size: int, weight: float) -> NDArray[np.float32]:
    """(B, size, size) loss weights: ``weight`` inside the box of every small object (one
    at most ``SMALL_SIZE`` of the canvas), 1 elsewhere; overlapping boxes do not add up."""
    weights = np.ones((len(specs), size, size), dtype=np.float32)
    limit = SMALL_SIZE[1] * size + 1e-6
    for b, spec in enumerate(specs):
        for obj in spec.objects:
            if obj.size <= limit:
                x0, y0, x1, y1 = pixel_cell(obj)
                weights[b, y0:y1, x0:x1] = weight
    return weights


def make_batch(
    rng: np.random.Generator,
    batch_size: int,
    size: int,
    max_regions: int = 4,
    plain_fraction: float = 0.15,
    plain_max_objects: int = 2,
    caption_dropout: float = 0.1,
    region_dropout: float = 0.05,
    min_regions: int = 1,
    small_fraction: float = 0.0,
    small_loss_weight: float = 1.0,
) -> TrainingBatch:
    """Draw a batch from ``rng`` (the only source of randomness, so batches are seeded).

    Plain samples have 1 to ``plain_max_objects`` objects of normal size; regional ones
    ``min_regions`` to ``max_regions``, small with probability ``small_fraction`` each.
    ``small_loss_weight`` other than 1 gives the batch loss weights (it draws no random
    numbers, so the data stream is the same either way).
    """
    n_plain = int(rng.binomial(batch_size, plain_fraction))
    counts = np.concatenate(
        [
            rng.integers(1, plain_max_objects + 1, size=n_plain),
            rng.integers(min_regions, max_regions + 1, size=batch_size - n_plain),
        ]
    )
    is_plain = np.arange(batch_size) < n_plain
    images: list[NDArray[np.uint8]] = []
    specs: list[SceneSpec] = []
    captions: list[str] = []
    object_captions: list[tuple[str, ...]] = []
    # The world batches one object count at a time; with small objects, plain samples (whose
    # caption says nothing of size) are drawn apart from regional ones of the same count.
    groups = [counts == c for c in sorted(set(counts.tolist()))]
    if small_fraction > 0:
        groups = [g & p for g in groups for p in (is_plain, ~is_plain) if (g & p).any()]
    for group in groups:
        index = np.flatnonzero(group)
        small = 0.0 if is_plain[index[0]] else small_fraction
        count = int(counts[index[0]])
        scenes = generate_batch(rng, len(index), size, n_objects=count, small_fraction=small)
        images.extend(scenes.images)
        specs.extend(scenes.specs)
        captions.extend(scenes.captions)
        object_captions.extend(scenes.object_captions)
    plain = np.zeros(batch_size, dtype=bool)
    order = np.argsort(np.concatenate([np.flatnonzero(g) for g in groups]))
    images = [images[i] for i in order]
    specs = [specs[i] for i in order]
    captions = [captions[i] for i in order]
    object_captions = [object_captions[i] for i in order]
    plain[:n_plain] = True

    visible = cell_masks(specs, max_regions, size)
    prompts: list[list[str]] = []
    dropped = rng.random(batch_size) < caption_dropout
    region_drop = rng.random((batch_size, max_regions)) < region_dropout
    for b in range(batch_size):
        if plain[b]:
            visible[b] = 0.0
            row = [captions[b]] + [""] * max_regions
        else:
            objects = list(object_captions[b])
            objects = ["" if region_drop[b, k] else text for k, text in enumerate(objects)]
            row = [background_prompt(specs[b].background), *objects]
            row += [""] * (max_regions + 1 - len(row))
        prompts.append([""] * (max_regions + 1) if dropped[b] else row)

    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
    visible_t = torch.from_numpy(visible)  # (B, N, H, W)
    weights = None
    if small_loss_weight != 1.0:
        weights = torch.from_numpy(small_object_weights(specs, size, small_loss_weight))
    return TrainingBatch(
        pixels=pixels.float() / 127.5 - 1.0,
        prompts=prompts,
        visible=visible_t,
        background=(1.0 - visible_t.sum(dim=1)).clamp(0.0, 1.0),  # (B, H, W)
        specs=specs,
        loss_weights=weights,
    )
