"""Where is "a red circle"? Open-vocabulary localisation behind one small interface.

Two detectors answer ``locate(image, queries)`` with the best box per query:

- :class:`ClipGridDetector` scores a grid of windows at several scales with any open_clip
  model (through a scorer with ``similarity(images, texts)``, e.g. ``ClipScorer``) and
  keeps the best window per query. It needs nothing but the CLIP a user already has.
- :class:`OwlDetector` runs OWL-ViT or OWLv2 through transformers, from a local folder or
  the local Hugging Face cache (never downloaded), when a user has those weights.

The critic can take either to check that each region's object is found inside its region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from pakati_engine.clip.scoring import crop_region
from pakati_engine.errors import ModelNotFoundError

PixelBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """The best box found for one query, and its score (higher is more confident)."""

    query: str
    box: PixelBox
    score: float

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)


class Detector(Protocol):
    def locate(self, image: Image.Image, queries: Sequence[str]) -> list[Detection]: ...


class Similarity(Protocol):
    def similarity(self, images: Sequence[Any], texts: Sequence[str]) -> Any: ...


def grid_windows(
    width: int, height: int, scales: Sequence[float], stride: float = 0.5
) -> list[PixelBox]:
    """Square windows of side ``scale * min(width, height)``, moved by ``stride`` of a side."""
    windows: list[PixelBox] = []
    for scale in scales:
        side = max(4, round(scale * min(width, height)))
        step = max(1, round(side * stride))
        xs = sorted({*range(0, max(1, width - side + 1), step), max(0, width - side)})
        ys = sorted({*range(0, max(1, height - side + 1), step), max(0, height - side)})
        windows += [(x, y, min(width, x + side), min(height, y + side)) for y in ys for x in xs]
    return windows


class ClipGridDetector:
    """Best CLIP window per query over a multi-scale grid (any open_clip model)."""

    def __init__(
        self, scorer: Similarity, scales: Sequence[float] = (0.25, 0.375, 0.5), stride: float = 0.5
    ) -> None:
        self.scorer = scorer
        self.scales = tuple(scales)
        self.stride = stride

    def locate(self, image: Image.Image, queries: Sequence[str]) -> list[Detection]:
        rgb = np.asarray(image.convert("RGB"))
        windows = grid_windows(rgb.shape[1], rgb.shape[0], self.scales, self.stride)
        crops = [crop_region(rgb, window) for window in windows]
        sims = np.asarray(self.scorer.similarity(crops, list(queries)))  # (windows, queries)
        best = sims.argmax(axis=0)
        return [
            Detection(query, windows[int(best[q])], float(sims[best[q], q]))
            for q, query in enumerate(queries)
        ]


class OwlDetector:
    """OWL-ViT / OWLv2 (transformers) from local weights."""

    def __init__(self, model: Any, processor: Any) -> None:
        self.model = model.eval()
        self.processor = processor

    @classmethod
    def from_pretrained(cls, source: str | Path) -> OwlDetector:
        """Load from a folder (or a hub id already in the local cache); never downloads."""
        # Imported here: the detection classes take seconds to import and most runs use none.
        from transformers import (
            AutoConfig,
            AutoProcessor,
            Owlv2ForObjectDetection,
            OwlViTForObjectDetection,
        )

        try:
            config = AutoConfig.from_pretrained(str(source), local_files_only=True)
            model_class = (
                Owlv2ForObjectDetection
                if config.model_type == "owlv2"
                else OwlViTForObjectDetection
            )
            model = model_class.from_pretrained(str(source), local_files_only=True)
            processor = AutoProcessor.from_pretrained(str(source), local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelNotFoundError(
                f"no OWL-ViT/OWLv2 detector at {str(source)!r} ({error}); give a local folder "
                "with its config, weights and processor files (Pakati never downloads)"
            ) from error
        return cls(model, processor)

    @torch.no_grad()
    def locate(self, image: Image.Image, queries: Sequence[str]) -> list[Detection]:
        picture = image.convert("RGB")
        inputs = self.processor(text=[list(queries)], images=picture, return_tensors="pt")
        outputs = self.model(**inputs)
        logits = outputs.logits[0]  # (patches, queries)
        boxes = outputs.pred_boxes[0]  # (patches, 4): centre x, centre y, width, height in [0, 1]
        width, height = picture.size
        found = []
        for q, query in enumerate(queries):
            best = int(logits[:, q].argmax())
            cx, cy, w, h = (float(v) for v in boxes[best])
            box = (
                max(0, round((cx - w / 2) * width)),
                max(0, round((cy - h / 2) * height)),
                min(width, round((cx + w / 2) * width)),
                min(height, round((cy + h / 2) * height)),
            )
            found.append(Detection(query, box, float(torch.sigmoid(logits[best, q]))))
        return found
