"""The refiner: a critique becomes concrete plan changes, and what the next pass redraws.

The language model (or the offline rules) proposes ``RefinementActions``; they are checked
by applying them to a copy of the plan (an unknown region or a box outside the canvas is
sent back to the model as an error) and then applied for real. What the next pass redraws
is decided the way every plan change is, by ``executor.diff_plans`` (a moved box's old
place is redrawn as background), plus the regions the critic failed; passing regions are
locked and keep their pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from pakati.agents import prompts
from pakati.agents.executor import Redraw, diff_plans
from pakati.agents.planner import check_region_models
from pakati.agents.schemas import Critique, Plan, RefinementActions, new_id
from pakati.agents.structured import DEFAULT_RETRIES, invoke_structured


@dataclass
class Refinement:
    """What the refiner decided for the next pass."""

    plan: Plan
    changes: list[str] = field(default_factory=list)
    redraw: Redraw = field(default_factory=Redraw)


def propose(
    llm: BaseChatModel,
    plan: Plan,
    critique: Critique,
    pass_number: int,
    *,
    method: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> RefinementActions:
    """Ask the model for changes; validated against the plan, retried on error."""
    request = prompts.refiner_request(
        plan.goal,
        plan.model_dump_json(exclude={"id"}),
        critique.model_dump_json(),
        pass_number,
    )
    messages = [SystemMessage(content=prompts.REFINER_SYSTEM), HumanMessage(content=request)]

    def check(actions: RefinementActions) -> None:
        check_region_models(apply_actions(plan, critique, actions).plan)

    return invoke_structured(
        llm, RefinementActions, messages, method=method, retries=retries, check=check
    )


def apply_actions(plan: Plan, critique: Critique, actions: RefinementActions) -> Refinement:
    """A new plan (new id) with ``actions`` applied; raises ValueError for invalid actions."""
    data: dict[str, Any] = plan.model_dump()
    data["id"] = new_id("plan")
    regions = {r["name"]: r for r in data["regions"]}
    changes: list[str] = []
    cleared: list[tuple[float, float, float, float]] = []
    zoomed: list[str] = []
    for action in actions.actions:
        if action.region is not None and action.region not in regions:
            raise ValueError(f"action {action.kind} names unknown region {action.region!r}")
        region = regions.get(action.region or "")
        if action.kind == "rephrase":
            assert region is not None
            region["prompt"] = action.prompt
        elif action.kind == "reseed":
            assert region is not None
            region["seed"] = action.seed if action.seed is not None else (region["seed"] or 0) + 1
        elif action.kind == "weight":
            assert region is not None
            region["weight"] = action.value
        elif action.kind in ("move", "resize"):
            assert region is not None
            region["box"], region["polygon"] = action.box, None
        elif action.kind == "guidance":
            data["guidance_scale"] = action.value
        elif action.kind == "steps":
            assert action.value is not None
            data["steps"] = int(action.value)
        elif action.kind == "zoom":
            assert action.region is not None
            zoomed.append(action.region)
        elif action.kind == "clear":
            assert action.box is not None
            cleared.append(action.box)
        elif action.kind == "background":
            cleared.append((0.0, 0.0, float(plan.width), float(plan.height)))
        changes.append(action.describe())
    if not actions.actions:
        changes.append("no changes proposed")
    new_plan = _validated(data)
    redraw = diff_plans(plan, new_plan)
    if not redraw.full:
        failing = [name for name in critique.failing if name in regions]
        redraw.regenerate = list(dict.fromkeys([*failing, *redraw.regenerate]))
        redraw.regenerate = list(dict.fromkeys([*redraw.regenerate, *zoomed]))
        redraw.zoom = [name for name in dict.fromkeys(zoomed) if name in regions]
        for index, box in enumerate(cleared):
            # Drawn as background under the regions; regions not redrawn stay locked.
            redraw.vacated[f"clear-{index + 1}"] = box
        if not redraw.regenerate and not redraw.vacated:
            # Nothing region-specific to redo: draw the whole canvas again with fresh noise.
            data["seed"] = (int(data["seed"]) + 1) % 2**31
            changes.append(f"new canvas seed {data['seed']}")
            new_plan = _validated(data)
            redraw = diff_plans(plan, new_plan)
    return Refinement(new_plan, changes, redraw)


def _validated(data: dict[str, Any]) -> Plan:
    try:
        return Plan.model_validate(data)
    except Exception as error:
        raise ValueError(str(error)) from error
