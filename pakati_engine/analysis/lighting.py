"""Lighting aspect: exposure, contrast, key, colour temperature and light direction.

Measures over the region's pixels (L* scaled to 0..1 unless said otherwise):

- ``lightness_mean``: mean L*/100 (exposure).
- ``contrast``: standard deviation of L*/100.
- ``dynamic_range``: 98th minus 2nd percentile of L*/100.
- ``key``: log-average relative luminance Y (Reinhard's "key"); below 0.08 is low-key,
  above 0.35 high-key (mid-grey is 0.18).
- ``cct_kelvin`` / ``mireds``: correlated colour temperature of the estimated illuminant.
  The illuminant is the mean linear RGB of the brightest unclipped pixels (top 10 % by L*,
  all channels below 0.98), i.e. the assumption that bright surfaces are near neutral; its
  CIE 1931 xy chromaticity goes through McCamy's cubic (clipped to 1500-15000 K).
  Differences are compared in mireds (1e6/K), which are closer to perceptually uniform.
  A positive ``mireds_delta`` means the image light is warmer than the reference's.
- ``light_dx`` / ``light_dy``: the mean gradient of heavily blurred L*/100 (sigma 4 % of
  the longest side), scaled to "lightness change across the region". Light comes from the
  side the image gets brighter towards: negative dx = from the left, negative dy = from
  above (y grows downwards).

Similarity: weighted geometric mean of ``exp(-(Δmean/0.15)^2)`` (1.5), the contrast
log-ratio map with scale 0.5 (1), ``exp(-(Δrange/0.25)^2)`` (0.5),
``exp(-(Δmireds/80)^2)`` (1) and ``exp(-(|Δ direction vector|/0.3)^2)`` (0.75).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from pakati_engine.analysis.prepare import ImageView
from pakati_engine.analysis.scoring import combine, diff_similarity, ratio_similarity
from pakati_engine.analysis.types import Adjustment, AspectDelta, Severity

_WEIGHTS = {"mean": 1.5, "contrast": 1.0, "range": 0.5, "temperature": 1.0, "direction": 0.75}

# Linear sRGB -> CIE XYZ (D65).
_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)

_DIRECTIONS = (
    "right",
    "lower right",
    "bottom",
    "lower left",
    "left",
    "upper left",
    "top",
    "upper right",
)


def _linear(rgb: NDArray[np.floating]) -> NDArray[np.float64]:
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def estimate_cct(rgb_pixels: NDArray[np.floating], lightness: NDArray[np.floating]) -> float:
    """Colour temperature (K) of the light, from the brightest unclipped pixels."""
    unclipped = rgb_pixels.max(axis=1) < 0.98
    candidates = lightness >= np.quantile(lightness, 0.9)
    chosen = candidates & unclipped
    if chosen.sum() < 8:
        chosen = unclipped if unclipped.sum() >= 8 else np.ones_like(unclipped)
    xyz = _RGB_TO_XYZ @ _linear(rgb_pixels[chosen]).mean(axis=0)
    total = float(xyz.sum())
    if total <= 1e-9:
        return 6504.0
    x, y = xyz[0] / total, xyz[1] / total
    if abs(0.1858 - y) < 1e-6:
        return 15000.0
    n = (x - 0.3320) / (0.1858 - y)
    cct = 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33
    return float(np.clip(cct, 1500.0, 15000.0))


def light_vector(view: ImageView) -> tuple[float, float]:
    """(dx, dy): mean lightness change across the region's width and height."""
    h, w = view.shape
    blurred = gaussian_filter(
        view.lightness.astype(np.float64), sigma=0.04 * max(h, w), mode="nearest"
    )
    gy, gx = np.gradient(blurred)
    return float(gx[view.mask].mean() * w), float(gy[view.mask].mean() * h)


