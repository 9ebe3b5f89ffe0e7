"""Per-step ControlNet residuals for a generation, each region's masked to that region.

At a step, the regions whose control window is open are grouped by ControlNet model; each
group runs as **one** batched ControlNet call whatever the number of its regions (rows are
region-major: region r's control map with every guidance row), so the number of ControlNet
calls per step is the number of distinct models. Each region's residuals are multiplied by
its visible mask (times its scale) pooled to each residual's resolution, then summed over
regions and models; outside every controlled region the sum is exactly zero. The
ControlNets' cross-attention is routed like the UNet's, so they too see each region's prompt
inside its region only.

A region's control map is the same at every step, so its embedding (the ControlNet's
strided convolutions over the full-resolution map: about half of a small ControlNet's
time) is computed once per generation: during the calls, the ControlNet's embedding module
is swapped for one that remembers its output for the maps tensor it last saw.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from pakati_engine.control.inputs import RegionControlInput
from pakati_engine.control.loading import load_controlnet
from pakati_engine.control.masking import Residuals, mask_residuals, sum_groups
from pakati_engine.diffusion.attention import RegionalAttentionController, RegionalRouting
from pakati_engine.models.bundle import ModelBundle

if TYPE_CHECKING:
    from diffusers import ControlNetModel


@dataclass
class _Group:
    """The regions of a generation that use one ControlNet."""

    controlnet: ControlNetModel
    routing: RegionalRouting
    members: list[int]  # indices into ControlResiduals.controls
    embedding: _RememberedEmbedding | None = field(default=None)


class _RememberedEmbedding(torch.nn.Module):
    """A ControlNet's control-map embedding that remembers its output for one maps tensor."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self._maps: torch.Tensor | None = None
        self._embedded: torch.Tensor | None = None

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        if self._maps is not maps or self._embedded is None:
            self._maps, self._embedded = maps, self.inner(maps)
        return self._embedded


@contextmanager
def _remembering(group: _Group) -> Iterator[None]:
    """Swap the group's ControlNet embedding for its remembering stand-in; restore on exit."""
    controlnet = group.controlnet
    if group.embedding is None:
        group.embedding = _RememberedEmbedding(controlnet.controlnet_cond_embedding)
    original = controlnet.controlnet_cond_embedding
    controlnet.controlnet_cond_embedding = group.embedding
    try:
        yield
    finally:
        controlnet.controlnet_cond_embedding = original


class ControlResiduals:
    """Computes the summed, masked residuals of every controlled region at each step."""

    def __init__(
        self,
        bundle: ModelBundle,
        controls: Sequence[RegionControlInput],
        visible: Sequence[np.ndarray],
        controller: RegionalAttentionController,
        prompt_embeds: torch.Tensor,
        added: dict[str, torch.Tensor] | None,
        num_steps: int,
    ) -> None:
        """``visible``: each controlled region's visible mask (H, W), as its control."""
        device, dtype = bundle.device, bundle.dtype
        self.controls = list(controls)
        self.num_steps = num_steps
        self.prompt_embeds = prompt_embeds  # (B, T, D): the guidance rows of every call
        self.added = added
        self.step = 0
        self.calls = 0
        rows = prompt_embeds.shape[0]
        self._maps = [
            torch.from_numpy(c.image).permute(2, 0, 1)[None].to(device, dtype)  # (1, 3, H, W)
            for c in self.controls
        ]
        self._masks = [
            torch.from_numpy(np.ascontiguousarray(v))[None, None].to(device, dtype) * c.scale
            for v, c in zip(visible, self.controls, strict=True)
        ]  # (1, 1, H, W) each
        self.groups: dict[str, _Group] = {}
        for index, control in enumerate(self.controls):
            group = self.groups.get(control.controlnet)
            if group is None:
                model = load_controlnet(control.controlnet, bundle)
                group = _Group(model, RegionalRouting(model, controller), [])
                self.groups[control.controlnet] = group
            group.members.append(index)
        self._batches: dict[tuple[int, ...], tuple[torch.Tensor, ...]] = {}
        self._rows = rows

    def begin_step(self, index: int) -> None:
        """Called by the denoising loop before step ``index`` (windows are in steps)."""
        self.step = index

    def __call__(self, sample: torch.Tensor, t: torch.Tensor) -> Residuals | None:
        """Residuals for the UNet at this step, or None when no control is active.

        ``sample``: the scaled latents of the guidance rows, (B, C, h, w).
        """
        total: Residuals | None = None
        for group in self.groups.values():
            active = [
                k for k in group.members if self.controls[k].active(self.step, self.num_steps)
            ]
            if not active:
                continue
            maps, masks, embeds = self._batch(active)
            repeats = len(active)
            added = None
            if self.added is not None:
                added = {name: value.repeat(repeats, 1) for name, value in self.added.items()}
            with group.routing, _remembering(group):
                down, mid = group.controlnet(
                    sample.repeat(repeats, 1, 1, 1),  # (R * B, C, h, w), region-major
                    t,
                    encoder_hidden_states=embeds,  # (R * B, T, D)
                    controlnet_cond=maps,  # (R * B, 3, H, W)
                    added_cond_kwargs=added,
                    return_dict=False,
                )
            self.calls += 1
            residuals = sum_groups(mask_residuals(down, mid, masks), repeats)
            total = residuals if total is None else _add(total, residuals)
        return total

    def _batch(self, active: list[int]) -> tuple[torch.Tensor, ...]:
        """Control maps, masks and prompt rows of a set of regions, built once and reused
        (the regional processors cache key/value projections per prompt tensor)."""
        key = tuple(active)
        if key not in self._batches:
            rows = self._rows
            maps = torch.cat([self._maps[k].expand(rows, -1, -1, -1) for k in active])
            masks = torch.cat([self._masks[k].expand(rows, -1, -1, -1) for k in active])
            embeds = self.prompt_embeds.repeat(len(active), 1, 1)  # (R * B, T, D)
            self._batches[key] = (maps, masks, embeds)
        return self._batches[key]


def _add(a: Residuals, b: Residuals) -> Residuals:
    return [x + y for x, y in zip(a[0], b[0], strict=True)], a[1] + b[1]
