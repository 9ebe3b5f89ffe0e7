"""Texture aspect: local structure of the lightness channel, independent of tone and colour.

Every measure here is invariant to global brightness and contrast changes (those belong to
lighting) and uses L* only (so a hue change at constant lightness is not a texture change).

- ``lbp_similarity``: 1 - Hellinger distance between uniform local-binary-pattern
  histograms (8 neighbours at radius 1 and at radius 2, 10 bins each). LBP codes depend
  only on the order of neighbouring values, so they ignore any monotonic tone change.
- ``glcm_contrast`` / ``glcm_homogeneity``: grey-level co-occurrence statistics for
  horizontal and vertical neighbours of the detail layer (L* minus its Gaussian blur at
  sigma 4, which removes gradients and large shapes), quantised to 16 rank-equalised
  levels (quantiles of the region's own values, which removes global contrast), over
  pixel pairs that both lie in the region. Contrast = sum P(i,j)(i-j)^2; homogeneity =
  sum P(i,j)/(1+(i-j)^2).
- ``hf_ratio``: high-frequency energy, the mean square of L minus its Gaussian blur at
  sigma 1 px (working resolution), divided by the energy of the band between sigma 1 and
  sigma 4. Blur lowers it, noise and fine detail raise it; tone changes barely move it.

Similarity: weighted geometric mean of the LBP similarity (weight 1), the GLCM contrast
log-ratio map with scale 0.5 (1), ``exp(-(Δhomogeneity/0.1)^2)`` (0.5) and the ``hf_ratio``
log-ratio map with scale 0.6 (1.5).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter
from skimage.feature import local_binary_pattern

from pakati_engine.analysis.prepare import ImageView
from pakati_engine.analysis.scoring import (
    combine,
    diff_similarity,
    hellinger_similarity,
    ratio_similarity,
)
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

GLCM_LEVELS = 16
DETAIL_NOTICE = 0.2  # |log ratio| of hf energy worth a finding

_WEIGHTS = {"lbp": 1.0, "contrast": 1.0, "homogeneity": 0.5, "hf": 1.5}


def lbp_histogram(lightness: NDArray[np.floating], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Concatenated uniform-LBP histograms at radius 1 and 2 over the region."""
    grey = np.round(np.clip(lightness, 0.0, 1.0) * 255.0).astype(np.uint8)
    hists = []
    for radius in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codes = local_binary_pattern(grey, 8, radius, method="uniform")
        hist = np.bincount(codes[mask].astype(np.intp), minlength=10)[:10].astype(np.float64)
        hists.append(hist / max(float(hist.sum()), 1.0))
    return np.concatenate(hists)


def rank_levels(
    lightness: NDArray[np.floating], mask: NDArray[np.bool_], levels: int = GLCM_LEVELS
) -> NDArray[np.intp]:
    """Quantise lightness into ``levels`` equally populated bins of the region's values."""
    edges = np.quantile(lightness[mask], np.linspace(0.0, 1.0, levels + 1)[1:-1])
    return np.searchsorted(edges, lightness, side="right").astype(np.intp)


def glcm_stats(
    levels: NDArray[np.intp], mask: NDArray[np.bool_], n_levels: int = GLCM_LEVELS
) -> tuple[float, float]:
    """(contrast, homogeneity) of the symmetric co-occurrence matrix of right/down pairs."""
    counts = np.zeros(n_levels * n_levels, dtype=np.float64)
    for a, b, ma, mb in (
        (levels[:, :-1], levels[:, 1:], mask[:, :-1], mask[:, 1:]),
        (levels[:-1, :], levels[1:, :], mask[:-1, :], mask[1:, :]),
    ):
        both = ma & mb
        ia, ib = a[both], b[both]
        counts += np.bincount(ia * n_levels + ib, minlength=n_levels * n_levels)
        counts += np.bincount(ib * n_levels + ia, minlength=n_levels * n_levels)
    total = counts.sum()
    if total == 0:
        return 0.0, 1.0
    p = (counts / total).reshape(n_levels, n_levels)
    i, j = np.indices(p.shape)
    diff2 = (i - j) ** 2
    return float((p * diff2).sum()), float((p / (1.0 + diff2)).sum())


