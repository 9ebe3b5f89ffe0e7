"""The whole agent loop with scripted chat models, a scripted scorer and a tiny model.

The scorer's cosines are scripted per pass so that each test decides when the target is
reached; generation, locking, regional regeneration and checkpointing are real.
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import BaseMessage
from PIL import Image

from pakati.graphs import (
    Services,
    build_graph,
    delivered_pass,
    initial_state,
    open_checkpointer,
    recursion_limit,
    run_agent_graph,
    run_config,
)
from pakati.tools.session import CanvasSession
from tests.agent_fakes import (
    ScriptedChatModel,
    ScriptedScorer,
    cosine_critic,
    pass_scores,
    plan_args,
    reseed_args,
    tool_answer,
)

GOAL = "a red circle on the left and a blue square on the right, white background"
PROMPTS = ("a red circle", "a blue square")


def run(tmp_path, sd_bundle, llm, scorer, *, target=0.3, max_passes=4, thread="t", **kw):
    session = CanvasSession(tmp_path / "run", model=sd_bundle, scorer=scorer)
    services = Services(llm=llm, session=session, critic=cosine_critic, **kw)
    updates: list[tuple[str, dict]] = []
    with open_checkpointer(tmp_path / "ckpt.sqlite") as saver:
        graph = build_graph(services, saver)
        final = run_agent_graph(
            graph,
            initial_state(GOAL, target, max_passes, 64, 64),
            run_config(thread, max_passes),
            lambda node, update: updates.append((node, update)),
        )
    return final, updates, session


def scripted_llm(refinements: int) -> ScriptedChatModel:
    answers: list[BaseMessage] = [tool_answer("Plan", plan_args(), "p")]
    answers += [
        tool_answer("RefinementActions", reseed_args("square"), f"r{i}") for i in range(refinements)
    ]
    llm = ScriptedChatModel(responses=answers)
    llm.seen = []
    return llm


def test_target_reached_regenerates_only_the_failing_region(tmp_path, sd_bundle):
    # Pass 1: circle passes (0.5), square fails (0.0); pass 2 everything scores 0.5.
    scorer = ScriptedScorer({GOAL: [0.1, 0.5], "a red circle": [0.5], "a blue square": [0.0, 0.5]})
    final, updates, _ = run(tmp_path, sd_bundle, scripted_llm(1), scorer)
    assert final["stop_reason"] == "target reached"
    assert final["pass_number"] == 2 and len(final["scores"]) == 2
    assert final["scores"][0] == pytest.approx((0.1 + 0.25) / 2)
    assert final["scores"][1] == pytest.approx(0.5)
    assert [n for n, _ in updates] == [
        "planner",
        "executor",
        "critic",
        "refiner",
        "executor",
        "critic",
    ]
    assert final["pending"]["regenerate"] == ["square"] and not final["pending"]["full"]
    assert final["changes"][0][0].startswith("reseed square")
    first, second = (np.asarray(Image.open(p).convert("RGB")) for p in final["images"])
    # The passing circle was locked: its pixels are byte-identical; the square changed.
    assert np.array_equal(first[16:44, 2:30], second[16:44, 2:30])
    assert not np.array_equal(first[16:44, 34:62], second[16:44, 34:62])
    assert final["plan"]["regions"][1]["seed"] == 11
    assert set(final["timings"]) == {"planning", "generating", "scoring"}


def test_stops_at_max_passes(tmp_path, sd_bundle):
    scorer = pass_scores([0.05, 0.1, 0.15, 0.2], GOAL, PROMPTS)
    llm = scripted_llm(2)
    final, updates, _ = run(tmp_path, sd_bundle, llm, scorer, max_passes=3)
    assert final["stop_reason"] == "max passes"
    assert final["pass_number"] == 3
    assert final["scores"] == pytest.approx([0.05, 0.1, 0.15])
    assert len(llm.seen) == 3  # one plan, two refinements
    assert sum(1 for n, _ in updates if n == "executor") == 3


def test_stops_when_scores_stop_improving(tmp_path, sd_bundle):
    scorer = pass_scores([0.2, 0.1, 0.15, 0.25], GOAL, PROMPTS)
    final, _, _ = run(tmp_path, sd_bundle, scripted_llm(3), scorer, max_passes=5, patience=2)
    assert final["stop_reason"] == "no improvement"
    assert final["scores"] == pytest.approx([0.2, 0.1, 0.15])


def test_recursion_limit_is_explicit_and_covers_max_passes():
    config = run_config("x", 5)
    assert config["recursion_limit"] == recursion_limit(5) == 1 + 3 * 5 + 2
    with pytest.raises(ValueError):
        initial_state(GOAL, 0.3, 0, 64, 64)


def test_crashed_run_resumes_from_sqlite_without_redoing_finished_passes(tmp_path, sd_bundle):
    checkpoint = tmp_path / "ckpt.sqlite"
    config = run_config("crash", 3)
    # Critic calls per pass: 1 global + 2 regions; call 4 is pass 2's global score.
    crashing = ScriptedScorer({GOAL: [0.05, 0.1, 0.2]}, fail_on_call=4)
    session = CanvasSession(tmp_path / "run", model=sd_bundle, scorer=crashing)
    with open_checkpointer(checkpoint) as saver:
        services = Services(llm=scripted_llm(2), session=session, critic=cosine_critic)
        graph = build_graph(services, saver)
        with pytest.raises(RuntimeError, match="simulated"):
            run_agent_graph(graph, initial_state(GOAL, 0.9, 3, 64, 64), config)
        stopped = graph.get_state(config)
    assert stopped.next == ("critic",)
    assert stopped.values["pass_number"] == 2 and len(stopped.values["scores"]) == 1
    images = [tmp_path / "run" / f"pass-{i}.png" for i in (1, 2)]
    stamps = [p.stat().st_mtime_ns for p in images]

    # A new process: fresh services; the model script has no plan answer, so re-planning
    # (or re-running pass 1's refiner) would fail.
    llm = ScriptedChatModel(
        responses=[tool_answer("RefinementActions", reseed_args("square"), "r")]
    )
    llm.seen = []
    resumed = ScriptedScorer({GOAL: [0.1, 0.2]})
    session = CanvasSession(tmp_path / "run", model=sd_bundle, scorer=resumed)
    seen: list[str] = []
    with open_checkpointer(checkpoint) as saver:
        graph = build_graph(Services(llm=llm, session=session, critic=cosine_critic), saver)
        final = run_agent_graph(graph, None, config, lambda node, _: seen.append(node))
    assert seen == ["critic", "refiner", "executor", "critic"]
    assert [p.stat().st_mtime_ns for p in images] == stamps  # passes 1-2 not regenerated
    assert final["pass_number"] == 3 and final["stop_reason"] == "max passes"
    assert final["scores"][0] == pytest.approx(0.05 / 2)
    assert len(final["images"]) == 3 and len(llm.seen) == 1


def test_a_move_regenerates_the_old_place_as_background(tmp_path, sd_bundle):
    move = {
        "actions": [{"kind": "move", "region": "square", "box": [34, 2, 62, 30]}],
        "note": "move up",
    }
    llm = ScriptedChatModel(
        responses=[
            tool_answer("Plan", plan_args(), "p"),
            tool_answer("RefinementActions", move, "r"),
        ]
    )
    scorer = ScriptedScorer({GOAL: [0.0, 0.9], "a red circle": [0.9], "a blue square": [0.0, 0.9]})
    final, _, _ = run(tmp_path, sd_bundle, llm, scorer)
    assert final["pending"]["vacated"] == {"square": [34.0, 16.0, 62.0, 44.0]}
    first, second = (np.asarray(Image.open(p).convert("RGB")) for p in final["images"])
    assert np.array_equal(first[16:44, 2:30], second[16:44, 2:30])  # circle kept
    assert not np.array_equal(first[40:44, 34:62], second[40:44, 34:62])  # old place redrawn
    assert final["plan"]["regions"][1]["box"] == [34.0, 2.0, 62.0, 30.0]


def _critique(passed: bool, failing_regions: int, extras: int = 0) -> dict[str, object]:
    regions = [{"name": f"r{i}", "passed": i >= failing_regions} for i in range(3)]
    return {"passed": passed, "regions": regions, "extras": [[0, 0, 4, 4]] * extras}


def test_the_delivered_pass_is_the_last_accepted_else_the_one_with_fewest_failed_checks():
    accepted = {
        "critiques": [_critique(True, 0), _critique(False, 1), _critique(True, 0)],
        "scores": [0.5, 0.9, 0.4],
    }
    assert delivered_pass(accepted) == 2  # type: ignore[arg-type]
    rejected = {
        "critiques": [_critique(False, 2), _critique(False, 1), _critique(False, 1, extras=1)],
        "scores": [0.9, 0.5, 0.8],
    }
    assert delivered_pass(rejected) == 1  # type: ignore[arg-type]
    tied = {"critiques": [_critique(False, 1), _critique(False, 1)], "scores": [0.5, 0.7]}
    assert delivered_pass(tied) == 1  # type: ignore[arg-type]
    # As many failed checks: the pass whose worst region is nearest its prompt wins.
    near, far = _critique(False, 1), _critique(False, 1)
    near["regions"][0]["margin_rival"], far["regions"][0]["margin_rival"] = -0.02, -0.3  # type: ignore[index]
    margins = {"critiques": [far, near], "scores": [0.9, 0.5]}
    assert delivered_pass(margins) == 1  # type: ignore[arg-type]
