"""Style aspect: a filter-bank signature, a hand-made analogue of a Gram-matrix style loss.

Neural style losses compare the correlations between feature maps of a CNN. Here the
feature maps come from a fixed filter bank instead, so the measure needs no network:

- Filter bank on L*/100 at scales sigma = 1, 2, 4 px (working resolution): Gaussian first
  derivatives along x and y, and the Laplacian of Gaussian; the response magnitudes are
  the 9 texture features. Two low-pass maps (L* and chroma C*, blurred at sigma 2) add
  tone and colourfulness; chroma is used, not a*/b*, so a pure hue change is a colour
  delta, not a style delta.
- ``energy_profile``: mean magnitude of each of the 9 texture features, normalised to sum
  1 (which scales and orientations dominate, independent of contrast); compared with
  1 - Hellinger distance.
- ``gram_distance``: Frobenius distance between the 11x11 correlation matrices of the
  feature maps over the region, divided by 11 (0 = same co-occurrence structure).
- ``fine_coarse_ratio``: sigma-1 over sigma-4 gradient energy (crisp linework vs broad
  soft strokes). ``orientation``: x-gradient share of gradient energy at sigma 2 (0.5 =
  isotropic, above = mostly vertical edges, below = mostly horizontal edges).

Similarity: weighted geometric mean of the energy-profile similarity (1),
``exp(-(gram_distance/0.12)^2)`` (1.5), the fine/coarse log-ratio map with scale 0.5 (1)
and ``exp(-(Δorientation/0.15)^2)`` (0.5).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter, gaussian_laplace

from pakati_engine.analysis.prepare import ImageView
from pakati_engine.analysis.scoring import (
    combine,
    diff_similarity,
    hellinger_similarity,
    ratio_similarity,
)
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

SCALES = (1.0, 2.0, 4.0)
_WEIGHTS = {"profile": 1.0, "gram": 1.5, "fine_coarse": 1.0, "orientation": 0.5}


def filter_responses(view: ImageView) -> NDArray[np.float64]:
    """(N, 11) feature magnitudes over the region's pixels (see module docstring)."""
    light = view.lightness.astype(np.float64)
    maps = []
    for sigma in SCALES:
        maps.append(np.abs(gaussian_filter(light, sigma, order=(0, 1))) * sigma)
        maps.append(np.abs(gaussian_filter(light, sigma, order=(1, 0))) * sigma)
        maps.append(np.abs(gaussian_laplace(light, sigma)) * sigma**2)
    chroma = np.hypot(view.lab[..., 1], view.lab[..., 2]).astype(np.float64) / 100.0
    maps.append(gaussian_filter(light, 2.0))
    maps.append(gaussian_filter(chroma, 2.0))
    return np.stack([m[view.mask] for m in maps], axis=1)  # (N, 11)


def style_signature(view: ImageView) -> dict[str, NDArray[np.float64] | float]:
    """Energy profile, correlation matrix, fine/coarse ratio and orientation of one view."""
    feats = filter_responses(view)
    energy = feats[:, :9].mean(axis=0)
    std = feats.std(axis=0)
    centred = (feats - feats.mean(axis=0)) / np.where(std > 1e-9, std, 1.0)
    corr = centred.T @ centred / len(feats)  # (11, 11); a constant feature gives a 0 row
    grad = lambda s: float(energy[3 * s] + energy[3 * s + 1])  # noqa: E731
    return {
        "profile": energy / max(float(energy.sum()), 1e-12),
        "corr": corr,
        "fine_coarse": grad(0) / max(grad(2), 1e-9),
        "orientation": float(energy[3]) / max(grad(1), 1e-9),
    }


def analyze_style(image: ImageView, reference: ImageView) -> AspectDelta:
    """Compare filter-bank style signatures (see module docstring)."""
    si, sr = style_signature(image), style_signature(reference)
    profile_sim = hellinger_similarity(np.asarray(si["profile"]), np.asarray(sr["profile"]))
    corr_i, corr_r = np.asarray(si["corr"]), np.asarray(sr["corr"])
    gram = float(np.linalg.norm(corr_i - corr_r) / corr_i.shape[0])
    fc_i, fc_r = float(si["fine_coarse"]), float(sr["fine_coarse"])
    or_i, or_r = float(si["orientation"]), float(sr["orientation"])
    parts = {
        "profile": profile_sim,
        "gram": diff_similarity(gram, 0.12),
        "fine_coarse": ratio_similarity(fc_i, fc_r, 0.5, floor=1e-3),
        "orientation": diff_similarity(or_i - or_r, 0.15),
    }
    similarity = combine(parts, _WEIGHTS)
    measured = {
        "energy_profile_similarity": profile_sim,
        "gram_distance": gram,
        "fine_coarse_ratio_image": fc_i,
        "fine_coarse_ratio_reference": fc_r,
        "orientation_image": or_i,
        "orientation_reference": or_r,
        "orientation_delta": or_i - or_r,
    }
    findings: list[str] = []
    adj: list[Adjustment] = []
    log_fc = math.log((fc_i + 1e-3) / (fc_r + 1e-3))
    if log_fc <= -0.25:
        findings.append("broader, softer strokes than the reference's crisper rendering")
        adj.append(
            Adjustment(
                "add_prompt_terms",
                "reference is crisper",
                ("crisp linework", "fine detailed rendering"),
            )
        )
    elif log_fc >= 0.25:
        findings.append("finer, crisper rendering than the reference's broad strokes")
        adj.append(
            Adjustment(
                "add_prompt_terms",
                "reference is broader",
                ("painterly", "broad soft brush strokes"),
            )
        )
    if abs(or_i - or_r) >= 0.08 and abs(or_r - 0.5) >= 0.08:
        lines = "vertical" if or_r > 0.5 else "horizontal"
        findings.append(f"the reference is dominated by {lines} structures; the image less so")
        adj.append(
            Adjustment("add_prompt_terms", "orientation differs", (f"strong {lines} lines",))
        )
    if gram >= 0.05 and not findings:
        findings.append(f"the filter-response signature differs (Gram distance {gram:.2f})")
    if not findings:
        findings.append("style signature matches the reference")
    return AspectDelta(
        aspect="style",
        similarity=similarity,
        severity=Severity.from_similarity(similarity),
        measured=measured,
        findings=tuple(findings),
        adjustments=tuple(adj),
    )
