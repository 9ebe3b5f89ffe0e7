"""General aspect: overall pixel-aligned similarity (SSIM and MS-SSIM on lightness).

The reference view is resampled to the exact shape of the image view (so a reference of
a different aspect ratio is stretched: "general" compares the two frames as wholes).

- ``ssim``: structural similarity (Wang et al. 2004) with a Gaussian window (sigma 1.5),
  C1 = 0.01^2, C2 = 0.03^2 for data in 0..1, averaged over the region's pixels.
- ``ms_ssim``: multi-scale SSIM (Wang, Simoncelli & Bovik 2003): contrast-structure terms at
  up to five dyadic scales and the luminance term at the coarsest, combined with the
  published weights renormalised to the scales that fit (a scale needs at least 16 px
  on its shorter side). Negative terms are clipped to 0. Absent (-1) when only one scale
  fits.
- ``psnr_db``: peak signal-to-noise ratio of L*/100 over the region (capped at 60 dB).

Similarity: MS-SSIM when available, otherwise SSIM, clipped to 0..1. Two unrelated photos
typically score 0.1-0.4, so a low general similarity is expected unless the image is
meant to reproduce the reference.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from pakati_engine.analysis.prepare import ImageView, resize_float
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_C1 = 0.01**2
_C2 = 0.03**2
MIN_SCALE_SIDE = 16


def ssim_terms(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-pixel luminance term and contrast-structure term of SSIM."""
    blur = lambda a: gaussian_filter(a, 1.5, mode="reflect", truncate=3.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    lum = (2 * mx * my + _C1) / (mx * mx + my * my + _C1)
    cs = (2 * cov + _C2) / (vx + vy + _C2)
    return lum, cs


def _downsample(a: NDArray[np.float64]) -> NDArray[np.float64]:
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    a = a[:h, :w]
    return 0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2])


def ms_ssim(
    x: NDArray[np.float64], y: NDArray[np.float64], mask: NDArray[np.bool_]
) -> tuple[float, float]:
    """(SSIM at full scale, MS-SSIM or -1 if fewer than two scales fit) over the mask."""
    weight = mask.astype(np.float64)
    factors: list[float] = []
    ssim_full = 0.0
    lum_last = 1.0
    for level in range(len(_MS_WEIGHTS)):
        lum, cs = ssim_terms(x, y)
        keep = weight >= 0.5
        if level == 0:
            ssim_full = float((lum * cs)[keep].mean())
        factors.append(max(0.0, float(cs[keep].mean())))
        lum_last = max(0.0, float(lum[keep].mean()))
        if min(x.shape) // 2 < MIN_SCALE_SIDE or level == len(_MS_WEIGHTS) - 1:
            break
        x, y, weight = _downsample(x), _downsample(y), _downsample(weight)
        if not (weight >= 0.5).any():
            break
    if len(factors) < 2:
        return ssim_full, -1.0
    w = np.array(_MS_WEIGHTS[: len(factors)])
    w = w / w.sum()
    value = lum_last ** w[-1]
    for f, wj in zip(factors, w, strict=True):
        value *= f**wj
    return ssim_full, float(value)


def analyze_general(image: ImageView, reference: ImageView) -> AspectDelta:
    """Pixel-aligned structural similarity (see module docstring)."""
    x = image.lightness.astype(np.float64)
    y = resize_float(reference.lightness, image.shape).astype(np.float64)
    ssim, msssim = ms_ssim(x, y, image.mask)
    mse = float(np.mean((x - y)[image.mask] ** 2))
    psnr = 60.0 if mse <= 1e-6 else min(60.0, 10.0 * math.log10(1.0 / mse))
    value = msssim if msssim >= 0 else ssim
    similarity = float(min(1.0, max(0.0, value)))
    severity = Severity.from_similarity(similarity)
    findings: list[str] = []
    adj: list[Adjustment] = []
    label = "MS-SSIM" if msssim >= 0 else "SSIM"
    if severity is Severity.NONE:
        findings.append(f"structurally the same as the reference ({label} {value:.2f})")
    else:
        findings.append(f"overall structure differs from the reference ({label} {value:.2f})")
    if severity in (Severity.MEDIUM, Severity.HIGH):
        adj.append(
            Adjustment(
                "change_parameters",
                "when regenerating from the reference (image-to-image), keep more of it",
                changes={"strength": -0.1},
            )
        )
    return AspectDelta(
        aspect="general",
        similarity=similarity,
        severity=severity,
        measured={"ssim": ssim, "ms_ssim": msssim, "psnr_db": psnr},
        findings=tuple(findings),
        adjustments=tuple(adj),
    )
