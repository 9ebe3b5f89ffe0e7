"""langgraph.json names a graph that LangGraph's loader can build and run (offline)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from langgraph.graph.state import CompiledStateGraph

ROOT = Path(__file__).resolve().parents[1]


def test_langgraph_json_opens_the_agent_graph_and_it_runs(tmp_path, monkeypatch) -> None:
    config = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    assert config["dependencies"] == ["."] and "env" not in config  # Pakati reads .env itself
    (path, attribute) = config["graphs"]["pakati_agent"].split(":")
    file = (ROOT / path).resolve()
    assert file.is_file()
    # Load the file by path, as the LangGraph server does.
    spec = importlib.util.spec_from_file_location("studio_entry", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in (
        "PAKATI_API_KEY_OPENAI",
        "OPENAI_API_KEY",
        "PAKATI_OPENAI_BASE_URL",
        "PAKATI_API_KEY_ANTHROPIC",
        "ANTHROPIC_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here: the offline planner
    monkeypatch.setenv("PAKATI_STUDIO_WORKDIR", str(tmp_path / "images"))
    graph = getattr(module, attribute)()
    assert isinstance(graph, CompiledStateGraph)
    assert {"planner", "executor", "critic", "refiner"} <= set(graph.get_graph().nodes)
    state = graph.invoke(
        {"goal": "a red circle on the left", "target": 0.0, "max_passes": 1},
        {"recursion_limit": 10},
    )
    assert state["stop_reason"] and len(state["images"]) == 1
    assert Path(state["images"][0]).is_file()
    assert Path(state["images"][0]).is_relative_to(tmp_path / "images")
