"""The agent graph for LangGraph Studio / ``langgraph dev`` (named in ``langgraph.json``).

``make_graph`` compiles the same planner -> executor -> critic -> refiner graph that
``pakati agent`` runs, with services made from the environment and ``.env`` the way the
CLI makes them (the LLM from the usual keys, else offline; the embedded model). The
LangGraph server supplies its own checkpointer, so none is attached here. A run's input is
the agent state: ``{"goal": "a red circle on the left", "target": 0.3, "max_passes": 2}``
(``width``/``height`` optional, 128 by default). Settings: ``PAKATI_STUDIO_MODEL`` (canvas
model) and ``PAKATI_STUDIO_WORKDIR`` (where images go; default a temporary folder).
"""

from __future__ import annotations

import os
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from pakati.graphs.graph import build_graph
from pakati.orchestrator import Context, make_services


def make_graph(config: Any = None) -> CompiledStateGraph:
    """The compiled agent graph (``config``: the server's RunnableConfig, unused)."""
    context = Context(
        primary_goal="(given per run in the graph's input)",
        model=os.environ.get("PAKATI_STUDIO_MODEL") or None,
        workdir=os.environ.get("PAKATI_STUDIO_WORKDIR") or None,
    )
    return build_graph(make_services(context))
