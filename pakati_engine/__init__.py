"""Pakati's engine: everything that makes or measures pixels. No LLM code lives here.

Heavy modules (torch, diffusers) are imported by the submodules that need them, so that
``import pakati_engine`` stays cheap.
"""

import os

# OpenMP threads that spin while waiting make two torch processes on a small machine (a
# generation beside a training run, parallel tests) slow each other down 5-50x. Passive
# waiting costs a single process almost nothing. Only effective before torch is imported,
# and an explicit setting of the user's wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pakati_engine.errors import InvalidInputError, ModelNotFoundError, PakatiError

__all__ = ["InvalidInputError", "ModelNotFoundError", "PakatiError"]
