"""The goal judge on rendered scenes, and the agent eval's goals and summary."""

from __future__ import annotations

import pytest
from PIL import Image

from pakati.evals.agent_eval import CATEGORIES, make_goal, sample_goals, summarize
from pakati_engine.world.goal_judge import GoalObject, GoalRelation, GoalTruth, judge_goal
from pakati_engine.world.render import render
from pakati_engine.world.sampling import ObjectSpec, SceneSpec


def scene(objects, background: str = "white") -> Image.Image:
    """Objects as (shape, colour, centre x, centre y, size) on a 128 px canvas."""
    specs = tuple(ObjectSpec(s, c, x, y, size, (0, 0, 128, 128)) for s, c, x, y, size in objects)
    images, _ = render([SceneSpec(128, 128, background, specs)])
    return Image.fromarray(images[0])


TRUTH = GoalTruth(
    "white",
    (GoalObject("red", "circle", "left"), GoalObject("blue", "square", "right", "small")),
    (GoalRelation(0, "left_of", 1),),
)


def test_the_right_picture_is_right() -> None:
    judged = judge_goal(
        scene([("circle", "red", 24, 64, 34), ("square", "blue", 104, 64, 18)]), TRUTH
    )
    assert judged.correct and judged.matches == [0, 1] and not judged.extras


@pytest.mark.parametrize(
    ("objects", "background", "what"),
    [
        ([("circle", "red", 24, 64, 34)], "white", "missing"),
        ([("circle", "red", 104, 64, 34), ("square", "blue", 24, 64, 18)], "white", "misplaced"),
        ([("circle", "red", 24, 64, 34), ("square", "blue", 104, 64, 40)], "white", "size"),
        ([("circle", "red", 24, 64, 34), ("square", "blue", 104, 64, 18)], "yellow", "background"),
        (
            [("circle", "red", 24, 64, 34), ("square", "blue", 104, 64, 18),
             ("triangle", "green", 64, 20, 24)],
            "white",
            "extra",
        ),
        ([("square", "red", 24, 64, 34), ("square", "blue", 104, 64, 18)], "white", "shape"),
    ],
)  # fmt: skip
def test_wrong_pictures_are_wrong(objects, background, what) -> None:
    judged = judge_goal(scene(objects, background), TRUTH)
    assert not judged.correct
    if what == "missing":
        assert judged.matches[1] is None
    elif what == "misplaced":
        assert judged.placed == [False, False] and judged.relations == [False]
    elif what == "size":
        assert judged.sizes == [False]
    elif what == "background":
        assert not judged.background_ok and all(judged.objects_ok)
    elif what == "extra":
        assert len(judged.extras) == 1 and all(judged.objects_ok)
    else:
        assert judged.matches[0] is None


def test_goals_are_seeded_and_cover_every_category() -> None:
    goals = sample_goals(12, seed=3)
    assert [g.category for g in goals[: len(CATEGORIES)]] == list(CATEGORIES)
    assert [g.text for g in goals] == [g.text for g in sample_goals(12, seed=3)]
    five_six = make_goal("places_5_6", 0, 3)
    assert 5 <= len(five_six.truth.objects) <= 6
    assert all(o.position for o in five_six.truth.objects)
    related = make_goal("relations", 1, 3)
    assert related.truth.relations and all(o.position is None for o in related.truth.objects)
    for goal in goals:  # every object colour differs from the background's
        assert all(o.color != goal.truth.background for o in goal.truth.objects)


def test_summary_counts_repairs_and_false_passes() -> None:
    record = {"category": "places_2_4", "passes": 1, "seconds": 1.0}
    records = [
        {**record, "pass1_right": True, "final_right": True, "critic_accepted": True},
        {**record, "pass1_right": False, "final_right": True, "critic_accepted": True},
        {**record, "pass1_right": False, "final_right": False, "critic_accepted": True},
        {**record, "pass1_right": False, "final_right": False, "critic_accepted": False},
    ]
    summary = summarize(records)
    assert summary["accuracy_pass1"] == 0.25 and summary["accuracy_final"] == 0.5
    assert summary["repaired"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["false_pass"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["categories"] == {"places_2_4": 0.5}


def test_pakati_eval_agent_runs_goals_through_the_agent(tmp_path, capsys) -> None:
    import json

    from pakati.cli import main

    argv = ["eval", "agent", "--n", "2", "--seed", "0", "--max-passes", "2"]
    assert main([*argv, "--save", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 2 and 1 <= summary["passes_mean"] <= 2
    assert set(summary) >= {
        "accuracy_pass1", "accuracy_final", "repaired", "false_pass", "passes_mean",
        "seconds_per_goal", "categories",
    }  # fmt: skip
    assert set(summary["categories"]) == {"places_2_4", "places_5_6"}
    assert len(list(tmp_path.glob("*/pass-1.png"))) == 2


def test_pakati_eval_agent_refuses_bad_arguments_clearly(tmp_path, capsys) -> None:
    from pakati.cli import main

    assert main(["eval", "agent", "--n", "0"]) == 2
    (tmp_path / "earlier.png").write_bytes(b"x")
    assert main(["eval", "agent", "--n", "1", "--save", str(tmp_path)]) == 2
    errors = capsys.readouterr().err
    assert "at least 1" in errors and "not empty" in errors
