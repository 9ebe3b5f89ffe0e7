"""The graph's nodes: plain functions of the state returning partial updates.

Each node gets the injected ``Services`` (chat model, canvas session, settings) through a
closure made in ``graphs.graph``; nothing here holds state between calls, so a run resumed
from a checkpoint behaves as if it had never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from pakati.agents import critic, executor, planner, refiner
from pakati.agents.schemas import Critique, Plan
from pakati.agents.structured import DEFAULT_RETRIES
from pakati.graphs.state import AgentState
from pakati.tools.session import CanvasSession, load_rgb


@dataclass
class Services:
    """What the nodes need that cannot live in checkpointed state."""

    llm: BaseChatModel
    session: CanvasSession
    method: str | None = None
    """``with_structured_output`` method for the provider (None: its default)."""
    retries: int = DEFAULT_RETRIES
    patience: int = 2
    """Stop after this many passes in a row without beating the best score."""
    min_improvement: float = 1e-3
    """A score must beat the best by this much to count as an improvement."""
    region_target: float | None = None
    critic: critic.CriticFn = critic.critique_image
    """The checker (image, plan, scorer, target, region_target) -> Critique; injectable."""
    """Cosine a region needs to pass (None: the overall target)."""
    steps: int | None = None
    """Denoising steps imposed on every plan (None: the planner's choice)."""
    guidance_scale: float | None = None
    """Guidance scale imposed on every plan (None: the planner's choice)."""
    seed: int | None = None
    """Canvas noise seed imposed on every plan (None: the planner's); regions may reseed."""


def plan_node(services: Services, state: AgentState) -> dict[str, Any]:
    start = time.perf_counter()
    plan = planner.make_plan(
        services.llm,
        state["goal"],
        state.get("width", planner.DEFAULT_CANVAS[0]),
        state.get("height", planner.DEFAULT_CANVAS[1]),
        method=services.method,
        retries=services.retries,
    )
    plan = impose_settings(plan, services)
    return {
        "plan": plan.model_dump(mode="json"),
        "plans": [plan.id],
        "pass_number": 0,
        "pending": executor.Redraw().to_state(),
        "timings": {"planning": time.perf_counter() - start},
    }


def impose_settings(plan: Plan, services: Services) -> Plan:
    """The plan with the sampling settings the run imposes (e.g. the model's own)."""
    update: dict[str, Any] = {}
    if services.steps is not None:
        update["steps"] = services.steps
    if services.guidance_scale is not None:
        update["guidance_scale"] = services.guidance_scale
    if services.seed is not None:
        update["seed"] = services.seed
    return plan.model_copy(update=update) if update else plan


def execute_node(services: Services, state: AgentState) -> dict[str, Any]:
    """One pass through ``executor.run_pass``: the whole plan, or what the refiner named."""
    session = services.session
    before = session.timings["generating"]
    plan = Plan.model_validate(state["plan"])
    number = state.get("pass_number", 0) + 1
    images = state.get("images") or []
    redraw = executor.Redraw.from_state(state.get("pending"))
    previous = images[-1] if images else None
    path = executor.run_pass(session, plan, redraw, previous, f"pass-{number}.png")
    return {
        "images": [str(path)],
        "pass_number": number,
        "timings": {"generating": session.timings["generating"] - before},
    }


def critic_node(services: Services, state: AgentState) -> dict[str, Any]:
    session = services.session
    start = time.perf_counter()
    plan = Plan.model_validate(state["plan"])
    image = load_rgb(state["images"][-1])
    review = services.critic(image, plan, session.scorer, state["target"], services.region_target)
    scores = [*state.get("scores", []), review.score]
    return {
        "scores": [review.score],
        "critiques": [review.model_dump(mode="json")],
        "stop_reason": stop_reason(scores, review.passed, state, services),
        "timings": {"scoring": time.perf_counter() - start},
    }


def stop_reason(
    scores: list[float], passed: bool, state: AgentState, services: Services
) -> str | None:
    """Why to stop after the latest score, or None to refine and go on."""
    if passed:
        return "target reached"
    if len(scores) >= state["max_passes"]:
        return "max passes"
    best = 0
    for index, score in enumerate(scores):
        if score > scores[best] + services.min_improvement:
            best = index
    if len(scores) - 1 - best >= services.patience:
        return "no improvement"
    return None


def refine_node(services: Services, state: AgentState) -> dict[str, Any]:
    start = time.perf_counter()
    plan = Plan.model_validate(state["plan"])
    review = Critique.model_validate(state["critiques"][-1])
    actions = refiner.propose(
        services.llm,
        plan,
        review,
        state["pass_number"],
        method=services.method,
        retries=services.retries,
    )
    decided = refiner.apply_actions(plan, review, actions)
    return {
        "plan": decided.plan.model_dump(mode="json"),
        "plans": [decided.plan.id],
        "pending": decided.redraw.to_state(),
        "changes": [decided.changes],
        "timings": {"planning": time.perf_counter() - start},
    }
