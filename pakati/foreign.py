"""Canvases whose regions are drawn by different models (a canvas helper).

A region whose ``model`` is not the canvas's model is *foreign*. The canvas model draws the
whole layout first (foreign regions included, as a draft that gives their crops context);
then each foreign region, bottom to top, is redrawn by its own model on a crop and pasted
back inside its own feathered mask (:mod:`pakati_engine.providers.compose`). Pixels outside
that mask, and every locked region, keep the base's bytes, so the canvas model's regions are
exactly those of a one-model run of the same layout.

A region's model that cannot be used here (no key, no weights, offline) is replaced by the
registry's pick (:meth:`Registry.select`: hard filters, then the stated preference: the
explicit stand-in ``canvas.stand_in`` / ``PAKATI_STAND_IN``, ``canvas.model_preference``, the
canvas model; then measured quality, cost, latency), with a warning; the choice, its reason
and every rejected model's reason are recorded in the result. A region whose model is
``"auto"`` gets the registry's pick the same way. ``canvas.model_fallback = False`` refuses
an unusable model instead. Models with no API at all (Midjourney) or that make no images
(Claude) are refused with their card's reason.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
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
    #: Models the registry ruled out when it chose this one, each with its reason.
    rejected: dict[str, str] = field(default_factory=dict)

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
            **({"rejected": self.rejected} if self.rejected else {}),
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


#: A region's ``model`` that asks the registry to choose (:meth:`Registry.select`).
AUTO = "auto"


def needs_models(layout: Layout) -> bool:
    """Whether any region names a model other than the canvas's (cheap: no registry)."""
    return any(spec.model not in (None, layout.model) for spec in layout.regions)


def plan_models(
    layout: Layout,
    registry: Registry,
    *,
    stand_in: str | None = None,
    allow_fallback: bool = True,
    preference: Sequence[str] = (),
) -> ModelPlan:
    """Decide who draws each region (see the module docstring)."""
    chooser = _Chooser(layout, registry, stand_in, allow_fallback, preference)
    plans: list[RegionModel] = []
    for index, spec in enumerate(layout.regions):
        label = spec.name or f"region-{index + 1}"
        plans.append(chooser.region_model(label, spec.model))
    regions = [spec.model_copy(update={"model": None}) for spec in layout.regions]
    base = layout.model_copy(update={"regions": regions})
    return ModelPlan(plans, base, [p.record() for p in plans if p.requested is not None])


