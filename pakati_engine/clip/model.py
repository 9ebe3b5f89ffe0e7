"""The small shapes-world CLIP: its open_clip config, registration and loader.

The architecture lives in ``model_configs/pakati-shapes-clip.json``, an ordinary open_clip
model config. Once registered, the model is created and its weights loaded by
``open_clip.create_model_and_transforms(MODEL_NAME, pretrained=path)``, the same code path a
standard CLIP checkpoint takes; nothing here bypasses open_clip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import open_clip
import torch
from safetensors.torch import save_file

from pakati_engine.errors import ModelNotFoundError

MODEL_NAME = "pakati-shapes-clip"
CONFIG_DIR = Path(__file__).parent / "model_configs"
WEIGHTS_FILENAME = f"{MODEL_NAME}.safetensors"
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / WEIGHTS_FILENAME
"""Where the shipped weights live (package data)."""

TRAIN_COMMAND = "python -m pakati_engine.clip.train --out DIR --minutes 60"

ClipBundle = tuple[Any, Callable[..., torch.Tensor], Callable[..., torch.Tensor]]
"""(model, preprocess, tokenizer) as open_clip returns them."""


def register() -> None:
    """Make ``MODEL_NAME`` known to open_clip (idempotent)."""
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


def create_untrained(seed: int = 0) -> ClipBundle:
    """A freshly initialised (model, preprocess, tokenizer), created through open_clip."""
    register()
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=None)
    return model, preprocess, open_clip.get_tokenizer(MODEL_NAME)


def export_weights(model: Any, path: Path) -> None:
    """Write an fp16 safetensors state dict that open_clip's ``pretrained=`` loads.

    fp16 halves the file (most of it is the 49,408-token embedding table); open_clip's
    ``load_state_dict`` casts the values back to the model's float32 parameters.
    """
    state = {
        k: v.detach().to(torch.float16).contiguous().clone() for k, v in model.state_dict().items()
    }
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"model": MODEL_NAME})
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _resolve_weights(name_or_path: str | Path | None) -> Path:
    """Find the weights file meant by ``name_or_path``; raise a clear error if absent."""
    if name_or_path is None or str(name_or_path) == MODEL_NAME:
        looked = [DEFAULT_WEIGHTS]
    else:
        path = Path(name_or_path).expanduser()
        looked = (
            [path / WEIGHTS_FILENAME, *sorted(path.glob("*.safetensors"))]
            if path.is_dir()
            else [path]
        )
    for candidate in looked:
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"no {MODEL_NAME} weights found; looked for {', '.join(str(p) for p in looked)}. "
        f"Pakati never downloads models: train and export them with `{TRAIN_COMMAND}` and copy "
        f"DIR/{WEIGHTS_FILENAME} to {DEFAULT_WEIGHTS}, or pass the file's path."
    )


def load_clip(name_or_path: str | Path | None = None, device: str = "cpu") -> ClipBundle:
    """Load the small CLIP: (model in eval mode, preprocess, tokenizer).

    ``name_or_path`` is None or ``MODEL_NAME`` for the shipped weights, a weights file
    (``.safetensors`` or ``.pt`` as open_clip's ``pretrained=`` takes them), or a folder that
    holds one. Raises ``ModelNotFoundError`` naming every path it tried.
    """
    weights = _resolve_weights(name_or_path)
    register()
    model, _, preprocess = open_clip.create_model_and_transforms(
        MODEL_NAME, pretrained=str(weights), device=device
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    return model, preprocess, tokenizer
