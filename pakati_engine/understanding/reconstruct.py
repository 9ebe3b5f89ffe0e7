"""Reconstructing a reference from an observation: with the model, and the trivial baseline.

The model path is the engine's keep-mask sampling (RePaint-style): at every denoising step
the latent cells wholly outside the hidden mask are replaced by the observation noised to
that step, so the model only draws the hidden part, conditioned on a description (a layout).
With the embedded model the "latents" are an invertible pixel reshuffle, so this is exact
in pixel space; afterwards every visible pixel is copied back byte for byte. For
``frequency_bands`` every pixel is partly known: the model refines the low-pass image
(SDEdit from it at ``LOW_PASS_STRENGTH``), redrawing the detail.

The trivial baseline fills hidden pixels by biharmonic inpainting (scikit-image) and, for
frequency_bands, returns the low-pass image itself.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.pipeline import RegionalDiffusionPipeline
from pakati_engine.generation import request_from_layout
from pakati_engine.layout import Layout
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.understanding.masking import Observation

LOW_PASS_STRENGTH = 0.6
"""How far the low-pass image is re-noised before the model redraws its detail."""


def reconstruct(bundle: ModelBundle, observation: Observation, layout: Layout) -> NDArray[np.uint8]:
    """The model's reconstruction of the hidden part of ``observation`` under ``layout``."""
    request = request_from_layout(layout, bundle.recommended)
    image = Image.fromarray(observation.visible)
    if observation.inpaint:
        request.keep = KeepSpec(image, observation.hidden.astype(np.float32), feather=0)
    else:
        request.keep = KeepSpec(image, np.ones(observation.hidden.shape, np.float32), feather=0)
        request.strength = LOW_PASS_STRENGTH
    output = RegionalDiffusionPipeline(bundle)(request)
    result = np.asarray(output.image.convert("RGB"), dtype=np.uint8).copy()
    if observation.inpaint:  # visible pixels are the observation's, exactly
        result[~observation.hidden] = observation.visible[~observation.hidden]
    return result


def trivial_fill(observation: Observation) -> NDArray[np.uint8]:
    """The baseline: biharmonic inpainting of the hidden pixels (or the low-pass image)."""
    if not observation.inpaint:
        return observation.visible.copy()
    from skimage.restoration import inpaint_biharmonic

    filled = inpaint_biharmonic(
        observation.visible.astype(np.float64) / 255.0, observation.hidden, channel_axis=-1
    )
    result = np.clip(np.round(filled * 255.0), 0, 255).astype(np.uint8)
    result[~observation.hidden] = observation.visible[~observation.hidden]
    return result
