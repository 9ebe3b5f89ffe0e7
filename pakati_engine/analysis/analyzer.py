"""The delta analyzer's entry point: compare an image (or a region of it) with a reference."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from pakati_engine.analysis.color import analyze_color
from pakati_engine.analysis.composition import analyze_composition
from pakati_engine.analysis.general import analyze_general
from pakati_engine.analysis.lighting import analyze_lighting
from pakati_engine.analysis.prepare import ImageInput, ImageView, prepare_pair
from pakati_engine.analysis.style import analyze_style
from pakati_engine.analysis.texture import analyze_texture
from pakati_engine.analysis.types import ASPECTS, AspectDelta, DeltaReport
from pakati_engine.errors import InvalidInputError

AspectMeasure = Callable[[ImageView, ImageView], AspectDelta]

MEASURES: dict[str, AspectMeasure] = {
    "color": analyze_color,
    "texture": analyze_texture,
    "lighting": analyze_lighting,
    "composition": analyze_composition,
    "style": analyze_style,
    "general": analyze_general,
}

_ALIASES = {"colour": "color"}

DEFAULT_MAX_SIDE = 256


def normalize_aspects(aspects: str | Iterable[str] | None) -> list[str]:
    """Validate aspect names (``"colour"`` is accepted for ``"color"``); None means all."""
    if aspects is None:
        return list(ASPECTS)
    names = [aspects] if isinstance(aspects, str) else list(aspects)
    out: list[str] = []
    for name in names:
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in MEASURES:
            raise InvalidInputError(f"unknown aspect {name!r}; choose from {', '.join(ASPECTS)}")
        if key not in out:
            out.append(key)
    if not out:
        raise InvalidInputError(f"no aspect given; choose from {', '.join(ASPECTS)}")
    return out


def analyze_deltas(
    image: ImageInput,
    reference: ImageInput,
    aspects: str | Iterable[str] | None = None,
    mask: Any = None,
    reference_mask: Any = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> DeltaReport:
    """Measure how ``image`` differs from ``reference``, aspect by aspect.

    Args:
        image: the generated image: a PIL image, an (H, W, 3) uint8 array (or float in
            0..1), a path, or an object with ``to_array()`` such as ``ReferenceImage``.
        reference: the reference, in any of the same forms; its size may differ.
        aspects: one aspect name or several ("color", "texture", "lighting",
            "composition", "style", "general"); None analyses all six.
        mask: optional (H, W) bool or 0..1 float mask of ``image`` selecting the region
            to analyse. Statistics use only masked pixels; spatial measures work on the
            mask's bounding box. The whole reference is compared with the region.
        reference_mask: optional mask of ``reference``, when only part of it is meant.
        max_side: longest side of the working resolution (see ``prepare``); 256 keeps a
            1024x1024 pair well under a second on two cores.

    Returns:
        A :class:`DeltaReport` with one :class:`AspectDelta` per requested aspect.

    Raises:
        InvalidInputError: unreadable images, a mask of the wrong shape or almost empty,
            or an unknown aspect name.
    """
    start = time.perf_counter()
    names = normalize_aspects(aspects)
    pair = prepare_pair(image, reference, mask, reference_mask, max_side=max_side)
    deltas = {name: MEASURES[name](pair.image, pair.reference) for name in names}
    h, w = pair.image.shape
    return DeltaReport(
        aspects=deltas,
        image_size=pair.image_size,
        reference_size=pair.reference_size,
        region_box=pair.region_box,
        working_size=(w, h),
        elapsed_s=time.perf_counter() - start,
    )
