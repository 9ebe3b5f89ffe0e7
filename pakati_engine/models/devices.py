"""Choosing the device and dtype a model runs with."""

from __future__ import annotations

import torch

from pakati_engine.errors import InvalidInputError

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" picks CUDA, then Apple MPS, then the CPU; anything else is checked."""
    if isinstance(requested, torch.device):
        return requested
    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise InvalidInputError(
            f"unknown device {requested!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' was asked for but no CUDA GPU is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError("device 'mps' was asked for but Apple MPS is not available")
    return device


def select_dtype(device: torch.device, requested: str | torch.dtype | None = None) -> torch.dtype:
    """``None``/"auto": fp16 on GPUs (bf16 where CUDA supports it), fp32 on the CPU."""
    if isinstance(requested, torch.dtype):
        return requested
    if requested in (None, "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if requested not in DTYPES:
        raise InvalidInputError(
            f"unknown dtype {requested!r}; use 'auto', 'fp32', 'fp16' or 'bf16'"
        )
    return DTYPES[requested]
