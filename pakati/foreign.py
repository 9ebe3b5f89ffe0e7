"""Canvases whose regions are drawn by different models (a canvas helper).

A region whose ``model`` is not the canvas's model is *foreign*. The canvas model draws the
whole layout first (foreign regions included, as a draft that gives their crops context);
then each foreign region, bottom to top, is redrawn by its own model on a crop and pasted
back inside its own feathered mask (:mod:`pakati_engine.providers.compose`). Pixels outside
that mask, and every locked region, keep the base's bytes, so the canvas model's regions are
exactly those of a one-model run of the same layout.

A region's model that cannot be used here (no key, no weights, offline) falls back: a local
stand-in (``canvas.stand_in``, else ``PAKATI_STAND_IN``, else the canvas model) draws it, with
a warning and the reason recorded in the result. ``canvas.model_fallback = False`` refuses
instead. Models with no API at all (Midjourney) or that make no images (Claude) are refused
with their card's reason.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import Layout
from pakati_engine.regions.masks import stack_masks, stacking_order

if TYPE_CHECKING:
    from pakati_engine.diffusion.pipeline import GenerationOutput, RegionalDiffusionPipeline
    from pakati_engine.models.bundle import ModelBundle
    from pakati_engine.providers.cards import ModelCard
    from pakati_engine.providers.registry import Registry
    from pakati_engine.providers.types import ImageProvider
    from pakati_engine.regions.region import Region


@dataclass
class RegionModel:
    """Who draws one region, and why."""

    region: str
    requested: str | None
    card: ModelCard | None = None  # None: the canvas model, in the base pass
    reason: str = ""
    fallback: bool = False

    @property
    def foreign(self) -> bool:
        return self.card is not None

    def record(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "requested": self.requested,
            "model": self.card.id if self.card else None,
            "reason": self.reason,
            "fallback": self.fallback,
        }


@dataclass
class ModelPlan:
    """Every region's model, the layout the canvas model draws, and what was done."""

    regions: list[RegionModel]
    base_layout: Layout
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def foreign(self) -> list[RegionModel]:
        return [r for r in self.regions if r.foreign]


def needs_models(layout: Layout) -> bool:
    """Whether any region names a model other than the canvas's (cheap: no registry)."""
    return any(spec.model not in (None, layout.model) for spec in layout.regions)


def plan_models(
    layout: Layout,
    registry: Registry,
    *,
    stand_in: str | None = None,
    allow_fallback: bool = True,
) -> ModelPlan:
    """Decide who draws each region (see the module docstring)."""
    canvas_card = registry.card(layout.model)
    plans: list[RegionModel] = []
    for index, spec in enumerate(layout.regions):
        label = spec.name or f"region-{index + 1}"
        plans.append(
            _region_model(
                label, spec.model, layout.model, canvas_card, registry, stand_in, allow_fallback
            )
        )
    regions = [spec.model_copy(update={"model": None}) for spec in layout.regions]
    base = layout.model_copy(update={"regions": regions})
    return ModelPlan(plans, base, [p.record() for p in plans if p.requested is not None])


def _region_model(
    label: str,
    requested: str | None,
    canvas_model: str,
    canvas_card: ModelCard | None,
    registry: Registry,
    stand_in: str | None,
    allow_fallback: bool,
) -> RegionModel:
    if requested is None or requested == canvas_model:
        return RegionModel(label, requested, reason="the canvas model")
    card = registry.card(requested)
    if card is None:
        known = ", ".join(c.id for c in registry.cards)
        raise InvalidInputError(
            f"region {label!r}: unknown model {requested!r} (known: {known}; or a local model "
            "folder, checkpoint or cached hub id)"
        )
    if canvas_card is not None and card.id == canvas_card.id:
        return RegionModel(label, requested, reason="the canvas model")
    if card.kind != "image" or card.provider == "none":
        raise InvalidInputError(f"region {label!r}: model {requested!r}: {card.note}")
    status = registry.availability(card)
    if status.available:
        return RegionModel(
            label, requested, card, f"{card.id} as the layout asks ({status.reason})"
        )
    why = status.reason.split(". Looked for")[0]
    if not allow_fallback:
        raise InvalidInputError(
            f"region {label!r}: {card.id} cannot be used here: {why}. Set canvas.model_fallback "
            "= True to let a local model stand in"
        )
    substitute = stand_in or os.environ.get("PAKATI_STAND_IN") or canvas_model
    reason = f"{card.id} unavailable ({why}); {substitute} stands in"
    stand = None
    if substitute != canvas_model:
        stand = registry.require(substitute)
        if stand.provider != "local" or not registry.availability(stand).available:
            raise InvalidInputError(
                f"region {label!r}: {card.id} is unavailable ({why}), and the stand-in "
                f"{substitute!r} must be a local model that is installed; choose one "
                "`pakati models` lists as available"
            )
    warnings.warn(f"region {label!r}: {reason}", UserWarning, stacklevel=4)
    return RegionModel(label, requested, stand, reason, fallback=True)


