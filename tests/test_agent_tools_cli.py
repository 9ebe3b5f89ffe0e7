"""Engine tools (errors come back as messages), the orchestrator API, `pakati agent` and
`pakati chat` with the offline planner, a tiny model and a scripted scorer."""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import pytest
from langchain_core.messages import AIMessage
from PIL import Image

from pakati.agents.offline import OfflinePlannerModel
from pakati.cli.agent import add_agent_arguments, add_chat_arguments, run_agent, run_chat
from pakati.orchestrator import Context, PakatiOrchestrator
from pakati.tools import CanvasSession, make_tools, run_tool_calls
from pakati_engine.errors import OutputExistsError
from pakati_engine.layout import Layout
from pakati_engine.models.catalog import EMBEDDED_MODEL, embedded_model_available
from pakati_engine.solver import Solver
from tests.agent_fakes import ScriptedScorer, cosine_critic

GOAL = "a red circle on the left and a blue square on the right, white background"


def tool(tools, name):
    return next(t for t in tools if t.name == name)


def test_tools_drive_the_engine_and_report_errors_as_text(tmp_path, sd_bundle):
    session = CanvasSession(tmp_path, model=sd_bundle, scorer=ScriptedScorer(default=0.25))
    tools = make_tools(session)
    canvas = json.loads(
        tool(tools, "create_canvas").invoke({"width": 64, "height": 64, "steps": 2})
    )
    cid = canvas["canvas_id"]
    region = {"canvas_id": cid, "name": "a", "box": [0, 0, 32, 64], "prompt": "a red circle"}
    assert json.loads(tool(tools, "set_region").invoke(region))["regions"] == ["a"]
    region_b = {**region, "name": "b", "box": [32, 0, 64, 64], "prompt": "a blue square"}
    tool(tools, "set_region").invoke(region_b)
    first = json.loads(
        tool(tools, "generate").invoke({"canvas_id": cid, "seed": 1, "out": "g.png"})
    )
    assert json.loads(tool(tools, "lock_region").invoke({"canvas_id": cid, "regions": ["a"]}))[
        "locked"
    ] == ["a"]
    # A locked region cannot be regenerated: the engine's refusal comes back as text.
    refused = tool(tools, "regenerate_region").invoke(
        {"canvas_id": cid, "regions": ["a"], "out": "r.png"}
    )
    assert refused.startswith("error:") and "locked" in refused
    again = {"canvas_id": cid, "regions": ["b"], "out": "r.png", "seed": 5}
    second = json.loads(tool(tools, "regenerate_region").invoke(again))
    one, two = (np.asarray(Image.open(p["image"])) for p in (first, second))
    assert np.array_equal(one[:, :24], two[:, :24]) and not np.array_equal(one[:, 40:], two[:, 40:])
    score = json.loads(tool(tools, "score").invoke({"image": second["image"], "text": "x"}))
    assert score["cosine"] == pytest.approx(0.25)
    deltas = tool(tools, "analyze_deltas").invoke(
        {"image": first["image"], "reference": second["image"], "aspects": ["color"]}
    )
    assert 0.0 <= json.loads(deltas)["color"]["similarity"] <= 1.0
    # Bad arguments and unknown names are answered, not raised.
    assert tool(tools, "set_region").invoke({**region, "canvas_id": "nope"}).startswith("error:")
    assert "validation" in tool(tools, "create_canvas").invoke({"width": 1, "height": 64}).lower()
    bad_box = {**region, "name": "c", "box": [10, 10, 5, 5]}
    assert tool(tools, "set_region").invoke(bad_box).startswith("error:")
    call = AIMessage(content="", tool_calls=[{"name": "paint_sky", "args": {}, "id": "c1"}])
    (answer,) = run_tool_calls(call, tools)
    assert answer.status == "error" and "unknown tool 'paint_sky'" in str(answer.content)


def test_orchestrator_follows_the_product_description(tmp_path, sd_bundle):
    scorer = ScriptedScorer({"a red circle and a blue square": [0.1, 0.1]})
    context = Context(primary_goal=GOAL, width=64, height=64, workdir=str(tmp_path / "work"))
    orchestrator = PakatiOrchestrator(
        context,
        llm=OfflinePlannerModel(),
        model=sd_bundle,
        scorer=scorer,
        steps=2,
        critic_fn=cosine_critic,
    )
    assert isinstance(orchestrator.solver, Solver)
    plan = orchestrator.create_plan(GOAL)
    assert plan.id in context.history and plan.steps == 2
    result = orchestrator.execute_plan(plan.id)
    assert result.image.size == (64, 64)
    alignment = orchestrator.check_alignment(result.image, "a red circle and a blue square")
    assert alignment.score < 0.3 and alignment.suggestions
    improved = orchestrator.refine_plan(plan.id, alignment.suggestions)
    assert improved.id != plan.id
    assert [r.seed for r in improved.regions] != [r.seed for r in plan.regions]
    again = orchestrator.execute_plan(improved.id)
    saved = again.save(tmp_path / "orchestrated.png")
    assert saved.is_file() and saved.with_suffix(".json").is_file()
    with pytest.raises(FileExistsError):
        again.save(saved)


