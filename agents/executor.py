"""The executor: the one place where a plan becomes an image, pass after pass.

Everything that runs an agent pass goes through :func:`run_pass`: the graph's executor node,
``PakatiOrchestrator.execute_plan`` and ``pakati chat``. A pass either draws the plan from
scratch, or continues from the previous pass's image and redraws only what a
:class:`Redraw` names, with every other region locked so that its pixels are kept exactly.
:func:`diff_plans` decides that :class:`Redraw` from two plans (the chat's edits and the
refiner's changes both use it).

At most one canvas is alive per session (the id :data:`PASS_CANVAS`). When the previous
pass's canvas is still in memory it is used as it is (its latents spare re-encoding the
image); otherwise (a resumed run, an older image) the canvas is rebuilt from the PNG, whose
metadata holds the layout and edit history: the PNG stays the checkpointed truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pakati.agents.schemas import Plan
from pakati.tools.session import CanvasSession
from pakati_engine.layout import RegionSpec

Box = tuple[float, float, float, float]

PASS_CANVAS = "pass"
"""Session canvas id of the agent's passes; each pass replaces or continues it."""

VACATED_PREFIX = "vacated-"
"""Name prefix of the temporary background regions over an object's old place."""

CANVAS_KEYS = (
    "width",
    "height",
    "base_prompt",
    "negative_prompt",
    "steps",
    "guidance_scale",
    "seed",
)
"""Plan fields whose change means drawing the whole canvas again."""

REGION_KEYS = ("prompt", "negative_prompt", "weight", "seed", "model")
"""Region fields whose change means drawing that region again."""


@dataclass
class Redraw:
    """What a pass draws: the whole canvas, or some regions with the rest locked."""

    full: bool = True
    regenerate: list[str] = field(default_factory=list)
    """Regions drawn again (ignored when ``full``)."""
    vacated: dict[str, Box] = field(default_factory=dict)
    """Old boxes of regions that moved, shrank or were removed, drawn again as background."""
    zoom: list[str] = field(default_factory=list)
    """Regions (of ``regenerate``) drawn zoomed in, at the model's working size."""

    def to_state(self) -> dict[str, Any]:
        """Plain JSON for the graph's checkpointed state."""
        return {
            "full": self.full,
            "regenerate": list(self.regenerate),
            "vacated": {name: list(box) for name, box in self.vacated.items()},
            "zoom": list(self.zoom),
        }

    @classmethod
    def from_state(cls, data: Mapping[str, Any] | None) -> Redraw:
        if not data:
            return cls()
        vacated = {k: _box(v) for k, v in (data.get("vacated") or {}).items()}
        return cls(
            bool(data.get("full", True)),
            list(data.get("regenerate", [])),
            vacated,
            list(data.get("zoom", [])),
        )


def diff_plans(old: Plan | None, new: Plan) -> Redraw:
    """What going from ``old`` to ``new`` needs drawn.

    The whole canvas when there is no old plan or a canvas setting changed; otherwise every
    region that is new or whose prompt, weight, seed, model or box changed, and the old box
    of every region that moved, changed size or was removed (drawn as background, so the
    old object does not stay behind). Regions left alone keep their pixels exactly.
    """
    if old is None or any(getattr(old, k) != getattr(new, k) for k in CANVAS_KEYS):
        return Redraw(full=True, regenerate=[r.name for r in new.regions])
    before = {r.name: r for r in old.regions}
    changed: list[str] = []
    vacated: dict[str, Box] = {}
    for region in new.regions:
        previous = before.get(region.name)
        if previous is None or any(getattr(region, k) != getattr(previous, k) for k in REGION_KEYS):
            changed.append(region.name)
        if previous is not None and region.bounds != previous.bounds:
            changed.append(region.name)
            vacated[region.name] = _box(previous.bounds)
    for name in before.keys() - {r.name for r in new.regions}:
        vacated[name] = _box(before[name].bounds)
    return Redraw(full=False, regenerate=list(dict.fromkeys(changed)), vacated=vacated)


def run_pass(
    session: CanvasSession,
    plan: Plan,
    redraw: Redraw,
    previous: str | Path | None,
    out: str | Path,
) -> Path:
    """Draw one pass of ``plan`` into ``out`` (a PNG path, relative to the session folder).

    ``previous`` is the last pass's PNG; without it, or when ``redraw.full``, the plan is
    drawn from scratch. Returns the PNG path.
    """
    if redraw.full or previous is None:
        return draw_plan(session, plan, out)
    if not redraw.regenerate and not redraw.vacated:
        return Path(previous)  # nothing changed: the previous image stands
    return redraw_regions(session, plan, previous, redraw, out)


def draw_plan(session: CanvasSession, plan: Plan, out: str | Path) -> Path:
    """Draw ``plan`` from scratch, its tasks in dependency order, independent inpainting
    tasks on separate pixels together (``Plan.execution_batches``); returns the PNG path."""
    session.create_canvas(plan.to_layout(session.model_name), PASS_CANVAS)
    path: Path | None = None
    for batch in plan.execution_batches():
        kind = batch[0].task_type
        if kind == "generation":
            path = session.generate(PASS_CANVAS, plan.seed, out)
        elif kind == "inpainting":
            regions = list(dict.fromkeys(r for task in batch for r in task.regions))
            path = session.regenerate(PASS_CANVAS, regions, out)
        else:
            for task in batch:
                strength = float(task.parameters.get("strength", 0.5))
                for region in task.regions:
                    path = session.refine(PASS_CANVAS, region, strength, out)
    if path is None:  # only edits were planned: start from a generation
        path = session.generate(PASS_CANVAS, plan.seed, out)
    return path


def redraw_regions(
    session: CanvasSession, plan: Plan, previous: str | Path, redraw: Redraw, out: str | Path
) -> Path:
    """Continue from ``previous``: draw ``redraw``'s regions and vacated boxes, keep the rest."""
    if session.last_output(PASS_CANVAS) != session.resolve(previous):
        session.open_image(previous, PASS_CANVAS)  # not in memory: the PNG is the truth
    canvas = session.canvas(PASS_CANVAS)
    session.lock(PASS_CANVAS, canvas.locked, locked=False)
    layout = plan.to_layout(session.model_name)
    extra = [
        RegionSpec(
            name=f"{VACATED_PREFIX}{name}",
            box=box,
            prompt=plan.base_prompt or "background",
            z=-1,
        )
        for name, box in redraw.vacated.items()
    ]
    session.set_layout(
        PASS_CANVAS, layout.model_copy(update={"regions": [*layout.regions, *extra]})
    )
    keep = [r.name for r in plan.regions if r.name not in redraw.regenerate]
    if keep:
        session.lock(PASS_CANVAS, keep)
    normal = [name for name in redraw.regenerate if name not in redraw.zoom]
    todo = [*normal, *(r.name for r in extra if r.name is not None)]
    path = session.regenerate(PASS_CANVAS, todo, out) if todo else None
    for name in redraw.zoom:  # one at a time: each gets the model's whole canvas
        path = session.regenerate(PASS_CANVAS, [name], out, zoom=True)
    assert path is not None
    return path


def _box(values: Any) -> Box:
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)
