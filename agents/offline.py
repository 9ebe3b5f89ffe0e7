"""The offline planner/refiner: a rule-based LangChain chat model, the default with no API key.

It answers the same structured-output requests as a real model (a tool call to ``Plan`` or
``RefinementActions``), so the graph cannot tell it from one and every code path (binding,
parsing, validation, retries) is the same. Which job it does is decided by the bound tool;
its inputs are the JSON blocks that ``agents.prompts`` puts in the request.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from pakati.agents import prompts
from pakati.agents.schemas import (
    COMPARATIVE,
    Critique,
    Plan,
    PlanRelation,
    RefinementAction,
    RefinementActions,
    RegionPlan,
    SizeWord,
)
from pakati.agents.spatial import (
    ANCHORS,
    layout_objects,
    parse_goal,
    parse_object,
    relation_target,
)
from pakati_engine.solver import PlacementSpec, Relation, solve_layout
from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.goal_judge import centres_keep

DEFAULT_SIZE = 128


def _floats(box: Sequence[float]) -> tuple[float, float, float, float]:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def plan_from_goal(goal: str, width: int = DEFAULT_SIZE, height: int = DEFAULT_SIZE) -> Plan:
    """The rule-based plan of a goal: background, one region per object, solved layout."""
    parsed = parse_goal(goal)
    boxes = layout_objects(parsed.objects, width, height)
    regions = [
        RegionPlan(
            name=o.name, box=_floats(boxes[o.name]), prompt=o.prompt, size=_size_word(o.scale)
        )
        for o in parsed.objects
    ]
    relations = []
    for obj in parsed.objects:
        other = relation_target(parsed.objects, obj)
        if obj.relation is not None and other is not None:
            kind = obj.relation[0]
            relations.append(PlanRelation(subject=obj.name, kind=kind, object=other.name))
    return Plan(
        goal=goal,
        width=width,
        height=height,
        base_prompt=parsed.base_prompt,
        regions=regions,
        relations=relations,
    )


def _size_word(scale: float) -> SizeWord | None:
    """The size the critic checks for a parsed scale ("tiny" and "small" are both small)."""
    return "small" if scale < 1.0 else "large" if scale > 1.0 else None


# Chat edits --------------------------------------------------------------------------------

_SCALE_WORDS = {
    "enlarge": 1.3, "bigger": 1.3, "larger": 1.3, "grow": 1.3,
    "shrink": 0.75, "smaller": 0.75, "reduce": 0.75,
}  # fmt: skip
_SPLIT = re.compile(r"\s*(?:,|;|\bthen\b|\band\b)\s*")


def edit_plan(plan: Plan, instruction: str) -> Plan:
    """Apply a plain-language edit ("make the circle green", "enlarge the circle") to a plan.

    Regions the instruction does not mention keep their name, box and prompt; changed boxes
    are placed by the layout solver with the untouched regions fixed.
    """
    regions = [r.model_copy() for r in plan.regions]
    moved: set[str] = set()
    for clause in (c for c in _SPLIT.split(instruction.lower()) if c.strip()):
        words = re.findall(r"[a-z]+", clause)
        if not words or words[0] == "keep":
            continue
        target = _match_region(regions, words)
        if words[0] in ("add", "also") or (target is None and "add" in words):
            added = parse_object(clause.split("add", 1)[-1])
            if added is not None:
                box = _anchor_box(plan, added.position or "centre", 0.36 * added.scale)
                regions.append(RegionPlan(name=added.name, box=box, prompt=added.prompt))
                moved.add(added.name)
            continue
        if target is None:
            continue
        index = regions.index(target)
        if words[0] in ("remove", "delete", "drop"):
            regions.pop(index)
            continue
        colour = next((w for w in words if w in COLOR_NAMES), None)
        if colour is not None:
            regions[index] = _recolour(target, colour)
        scale = next((_SCALE_WORDS[w] for w in words if w in _SCALE_WORDS), None)
        if scale is not None:
            regions[index] = _scaled(regions[index], scale, plan)
            moved.add(target.name)
        place = parse_object("x " + clause)
        if place is not None and place.position and "move" in words:
            side = regions[index].bounds[2] - regions[index].bounds[0]
            regions[index] = regions[index].model_copy(
                update={
                    "box": _anchor_box(plan, place.position, side / min(plan.width, plan.height))
                }
            )
            moved.add(target.name)
    regions = _resolve(plan, regions, moved)
    return plan.model_copy(update={"regions": regions, "tasks": []})


_STOP = {"a", "an", "the", "now", "make", "it", "to", "and", "of", "please", "turn", "change"}


def _match_region(regions: list[RegionPlan], words: list[str]) -> RegionPlan | None:
    """The region an instruction names: object words first, colour words break ties
    ("make the square green" must not pick a green circle)."""
    wanted = set(words) - _STOP
    nouns = wanted - set(COLOR_NAMES)

    def score(region: RegionPlan) -> tuple[int, int]:
        own = set(re.findall(r"[a-z]+", f"{region.prompt} {region.name}")) - _STOP
        return (len(own & nouns), len(own & wanted))

    best = max(regions, key=score, default=None)
    return best if best is not None and score(best) > (0, 0) else None


def _recolour(region: RegionPlan, colour: str) -> RegionPlan:
    words = region.prompt.split()
    words = [colour if w in COLOR_NAMES else w for w in words]
    if colour not in words:
        words.insert(1 if words[0] in ("a", "an") else 0, colour)
    if words[0] in ("a", "an"):
        words[0] = "an" if colour[0] in "aeiou" else "a"
    return region.model_copy(update={"prompt": " ".join(words)})


def _scaled(region: RegionPlan, scale: float, plan: Plan) -> RegionPlan:
    x0, y0, x1, y1 = region.bounds
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    box = (
        max(0.0, cx - hw),
        max(0.0, cy - hh),
        min(plan.width, cx + hw),
        min(plan.height, cy + hh),
    )
    return region.model_copy(update={"box": box, "polygon": None})


def _anchor_box(plan: Plan, word: str, fraction: float) -> tuple[float, float, float, float]:
    fx, fy = ANCHORS[word]
    half = fraction * min(plan.width, plan.height) / 2
    cx, cy = fx * plan.width, fy * plan.height
    return (
        max(0.0, cx - half),
        max(0.0, cy - half),
        min(plan.width, cx + half),
        min(plan.height, cy + half),
    )


def _resolve(plan: Plan, regions: list[RegionPlan], moved: set[str]) -> list[RegionPlan]:
    """Let the solver fit changed boxes around the fixed, untouched ones."""
    if not moved or len(regions) < 2:
        return regions
    specs = [PlacementSpec(r.name, _floats(r.bounds), fixed=r.name not in moved) for r in regions]
    result = solve_layout(specs, (plan.width, plan.height), margin=1.0)
    if not result.success:
        return regions
    out = []
    for region in regions:
        if region.name in moved:
            box = tuple(float(round(v)) for v in result.solution[region.name])
            region = region.model_copy(update={"box": box, "polygon": None})
        out.append(region)
    return out


# Refinement -------------------------------------------------------------------------------


def refine_actions(plan: Plan, critique: Critique, pass_number: int) -> RefinementActions:
    """Rule-based repairs for what the critic found, and only for that.

    Every failing region gets a new seed (the cheapest lever and, for a small model, the
    most effective one); a region that looks empty also gets more weight, is redrawn zoomed
    in when its box is at most half the canvas, and gets a larger box when it is tiny; a
    region whose object breaks its size word gets a smaller (larger) box; a small region
    drawn wrong is redrawn zoomed in; an
    object outside every region (a duplicate or a misplaced one) is redrawn as background;
    a wrong background is redrawn with the objects locked; the two regions of a relation
    that does not hold are redrawn, and when the boxes themselves break it the subject's
    box is moved there by the layout solver. Three passes with every region failing raise the step
    count.
    """
    actions: list[RefinementAction] = []
    for verdict in critique.regions:
        if verdict.passed:
            continue
        region = plan.region(verdict.name)
        actions.append(_reseed(region, pass_number, verdict.problem or "failed check"))
        if verdict.problem == "missing":
            if region.weight < 2.0:
                weight = min(2.0, region.weight + 0.5)
                actions.append(
                    RefinementAction(
                        kind="weight", region=region.name, value=weight, reason="looks empty"
                    )
                )
            x0, y0, x1, y1 = region.bounds
            if max(x1 - x0, y1 - y0) <= 0.5 * min(plan.width, plan.height):
                actions.append(
                    RefinementAction(kind="zoom", region=region.name, reason="small and empty")
                )
            if min(x1 - x0, y1 - y0) < 0.2 * min(plan.width, plan.height):
                bigger = _scaled(region, 1.25, plan).box
                actions.append(
                    RefinementAction(
                        kind="resize", region=region.name, box=bigger, reason="box too small"
                    )
                )
        elif verdict.problem == "wrong" and _small(region, plan):
            actions.append(
                RefinementAction(kind="zoom", region=region.name, reason="small and drawn wrong")
            )
        elif verdict.problem == "mis-sized":
            scale = 0.75 if region.size == "small" else 1.3
            actions.append(
                RefinementAction(
                    kind="resize",
                    region=region.name,
                    box=_scaled(region, scale, plan).box,
                    reason=f"should be {COMPARATIVE[region.size or 'large']} than the others",
                )
            )
    for box in critique.extras:
        actions.append(
            RefinementAction(kind="clear", box=_floats(box), reason="object outside every region")
        )
    if critique.background_ok is False:
        actions.append(RefinementAction(kind="background", reason="wrong background"))
    failing = {v.name for v in critique.regions if not v.passed}
    for relation in critique.relations:
        if relation.holds:
            continue
        moved = _moved_for(plan, relation.relation)
        if moved is not None:
            actions.append(moved)
        for name in (relation.relation.subject, relation.relation.object):
            if name not in failing:
                failing.add(name)
                actions.append(_reseed(plan.region(name), pass_number, "relation does not hold"))
    if critique.regions and all(not v.passed for v in critique.regions) and pass_number >= 3:
        actions.append(
            RefinementAction(kind="steps", value=min(50, plan.steps + 5), reason="nothing passes")
        )
    note = f"{len(actions)} change(s) for {len(critique.failing)} failing region(s)"
    return RefinementActions(actions=actions, note=note)


def _moved_for(plan: Plan, relation: PlanRelation) -> RefinementAction | None:
    """A move of the relation's subject, placed by the layout solver with every other box
    fixed, when the boxes themselves break the relation (a plan from a language model can);
    None when they already keep it (then only the drawing is wrong: reseeds)."""
    if centres_keep(relation.kind, _centre(plan, relation.subject), _centre(plan, relation.object)):
        return None
    specs = [
        PlacementSpec(r.name, _floats(r.bounds), fixed=r.name != relation.subject)
        for r in plan.regions
    ]
    rule = Relation(kind=relation.kind, a=relation.subject, b=relation.object)
    result = solve_layout(specs, (plan.width, plan.height), [rule], margin=1.0)
    if not result.success:
        return None
    box = _floats([float(round(v)) for v in result.solution[relation.subject]])
    return RefinementAction(
        kind="move",
        region=relation.subject,
        box=box,
        reason=f"its box breaks '{relation.kind.replace('_', ' ')} {relation.object}'",
    )


def _centre(plan: Plan, name: str) -> tuple[float, float]:
    x0, y0, x1, y1 = plan.region(name).bounds
    return ((x0 + x1) / 2, (y0 + y1) / 2)


SMALL_BOX = 0.25
"""A box whose longer side is at most this share of the canvas is small: the model draws
its object in few pixels, and a redraw at the model's working size (zoom) gives the shape
room to come out right."""


def _small(region: RegionPlan, plan: Plan) -> bool:
    x0, y0, x1, y1 = region.bounds
    return max(x1 - x0, y1 - y0) <= SMALL_BOX * min(plan.width, plan.height)


def _reseed(region: RegionPlan, pass_number: int, reason: str) -> RefinementAction:
    seed = zlib.crc32(f"{region.name}:{pass_number}:{region.seed}".encode()) % 2**31
    return RefinementAction(kind="reseed", region=region.name, seed=seed, reason=reason)


# The chat model ---------------------------------------------------------------------------


class OfflinePlannerModel(BaseChatModel):
    """Rule-based stand-in for an LLM: answers ``Plan`` / ``RefinementActions`` tool calls."""

    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE

    @property
    def _llm_type(self) -> str:
        return "pakati-offline"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = kwargs.get("tools") or []
        names = [t["function"]["name"] for t in tools]
        request = next(
            (str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage)), ""
        )
        if "Plan" in names:
            args = self._plan(request).model_dump(mode="json", exclude={"id"})
            message = AIMessage(content="", tool_calls=[_call("Plan", args)])
        elif "RefinementActions" in names:
            args = self._refine(request).model_dump(mode="json")
            message = AIMessage(content="", tool_calls=[_call("RefinementActions", args)])
        else:
            message = AIMessage(content="Pakati's offline planner answers plan requests only.")
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _plan(self, request: str) -> Plan:
        current = prompts.section(request, prompts.MARKER_PLAN, (prompts.MARKER_INSTRUCTION,))
        if current:
            instruction = prompts.section(request, prompts.MARKER_INSTRUCTION)
            return edit_plan(Plan.model_validate_json(current), instruction)
        goal = prompts.section(request, prompts.MARKER_GOAL, (prompts.MARKER_CANVAS,)) or request
        size = prompts.section(request, prompts.MARKER_CANVAS)
        width, height = self.width, self.height
        if re.fullmatch(r"\d+x\d+", size):
            width, height = (int(v) for v in size.split("x"))
        return plan_from_goal(goal, width, height)

    def _refine(self, request: str) -> RefinementActions:
        plan_json = prompts.section(request, prompts.MARKER_PLAN, (prompts.MARKER_CRITIQUE,))
        critique_json = prompts.section(request, prompts.MARKER_CRITIQUE)
        number = prompts.section(request, prompts.MARKER_PASS, (prompts.MARKER_PLAN,))
        plan = Plan.model_validate_json(plan_json)
        critique = Critique.model_validate(json.loads(critique_json))
        return refine_actions(plan, critique, int(number or 1))


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "args": args,
        "id": f"offline-{zlib.crc32(json.dumps(args).encode())}",
        "type": "tool_call",
    }