def parse(add, argv):
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def test_pakati_agent_cli_prints_progress_and_a_json_summary(tmp_path, sd_bundle, capsys):
    out = tmp_path / "result.png"
    argv = [GOAL, "--target", "0.3", "--max-passes", "2", "--out", str(out), "--json"]
    argv += ["--size", "64x64", "--steps", "2", "--provider", "offline"]
    scorer = ScriptedScorer({GOAL: [0.1, 0.2]})
    code = run_agent(
        parse(add_agent_arguments, argv), model=sd_bundle, scorer=scorer, critic_fn=cosine_critic
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["passes"] == 2 and report["stop_reason"] == "max passes"
    assert len(report["scores"]) == 2 and report["final_score"] == max(report["scores"])
    assert set(report["timings"]) >= {"planning", "generating", "scoring", "total"}
    assert report["image"] == str(out) and out.is_file()
    text = "\n".join(lines)
    assert "red-circle" in text and "score" in text and "refiner: reseed" in text
    assert "stopping: max passes" in text
    # Without --overwrite an existing output is refused (the CLI's boundary: exit 2).
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_agent(
            parse(add_agent_arguments, argv),
            model=sd_bundle,
            scorer=scorer,
            critic_fn=cosine_critic,
        )


def test_pakati_agent_resumes_a_thread_from_its_checkpoint(tmp_path, sd_bundle, capsys):
    out = tmp_path / "r.png"
    argv = [GOAL, "--max-passes", "3", "--out", str(out), "--size", "64x64", "--steps", "2"]
    argv += ["--thread", "job", "--provider", "offline", "--json", "--target", "0.9"]
    crashing = ScriptedScorer({GOAL: [0.1, 0.2, 0.3]}, fail_on_call=4)
    with pytest.raises(RuntimeError):
        run_agent(
            parse(add_agent_arguments, argv),
            model=sd_bundle,
            scorer=crashing,
            critic_fn=cosine_critic,
        )
    assert out.with_suffix(".agent.sqlite").is_file()
    capsys.readouterr()
    scorer = ScriptedScorer({GOAL: [0.2, 0.3]})
    assert (
        run_agent(
            parse(add_agent_arguments, argv),
            model=sd_bundle,
            scorer=scorer,
            critic_fn=cosine_critic,
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("resuming thread 'job'" in line for line in lines)
    assert not any(line.startswith("plan ") for line in lines)  # the planner did not run again
    assert json.loads(lines[-1])["passes"] == 3


def test_pakati_chat_edits_keep_untouched_regions_exactly(tmp_path, sd_bundle, capsys):
    args = parse(
        add_chat_arguments,
        ["--size", "64x64", "--steps", "2", "--out-dir", str(tmp_path), "--json"],
    )
    args.provider = "offline"
    lines = io.StringIO(
        "a red circle on the left and a blue square on the right\n"
        "now make the circle green\n"
        "keep the square, enlarge the circle\n"
        "quit\n"
    )
    assert (
        run_chat(
            args, stdin=lines, model=sd_bundle, scorer=ScriptedScorer(), critic_fn=cosine_critic
        )
        == 0
    )
    turns = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["turns"]
    assert [t["full"] for t in turns] == [True, False, False]
    assert turns[1]["changed"] == ["red-circle"] and turns[1]["kept"] == ["blue-square"]
    assert turns[2]["changed"] == ["red-circle"] and turns[2]["kept"] == ["blue-square"]
    images = [np.asarray(Image.open(t["image"]).convert("RGB")) for t in turns]
    square = (slice(19, 45), slice(35, 61))  # the square's box (locked in both edits)
    assert np.array_equal(images[0][square], images[1][square])
    assert np.array_equal(images[1][square], images[2][square])
    assert not np.array_equal(images[0][:, :20], images[1][:, :20])


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not installed")
def test_session_layouts_take_the_models_settings_only_where_they_set_none(tmp_path):
    session = CanvasSession(tmp_path, model=EMBEDDED_MODEL, scorer=ScriptedScorer(default=0.25))
    recommended = session.settings
    assert recommended["scheduler"] and "base_ratio" in recommended
    explicit = Layout(width=128, height=128, base_prompt="a white background", base_ratio=0.45)
    canvas_id = session.create_canvas(explicit.model_copy(update={"scheduler": "ddim"}))
    canvas = session.canvas(canvas_id)
    assert (canvas.base_ratio, canvas.scheduler) == (0.45, "ddim")  # the layout's own values
    session.set_layout(canvas_id, Layout(width=128, height=128, base_prompt="a white background"))
    assert canvas.base_ratio == recommended["base_ratio"]  # None: the model's, again
    assert canvas.scheduler == recommended["scheduler"]


def test_an_empty_goal_is_a_clear_error(tmp_path, sd_bundle):
    from pakati_engine.errors import InvalidInputError

    context = Context(primary_goal="  ", width=64, height=64, workdir=str(tmp_path))
    orchestrator = PakatiOrchestrator(context, llm=OfflinePlannerModel(), model=sd_bundle)
    with pytest.raises(InvalidInputError, match="goal is empty"):
        orchestrator.run()
