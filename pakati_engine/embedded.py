"""Pakati's embedded text-to-image model: where it ships and its recommended settings.

The model is a standard diffusers folder (trained by ``pakati_engine.training.train_t2i``)
plus a ``pakati.json`` with the generation settings measured for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHAPES_T2I = Path(__file__).parent / "weights" / "shapes-t2i"
"""The shipped shapes-world text-to-image model folder."""

SETTINGS_FILE = "pakati.json"


def generation_settings(folder: str | Path) -> dict[str, Any]:
    """The settings a model folder recommends (``{}`` when it has no ``pakati.json``).

    Keys: ``width``, ``height``, ``steps``, ``guidance_scale``, ``scheduler``,
    ``base_ratio``; ``training`` (provenance) may also be present.
    """
    path = Path(folder) / SETTINGS_FILE
    if not path.is_file():
        return {}
    values: dict[str, Any] = json.loads(path.read_text())
    return values


def shapes_t2i_available() -> bool:
    return (SHAPES_T2I / "model_index.json").is_file()
