"""Switches for small GPUs: attention slicing, VAE tiling, and model CPU offload.

They act on a loaded model (every canvas that shares it), trade speed for memory, and leave
what is drawn the same up to floating-point rounding:

- attention slicing computes self-attention a few heads at a time (diffusers'
  ``set_attention_slice``); cross-attention keeps Pakati's regional processors, which
  are swapped in for each generation and swapped back after it;
- VAE tiling decodes and encodes large images tile by tile (the VAE's ``enable_tiling``);
- model CPU offload keeps the weights in RAM and moves each model (text encoders, UNet,
  VAE) to the GPU only while it runs (accelerate's ``cpu_offload_with_hook``, as diffusers'
  ``enable_model_cpu_offload``).
"""

from __future__ import annotations

from typing import Any

import torch

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle


def enable_attention_slicing(bundle: ModelBundle, slice_size: str | int = "auto") -> None:
    """Compute the UNet's attention in slices (``"auto"``: two slices per layer, ``"max"``:
    one head at a time, or an int)."""
    try:
        bundle.unet.set_attention_slice(slice_size)  # type: ignore[attr-defined]
    except (ValueError, AttributeError) as error:
        raise InvalidInputError(
            f"attention slicing of {bundle.source!r} with slice size {slice_size!r} failed "
            f"({error}); use 'auto', 'max' or a number of heads that divides them"
        ) from error


def disable_attention_slicing(bundle: ModelBundle) -> None:
    """Back to the attention processor a freshly loaded UNet has: PyTorch's fused attention.

    Not ``set_default_attn_processor``, which installs the unfused ``AttnProcessor``: with
    the torch installed now (2.14) its CPU results differ in the last bits from the fused
    kernel's, so turning slicing off did not give back the pixels drawn before it was on.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0

    bundle.unet.set_attn_processor(AttnProcessor2_0())  # type: ignore[attr-defined]


def enable_vae_tiling(bundle: ModelBundle) -> None:
    """Decode and encode in tiles (for canvases much larger than the model's size)."""
    enable = getattr(bundle.vae, "enable_tiling", None)
    if enable is None:
        raise InvalidInputError(
            f"the VAE of {bundle.source!r} cannot tile ({type(bundle.vae).__name__}); "
            "tiling is for AutoencoderKL-style VAEs"
        )
    enable()


def enable_model_cpu_offload(bundle: ModelBundle, device: str | torch.device = "cuda") -> None:
    """Keep weights in RAM; move each model to ``device`` only while it runs.

    Needs that device to exist (CUDA, or MPS); the bundle then reports ``device`` as where
    it computes. Loading LoRAs after this is not supported (load them first).
    """
    execution = torch.device(device)
    if execution.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            "CPU offload needs a CUDA GPU: it keeps the weights in RAM and moves each model "
            "to the GPU while it runs; without a GPU everything already runs in RAM"
        )
    from accelerate import cpu_offload_with_hook

    hook: Any = None
    for module in (bundle.text_encoder, bundle.text_encoder_2, bundle.unet, bundle.vae):
        if module is None or not isinstance(module, torch.nn.Module):
            continue
        module.to("cpu")
        _, hook = cpu_offload_with_hook(module, execution, prev_module_hook=hook)
    bundle.device = execution
