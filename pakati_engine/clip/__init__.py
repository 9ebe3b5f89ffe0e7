"""The small shapes-world CLIP: an open_clip model Pakati trains and ships as its offline scorer.

``load_clip()`` returns (model, preprocess, tokenizer) for the shipped weights; the model is
also loadable directly with ``open_clip.create_model_and_transforms(MODEL_NAME,
pretrained=path)`` once ``register()`` (called on import) has added its config to open_clip.
"""

from pakati_engine.clip.model import (
    CONFIG_DIR,
    DEFAULT_WEIGHTS,
    MODEL_NAME,
    create_untrained,
    export_weights,
    load_clip,
    register,
)
from pakati_engine.clip.scoring import OBJECT_CAPTIONS, ClipScorer, crop_region

register()

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_WEIGHTS",
    "MODEL_NAME",
    "OBJECT_CAPTIONS",
    "ClipScorer",
    "create_untrained",
    "crop_region",
    "export_weights",
    "load_clip",
    "register",
]
