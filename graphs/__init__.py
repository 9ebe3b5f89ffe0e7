"""The LangGraph state machine: state, wiring, checkpointing and streaming.

Imported as ``pakati.graphs``. Depends on ``pakati.agents`` and below.
"""

from pakati.graphs.graph import (
    build_graph,
    delivered_pass,
    has_unfinished_run,
    initial_state,
    open_checkpointer,
    recursion_limit,
    route_after_critic,
    run_agent_graph,
    run_config,
)
from pakati.graphs.nodes import Services
from pakati.graphs.state import AgentState

__all__ = [
    "AgentState",
    "Services",
    "build_graph",
    "delivered_pass",
    "has_unfinished_run",
    "initial_state",
    "open_checkpointer",
    "recursion_limit",
    "route_after_critic",
    "run_agent_graph",
    "run_config",
]