class _Chooser:
    """Who draws one region: the layout's model when it can be used here; else (and for
    ``model="auto"``) the registry's pick (:meth:`Registry.select`), ranked by the stated
    preference (the explicit stand-in, ``canvas.model_preference``, then the canvas model),
    then measured quality, cost and latency."""

    def __init__(
        self,
        layout: Layout,
        registry: Registry,
        stand_in: str | None,
        allow_fallback: bool,
        preference: Sequence[str],
    ) -> None:
        self.layout = layout
        self.registry = registry
        self.canvas_card = registry.card(layout.model)
        self.stand_in = stand_in or os.environ.get("PAKATI_STAND_IN") or None
        self.allow_fallback = allow_fallback
        self.preference = list(preference)

    def region_model(self, label: str, requested: str | None) -> RegionModel:
        canvas_model = self.layout.model
        if requested is None or requested == canvas_model:
            return RegionModel(label, requested, reason="the canvas model")
        if requested.strip().lower() == AUTO:
            return self._selected(label, requested, None, "")
        card = self.registry.card(requested)
        if card is None:
            known = ", ".join(c.id for c in self.registry.cards)
            raise InvalidInputError(
                f"region {label!r}: unknown model {requested!r} (known: {known}; "
                f"{AUTO!r} to let Pakati choose; or a local model folder, checkpoint or "
                "cached hub id)"
            )
        if self.canvas_card is not None and card.id == self.canvas_card.id:
            return RegionModel(label, requested, reason="the canvas model")
        if card.kind != "image" or card.provider == "none":
            raise InvalidInputError(f"region {label!r}: model {requested!r}: {card.note}")
        status = self.registry.availability(card)
        if status.available:
            return RegionModel(
                label, requested, card, f"{card.id} as the layout asks ({status.reason})"
            )
        why = status.reason.split(". Looked for")[0]
        if not self.allow_fallback:
            raise InvalidInputError(
                f"region {label!r}: {card.id} cannot be used here: {why}. Set "
                "canvas.model_fallback = True to let another model stand in"
            )
        chosen = self._selected(label, requested, card, f"{card.id} unavailable ({why})")
        warnings.warn(f"region {label!r}: {chosen.reason}", UserWarning, stacklevel=5)
        return chosen

    def _selected(
        self, label: str, requested: str, unusable: ModelCard | None, why: str
    ) -> RegionModel:
        """The registry's pick for a region whose model is ``auto`` or ``unusable``."""
        from pakati_engine.providers.registry import Need

        registry = self.registry
        if self.stand_in is not None and unusable is not None:
            stand = registry.require(self.stand_in)
            status = registry.availability(stand)
            if stand.kind != "image" or not status.available:
                raise InvalidInputError(
                    f"region {label!r}: {why or requested}, and the stand-in "
                    f"{self.stand_in!r} cannot be used either ({status.reason.split('. ')[0]}); "
                    "choose one `pakati models` lists as available"
                )
        preference = [
            *([self.stand_in] if self.stand_in and unusable is not None else []),
            *self.preference,
            self.layout.model,
        ]
        candidates = [c for c in registry.cards if unusable is None or c.id != unusable.id]
        for name in preference:  # a preferred folder, checkpoint or replicate:owner/name
            extra = self.canvas_card if name == self.layout.model else registry.card(name)
            if extra is None or any(c.id == extra.id for c in candidates):
                continue
            if unusable is None or extra.id != unusable.id:
                candidates.append(extra)
        try:
            choice = registry.select(Need(preference=tuple(preference)), candidates)
        except InvalidInputError as error:  # nothing fits: the canvas model draws it
            name = self.canvas_card.id if self.canvas_card else self.layout.model
            reason = f"{why + '; ' if why else ''}no other model fits ({error}); {name} draws it"
            return RegionModel(label, requested, None, reason, fallback=unusable is not None)
        card: ModelCard | None = choice.card
        if self.canvas_card is not None and choice.card.id == self.canvas_card.id:
            card = None  # the canvas model: drawn in the base pass
        verb = "stands in" if unusable is not None else "chosen"
        ranked = choice.reason.split(": ", 1)[-1]
        reason = f"{why + '; ' if why else ''}{choice.card.id} {verb} ({ranked})"
        return RegionModel(
            label,
            requested,
            card,
            reason,
            fallback=unusable is not None,
            rejected={k: v.split(". Looked for")[0] for k, v in choice.rejected.items()},
        )


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
    concurrency: int | None = None,
) -> GenerationOutput:
    """``output`` with every foreign region (or those named in ``only``) redrawn by its
    model, bottom to top; up to ``concurrency`` remote regions whose crops do not reach each
    other's changes are requested at once (:mod:`pakati_engine.providers.parallel`)."""
    from dataclasses import replace

    from pakati_engine.providers.cache import ResultCache
    from pakati_engine.providers.compose import Prepared, prepare_region
    from pakati_engine.providers.parallel import draw_regions

    order = stacking_order(shapes)
    visible = stack_masks([shapes[i].rasterize() for i in order]).visible
    by_index = {index: visible[place] for place, index in enumerate(order)}
    frozen = _locked_mask(shapes, locked)
    records = {r["region"]: r for r in plan.records}
    cache = ResultCache()
    providers: dict[str, ImageProvider] = {}
    jobs: list[Callable[[Image.Image], Prepared]] = []
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
        options: dict[str, Any] = {
            "prompt": spec.prompt,
            "negative_prompt": spec.negative_prompt,
            "base_prompt": layout.base_prompt,
            "seed": spec.seed if spec.seed is not None else layout.seed,
            "label": region_plan.region,
            "frozen": frozen,
            "feather": feather,
            "strength": strength,
            "cache": cache if card.provider != "local" else None,
            "host": access.base_url if access is not None else "",
            "multiple": getattr(provider, "size_multiple", None),  # a local model's own
            "reason": region_plan.reason,
        }
        jobs.append(
            partial(prepare_region, mask=by_index[index], card=card, provider=provider, **options)
        )
    if concurrency is None:
        from pakati_engine.providers.parallel import DEFAULT_CONCURRENCY

        concurrency = DEFAULT_CONCURRENCY
    started = time.perf_counter()
    image, drawn = draw_regions(output.image, jobs, concurrency=concurrency)
    seconds = time.perf_counter() - started
    calls = 0
    for done in drawn:
        calls += done.draw.calls
        records[done.draw.region].update(done.draw.to_dict(), together=done.together)
    plan.records = list(records.values())
    with torch.no_grad():  # the canvas keeps latents of its image for the next edit
        latents = pipe.encode_image(image)
    timings = {**output.timings, "foreign_calls": float(calls), "foreign_s": seconds}
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
    """The canvas's registry (``canvas.model_registry``), else one from the environment and
    ``.env`` (a ``.env`` base URL takes a key only with ``canvas.trust_env_file``)."""
    registry = getattr(canvas, "model_registry", None)
    if registry is None:
        from pakati_engine.providers.registry import Registry

        registry = Registry(trust_env_file=bool(getattr(canvas, "trust_env_file", False)))
    return registry


def canvas_plan(canvas: Any, layout: Layout) -> tuple[Registry, ModelPlan]:
    """The canvas's registry and the model plan of ``layout`` with the canvas's settings."""
    registry = canvas_registry(canvas)
    plan = plan_models(
        layout,
        registry,
        stand_in=getattr(canvas, "stand_in", None),
        allow_fallback=getattr(canvas, "model_fallback", True),
        preference=tuple(getattr(canvas, "model_preference", ())),
    )
    return registry, plan
