"""The eight canonical colours of the shapes world, and sRGB -> CIELAB conversion.

Every module that names a colour (the world renderer, the judge, captions, the CLIP
training script) imports these values from here, so a colour name always means one sRGB
triple. CIELAB is used to compare colours because its Euclidean distance follows perceived
difference far better than RGB distance does.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 38, 38),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (40, 170, 70),
    "blue": (40, 80, 220),
    "purple": (140, 60, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
"""Colour name -> canonical sRGB (uint8 values)."""

COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
"""Colour names in canonical order; an index into this tuple is a colour id."""

COLOR_RGB: NDArray[np.uint8] = np.array([COLORS[n] for n in COLOR_NAMES], dtype=np.uint8)
"""(8, 3) canonical sRGB values, row i for ``COLOR_NAMES[i]``."""

# D65 reference white for the XYZ -> Lab step.
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


def rgb_to_lab(rgb: NDArray[np.generic]) -> NDArray[np.float64]:
    """Convert sRGB values (uint8 0-255, or floats 0-255) of shape (..., 3) to CIELAB (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps = 216.0 / 24389.0
    kappa = 24389.0 / 27.0
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


COLOR_LAB: NDArray[np.float64] = rgb_to_lab(COLOR_RGB)
"""(8, 3) CIELAB values of the canonical colours."""


def nearest_color(rgb: NDArray[np.generic]) -> tuple[str, float]:
    """Return the canonical colour nearest to one sRGB triple in CIELAB, and its distance."""
    lab = rgb_to_lab(np.asarray(rgb, dtype=np.float64).reshape(1, 3))[0]
    dist = np.linalg.norm(COLOR_LAB - lab, axis=1)
    i = int(np.argmin(dist))
    return COLOR_NAMES[i], float(dist[i])


def article(word: str) -> str:
    """Return ``"an"`` before a vowel sound (``"an orange circle"``), else ``"a"``."""
    return "an" if word[:1] in "aeiou" else "a"
