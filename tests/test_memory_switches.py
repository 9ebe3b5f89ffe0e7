"""Attention slicing, VAE tiling and model CPU offload: same pictures, less memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pakati import InvalidInputError, PakatiCanvas
from tests.conftest import make_bundle


@pytest.fixture()
def bundle():
    """A model of its own: the switches change its modules."""
    return make_bundle("sd", seed=5)


def _draw(bundle) -> np.ndarray:
    canvas = PakatiCanvas(64, 64, model=bundle, steps=2, base_prompt="a red circle")
    canvas.apply_to_region(canvas.create_region(box=(0, 0, 32, 64)), "a blue square")
    return np.asarray(canvas.generate(seed=6).image, dtype=np.int16)


def test_attention_slicing_keeps_the_picture_and_the_regions(bundle) -> None:
    before = _draw(bundle)
    canvas = PakatiCanvas(64, 64, model=bundle)
    canvas.enable_attention_slicing("max")
    kinds = {type(p).__name__ for p in bundle.unet.attn_processors.values()}
    assert kinds == {"SlicedAttnProcessor"}
    sliced = _draw(bundle)
    # After a generation the sliced processors are back (regional ones act only during it).
    assert {type(p).__name__ for p in bundle.unet.attn_processors.values()} == kinds
    assert np.abs(sliced - before).max() <= 2
    canvas.disable_attention_slicing()
    assert np.array_equal(_draw(bundle), before)
    with pytest.raises(InvalidInputError, match="attention slicing"):
        canvas.enable_attention_slicing(7)


def test_vae_tiling_and_cpu_offload(bundle) -> None:
    before = _draw(bundle)
    canvas = PakatiCanvas(64, 64, model=bundle)
    canvas.enable_vae_tiling()
    assert bundle.vae.use_tiling
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="needs a CUDA GPU"):
            canvas.enable_model_cpu_offload()
    # The hooks themselves, with the CPU as the execution device: same pixels.
    canvas.enable_model_cpu_offload("cpu")
    assert hasattr(bundle.unet, "_hf_hook")
    assert np.array_equal(_draw(bundle), before)
