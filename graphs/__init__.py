"""The LangGraph state machine: state, wiring, checkpointing and streaming.

Imported as ``pakati.graphs``. Depends on ``pakati.agents`` and below.
"""
