"""Scoring images and image regions against captions with a CLIP model.

Works with any open_clip model (the small shapes-world CLIP or a standard one): features are
L2-normalised and a score is a cosine similarity in [-1, 1]. Region scoring crops a box, pads
it to a square with the background colour (so the object is not stretched by the model's
resize) and scores the crop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.sampling import SHAPES
from pakati_engine.world.scene import object_caption

ImageLike = Image.Image | NDArray[np.uint8]
Box = tuple[int, int, int, int]

OBJECT_CAPTIONS: tuple[str, ...] = tuple(object_caption(c, s) for c in COLOR_NAMES for s in SHAPES)
"""The 24 per-object captions of the shapes world, colour-major ("a red circle", ...)."""


def to_pil(image: ImageLike) -> Image.Image:
    """A PIL RGB image from a PIL image or an (H, W, 3) uint8 array."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.fromarray(np.asarray(image, dtype=np.uint8), mode="RGB")


def border_color(image: NDArray[np.uint8]) -> tuple[int, int, int]:
    """Median colour of the image's one-pixel border: a robust guess of its background."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]], axis=0)
    r, g, b = np.median(border.reshape(-1, 3), axis=0)
    return (int(r), int(g), int(b))


def crop_region(
    image: ImageLike, box: Box, fill: tuple[int, int, int] | None = None
) -> NDArray[np.uint8]:
    """Crop ``box`` (x0, y0, x1, y1; exclusive ends) and centre it in a square filled with ``fill``.

    ``fill`` defaults to the image's border colour (its background in the shapes world).
    """
    array = np.asarray(to_pil(image))
    height, width = array.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[2])), min(height, int(box[3]))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {box} is empty inside a {width}x{height} image")
    crop = array[y0:y1, x0:x1]
    side = max(crop.shape[0], crop.shape[1])
    color = border_color(array) if fill is None else fill
    square = np.empty((side, side, 3), dtype=np.uint8)
    square[:] = np.array(color, dtype=np.uint8)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return square


@dataclass
class ClipScorer:
    """A CLIP model with its preprocess and tokenizer, and the scores the critic needs."""

    model: Any
    preprocess: Callable[..., torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    device: str = "cpu"

    @torch.no_grad()
    def image_features(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """(N, D) L2-normalised image embeddings."""
        batch = torch.stack([self.preprocess(to_pil(im)) for im in images]).to(self.device)
        return torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1)

    @torch.no_grad()
    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) L2-normalised text embeddings."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        return torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def similarity(self, images: Sequence[ImageLike], texts: Sequence[str]) -> NDArray[np.float32]:
        """(N_images, N_texts) cosine similarities."""
        sims = self.image_features(images) @ self.text_features(texts).T
        return sims.cpu().numpy().astype(np.float32)

    def region_similarity(
        self,
        image: ImageLike,
        boxes: Sequence[Box],
        captions: Sequence[str],
        fill: tuple[int, int, int] | None = None,
    ) -> NDArray[np.float32]:
        """Cosine similarity of each box's crop with its own caption: (N_boxes,)."""
        if len(boxes) != len(captions):
            raise ValueError(f"{len(boxes)} boxes but {len(captions)} captions")
        crops = [crop_region(image, box, fill) for box in boxes]
        sims = self.similarity(crops, captions)
        return np.diagonal(sims).copy()

    def region_probability(
        self,
        image: ImageLike,
        boxes: Sequence[Box],
        captions: Sequence[str],
        candidates: Sequence[str] = OBJECT_CAPTIONS,
        fill: tuple[int, int, int] | None = None,
    ) -> NDArray[np.float32]:
        """Per box, the probability of its caption among ``candidates`` plus itself.

        A softmax over the model's scaled logits: unlike a raw cosine, it is comparable
        across captions, which makes it the better "is this region right?" score.
        """
        crops = [crop_region(image, box, fill) for box in boxes]
        feats = self.image_features(crops)
        out = np.empty(len(boxes), dtype=np.float32)
        scale = float(self.model.logit_scale.detach().exp())
        for i, caption in enumerate(captions):
            texts = [caption, *[c for c in candidates if c != caption]]
            logits = scale * (feats[i : i + 1] @ self.text_features(texts).T)[0]
            out[i] = float(torch.softmax(logits, dim=0)[0])
        return out
