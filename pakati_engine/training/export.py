"""Writing the EMA weights as a standard diffusers folder the engine loads unchanged.

The folder holds ``model_index.json``, ``unet/``, ``vae/`` (the parameter-free
:class:`~pakati_engine.models.pixel_vae.PixelUnshuffleVAE`), ``text_encoder/``, ``tokenizer/``,
``scheduler/`` and ``pakati.json`` (the generation settings measured for the model).
Weights are stored in fp16 to keep the package small; the loader casts them to the run
dtype (fp32 on a CPU).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers

from pakati_engine.models.protocols import TrainableTextEncoder, TrainableUNet
from pakati_engine.training.build import build_sampler, build_vae, write_tokenizer
from pakati_engine.training.config import ModelConfig

#: Settings written to ``pakati.json`` unless measured ones are given.
DEFAULT_SETTINGS: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "steps": 20,
    "guidance_scale": 3.0,
    "scheduler": "dpmpp_2m",
    "base_ratio": 0.2,
}


def model_index(diffusers_version: str, detail_head: bool = False) -> dict[str, Any]:
    unet = ["diffusers", "UNet2DConditionModel"]
    if detail_head:
        unet = ["pakati_engine.models.detail_unet", "DetailUNet2DConditionModel"]
    return {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers_version,
        "unet": unet,
        "vae": ["pakati_engine.models.pixel_vae", "PixelUnshuffleVAE"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
    }


def export_model(
    folder: str | Path,
    config: ModelConfig,
    unet: TrainableUNet,
    text_encoder: TrainableTextEncoder,
    settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the model folder (replacing an old one atomically) and return its path.

    ``extra`` goes into ``pakati.json`` under ``"training"`` (step, evaluation figures).
    """
    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()  # fp16 cast notice: intended here
    transformers.utils.logging.disable_progress_bar()
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    half_unet = copy.deepcopy(unet).to(torch.float16)
    half_unet.save_pretrained(str(partial / "unet"), safe_serialization=True)
    half_text = copy.deepcopy(text_encoder).to(torch.float16)
    half_text.save_pretrained(str(partial / "text_encoder"), safe_serialization=True)
    build_vae(config).save_pretrained(str(partial / "vae"), safe_serialization=True)
    write_tokenizer(partial / "tokenizer", config.max_tokens)
    build_sampler(config).save_pretrained(str(partial / "scheduler"))
    index = model_index(diffusers.__version__, config.detail_head)
    (partial / "model_index.json").write_text(json.dumps(index, indent=2))
    chosen = {**DEFAULT_SETTINGS, **(settings or {})}
    chosen["width"] = chosen["height"] = config.image_size
    if extra:
        chosen["training"] = extra
    (partial / "pakati.json").write_text(json.dumps(chosen, indent=2))
    if folder.exists():
        shutil.rmtree(folder)
    partial.replace(folder)
    return folder
