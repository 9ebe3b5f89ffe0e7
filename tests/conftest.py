"""Shared fixtures: tiny seeded random SD1.x / SDXL models built in code, CPU only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import bundle_from_components
from pakati_engine.models.tiny_models import build_tiny_sd, build_tiny_sdxl, save_tiny_model

FIXTURES = Path(__file__).parent / "fixtures"
TOKENIZER_DIR = FIXTURES / "clip_tokenizer"

# Tests never touch the network or the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _isolated_pakati_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path_factory.getbasetemp() / "pakati_home"))


def make_bundle(kind: str, seed: int = 0) -> ModelBundle:
    builder = build_tiny_sdxl if kind == "sdxl" else build_tiny_sd
    parts = builder(seed=seed, tokenizer_dir=TOKENIZER_DIR)
    bundle = bundle_from_components(parts, source=f"tiny-{kind}-in-code")
    return bundle.to(torch.device("cpu"), torch.float32)


@pytest.fixture(scope="session")
def sd_bundle() -> ModelBundle:
    return make_bundle("sd")


@pytest.fixture(scope="session")
def sdxl_bundle() -> ModelBundle:
    return make_bundle("sdxl")


@pytest.fixture(params=["sd", "sdxl"])
def bundle(request: pytest.FixtureRequest, sd_bundle: ModelBundle, sdxl_bundle: ModelBundle):
    return sd_bundle if request.param == "sd" else sdxl_bundle


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SD model saved as a standard diffusers folder."""
    return save_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny-sd", kind="sd", tokenizer_dir=TOKENIZER_DIR
    )


def half_masks(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((height, width), np.float32)
    left[:, : width // 2] = 1.0
    return left, 1.0 - left
