"""The offline planner on spatial phrasings, plan validation, retries and provider choice."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from pakati.agents.offline import OfflinePlannerModel, edit_plan, plan_from_goal, refine_actions
from pakati.agents.planner import make_plan
from pakati.agents.providers import make_chat_model, resolve_provider
from pakati.agents.schemas import Critique, Plan, RegionVerdict, RelationVerdict
from pakati.agents.structured import LLMOutputError
from tests.agent_fakes import ScriptedChatModel, plan_args, tool_answer


def centre(plan: Plan, name: str) -> tuple[float, float]:
    x0, y0, x1, y1 = plan.region(name).bounds
    return ((x0 + x1) / 2 / plan.width, (y0 + y1) / 2 / plan.height)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# (goal, {region: (expected x zone, expected y zone)}, base prompt); zones: 0 low, 1 mid, 2 high
SPATIAL_TABLE = [
    (
        "a red circle on the left and a blue square on the right, white background",
        {"red-circle": (0, 1), "blue-square": (2, 1)},
        "a white background",
    ),
    (
        "a small green triangle in the top right corner on a black background",
        {"green-triangle": (2, 0)},
        "a black background",
    ),
    ("a yellow circle in the centre", {"yellow-circle": (1, 1)}, ""),
    (
        "a purple square at the top, an orange circle in the bottom left and a red triangle "
        "in the bottom right",
        {"purple-square": (1, 0), "orange-circle": (0, 2), "red-triangle": (2, 2)},
        "",
    ),
    (
        "a blue circle in the upper left, a green square in the lower right, yellow background",
        {"blue-circle": (0, 0), "green-square": (2, 2)},
        "a yellow background",
    ),
    ("a boat above the lake", {"boat": (1, 0), "lake": (1, 2)}, ""),
    ("Draw a red circle left of a blue square", {"red-circle": (0, 1), "blue-square": (2, 1)}, ""),
    ("a white square below a black circle", {"white-square": (1, 2), "black-circle": (1, 0)}, ""),
]


def zone(fraction: float) -> int:
    return 0 if fraction < 0.4 else (2 if fraction > 0.6 else 1)


@pytest.mark.parametrize(("goal", "expected", "base"), SPATIAL_TABLE)
def test_offline_planner_turns_spatial_language_into_geometry(goal, expected, base):
    plan = plan_from_goal(goal, 128, 128)
    assert {r.name for r in plan.regions} == set(expected)
    assert plan.base_prompt == base
    for name, (zx, zy) in expected.items():
        cx, cy = centre(plan, name)
        assert (zone(cx), zone(cy)) == (zx, zy), (name, cx, cy)
    boxes = [r.bounds for r in plan.regions]
    for i, a in enumerate(boxes):
        assert 0 <= a[0] < a[2] <= 128 and 0 <= a[1] < a[3] <= 128
        for b in boxes[i + 1 :]:
            assert not overlap(a, b), (a, b)


def test_size_words_change_box_size_and_prompts_are_canonical():
    small = plan_from_goal("a small red circle in the centre", 128, 128).regions[0]
    big = plan_from_goal("a big red circle in the centre", 128, 128).regions[0]
    side = lambda r: r.bounds[2] - r.bounds[0]  # noqa: E731
    assert side(small) < side(big)
    assert small.prompt == big.prompt == "a red circle"
    assert (small.size, big.size) == ("small", "large")
    assert plan_from_goal("a red circle in the centre", 128, 128).regions[0].size is None


def test_relations_are_enforced_by_the_layout_solver():
    plan = plan_from_goal("a sun above the house, the house on the left", 128, 128)
    sun, house = plan.region("sun").bounds, plan.region("house").bounds
    assert sun[3] <= house[1]  # entirely above


def test_plan_validation_rejects_regions_outside_the_canvas_and_cycles():
    with pytest.raises(ValueError, match="outside"):
        Plan.model_validate(
            plan_args(regions=[{"name": "a", "box": [0, 0, 90, 20], "prompt": "x"}])
        )
    tasks = [
        {"id": "a", "task_type": "generation", "depends_on": ["b"]},
        {"id": "b", "task_type": "inpainting", "regions": ["circle"], "depends_on": ["a"]},
    ]
    with pytest.raises(ValueError, match="cycle"):
        Plan.model_validate(plan_args(tasks=tasks))


def test_task_dag_runs_in_dependency_order():
    tasks = [
        {"id": "polish", "task_type": "refinement", "regions": ["circle"], "depends_on": ["fix"]},
        {"id": "fix", "task_type": "inpainting", "regions": ["square"], "depends_on": ["base"]},
        {"id": "base", "task_type": "generation"},
    ]
    plan = Plan.model_validate(plan_args(tasks=tasks))
    assert [t.id for t in plan.execution_order()] == ["base", "fix", "polish"]


def test_offline_model_answers_through_structured_output():
    plan = make_plan(OfflinePlannerModel(), "a red circle on the left", 96, 64)
    assert (plan.width, plan.height) == (96, 64)
    assert plan.goal == "a red circle on the left"
    assert plan.regions[0].prompt == "a red circle"


@pytest.mark.parametrize(
    ("instruction", "check"),
    [
        (
            "now make the circle green",
            lambda old, new: new.region("red-circle").prompt == "a green circle",
        ),
        (
            "keep the square, enlarge the circle",
            lambda old, new: (
                (new.region("red-circle").bounds[2] - new.region("red-circle").bounds[0])
                > (old.region("red-circle").bounds[2] - old.region("red-circle").bounds[0])
            ),
        ),
        ("remove the square", lambda old, new: [r.name for r in new.regions] == ["red-circle"]),
        ("add a green triangle at the top", lambda old, new: len(new.regions) == 3),
    ],
)
def test_chat_edits_change_only_what_they_name(instruction, check):
    old = plan_from_goal("a red circle on the left and a blue square on the right", 128, 128)
    new = edit_plan(old, instruction)
    assert check(old, new)
    if "square" not in instruction or "keep" in instruction:
        assert new.region("blue-square") == old.region("blue-square")


def test_offline_refiner_reseeds_only_failing_regions():
    plan = plan_from_goal("a red circle on the left and a blue square on the right", 128, 128)
    verdicts = [
        RegionVerdict(
            name="red-circle", prompt="a red circle", score=0.1, clip_score=10, passed=False
        ),
        RegionVerdict(
            name="blue-square", prompt="a blue square", score=0.5, clip_score=50, passed=True
        ),
    ]
    critique = Critique(score=0.2, global_score=0.2, clip_score=20, regions=verdicts, passed=False)
    actions = refine_actions(plan, critique, 2).actions
    assert {a.region for a in actions} == {"red-circle"}
    assert any(a.kind == "reseed" for a in actions)


@pytest.mark.parametrize("size", ["small", "large"])
def test_offline_refiner_resizes_a_mis_sized_region_the_way_its_word_asks(size):
    plan = plan_from_goal(f"a {size} red circle on the left and a blue square on the right")
    circle = plan.region("red-circle")
    verdicts = [
        RegionVerdict(
            name=r.name, prompt=r.prompt, score=0.5, clip_score=50, passed=r is not circle
        )
        for r in plan.regions
    ]
    verdicts[0] = verdicts[0].model_copy(update={"problem": "mis-sized"})
    critique = Critique(score=0.5, global_score=0.5, clip_score=50, regions=verdicts, passed=False)
    actions = refine_actions(plan, critique, 2).actions
    (resize,) = [a for a in actions if a.kind == "resize"]
    assert resize.region == "red-circle" and resize.box is not None
    old, new = circle.bounds[2] - circle.bounds[0], resize.box[2] - resize.box[0]
    assert new < old if size == "small" else new > old


# Malformed answers: retried with the error in the conversation, then a clear error. ----------


def test_bad_json_then_valid_plan_is_retried_with_the_error():
    bad = AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": "Plan",
                "args": "{not json",
                "id": "c1",
                "error": "bad",
                "type": "invalid_tool_call",
            }
        ],
    )
    llm = ScriptedChatModel(responses=[bad, tool_answer("Plan", plan_args(), "c2")])
    llm.seen = []
    plan = make_plan(llm, "goal", 64, 64)
    assert plan.regions[0].name == "circle"
    assert len(llm.seen) == 2
    assert "could not be used" in str(llm.seen[1][-1].content)


def test_region_outside_canvas_is_sent_back_then_fixed():
    outside = plan_args(regions=[{"name": "c", "box": [40, 0, 100, 30], "prompt": "a red circle"}])
    llm = ScriptedChatModel(
        responses=[tool_answer("Plan", outside, "c1"), tool_answer("Plan", plan_args(), "c2")]
    )
    llm.seen = []
    make_plan(llm, "goal", 64, 64)
    feedback = llm.seen[1][-1]
    assert isinstance(feedback, ToolMessage) and feedback.tool_call_id == "c1"
    assert "outside" in str(feedback.content)


def test_unknown_tool_and_persistent_garbage_fail_clearly():
    answers: list[BaseMessage] = [tool_answer("delete_everything", {}, f"c{i}") for i in range(3)]
    llm = ScriptedChatModel(responses=answers)
    llm.seen = []
    with pytest.raises(LLMOutputError, match="unknown tool 'delete_everything'"):
        make_plan(llm, "goal", 64, 64, retries=2)
    assert len(llm.seen) == 3
    text = ScriptedChatModel(responses=[AIMessage(content="I think a circle")] * 2)
    with pytest.raises(LLMOutputError, match="2 attempts"):
        make_plan(text, "goal", 64, 64, retries=1)


def test_wrong_canvas_size_is_rejected_and_retried():
    llm = ScriptedChatModel(
        responses=[
            tool_answer("Plan", plan_args(96, 96), "c1"),
            tool_answer("Plan", plan_args(), "c2"),
        ]
    )
    llm.seen = []
    assert make_plan(llm, "goal", 64, 64).width == 64
    assert "must be 64x64" in str(llm.seen[1][-1].content)


# Providers ----------------------------------------------------------------------------------


def test_provider_choice_from_env_and_dotenv(tmp_path):
    assert resolve_provider(env={}, dotenv=None).provider == "offline"
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# keys\nPAKATI_API_KEY_ANTHROPIC='sk-ant-secret'\nPAKATI_LLM_MODEL=claude-x\n"
    )
    config = resolve_provider(env={}, dotenv=dotenv)
    assert (config.provider, config.model) == ("anthropic", "claude-x")
    assert "sk-ant-secret" not in config.describe() and "sk-ant-secret" not in repr(config)
    both = resolve_provider(env={"PAKATI_API_KEY_OPENAI": "sk-o"}, dotenv=dotenv)
    assert both.provider == "openai"  # the environment wins over .env
    local = resolve_provider(env={"PAKATI_OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, dotenv=None)
    assert local.provider == "openai-compatible"
    with pytest.raises(Exception, match="PAKATI_API_KEY_OPENAI"):
        resolve_provider("openai", env={}, dotenv=None)
    assert isinstance(make_chat_model(resolve_provider(env={}, dotenv=None)), OfflinePlannerModel)


def test_offline_model_without_tools_answers_text():
    reply = OfflinePlannerModel().invoke([HumanMessage(content="hello")])
    assert "offline" in str(reply.content)


def test_edit_names_the_object_not_a_region_of_the_new_colour():
    old = plan_from_goal("a green circle on the left and a blue square on the right", 64, 64)
    new = edit_plan(old, "now make the square green")
    assert new.region("blue-square").prompt == "a green square"
    assert new.region("green-circle") == old.region("green-circle")


@pytest.mark.parametrize(
    ("goal", "zoomed"), [("a small red circle", True), ("a red circle", False)]
)
def test_a_small_region_drawn_wrong_is_redrawn_zoomed_in(goal, zoomed):
    plan = plan_from_goal(f"{goal} in the top left, a blue square at the top and a green circle")
    verdicts = [
        RegionVerdict(
            name=r.name,
            prompt=r.prompt,
            score=0.5,
            clip_score=50,
            passed=r.name != "red-circle",
            problem=None if r.name != "red-circle" else "wrong",
        )
        for r in plan.regions
    ]
    critique = Critique(score=0.5, global_score=0.5, clip_score=50, regions=verdicts, passed=False)
    kinds = {(a.kind, a.region) for a in refine_actions(plan, critique, 2).actions}
    assert ("reseed", "red-circle") in kinds
    assert (("zoom", "red-circle") in kinds) is zoomed


def test_a_relation_the_boxes_break_moves_the_subject_with_the_solver():
    plan = plan_from_goal("a red circle left of a blue square")
    (relation,) = plan.relations
    circle, square = plan.region("red-circle"), plan.region("blue-square")
    swapped = plan.model_copy(
        update={
            "regions": [
                circle.model_copy(update={"box": square.box}),
                square.model_copy(update={"box": circle.box}),
            ]
        }
    )
    verdicts = [
        RegionVerdict(name=r.name, prompt=r.prompt, score=0.5, clip_score=50, passed=True)
        for r in plan.regions
    ]
    broken = RelationVerdict(relation=relation, holds=False, detail="does not hold")
    critique = Critique(
        score=0.5, global_score=0.5, clip_score=50, regions=verdicts, passed=False,
        relations=[broken],
    )  # fmt: skip
    moves = [a for a in refine_actions(swapped, critique, 2).actions if a.kind == "move"]
    assert [a.region for a in moves] == ["red-circle"] and moves[0].box is not None
    new_centre = (moves[0].box[0] + moves[0].box[2]) / 2
    square_box = swapped.region("blue-square").bounds
    assert new_centre < (square_box[0] + square_box[2]) / 2
    # Boxes that keep the relation are not moved: only the drawing was wrong.
    kept = [a for a in refine_actions(plan, critique, 2).actions if a.kind == "move"]
    assert kept == []
