"""Reference understanding in the engine: observation operators (masking strategies),
descriptions as layouts, reconstruction with keep-mask sampling, the trivial baseline, and
scores on hidden pixels only. The user API is ``pakati.understanding``."""

from pakati_engine.understanding.description import (
    DescribedObject,
    SceneDescription,
    describe_scene,
    infer_description,
)
from pakati_engine.understanding.masking import (
    DIFFICULTIES,
    MASKING_STRATEGIES,
    Observation,
    check_strategies,
    observe,
)
from pakati_engine.understanding.reconstruct import reconstruct, trivial_fill
from pakati_engine.understanding.scoring import (
    HiddenScore,
    lower_bound,
    score_hidden,
    understanding_level,
)

__all__ = [
    "DIFFICULTIES",
    "MASKING_STRATEGIES",
    "DescribedObject",
    "HiddenScore",
    "Observation",
    "SceneDescription",
    "check_strategies",
    "describe_scene",
    "infer_description",
    "lower_bound",
    "observe",
    "reconstruct",
    "score_hidden",
    "trivial_fill",
    "understanding_level",
]
