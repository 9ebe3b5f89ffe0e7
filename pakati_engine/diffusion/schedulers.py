"""Sampler choice by name; each generation gets its own scheduler instance."""

from __future__ import annotations

from typing import Any

import diffusers

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.protocols import Scheduler

#: Names a layout may use, and the diffusers scheduler class (and options) they mean.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


#: Samplers whose diffusers class cannot step a model that predicts the clean image.
NO_SAMPLE_PREDICTION = frozenset({"euler_a", "pndm"})


def make_scheduler(model_scheduler: Scheduler, name: str | None = None) -> Scheduler:
    """A fresh scheduler: the model's own (``name`` None) or the named one, from its config."""
    if name is None:
        return model_scheduler.__class__.from_config(model_scheduler.config)
    if name not in SCHEDULERS:
        raise InvalidInputError(
            f"unknown scheduler {name!r}; choose one of {', '.join(sorted(SCHEDULERS))}"
        )
    if name in NO_SAMPLE_PREDICTION and model_scheduler.config.get("prediction_type") == "sample":
        usable = sorted(set(SCHEDULERS) - NO_SAMPLE_PREDICTION)
        raise InvalidInputError(
            f"scheduler {name!r} cannot run this model, which predicts the clean image "
            f"(prediction_type 'sample'); choose one of {', '.join(usable)}"
        )
    class_name, options = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(model_scheduler.config, **options)
