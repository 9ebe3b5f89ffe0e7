"""LangChain tools: pydantic-typed wrappers over the engine.

Imported as ``pakati.tools``. Depends on ``pakati_engine`` and, lazily, on the canvas API
(``pakati.canvas``); never on ``pakati.agents``, ``pakati.graphs`` or the orchestrator.
"""

from pakati.tools.session import CanvasSession, default_scorer
from pakati.tools.toolkit import make_tools, run_tool_calls

__all__ = ["CanvasSession", "default_scorer", "make_tools", "run_tool_calls"]
