"""What an understood reference is made of, in inspectable form: its palette (named colours
and their shares of the pixels), its object boxes (from the pathway) and its composition
centroid (the saliency centroid of the delta analyzer, and the objects' area-weighted
centre), all as fractions of the image size where they are positions."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pakati_engine.understanding.description import SceneDescription

PALETTE_SIZE = 5
MIN_SHARE = 0.01


def palette(image: NDArray[np.uint8], size: int = PALETTE_SIZE) -> list[dict[str, Any]]:
    """The named colours covering the most pixels (at least ``MIN_SHARE`` each)."""
    from pakati_engine.world.colors import nearest_color

    pixels = image.reshape(-1, 3)[:: max(1, image.shape[0] * image.shape[1] // 4096)]
    names = [nearest_color(p.astype(np.float64))[0] for p in pixels]
    shares = {name: names.count(name) / len(names) for name in set(names)}
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:size]
    return [{"color": c, "share": round(s, 4)} for c, s in ranked if s >= MIN_SHARE]


def knowledge(image: NDArray[np.uint8], description: SceneDescription) -> dict[str, Any]:
    """Palette, object boxes and composition centroid of ``image`` understood as
    ``description``."""
    from pakati_engine.analysis.composition import composition_stats
    from pakati_engine.analysis.prepare import prepare_pair

    h, w = image.shape[:2]
    stats, _ = composition_stats(prepare_pair(image, image).image)
    areas = [(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in description.objects]
    objects_centre = None
    if areas:
        cx = sum(
            a * (o.box[0] + o.box[2]) / 2 for a, o in zip(areas, description.objects, strict=True)
        )
        cy = sum(
            a * (o.box[1] + o.box[3]) / 2 for a, o in zip(areas, description.objects, strict=True)
        )
        objects_centre = [round(cx / sum(areas) / w, 4), round(cy / sum(areas) / h, 4)]
    return {
        "palette": palette(image),
        "background": description.background,
        "object_boxes": [o.to_dict() for o in description.objects],
        "composition_centroid": {
            "saliency": [round(stats["centroid_x"], 4), round(stats["centroid_y"], 4)],
            "objects": objects_centre,
        },
    }