def direction_name(dx: float, dy: float) -> str:
    """Where the light comes from, as a phrase ("upper left")."""
    angle = math.degrees(math.atan2(dy, dx)) % 360.0
    return _DIRECTIONS[int(((angle + 22.5) % 360.0) // 45.0)]


def lighting_stats(view: ImageView) -> dict[str, float]:
    """The scalar lighting statistics of one view."""
    light = view.lightness[view.mask].astype(np.float64)
    lab_l = light * 100.0
    y_lum = np.where(lab_l > 8.0, ((lab_l + 16.0) / 116.0) ** 3, lab_l / 903.3)
    cct = estimate_cct(view.rgb[view.mask], light)
    dx, dy = light_vector(view)
    p2, p98 = np.quantile(light, [0.02, 0.98])
    return {
        "lightness_mean": float(light.mean()),
        "contrast": float(light.std()),
        "dynamic_range": float(p98 - p2),
        "key": float(np.exp(np.mean(np.log(y_lum + 1e-4)))),
        "cct_kelvin": cct,
        "mireds": 1e6 / cct,
        "light_dx": dx,
        "light_dy": dy,
    }


def _key_name(key: float) -> str:
    return "low-key" if key < 0.08 else ("high-key" if key > 0.35 else "mid-key")


def analyze_lighting(image: ImageView, reference: ImageView) -> AspectDelta:
    """Compare exposure, contrast, key, light colour and direction (see module docstring)."""
    si, sr = lighting_stats(image), lighting_stats(reference)
    d = {k: si[k] - sr[k] for k in si}
    dir_delta = math.hypot(d["light_dx"], d["light_dy"])
    parts = {
        "mean": diff_similarity(d["lightness_mean"], 0.15),
        "contrast": ratio_similarity(si["contrast"], sr["contrast"], 0.5, floor=0.02),
        "range": diff_similarity(d["dynamic_range"], 0.25),
        "temperature": diff_similarity(d["mireds"], 80.0),
        "direction": diff_similarity(dir_delta, 0.3),
    }
    similarity = combine(parts, _WEIGHTS)
    measured: dict[str, float] = {}
    for key in si:
        measured[f"{key}_image"] = si[key]
        measured[f"{key}_reference"] = sr[key]
        measured[f"{key}_delta"] = d[key]

    findings: list[str] = []
    adj: list[Adjustment] = []
    if d["lightness_mean"] >= 0.05:
        findings.append(f"brighter than the reference (mean L* {d['lightness_mean'] * 100:+.0f})")
        adj.append(
            Adjustment("add_prompt_terms", "image is too bright", ("darker", "lower exposure"))
        )
        adj.append(Adjustment("add_negative_terms", "image is too bright", ("overexposed",)))
    elif d["lightness_mean"] <= -0.05:
        findings.append(f"darker than the reference (mean L* {d['lightness_mean'] * 100:+.0f})")
        adj.append(
            Adjustment("add_prompt_terms", "image is too dark", ("brighter lighting", "well lit"))
        )
        adj.append(Adjustment("add_negative_terms", "image is too dark", ("underexposed",)))
    log_c = math.log((si["contrast"] + 0.02) / (sr["contrast"] + 0.02))
    if log_c <= -0.2:
        findings.append(
            f"flatter than the reference (contrast {si['contrast']:.2f} vs {sr['contrast']:.2f})"
        )
        adj.append(
            Adjustment(
                "add_prompt_terms", "image lacks contrast", ("more contrast", "dramatic lighting")
            )
        )
    elif log_c >= 0.2:
        findings.append(
            f"harsher than the reference (contrast {si['contrast']:.2f} vs {sr['contrast']:.2f})"
        )
        adj.append(
            Adjustment(
                "add_prompt_terms",
                "image has too much contrast",
                ("soft even lighting", "low contrast"),
            )
        )
    if _key_name(si["key"]) != _key_name(sr["key"]):
        findings.append(f"{_key_name(si['key'])} where the reference is {_key_name(sr['key'])}")
        adj.append(
            Adjustment(
                "add_prompt_terms", "lighting key differs", (f"{_key_name(sr['key'])} lighting",)
            )
        )
    if d["mireds"] >= 20.0:
        findings.append(
            f"warmer light than the reference ({si['cct_kelvin']:.0f} K"
            f" vs {sr['cct_kelvin']:.0f} K)"
        )
        adj.append(
            Adjustment(
                "add_prompt_terms", "light is too warm", ("cooler light", "neutral daylight")
            )
        )
    elif d["mireds"] <= -20.0:
        findings.append(
            f"cooler light than the reference ({si['cct_kelvin']:.0f} K"
            f" vs {sr['cct_kelvin']:.0f} K)"
        )
        adj.append(
            Adjustment(
                "add_prompt_terms", "light is too cool", ("warmer light", "golden hour light")
            )
        )
    ref_strength = math.hypot(sr["light_dx"], sr["light_dy"])
    if dir_delta >= 0.15 and ref_strength >= 0.1:
        where = direction_name(sr["light_dx"], sr["light_dy"])
        findings.append(f"the reference is lit from the {where}; the image is not")
        adj.append(
            Adjustment(
                "add_prompt_terms", "light direction differs", (f"light coming from the {where}",)
            )
        )
    if not findings:
        findings.append("lighting matches the reference")
    return AspectDelta(
        aspect="lighting",
        similarity=similarity,
        severity=Severity.from_similarity(similarity),
        measured=measured,
        findings=tuple(findings),
        adjustments=tuple(adj),
    )
