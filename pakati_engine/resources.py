"""Will a generation fit in memory? An estimate, checked before any tensor is made.

A canvas that passes the layout's size limit (8192x8192) can still need far more memory than
the machine has; without this check it fails deep inside the UNet or the VAE after minutes
of work, or the system kills the process. The estimate is simple: the UNet's live
activations at the latent resolution, plus the VAE decoder's at the pixel resolution, plus a
fixed overhead, each factor set from peak-memory measurements on the CPU
(``benchmarks/memory_estimate.py``: the embedded model from 128 to 1024 px and the
SD-shaped tiny-random model from 128 to 512 px: the estimate is 1.06x to 1.28x the
measured peaks, over and never under). It refuses only what is clearly too large (the
estimate against the memory free now).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pakati_engine.errors import ResourceLimitError

#: Live activation tensors of the widest UNet level, per latent token and channel (measured
#: 37-45 at 512-1024 px on the embedded model, 53 on tiny-random at 512 px).
UNET_FACTOR = 44
#: Live activation tensors of the VAE decoder's last level, per pixel and channel (measured
#: 7.5-13.5 on tiny-random, 128-512 px).
VAE_FACTOR = 10
#: Memory a generation adds whatever its size: prompt encodings, masks, the scheduler's
#: state, the output image (measured 12-16 MiB at 128 px).
OVERHEAD_BYTES = 16 * 1024**2
GIB = 1024**3


def estimate_bytes(bundle: Any, width: int, height: int, batch: int = 2) -> int:
    """Peak bytes a ``width x height`` generation with ``bundle`` adds (``batch`` 2: the
    conditional and unconditional halves of classifier-free guidance). The UNet and VAE
    terms are added: the measured peaks of whole generations exceed either alone."""
    element = torch.finfo(bundle.dtype).bits // 8 if bundle.dtype.is_floating_point else 4
    factor = int(bundle.vae_scale_factor)
    tokens = (height // factor) * (width // factor)
    unet_channels = _first_channels(bundle.unet, 320)
    unet = batch * tokens * unet_channels * element * UNET_FACTOR
    vae_channels = _first_channels(bundle.vae, 0) if bundle.vae is not None else 0
    vae = width * height * vae_channels * element * VAE_FACTOR
    return unet + vae + OVERHEAD_BYTES


def _first_channels(module: Any, default: int) -> int:
    config = getattr(module, "config", None)
    channels = getattr(config, "block_out_channels", None) if config is not None else None
    return int(channels[0]) if channels else default


def available_bytes(device: torch.device) -> int | None:
    """Memory free for tensors on ``device`` now (None: unknown, then nothing is refused)."""
    if device.type == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return _mem_available()
    return None


def _mem_available() -> int | None:
    meminfo = Path("/proc/meminfo")
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(bundle: Any, width: int, height: int, batch: int = 2) -> None:
    """Raise ``ResourceLimitError`` when the estimate exceeds the memory free now."""
    need = estimate_bytes(bundle, width, height, batch)
    have = available_bytes(bundle.device)
    if have is not None and need > have:
        raise ResourceLimitError(
            f"a {width}x{height} canvas needs about {need / GIB:.1f} GiB on {bundle.device} "
            f"with this model, and about {have / GIB:.1f} GiB is free: use a smaller canvas "
            "(generate small, then upscale) or a device with more memory"
        )


#: A canvas side more than this many times larger (or smaller) than the model's is "far".
NATIVE_SIZE_RATIO = 2.0


def native_size(bundle: Any) -> tuple[int, int] | None:
    """The size the model was trained at: its recommended size (``pakati.json``), else the
    UNet's ``sample_size`` times the latent factor; None when neither is known."""
    recommended = getattr(bundle, "recommended", {}) or {}
    if recommended.get("width") and recommended.get("height"):
        return int(recommended["width"]), int(recommended["height"])
    sample = getattr(getattr(bundle.unet, "config", None), "sample_size", None)
    if isinstance(sample, int) and sample > 0:
        side = sample * int(bundle.vae_scale_factor)
        return side, side
    return None


def native_size_warning(bundle: Any, width: int, height: int) -> str | None:
    """A warning when ``width x height`` is far from the model's native size, saying both
    (a model drawn far from its size is slow when larger and draws clutter or fragments)."""
    native = native_size(bundle)
    if native is None:
        return None
    ratios = (width / native[0], height / native[1])
    if all(1 / NATIVE_SIZE_RATIO <= r <= NATIVE_SIZE_RATIO for r in ratios):
        return None
    return (
        f"the canvas is {width}x{height} but the model {bundle.source!r} draws at "
        f"{native[0]}x{native[1]}: far from that size it is slower (when larger) and tends "
        f"to draw repeated or broken objects; a size near {native[0]}x{native[1]} works best"
    )
