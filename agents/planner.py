"""The planner: a goal (or a chat edit of a plan) becomes a validated ``Plan``.

The language model answers with structured output; the answer is validated against the
``Plan`` schema (regions inside the canvas, unique names, an acyclic task graph) and sent
back with the error when it fails, up to ``retries`` times, then ``LLMOutputError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from pakati.agents import prompts
from pakati.agents.schemas import Plan, new_id
from pakati.agents.structured import DEFAULT_RETRIES, invoke_structured
from pakati_engine.errors import InvalidInputError
from pakati_engine.world.sampling import spatial_phrase, spatial_word

if TYPE_CHECKING:
    from pakati_engine.providers.registry import Registry

DEFAULT_CANVAS = (128, 128)


def make_plan(
    llm: BaseChatModel,
    goal: str,
    width: int = DEFAULT_CANVAS[0],
    height: int = DEFAULT_CANVAS[1],
    *,
    method: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> Plan:
    """Plan ``goal`` on a ``width`` x ``height`` canvas (the model may not change the size).

    An empty goal is refused: a planner given only the prompt's own text would plan that
    (regions named after the prompt's words)."""
    if not goal.strip():
        raise InvalidInputError("the goal is empty: say what the image should show")
    messages = [
        SystemMessage(content=prompts.PLANNER_SYSTEM),
        HumanMessage(content=prompts.planner_request(goal, width, height, usable_models())),
    ]

    def same_canvas(plan: Plan) -> None:
        if (plan.width, plan.height) != (width, height):
            raise ValueError(f"the canvas must be {width}x{height}, not {plan.width}x{plan.height}")
        check_region_models(plan)

    plan = invoke_structured(llm, Plan, messages, method=method, retries=retries, check=same_canvas)
    return plan.model_copy(update={"id": new_id("plan"), "goal": goal})


def edit_plan(
    llm: BaseChatModel,
    plan: Plan,
    instruction: str,
    *,
    method: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> Plan:
    """The plan changed as ``instruction`` asks ("now make the circle green")."""
    if not instruction.strip():
        raise InvalidInputError("the instruction is empty: say what to change")
    messages = [
        SystemMessage(content=prompts.EDIT_SYSTEM),
        HumanMessage(
            content=prompts.edit_request(
                plan.model_dump_json(exclude={"id"}), instruction, usable_models()
            )
        ),
    ]
    edited = invoke_structured(
        llm, Plan, messages, method=method, retries=retries, check=check_region_models
    )
    return edited.model_copy(update={"id": new_id("plan"), "goal": describe_plan(edited)})


def usable_models(registry: Registry | None = None) -> str:
    """The image models usable now, one line each, for the planner's prompt; with no key
    (or offline) only local models are listed, and the list says why."""
    from pakati_engine.errors import InvalidInputError
    from pakati_engine.providers.registry import Registry

    try:
        registry = registry or Registry()
        statuses = registry.list()
    except InvalidInputError:  # a bad user card file: said when a region names a model
        return ""
    statuses = [a for a in statuses if a.card.kind == "image" and a.card.provider != "none"]
    lines = []
    for status in statuses:
        if status.available:
            card = status.card
            where = "local" if card.provider == "local" else f"{card.provider}, remote"
            measured = "" if card.quality is None else f", measured quality {card.quality:.2f}"
            lines.append(f"- {card.id} ({where}: {', '.join(card.tasks)}{measured})")
    if not any(a.available and a.card.provider != "local" for a in statuses):
        why = "offline" if registry.offline else "no API key is set"
        lines.append(f"(no remote image model is usable here: {why}; local models only)")
    return "\n".join(lines)


def check_region_models(plan: Plan) -> None:
    """A region's ``model`` must name an image model of the registry (``pakati models``),
    or be ``"auto"`` (the registry chooses when the canvas is drawn).

    A name Pakati does not know, or a model that makes no images (Claude) or has no API
    (Midjourney), is sent back to the language model with the usable names; a known model
    without a key here is fine: the canvas lets another model stand in and says so.
    """
    named = [region for region in plan.regions if region.model]
    if not named:
        return
    from pakati_engine.providers.registry import Registry

    registry = Registry()
    usable = ", ".join(a.card.id for a in registry.list() if a.available)
    for region in named:
        assert region.model is not None
        if region.model.strip().lower() == "auto":
            continue
        card = registry.card(region.model)
        if card is None or card.kind != "image" or card.provider == "none":
            why = "no such model" if card is None else card.note
            raise ValueError(
                f"region {region.name!r}: model {region.model!r} cannot draw it ({why}); "
                f"use one of {usable}, or leave model empty for the canvas model"
            )


def describe_plan(plan: Plan) -> str:
    """A caption of the plan in the shapes world's style, used as the goal after an edit:
    "a green circle on the left and a blue square on the right, on a white background"."""
    parts = []
    for region in plan.regions:
        x0, y0, x1, y1 = region.bounds
        word = spatial_word((x0 + x1) / 2, (y0 + y1) / 2, plan.width, plan.height)
        parts.append(f"{region.prompt} {spatial_phrase(word)}")
    if not parts:  # every object removed: the background alone
        return plan.base_prompt
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{body}, on {plan.base_prompt}" if plan.base_prompt else body
