"""Scoring a reconstruction on the hidden pixels only, and normalising between baselines.

Components, each in [0, 1] (1 = identical on the hidden pixels):

- ``pixel``: 1 - MAE / 255 (PSNR is reported beside it);
- ``structure``: SSIM averaged over the hidden pixels of its map (negative values count 0);
- ``color`` and ``texture``: the delta analyzer's similarities, both images masked to the
  hidden pixels (skipped when fewer than ``MIN_ANALYSED`` pixels are hidden);
- ``feature``: CLIP image cosine (the shipped shapes-world CLIP, or any open_clip model
  given as ``feature_model``) between the two images with every visible pixel set to grey,
  so only hidden pixels differ (negative cosines count 0; skipped when no CLIP loads);
- ``context`` (when the truth's objects are known): the fraction of objects mostly hidden
  (over half their box) that came back: an object of the right colour and shape, found by
  the analytic judge, whose centre lies in the object's box. Omitted when no object was
  hidden.

``score`` is the mean of the components present except ``texture``, which is reported but
not averaged: on the shapes world's flat colours it is unstable (measured: at most 0.28 even
for the oracle's reconstructions, sometimes higher for a blur). The feature score does
separate the baselines (measured on 3 scenes x 4 strategies at half hidden: biharmonic
0.17-0.99, the oracle 0.88-0.998; semantic_regions 0.17-0.55 against 0.90-0.97).

The understanding level of a score S is ``(S - S_trivial) / (S_oracle - S_trivial)``: 0 is
no better than biharmonic filling, 1 as good as the model told the true description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pakati_engine.understanding.description import SceneDescription

MIN_ANALYSED = 64
NOT_AVERAGED = frozenset({"texture"})
_CLIP: list[Any] = []
MIN_SPREAD = 0.005
"""Below this oracle-minus-trivial gap a level is not informative (None)."""


@dataclass(frozen=True)
class HiddenScore:
    components: dict[str, float]
    psnr: float
    score: float = field(init=False)

    def __post_init__(self) -> None:
        averaged = [v for k, v in self.components.items() if k not in NOT_AVERAGED]
        object.__setattr__(self, "score", float(np.mean(averaged)))

    def to_dict(self) -> dict[str, float]:
        return {
            "score": round(self.score, 4),
            "psnr": round(self.psnr, 2),
            **{k: round(v, 4) for k, v in self.components.items()},
        }


def _ssim_hidden(a: NDArray[np.uint8], b: NDArray[np.uint8], hidden: NDArray[np.bool_]) -> float:
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(a, b, channel_axis=-1, data_range=255, full=True)
    return max(0.0, float(full.mean(axis=-1)[hidden].mean()))


def _context(
    image: NDArray[np.uint8], hidden: NDArray[np.bool_], truth: SceneDescription
) -> float | None:
    from pakati_engine.world.goal_judge import find_objects

    mostly_hidden = [
        o for o in truth.objects if hidden[o.box[1] : o.box[3], o.box[0] : o.box[2]].mean() > 0.5
    ]
    if not mostly_hidden:
        return None
    _, found = find_objects(image)
    back = 0
    for obj in mostly_hidden:
        x0, y0, x1, y1 = obj.box
        back += any(
            f.color == obj.color
            and f.shape == obj.shape
            and x0 <= f.centroid[0] <= x1
            and y0 <= f.centroid[1] <= y1
            for f in found
        )
    return back / len(mostly_hidden)


def _clip() -> Any:
    """The shipped CLIP as a scorer, loaded once; None when it cannot be loaded."""
    if not _CLIP:
        try:
            from pakati_engine.clip.model import load_clip
            from pakati_engine.clip.scoring import ClipScorer

            _CLIP.append(ClipScorer(*load_clip()))
        except (OSError, ImportError, RuntimeError, ValueError):
            _CLIP.append(None)
    return _CLIP[0]


def feature_similarity(
    image: NDArray[np.uint8],
    reference: NDArray[np.uint8],
    hidden: NDArray[np.bool_],
    model: Any = None,
) -> float | None:
    """CLIP image cosine of the two images with their visible pixels greyed out."""
    scorer = model if model is not None else _clip()
    if scorer is None:
        return None
    a, b = image.copy(), reference.copy()
    a[~hidden] = 127
    b[~hidden] = 127
    features = scorer.image_features([a, b])  # (2, D), L2-normalised
    return max(0.0, min(1.0, float(features[0] @ features[1])))


def score_hidden(
    image: NDArray[np.uint8],
    reference: NDArray[np.uint8],
    hidden: NDArray[np.bool_],
    truth: SceneDescription | None = None,
    feature_model: Any = None,
) -> HiddenScore:
    """Score ``image`` against ``reference`` on ``hidden`` pixels only."""
    from pakati_engine.analysis import analyze_deltas

    diff = np.abs(image.astype(np.float64) - reference.astype(np.float64))[hidden]
    mae = float(diff.mean())
    mse = float((diff**2).mean())
    psnr = 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)
    components = {"pixel": 1.0 - mae / 255.0, "structure": _ssim_hidden(image, reference, hidden)}
    if hidden.sum() >= MIN_ANALYSED:
        report = analyze_deltas(
            image, reference, aspects=["color", "texture"], mask=hidden, reference_mask=hidden
        )
        components["color"] = float(report["color"].similarity)
        components["texture"] = float(report["texture"].similarity)
    feature = feature_similarity(image, reference, hidden, feature_model)
    if feature is not None:
        components["feature"] = feature
    if truth is not None:
        context = _context(image, hidden, truth)
        if context is not None:
            components["context"] = context
    return HiddenScore(components, psnr)


def understanding_level(score: float, trivial: float, oracle: float) -> float | None:
    """``(score - trivial) / (oracle - trivial)``; None when the oracle is not better."""
    if oracle - trivial < MIN_SPREAD:
        return None
    return (score - trivial) / (oracle - trivial)


def lower_bound(values: Sequence[float], z: float = 1.645) -> float:
    """One-sided 95% lower confidence bound of the mean (normal approximation). Fewer than
    two values give 0: one observation is no evidence of mastery."""
    if len(values) < 2:
        return 0.0
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean() - z * arr.std(ddof=1) / math.sqrt(len(arr)))
