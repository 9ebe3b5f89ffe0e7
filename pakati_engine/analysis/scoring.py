"""Shared maps from raw differences to 0..1 similarities.

All aspect measures use the same few mappings so that their similarities are comparable:

- a signed or absolute difference ``d`` against a scale ``s``: ``exp(-(d/s)**2)``. Flat
  near zero (measurement noise costs nothing), 0.37 at ``d = s``. Severity bands (see
  ``Severity.from_similarity``) then sit at ``d/s`` = 0.23 (low), 0.40 (medium), 0.66 (high).
- a ratio of two positive quantities: the same map applied to ``log(a/b)``.
- two histograms: ``1 - Hellinger distance`` (bounded, symmetric, 1 for equal histograms).
- several component similarities: a weighted geometric mean, so one badly mismatched
  component pulls the aspect down (a plain mean would hide it among good ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

EPS = 1e-8


def diff_similarity(difference: float, scale: float) -> float:
    """``exp(-(difference/scale)**2)``: 1 at zero, 0.37 at one ``scale``."""
    return float(math.exp(-((difference / scale) ** 2)))


def ratio_similarity(a: float, b: float, scale: float, floor: float = EPS) -> float:
    """Similarity of two non-negative magnitudes by their log ratio.

    ``floor`` is added to both so that two near-zero quantities count as equal.
    """
    return diff_similarity(math.log((a + floor) / (b + floor)), scale)


def hellinger_similarity(p: NDArray[np.floating], q: NDArray[np.floating]) -> float:
    """``1 - H(p, q)`` for two histograms (normalised here); 1 when equal, 0 when disjoint."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / max(float(p.sum()), EPS)
    q = q / max(float(q.sum()), EPS)
    bc = float(np.sum(np.sqrt(p * q)))
    return 1.0 - math.sqrt(max(0.0, 1.0 - min(1.0, bc)))


def combine(similarities: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """Weighted geometric mean of component similarities (components missing are skipped)."""
    total = 0.0
    acc = 0.0
    for name, weight in weights.items():
        if name not in similarities:
            continue
        acc += weight * math.log(max(similarities[name], 1e-6))
        total += weight
    if total == 0.0:
        return 1.0
    return float(min(1.0, max(0.0, math.exp(acc / total))))
