"""The agent's state: one typed dict, checkpointed after every node.

Everything in it is plain JSON (numbers, strings, lists, dicts): plans and critiques are
stored as their pydantic ``model_dump()``, images as PNG paths, so a checkpoint can be read
back by any version of the code and never holds a PIL image or a model.

Fields annotated with a reducer accumulate across nodes (a node returns only the new
items); the others are replaced by the latest value.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def add_timings(old: dict[str, float] | None, new: dict[str, float] | None) -> dict[str, float]:
    """Reducer: sum seconds per key ("planning", "generating", "scoring")."""
    total = dict(old or {})
    for key, value in (new or {}).items():
        total[key] = total.get(key, 0.0) + float(value)
    return total


class AgentState(TypedDict, total=False):
    goal: str
    """The user's goal in plain language."""
    width: int
    """Canvas width in pixels that the planner must use."""
    height: int
    """Canvas height in pixels."""
    target: float
    """Overall score (cosine scale, see ``agents.critic``) at which the run stops."""
    max_passes: int
    """Most generation passes the run may make."""
    plan: dict[str, Any]
    """The current plan (``Plan.model_dump()``); the refiner replaces it."""
    plans: Annotated[list[str], operator.add]
    """Ids of every plan in order (the planner's, then one per refinement)."""
    pass_number: int
    """Passes completed by the executor so far (the pass counter)."""
    images: Annotated[list[str], operator.add]
    """PNG path of each pass's image, one per pass."""
    scores: Annotated[list[float], operator.add]
    """Overall score of each pass, one per pass."""
    critiques: Annotated[list[dict[str, Any]], operator.add]
    """The critic's report of each pass (``Critique.model_dump()``)."""
    changes: Annotated[list[list[str]], operator.add]
    """What the refiner changed before each later pass, one list per refinement."""
    pending: dict[str, Any]
    """The next pass's work: ``{"full": bool, "regenerate": [names], "vacated": {name: box}}``
    (``vacated``: old boxes of moved regions, regenerated as background)."""
    stop_reason: str | None
    """Why the run stopped: "target reached", "max passes" or "no improvement"."""
    timings: Annotated[dict[str, float], add_timings]
    """Seconds spent per kind of work: planning (LLM), generating, scoring."""
