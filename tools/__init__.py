"""LangChain tools: pydantic-typed wrappers over the engine.

Imported as ``pakati.tools``. Depends only on ``pakati_engine``.
"""
