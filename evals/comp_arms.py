"""Arms of ``pakati eval compositional``: ways of drawing the same case.

- ``plain``: the model given the whole caption, no regions (the LMD/GenEval baseline);
- ``attention`` / ``latent``: the case's layout (one box region per object, the background
  as base prompt) in that regional mode (the LMD ablation: same layouts, other methods);
- ``agent``: the whole agent (offline planner, CLIP critic) given the caption as its goal,
  at most ``agent_passes`` passes; its critic's score is kept for the calibration plot;
- ``controlnet``: the attention layout with every object's outline given to its region
  through the shipped ControlNet ``pakati-shapes-outline``; skipped, with the reason, when
  that ControlNet is not installed;
- ``remote``: the attention layout with every region drawn by a remote provider's model
  (``remote_model``, default ``dall-e-2``) through its official client, on a canvas that
  refuses fallbacks (a region silently drawn by another model would judge the wrong arm);
  skipped, with the reason, when that model is not usable here (no key, offline). The
  provider's base URL comes from the environment as everywhere (``OPENAI_BASE_URL``), which
  is how the tests point it at a fake server on 127.0.0.1.

Edit tasks (locked identity, edit locality) need regions: the plain and agent arms skip them.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from pakati.evals.comp_tasks import EDIT_TASKS, Case
from pakati.evals.comp_verdicts import edit_verdict, task_verdict
from pakati_engine.layout import Layout, RegionSpec
from pakati_engine.world.colors import article
from pakati_engine.world.scene import object_caption, pixel_cell

ARMS = ("plain", "attention", "latent", "agent", "controlnet", "remote")
DEFAULT_ARMS = ("plain", "attention", "latent")
FEATHER = 8
"""Feather band of the edits, in pixels (PakatiCanvas's default)."""


@dataclass
class Settings:
    steps: int | None = None
    agent_passes: int = 2
    size: int = 128
    remote_model: str = "dall-e-2"
    extra: dict[str, Any] = field(default_factory=dict)


def controlnet_missing() -> str | None:
    """Why the ControlNet arm cannot run here, or None when it can."""
    from pakati_engine.control.loading import resolve_controlnet
    from pakati_engine.errors import PakatiError
    from pakati_engine.world.control_eval import CONTROLNET

    try:
        resolve_controlnet(CONTROLNET)
    except PakatiError as error:
        return f"ControlNet {CONTROLNET} is not installed: {error}"
    return None


def check_remote_model(model: str) -> None:
    """Refuse a ``--remote-model`` that names no remote provider's model (a user error)."""
    from pakati_engine.errors import InvalidInputError
    from pakati_engine.providers.registry import Registry

    card = Registry().require(model)  # unknown: InvalidInputError naming the known cards
    if card.provider == "local":
        raise InvalidInputError(
            f"--remote-model {model} is a local model, not a remote provider's; "
            "give one of `pakati models` with a provider (dall-e-2, gpt-image-1, ...)"
        )


def remote_missing(model: str) -> str | None:
    """Why the remote arm cannot use ``model`` here (no key, offline), or None."""
    from pakati_engine.providers.registry import Registry

    registry = Registry()
    availability = registry.availability(registry.require(model))
    return None if availability.available else f"{model} is not usable: {availability.reason}"


def skip_reason(arm: str, case: Case) -> str | None:
    """Why ``arm`` does not run ``case`` (None: it does)."""
    if case.task in EDIT_TASKS and arm in ("plain", "agent"):
        return f"{case.task} edits regions; the {arm} arm has none"
    return None


def case_layout(
    case: Case, model: str, arm: str, steps: int | None, remote_model: str | None = None
) -> Layout:
    """The layout ``arm`` draws for ``case`` (``remote_model``: the remote arm's model)."""
    spec = case.spec
    background = f"{article(spec.background)} {spec.background} background"
    common: dict[str, Any] = {
        "width": spec.width,
        "height": spec.height,
        "model": model,
        "steps": steps,
        "seed": case.seed,
    }
    if arm == "plain":
        return Layout(**common, base_prompt=case.caption)
    regions = []
    for index, obj in enumerate(spec.objects):
        control = None
        if arm == "controlnet":
            from pakati_engine.control.inputs import encode_control_png
            from pakati_engine.layout import ControlSpec
            from pakati_engine.world.control_eval import CONTROLNET, outline_of

            picture = encode_control_png(outline_of(spec, index))
            control = ControlSpec(controlnet=CONTROLNET, image_png=picture)
        regions.append(
            RegionSpec(
                name=f"object-{index + 1}",
                box=pixel_cell(obj),
                prompt=object_caption(obj.color, obj.shape),
                control=control,
                model=remote_model if arm == "remote" else None,
            )
        )
    negative = f"{case.negated} objects" if case.negated else ""
    mode: Literal["attention", "latent"] = "latent" if arm == "latent" else "attention"
    return Layout(
        **common, mode=mode, base_prompt=background, negative_prompt=negative, regions=regions
    )


class ArmRunner:
    """Draws and judges cases; holds the model (loaded once per worker process)."""

    def __init__(self, model: str | None, settings: Settings, image_dir: Path | None) -> None:
        from pakati_engine.models.catalog import EMBEDDED_MODEL
        from pakati_engine.models.loading import load_model

        self.bundle = load_model(model or EMBEDDED_MODEL)
        self.settings = settings
        self.image_dir = image_dir
        self._scorer: Any = None

    def run(self, case: Case, arm: str) -> dict[str, Any]:
        """The record of ``case`` drawn by ``arm``: verdict, timings, image path."""
        record: dict[str, Any] = {"id": case.id, "task": case.task, "seed": case.seed, "arm": arm}
        reason = skip_reason(arm, case)
        if reason is not None:
            return {**record, "ok": None, "skipped": reason}
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if case.task in EDIT_TASKS:
            image, verdict, extra = self._edit(case, arm)
        elif arm == "agent":
            image, extra = self._agent(case)
            verdict = task_verdict(case, image)
        else:
            image, extra = self._draw(case, arm)
            verdict = task_verdict(case, image)
        seconds = time.perf_counter() - started
        ok = verdict.pop("ok")
        record.update(ok=ok, verdict=verdict, seconds=round(seconds, 3), **extra)
        if self.image_dir is not None:
            path = self.image_dir / arm / f"{case.id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
            record["image"] = f"images/{arm}/{case.id}.png"
        return record

    def _layout(self, case: Case, arm: str) -> Layout:
        return case_layout(
            case, self.bundle.source, arm, self.settings.steps, self.settings.remote_model
        )

    def _canvas(self, layout: Layout) -> Any:
        from pakati.canvas import PakatiCanvas

        canvas = PakatiCanvas.from_layout(layout, model=self.bundle)
        canvas.model_fallback = False  # a stand-in model would be judged as the remote arm
        return canvas

    def _draw(self, case: Case, arm: str) -> tuple[Image.Image, dict[str, Any]]:
        from pakati_engine.generation import generate_layout

        layout = self._layout(case, arm)
        if arm != "remote":
            return generate_layout(self.bundle, layout).image, {}
        result = self._canvas(layout).generate(seed=case.seed)
        return result.image, _remote_extra(result.models)

    def _edit(self, case: Case, arm: str) -> tuple[Image.Image, dict[str, Any], dict[str, Any]]:
        """Generate the layout on a canvas, then redraw the target region (a new seed; for
        edit locality a new colour), with the other regions locked (locked identity)."""
        assert case.target is not None
        canvas = self._canvas(self._layout(case, arm))
        first = canvas.generate(seed=case.seed)
        before = first.image
        names = [f"object-{k + 1}" for k in range(len(case.spec.objects))]
        target = names[case.target]
        height, width = case.spec.height, case.spec.width
        locked = np.zeros((height, width), dtype=bool)
        if case.task == "locked_identity":
            for name, obj in zip(names, case.spec.objects, strict=True):
                if name != target:
                    canvas.lock(name)
                    x0, y0, x1, y1 = pixel_cell(obj)
                    locked[y0:y1, x0:x1] = True
        else:
            obj = case.spec.objects[case.target]
            assert case.new_color is not None
            model = self.settings.remote_model if arm == "remote" else None
            canvas.apply_to_region(target, object_caption(case.new_color, obj.shape), model=model)
        second = canvas.regenerate(target, seed=case.seed + 1, feather=FEATHER)
        after = second.image
        x0, y0, x1, y1 = pixel_cell(case.spec.objects[case.target])
        outside = np.ones((height, width), dtype=bool)
        band = FEATHER + 1
        outside[max(0, y0 - band) : y1 + band, max(0, x0 - band) : x1 + band] = False
        verdict = edit_verdict(case, before, after, locked, outside)
        extra = _remote_extra([*first.models, *second.models]) if arm == "remote" else {}
        return after, verdict, extra

    def _agent(self, case: Case) -> tuple[Image.Image, dict[str, Any]]:
        """Run the agent on the caption; the delivered image and its critic's score."""
        from pakati.graphs import delivered_pass
        from pakati.orchestrator import Context, PakatiOrchestrator
        from pakati.tools.session import default_scorer

        if self._scorer is None:
            self._scorer = default_scorer()
        with tempfile.TemporaryDirectory(prefix="pakati-eval-") as folder:
            context = Context(
                primary_goal=case.caption,
                max_passes=self.settings.agent_passes,
                provider="offline",
                workdir=folder,
            )
            orchestrator = PakatiOrchestrator(context, model=self.bundle, scorer=self._scorer)
            state = orchestrator.run(case.caption, thread_id=case.id)
            delivered = delivered_pass(state)
            image = Image.open(state["images"][delivered]).convert("RGB")
            critique = state["critiques"][delivered]
            budget_ok = []  # what it would deliver with a budget of j passes, judged
            for j in range(1, len(state["images"]) + 1):
                first = {
                    **state,
                    "critiques": state["critiques"][:j],
                    "scores": state.get("scores", [])[:j],
                }
                picture = Image.open(state["images"][delivered_pass(first)]).convert("RGB")
                budget_ok.append(bool(task_verdict(case, picture)["ok"]))
        score = critique.get("score")
        return image, {
            "budget_ok": budget_ok,
            "passes": int(state.get("pass_number", len(state["images"]))),
            "critic_score": None if score is None else round(float(score), 4),
            "critic_passed": bool(critique.get("passed")),
        }


def _remote_extra(models: list[dict[str, Any]]) -> dict[str, Any]:
    """What the remote arm keeps of a result's model records: the models that drew regions,
    calls made and answers served from the cache (no keys: the records hold none)."""
    return {
        "remote_models": sorted({str(m.get("model")) for m in models}),
        "remote_calls": sum(int(m.get("calls", 0)) for m in models),
        "remote_cached": sum(bool(m.get("cached")) for m in models),
    }
