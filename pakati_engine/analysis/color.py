"""Colour aspect: palette and colour distribution in CIELAB.

Measures (region pixels only):

- ``histogram_similarity``: 1 - Hellinger distance between 3-D Lab histograms
  (6 L* x 8 a* x 8 b* bins, a*/b* clipped to +-80, smoothed by a Gaussian of 0.75 bins so
  that a colour near a bin edge does not flip bins).
- ``palette_delta_e``: dominant colours from k-means (k = 5, deterministic k-means++ seeding)
  on both images; the symmetric, weight-averaged CIEDE2000 distance from each dominant
  colour to the nearest dominant colour of the other image (a chamfer matching of the two
  palettes). 0 for identical palettes; about 2 is a just noticeable difference.
- ``mean_delta_e``: CIEDE2000 between the two mean Lab colours (an overall colour cast).
- ``warmth``: mean projection of (a*, b*) onto the orange-blue axis at hue 50 degrees.
  Positive = warm (reds, oranges, yellows), negative = cool (blues, cyans). The sign of
  ``warmth_delta`` (image minus reference) says which way the image has to move.
- ``chroma``: mean C* (colourfulness).

Similarity: weighted geometric mean of the histogram similarity (weight 1),
``exp(-(palette_delta_e/12)^2)`` (1.5), ``exp(-(warmth_delta/15)^2)`` (1) and the chroma
log-ratio map with scale 0.5 (0.5).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter
from skimage.color import deltaE_ciede2000

from pakati_engine.analysis.prepare import ImageView
from pakati_engine.analysis.scoring import (
    combine,
    diff_similarity,
    hellinger_similarity,
    ratio_similarity,
)
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

WARM_AXIS_DEG = 50.0
PALETTE_SIZE = 5
MAX_KMEANS_SAMPLES = 4096
WARMTH_NOTICE = 3.0
CHROMA_NOTICE = 0.2

_WEIGHTS = {"histogram": 1.0, "palette": 1.5, "warmth": 1.0, "chroma": 0.5}


def lab_histogram(lab_pixels: NDArray[np.floating]) -> NDArray[np.float64]:
    """Smoothed, normalised 6x8x8 histogram of (N, 3) Lab pixels."""
    clipped = np.clip(lab_pixels, [0.0, -80.0, -80.0], [100.0, 80.0, 80.0])
    hist, _ = np.histogramdd(clipped, bins=(6, 8, 8), range=((0, 100), (-80, 80), (-80, 80)))
    hist = gaussian_filter(hist, sigma=0.75, mode="constant")
    return np.asarray(hist / max(float(hist.sum()), 1e-12), dtype=np.float64)


def dominant_colors(
    lab_pixels: NDArray[np.floating], k: int = PALETTE_SIZE, iterations: int = 12
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Deterministic k-means palette: (centres (k', 3) Lab, weights (k',) summing to 1).

    Pixels are subsampled with a fixed stride (at most 4096), seeded by k-means++ with a
    fixed generator, then refined by Lloyd iterations; empty clusters are dropped, so a
    flat image gives a one-colour palette. Centres are sorted by weight, largest first.
    """
    data = np.asarray(lab_pixels, dtype=np.float64)
    if len(data) > MAX_KMEANS_SAMPLES:
        data = data[:: math.ceil(len(data) / MAX_KMEANS_SAMPLES)]
    rng = np.random.default_rng(0)
    centres = [data[len(data) // 2]]
    for _ in range(1, k):
        d2 = np.min(((data[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        total = float(d2.sum())
        if total <= 1e-9:
            break
        centres.append(data[rng.choice(len(data), p=d2 / total)])
    c = np.array(centres)
    labels = np.zeros(len(data), dtype=np.intp)
    for _ in range(iterations):
        labels = np.argmin(((data[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        counts = np.bincount(labels, minlength=len(c))
        keep = counts > 0
        sums = np.stack(
            [np.bincount(labels, weights=data[:, j], minlength=len(c)) for j in range(3)], 1
        )
        c = sums[keep] / counts[keep, None]
    labels = np.argmin(((data[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    weights = np.bincount(labels, minlength=len(c)).astype(np.float64)
    order = np.argsort(-weights)
    return c[order], weights[order] / weights.sum()


def palette_distance(
    pal_a: NDArray[np.float64],
    w_a: NDArray[np.float64],
    pal_b: NDArray[np.float64],
    w_b: NDArray[np.float64],
) -> float:
    """Symmetric weighted nearest-colour CIEDE2000 distance between two palettes."""
    cost = deltaE_ciede2000(pal_a[:, None, :], pal_b[None, :, :])  # (ka, kb)
    a_to_b = float(np.sum(w_a * cost.min(axis=1)))
    b_to_a = float(np.sum(w_b * cost.min(axis=0)))
    return 0.5 * (a_to_b + b_to_a)


def warmth(lab_pixels: NDArray[np.floating]) -> float:
    """Mean projection of (a*, b*) on the warm axis (hue 50 degrees)."""
    t = math.radians(WARM_AXIS_DEG)
    return float(np.mean(lab_pixels[:, 1] * math.cos(t) + lab_pixels[:, 2] * math.sin(t)))


def describe_color(lab: NDArray[np.floating]) -> str:
    """A plain colour name for one Lab colour ("dark blue", "light gray", "orange")."""
    lightness, a, b = (float(v) for v in lab)
    chroma = math.hypot(a, b)
    if chroma < 8.0:
        if lightness < 20:
            return "black"
        if lightness > 90:
            return "white"
        return "dark gray" if lightness < 45 else ("light gray" if lightness > 75 else "gray")
    hue = math.degrees(math.atan2(b, a)) % 360.0
    names = [(25, "pink"), (50, "red"), (75, "orange"), (105, "yellow"), (165, "green")]
    names += [(230, "teal"), (320, "blue"), (350, "purple"), (360, "pink")]
    name = next(n for limit, n in names if hue < limit)
    if name in ("orange", "red") and lightness < 45:
        return "brown"
    if lightness < 30:
        return f"dark {name}"
    if lightness > 78:
        return f"light {name}"
    return name


def analyze_color(image: ImageView, reference: ImageView) -> AspectDelta:
    """Compare colour palettes and distributions (see module docstring)."""
    img_px = image.lab[image.mask].astype(np.float64)
    ref_px = reference.lab[reference.mask].astype(np.float64)

    hist_sim = hellinger_similarity(lab_histogram(img_px), lab_histogram(ref_px))
    pal_i, w_i = dominant_colors(img_px)
    pal_r, w_r = dominant_colors(ref_px)
    pal_de = palette_distance(pal_i, w_i, pal_r, w_r)
    mean_i, mean_r = img_px.mean(axis=0), ref_px.mean(axis=0)
    mean_de = float(deltaE_ciede2000(mean_i, mean_r))
    warm_i, warm_r = warmth(img_px), warmth(ref_px)
    chroma_i = float(np.hypot(img_px[:, 1], img_px[:, 2]).mean())
    chroma_r = float(np.hypot(ref_px[:, 1], ref_px[:, 2]).mean())

    parts = {
        "histogram": hist_sim,
        "palette": diff_similarity(pal_de, 12.0),
        "warmth": diff_similarity(warm_i - warm_r, 15.0),
        "chroma": ratio_similarity(chroma_i, chroma_r, 0.5, floor=2.0),
    }
    similarity = combine(parts, _WEIGHTS)
    measured = {
        "histogram_similarity": hist_sim,
        "palette_delta_e": pal_de,
        "mean_delta_e": mean_de,
        "warmth_image": warm_i,
        "warmth_reference": warm_r,
        "warmth_delta": warm_i - warm_r,
        "chroma_image": chroma_i,
        "chroma_reference": chroma_r,
    }
    findings: list[str] = []
    adjustments: list[Adjustment] = []
    shift = warm_i - warm_r
    if shift <= -WARMTH_NOTICE:
        findings.append(f"colours are cooler than the reference (warmth {shift:+.1f})")
        adjustments.append(
            Adjustment(
                "add_prompt_terms", "image is cooler", ("warmer colour palette", "warm tones")
            )
        )
    elif shift >= WARMTH_NOTICE:
        findings.append(f"colours are warmer than the reference (warmth {shift:+.1f})")
        adjustments.append(
            Adjustment(
                "add_prompt_terms", "image is warmer", ("cooler colour palette", "cool tones")
            )
        )
    log_chroma = math.log((chroma_i + 2.0) / (chroma_r + 2.0))
    if log_chroma <= -CHROMA_NOTICE:
        findings.append(f"colours are less saturated (chroma {chroma_i:.0f} vs {chroma_r:.0f})")
        adjustments.append(
            Adjustment("add_prompt_terms", "image is duller", ("vibrant saturated colours",))
        )
        adjustments.append(Adjustment("add_negative_terms", "image is duller", ("washed out",)))
    elif log_chroma >= CHROMA_NOTICE:
        findings.append(f"colours are more saturated (chroma {chroma_i:.0f} vs {chroma_r:.0f})")
        adjustments.append(Adjustment("add_prompt_terms", "image is too vivid", ("muted colours",)))
        adjustments.append(
            Adjustment("add_negative_terms", "image is too vivid", ("oversaturated",))
        )
    if pal_de >= 5.0:
        missing = [
            describe_color(c)
            for c, w in zip(pal_r, w_r, strict=True)
            if w >= 0.1 and float(deltaE_ciede2000(pal_i, c[None, :]).min()) > 10.0
        ]
        names = list(dict.fromkeys(missing))[:3]
        text = f"dominant colours differ (palette ΔE2000 {pal_de:.1f})"
        if names:
            text += "; the reference has " + ", ".join(names) + " that the image lacks"
            adjustments.append(
                Adjustment(
                    "add_prompt_terms",
                    "missing reference colours",
                    tuple(f"{n} tones" for n in names),
                )
            )
        findings.append(text)
    severity = Severity.from_similarity(similarity)
    if severity is Severity.HIGH:
        adjustments.append(
            Adjustment(
                "change_parameters",
                "a large colour mismatch: follow the colour terms of the prompt more strongly",
                changes={"guidance_scale": 1.0},
            )
        )
    if not findings:
        findings.append("colour palette matches the reference")
    return AspectDelta(
        aspect="color",
        similarity=similarity,
        severity=severity,
        measured=measured,
        findings=tuple(findings),
        adjustments=tuple(adjustments),
    )