def hf_ratio(lightness: NDArray[np.floating], mask: NDArray[np.bool_]) -> float:
    """Fine-band over mid-band energy in the region (0 for a region without detail).

    Fine band: L minus its Gaussian blur at sigma 1; mid band: the sigma-1 blur minus the
    sigma-4 blur. Normalising by the mid band (not by the total variance) keeps gradients,
    objects and tone changes, which live at lower frequencies, out of the measure.
    """
    values = lightness.astype(np.float64)
    blur1 = gaussian_filter(values, sigma=1.0, mode="reflect")
    blur4 = gaussian_filter(values, sigma=4.0, mode="reflect")
    fine = float(np.mean((values - blur1)[mask] ** 2))
    mid = float(np.mean((blur1 - blur4)[mask] ** 2))
    if fine + mid < 1e-10:
        return 0.0
    return fine / (mid + 1e-6)


def detail_layer(lightness: NDArray[np.floating]) -> NDArray[np.float64]:
    """L minus its sigma-4 blur: the local structure GLCM statistics are computed on."""
    values = lightness.astype(np.float64)
    return values - gaussian_filter(values, sigma=4.0, mode="reflect")


def texture_stats(view: ImageView) -> dict[str, float]:
    """The scalar texture statistics of one view."""
    levels = rank_levels(detail_layer(view.lightness), view.mask)
    contrast, homogeneity = glcm_stats(levels, view.mask)
    return {
        "glcm_contrast": contrast,
        "glcm_homogeneity": homogeneity,
        "hf_ratio": hf_ratio(view.lightness, view.mask),
    }


def analyze_texture(image: ImageView, reference: ImageView) -> AspectDelta:
    """Compare local texture statistics (see module docstring)."""
    lbp_sim = hellinger_similarity(
        lbp_histogram(image.lightness, image.mask),
        lbp_histogram(reference.lightness, reference.mask),
    )
    si, sr = texture_stats(image), texture_stats(reference)
    parts = {
        "lbp": lbp_sim,
        "contrast": ratio_similarity(si["glcm_contrast"], sr["glcm_contrast"], 0.5, floor=0.05),
        "homogeneity": diff_similarity(si["glcm_homogeneity"] - sr["glcm_homogeneity"], 0.1),
        "hf": ratio_similarity(si["hf_ratio"], sr["hf_ratio"], 0.6, floor=1e-3),
    }
    similarity = combine(parts, _WEIGHTS)
    measured = {"lbp_similarity": lbp_sim}
    for key in si:
        measured[f"{key}_image"] = si[key]
        measured[f"{key}_reference"] = sr[key]
        measured[f"{key}_delta"] = si[key] - sr[key]

    findings: list[str] = []
    adjustments: list[Adjustment] = []
    detail = math.log((si["hf_ratio"] + 1e-3) / (sr["hf_ratio"] + 1e-3))
    if detail <= -DETAIL_NOTICE:
        findings.append(
            f"less fine detail than the reference (high-frequency energy x{math.exp(detail):.2f}):"
            " the image looks softer or blurrier"
        )
        adjustments += [
            Adjustment(
                "add_prompt_terms",
                "image is softer",
                ("sharp focus", "fine detail", "intricate texture"),
            ),
            Adjustment("add_negative_terms", "image is softer", ("blurry", "soft focus")),
            Adjustment(
                "change_parameters",
                "more denoising steps resolve finer detail",
                changes={"steps": 10.0},
            ),
        ]
    elif detail >= DETAIL_NOTICE:
        findings.append(
            f"more fine detail or grain than the reference"
            f" (high-frequency energy x{math.exp(detail):.2f})"
        )
        adjustments += [
            Adjustment("add_prompt_terms", "image is busier", ("smooth surfaces", "soft texture")),
            Adjustment("add_negative_terms", "image is busier", ("noisy", "grainy")),
        ]
    if lbp_sim < 0.9 and not findings:
        findings.append(f"the local pattern structure differs (LBP similarity {lbp_sim:.2f})")
    if not findings:
        findings.append("texture matches the reference")
    return AspectDelta(
        aspect="texture",
        similarity=similarity,
        severity=Severity.from_similarity(similarity),
        measured=measured,
        findings=tuple(findings),
        adjustments=tuple(adjustments),
    )
