"""Pakati's engine: everything that makes or measures pixels. No LLM code lives here.

Heavy modules (torch, diffusers) are imported by the submodules that need them, so that
``import pakati_engine`` stays cheap.
"""

from pakati_engine.errors import InvalidInputError, ModelNotFoundError, PakatiError

__all__ = ["InvalidInputError", "ModelNotFoundError", "PakatiError"]
