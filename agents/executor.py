"""The executor: carries a plan out on the canvas through the tools' ``CanvasSession``.

A first pass (or one after a box moved) builds a canvas from the plan and runs its tasks in
dependency order. Later passes continue from the previous pass's PNG (its metadata holds
the layout and edit history): the plan's new prompts and seeds are applied, the passing
regions are locked, and only the failing regions are regenerated, so the passing regions'
pixels are kept exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pakati.agents.schemas import Plan
from pakati.tools.session import CanvasSession
from pakati_engine.layout import RegionSpec

VACATED_PREFIX = "vacated-"
"""Name prefix of the temporary background regions over an object's old place."""


def execute_plan(session: CanvasSession, plan: Plan, out: str | Path) -> Path:
    """Generate ``plan`` from scratch; returns the PNG path."""
    canvas_id = session.create_canvas(plan.to_layout(session.model_name))
    path: Path | None = None
    for task in plan.execution_order():
        if task.task_type == "generation":
            path = session.generate(canvas_id, plan.seed, out)
        elif task.task_type == "inpainting":
            path = session.regenerate(canvas_id, task.regions, out)
        else:
            strength = float(task.parameters.get("strength", 0.5))
            for region in task.regions:
                path = session.refine(canvas_id, region, strength, out)
    if path is None:  # only edits were planned: start from a generation
        path = session.generate(canvas_id, plan.seed, out)
    return path


def regenerate_failing(
    session: CanvasSession,
    plan: Plan,
    previous: str | Path,
    failing: Sequence[str],
    out: str | Path,
    vacated: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Continue from ``previous``: lock every region not in ``failing``, redo ``failing``.

    ``vacated`` maps a region that moved, shrank or was removed to its old box: that area
    is regenerated too, as background (the base prompt, under the regions), so the old
    object does not stay behind. Regions not in ``failing`` keep their pixels exactly.
    """
    canvas_id = session.open_image(previous)
    canvas = session.canvas(canvas_id)
    session.lock(canvas_id, canvas.locked, locked=False)
    layout = plan.to_layout(session.model_name)
    extra = [
        RegionSpec(
            name=f"{VACATED_PREFIX}{name}",
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            prompt=plan.base_prompt or "background",
            z=-1,
        )
        for name, box in (vacated or {}).items()
    ]
    session.set_layout(canvas_id, layout.model_copy(update={"regions": [*layout.regions, *extra]}))
    keep = [r.name for r in plan.regions if r.name not in failing]
    if keep:
        session.lock(canvas_id, keep)
    redo = [*failing, *(r.name for r in extra if r.name is not None)]
    return session.regenerate(canvas_id, redo, out)
