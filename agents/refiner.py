"""The refiner: a critique becomes concrete plan changes, and a list of regions to redo.

The language model (or the offline rules) proposes ``RefinementActions``; they are checked
by applying them to a copy of the plan (an unknown region or a box outside the canvas is
sent back to the model as an error) and then applied for real. Passing regions are not
regenerated: the executor locks them and regenerates only the failing ones. When a box
moves, its old box is regenerated too, as background (see ``agents.executor``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from pakati.agents import prompts
from pakati.agents.schemas import Critique, Plan, RefinementActions, new_id
from pakati.agents.structured import DEFAULT_RETRIES, invoke_structured


@dataclass
class Refinement:
    """What the refiner decided for the next pass."""

    plan: Plan
    changes: list[str] = field(default_factory=list)
    regenerate: list[str] = field(default_factory=list)
    """Regions to regenerate with the others locked (ignored when ``full``)."""
    full: bool = False
    """Regenerate the whole canvas (nothing region-specific to redo)."""
    vacated: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    """Old boxes of moved or resized regions, regenerated as background."""


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
    return invoke_structured(
        llm,
        RefinementActions,
        messages,
        method=method,
        retries=retries,
        check=lambda actions: apply_actions(plan, critique, actions),
    )


def apply_actions(plan: Plan, critique: Critique, actions: RefinementActions) -> Refinement:
    """A new plan (new id) with ``actions`` applied; raises ValueError for invalid actions."""
    data = plan.model_dump()
    data["id"] = new_id("plan")
    regions = {r["name"]: r for r in data["regions"]}
    changes: list[str] = []
    touched: set[str] = set()
    vacated: dict[str, tuple[float, float, float, float]] = {}
    full = False
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
            assert region is not None and action.region is not None
            old = plan.region(action.region).bounds
            vacated.setdefault(action.region, tuple(float(v) for v in old))  # type: ignore[arg-type]
            region["box"], region["polygon"] = action.box, None
        elif action.kind == "guidance":
            data["guidance_scale"] = action.value
        elif action.kind == "steps":
            assert action.value is not None
            data["steps"] = int(action.value)
        if action.region is not None:
            touched.add(action.region)
        changes.append(action.describe())
    redo = [name for name in (*critique.failing, *sorted(touched)) if name in regions]
    redo = list(dict.fromkeys(redo))
    if not actions.actions:
        changes.append("no changes proposed")
    if not redo and not full:
        # Nothing region-specific to redo: draw the whole canvas again with fresh noise.
        data["seed"] = (int(data["seed"]) + 1) % 2**31
        changes.append(f"new canvas seed {data['seed']}")
        full = True
    try:
        new_plan = Plan.model_validate(data)
    except Exception as error:
        raise ValueError(str(error)) from error
    return Refinement(new_plan, changes, redo, full, vacated)
