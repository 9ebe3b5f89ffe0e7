"""Arms of ``pakati eval compositional``: ways of drawing the same case.

- ``plain``: the model given the whole caption, no regions (the LMD/GenEval baseline);
- ``attention`` / ``latent``: the case's layout (one box region per object, the background
  as base prompt) in that regional mode (the LMD ablation: same layouts, other methods);
- ``agent``: the whole agent (offline planner, CLIP critic) given the caption as its goal,
  at most ``agent_passes`` passes; its critic's score is kept for the calibration plot;
- ``controlnet``: the attention layout with every object's outline given to its region
  through the shipped ControlNet ``pakati-shapes-outline``; skipped, with the reason, when
  that ControlNet is not installed.

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

ARMS = ("plain", "attention", "latent", "agent", "controlnet")
DEFAULT_ARMS = ("plain", "attention", "latent")
FEATHER = 8
"""Feather band of the edits, in pixels (PakatiCanvas's default)."""


@dataclass
class Settings:
    steps: int | None = None
    agent_passes: int = 2
    size: int = 128
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


def skip_reason(arm: str, case: Case) -> str | None:
    """Why ``arm`` does not run ``case`` (None: it does)."""
    if case.task in EDIT_TASKS and arm in ("plain", "agent"):
        return f"{case.task} edits regions; the {arm} arm has none"
    return None


def case_layout(case: Case, model: str, arm: str, steps: int | None) -> Layout:
    """The layout ``arm`` draws for ``case``."""
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
            image, verdict = self._edit(case, arm)
        elif arm == "agent":
            image, extra = self._agent(case)
            verdict = task_verdict(case, image)
        else:
            image = self._draw(case, arm)
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

    def _draw(self, case: Case, arm: str) -> Image.Image:
        from pakati_engine.generation import generate_layout

        layout = case_layout(case, self.bundle.source, arm, self.settings.steps)
        return generate_layout(self.bundle, layout).image

    def _edit(self, case: Case, arm: str) -> tuple[Image.Image, dict[str, Any]]:
        """Generate the layout on a canvas, then redraw the target region (a new seed; for
        edit locality a new colour), with the other regions locked (locked identity)."""
        from pakati.canvas import PakatiCanvas

        assert case.target is not None
        layout = case_layout(case, self.bundle.source, arm, self.settings.steps)
        canvas = PakatiCanvas.from_layout(layout, model=self.bundle)
        before = canvas.generate(seed=case.seed).image
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
            canvas.apply_to_region(target, object_caption(case.new_color, obj.shape))
        after = canvas.regenerate(target, seed=case.seed + 1, feather=FEATHER).image
        x0, y0, x1, y1 = pixel_cell(case.spec.objects[case.target])
        outside = np.ones((height, width), dtype=bool)
        band = FEATHER + 1
        outside[max(0, y0 - band) : y1 + band, max(0, x0 - band) : x1 + band] = False
        return after, edit_verdict(case, before, after, locked, outside)

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
        score = critique.get("score")
        return image, {
            "passes": int(state.get("pass_number", len(state["images"]))),
            "critic_score": None if score is None else round(float(score), 4),
            "critic_passed": bool(critique.get("passed")),
        }
