"""The agent's LangGraph: planner -> executor -> critic -> (refiner -> executor)* -> END.

``build_graph(services, checkpointer)`` compiles the state machine; ``run_agent_graph``
streams one run's node updates (``stream_mode="updates"``) to a callback and returns the
final state. With a checkpointer (``open_checkpointer(path)``, SQLite) and a ``thread_id``,
a run that was killed resumes where it stopped: ``graph.stream(None, config)`` continues
from the last finished node, so finished passes are not redone. Every run passes an
explicit ``recursion_limit`` derived from ``max_passes``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from pakati.graphs.nodes import Services, critic_node, execute_node, plan_node, refine_node
from pakati.graphs.state import AgentState

NODES_PER_PASS = 3  # executor, critic, refiner
Update = dict[str, Any]
UpdateCallback = Callable[[str, Update], None]


def route_after_critic(state: AgentState) -> Literal["refiner", "__end__"]:
    """Stop when the critic gave a stop reason, otherwise refine."""
    return "__end__" if state.get("stop_reason") else "refiner"


def build_graph(
    services: Services, checkpointer: BaseCheckpointSaver | None = None
) -> CompiledStateGraph:
    graph = StateGraph(AgentState)
    graph.add_node("planner", partial(plan_node, services))
    graph.add_node("executor", partial(execute_node, services))
    graph.add_node("critic", partial(critic_node, services))
    graph.add_node("refiner", partial(refine_node, services))
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "executor")
    graph.add_edge("executor", "critic")
    graph.add_conditional_edges("critic", route_after_critic, ["refiner", END])
    graph.add_edge("refiner", "executor")
    return graph.compile(checkpointer=checkpointer)


def recursion_limit(max_passes: int) -> int:
    """Super-steps a run may take: the planner, three nodes per pass, and a small margin."""
    return 1 + NODES_PER_PASS * max_passes + 2


def run_config(thread_id: str | None, max_passes: int) -> RunnableConfig:
    config = RunnableConfig(recursion_limit=recursion_limit(max_passes))
    if thread_id is not None:
        config["configurable"] = {"thread_id": thread_id}
    return config


def initial_state(
    goal: str, target: float, max_passes: int, width: int = 128, height: int = 128
) -> AgentState:
    if max_passes < 1:
        raise ValueError("max_passes must be at least 1")
    return AgentState(goal=goal, target=target, max_passes=max_passes, width=width, height=height)


def run_agent_graph(
    graph: CompiledStateGraph,
    state: AgentState | None,
    config: RunnableConfig,
    on_update: UpdateCallback | None = None,
) -> AgentState:
    """Stream a run (``state`` None resumes the thread in ``config``); return the end state.

    ``on_update(node, update)`` sees every node's partial update as it finishes.
    """
    for chunk in graph.stream(state, config, stream_mode="updates"):
        for node, update in chunk.items():
            if on_update is not None and isinstance(update, dict):
                on_update(node, update)
    values = graph.get_state(config).values if config.get("configurable") else None
    if values is None:
        raise RuntimeError("run_agent_graph needs a checkpointer to read the final state")
    return AgentState(**values)


def delivered_pass(state: AgentState) -> int:
    """Index of the pass whose image a run delivers: the last one the critic passed, else
    the one that failed the fewest checks, then the one whose worst region margin is
    highest, then the best-scoring (ties: the earliest).

    Fewest failed checks first: a pass with one wrong region is closer to the goal than one
    with two, whatever their global scores say."""
    critiques = state.get("critiques", [])
    passed = [i for i, c in enumerate(critiques) if c.get("passed")]
    if passed:
        return passed[-1]
    scores = [float(s) for s in state.get("scores", [])]
    if not scores:
        raise ValueError("the run has no scored pass")
    keys = [(_failed_checks(c), -_worst_margin(c)) for c in critiques]
    if len(keys) != len(scores):
        keys = [(0, 0.0)] * len(scores)
    return min(range(len(scores)), key=lambda i: (*keys[i], -scores[i]))


def _worst_margin(critique: dict[str, Any]) -> float:
    """The lowest margin of a region's prompt over its best rival caption: among passes that
    fail as many checks, the one whose worst region is closest to its prompt is closest to
    right (a borderline shape rather than a plainly wrong one)."""
    margins = [float(r.get("margin_rival", 0.0)) for r in critique.get("regions", [])]
    return min(margins, default=0.0)


def _failed_checks(critique: dict[str, Any]) -> int:
    """``Critique.failed_checks`` of a critique kept in the state (plain JSON)."""
    return (
        sum(not r.get("passed", True) for r in critique.get("regions", []))
        + len(critique.get("extras", []))
        + sum(not r.get("holds", True) for r in critique.get("relations", []))
        + (critique.get("background_ok") is False)
    )


def has_unfinished_run(graph: CompiledStateGraph, config: RunnableConfig) -> bool:
    """True when the thread has a checkpoint with nodes still to run (a resumable run).

    A run killed after a step's writes were saved but before the checkpoint that follows
    them counts: ``get_state`` applies such writes and leaves their step out of ``next``
    (then empty), though ``stream(None)`` goes on from there; ``tasks`` still lists it.
    """
    snapshot = graph.get_state(config)
    return bool(snapshot.values) and bool(snapshot.next or snapshot.tasks)


@contextmanager
def open_checkpointer(path: str | Path | None) -> Iterator[BaseCheckpointSaver]:
    """A SQLite checkpointer at ``path`` (``None``: an in-memory database)."""
    target = ":memory:" if path is None else str(path)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(target, check_same_thread=False)
    try:
        yield SqliteSaver(connection)
    finally:
        connection.close()