def draw_foreign(
    output: GenerationOutput,
    plan: ModelPlan,
    layout: Layout,
    shapes: list[Region],
    registry: Registry,
    pipe: RegionalDiffusionPipeline,
    *,
    locked: Sequence[str] = (),
    only: Sequence[str] | None = None,
    feather: int = 8,
    strength: float = 1.0,
    timeout_s: float | None = None,
) -> GenerationOutput:
    """``output`` with every foreign region (or those named in ``only``) redrawn by its
    model, bottom to top."""
    from dataclasses import replace

    from pakati_engine.providers.cache import ResultCache
    from pakati_engine.providers.compose import draw_region

    order = stacking_order(shapes)
    visible = stack_masks([shapes[i].rasterize() for i in order]).visible
    by_index = {index: visible[place] for place, index in enumerate(order)}
    frozen = _locked_mask(shapes, locked)
    image: Image.Image = output.image
    records = {r["region"]: r for r in plan.records}
    cache = ResultCache()
    providers: dict[str, ImageProvider] = {}
    calls = 0
    for index in order:
        region_plan = plan.regions[index]
        card = region_plan.card
        if card is None or (only is not None and region_plan.region not in only):
            continue
        spec = layout.regions[index]
        if card.id not in providers:  # one provider (one loaded local model) per card
            providers[card.id] = make_provider(
                registry, card, timeout_s=timeout_s, loader=_same_device(pipe)
            )
        provider = providers[card.id]
        access = getattr(provider, "access", None)
        image, draw = draw_region(
            image,
            by_index[index],
            card,
            provider,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            base_prompt=layout.base_prompt,
            seed=spec.seed if spec.seed is not None else layout.seed,
            label=region_plan.region,
            frozen=frozen,
            feather=feather,
            strength=strength,
            cache=cache if card.provider != "local" else None,
            host=access.base_url if access is not None else "",
            multiple=getattr(provider, "size_multiple", None),  # a local model's own
            reason=region_plan.reason,
        )
        calls += draw.calls
        records[region_plan.region].update(draw.to_dict())
    plan.records = list(records.values())
    with torch.no_grad():  # the canvas keeps latents of its image for the next edit
        latents = pipe.encode_image(image)
    timings = {**output.timings, "foreign_calls": float(calls)}
    return replace(output, image=image, latents=latents, timings=timings)


def _locked_mask(shapes: list[Region], locked: Sequence[str]) -> np.ndarray | None:
    chosen = [s.rasterize() > 0 for s in shapes if s.name in locked]
    if not chosen:
        return None
    return np.logical_or.reduce(chosen)


def _same_device(pipe: RegionalDiffusionPipeline) -> Callable[[str], ModelBundle]:
    """Loads a local foreign model on the canvas model's device, in its dtype."""

    def load(name: str) -> ModelBundle:
        from pakati_engine.models.loading import load_model

        return load_model(name, device=pipe.bundle.device, dtype=pipe.bundle.dtype)

    return load


def make_provider(
    registry: Registry,
    card: ModelCard,
    *,
    timeout_s: float | None = None,
    loader: Callable[[str], ModelBundle] | None = None,
) -> ImageProvider:
    """The provider that runs ``card``: OpenAI's from here, the others from the engine
    (``loader`` loads a local model's weights)."""
    if card.provider == "openai":
        from pakati.openai_images import OpenAIImages

        access = registry.access("openai")
        if timeout_s is None:
            return OpenAIImages(card, access)
        return OpenAIImages(card, access, timeout_s=timeout_s)
    return registry.provider(card, timeout_s=timeout_s, loader=loader)


def canvas_registry(canvas: Any) -> Registry:
    """The canvas's registry (``canvas.model_registry``), else one from the environment."""
    registry = getattr(canvas, "model_registry", None)
    if registry is None:
        from pakati_engine.providers.registry import Registry

        registry = Registry()
    return registry
