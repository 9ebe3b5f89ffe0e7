"""Planner, critic and refiner logic, prompts, output schemas and LLM providers.

Imported as ``pakati.agents``. Depends on ``pakati.tools`` and ``pakati_engine``, never on
``pakati.graphs`` or ``pakati``.
"""
