"""A foreign region: drawn by its own model on a crop, pasted back inside its feathered mask.

The crop is the region's bounding box plus a context margin, grown to an aspect ratio the
model accepts and resized to one of its sizes (or, for models that take any size, to its
native side). The model gets the crop and a mask of the region (grown by half the feather
band) as a masked edit; without edits it gets the crop as image-to-image, else only the
prompt. Its answer is resized back to the box and blended into the canvas through the
region's own feathered mask (:func:`pakati_engine.diffusion.keeping.composite`): pixels
beyond the band, and every frozen (locked) pixel, are the canvas's bytes, whatever the
model sent back.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from pakati_engine.diffusion.keeping import KeepSpec, composite
from pakati_engine.errors import InvalidInputError
from pakati_engine.providers.cache import ResultCache, job_key
from pakati_engine.providers.cards import ModelCard
from pakati_engine.providers.types import ImageJob, ImageProvider, Task

DEFAULT_MARGIN = 16
DEFAULT_FEATHER = 8


@dataclass
class RegionDraw:
    """What drawing one foreign region did (recorded in the result's metadata)."""

    region: str
    model: str
    provider: str
    task: str
    box: tuple[int, int, int, int]
    size: tuple[int, int]
    calls: int
    bytes_sent: int
    cached: bool
    reproducible: bool
    seconds: float
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["box"], data["size"] = list(self.box), list(self.size)
        return data


def choose_task(card: ModelCard, strength: float = 1.0) -> Task:
    """Edit, else image-to-image, else text-to-image; a partial redraw (``strength`` < 1,
    a refinement) prefers image-to-image, which keeps the crop's composition."""
    if strength < 1.0 and "image-to-image" in card.tasks:
        return "image-to-image"
    for task in ("edit", "image-to-image", "text-to-image"):
        if task in card.tasks:
            return task
    raise InvalidInputError(f"{card.id} makes no images ({card.note or 'no image task'})")


def target_size(
    card: ModelCard, box_size: tuple[int, int], multiple: int | None = None
) -> tuple[int, int]:
    """The size the model is asked for: one of its sizes, nearest in aspect and not smaller
    than needed where possible; else the box scaled to the native side."""
    width, height = box_size
    if card.sizes:
        aspect = math.log(width / height)
        best_aspect = min(abs(math.log(w / h) - aspect) for w, h in card.sizes)
        same = [s for s in card.sizes if abs(math.log(s[0] / s[1]) - aspect) <= best_aspect + 1e-9]
        big_enough = [s for s in same if s[0] >= width and s[1] >= height]
        pool = big_enough or same
        return min(pool, key=lambda s: s[0] * s[1]) if big_enough else max(pool, key=lambda s: s[0])
    step = multiple or card.size_multiple
    scale = min(card.native_side, card.max_side) / max(width, height)
    return (
        max(step, round(width * scale / step) * step),
        max(step, round(height * scale / step) * step),
    )


def crop_box(
    inside: np.ndarray, canvas: tuple[int, int], aspect: float | None, margin: int
) -> tuple[int, int, int, int]:
    """Bounding box of ``inside`` plus ``margin``, grown towards ``aspect`` (w/h) inside the
    canvas (centred, shifted at the edges)."""
    width, height = canvas
    ys, xs = np.nonzero(inside)
    x0, x1 = max(0, int(xs.min()) - margin), min(width, int(xs.max()) + 1 + margin)
    y0, y1 = max(0, int(ys.min()) - margin), min(height, int(ys.max()) + 1 + margin)
    if aspect is not None:
        box_w, box_h = x1 - x0, y1 - y0
        if box_w / box_h < aspect:
            x0, x1 = _grow(x0, x1, min(width, round(box_h * aspect)), width)
        else:
            y0, y1 = _grow(y0, y1, min(height, round(box_w / aspect)), height)
    return x0, y0, x1, y1


def _grow(start: int, end: int, length: int, limit: int) -> tuple[int, int]:
    extra = max(0, length - (end - start))
    start -= extra // 2
    end += extra - extra // 2
    if start < 0:
        end, start = end - start, 0
    if end > limit:
        start, end = max(0, start - (end - limit)), limit
    return start, end


def context_prompt(region_prompt: str, base_prompt: str) -> str:
    """The region's prompt, with the canvas's base prompt as context."""
    if not base_prompt.strip():
        return region_prompt
    return f"{region_prompt}, as part of: {base_prompt}"


@dataclass
class Prepared:
    """One foreign region ready to send: the job, where its crop sits, and what it may
    change (its mask's bounding box grown by the feather band)."""

    job: ImageJob
    card: ModelCard
    provider: ImageProvider
    inside: np.ndarray  # (H, W) bool
    box: tuple[int, int, int, int]
    changes: tuple[int, int, int, int]
    frozen: np.ndarray | None
    feather: int
    key: str | None
    cache: ResultCache | None
    reason: str
    start: float


@dataclass
class Answer:
    image: Image.Image
    calls: int
    bytes_sent: int
    reproducible: bool
    cached: bool


def prepare_region(
    canvas: Image.Image,
    mask: np.ndarray,
    card: ModelCard,
    provider: ImageProvider,
    *,
    prompt: str,
    label: str,
    negative_prompt: str = "",
    base_prompt: str = "",
    seed: int | None = None,
    frozen: np.ndarray | None = None,
    feather: int = DEFAULT_FEATHER,
    margin: int = DEFAULT_MARGIN,
    cache: ResultCache | None = None,
    host: str = "",
    multiple: int | None = None,
    strength: float = 1.0,
    reason: str = "",
) -> Prepared:
    """The job for the region ``mask`` (H, W, > 0 inside) of ``canvas``: nothing is sent."""
    start = time.perf_counter()
    canvas = canvas.convert("RGB")
    inside = np.asarray(mask) > 0
    if not inside.any():
        raise InvalidInputError(f"region {label!r} covers no pixel: nothing to draw")
    task = choose_task(card, strength)
    margin = max(margin, feather)
    first = crop_box(inside, canvas.size, None, margin)
    size = target_size(card, (first[2] - first[0], first[3] - first[1]), multiple)
    box = crop_box(inside, canvas.size, size[0] / size[1], margin)
    box_size = (box[2] - box[0], box[3] - box[1])
    if not card.sizes:  # any size: keep the box's own aspect exactly
        size = target_size(card, box_size, multiple)
    # The model draws the region grown by half the band, so the band blends new content.
    grown = ndimage.binary_dilation(inside, iterations=max(1, feather // 2))
    crop_mask = Image.fromarray(grown[box[1] : box[3], box[0] : box[2]].astype(np.uint8) * 255)
    job = ImageJob(
        task=task,
        model=card.remote_id or card.id,
        prompt=context_prompt(prompt, base_prompt),
        size=size,
        negative_prompt=negative_prompt,
        image=None
        if task == "text-to-image"
        else canvas.crop(box).resize(size, Image.Resampling.LANCZOS),
        mask=(np.asarray(crop_mask.resize(size, Image.Resampling.NEAREST)) > 127)
        if task == "edit"
        else None,
        seed=seed,
        # a full redraw by image-to-image still keeps a fifth of the crop as context
        strength=strength if strength < 1.0 else 0.8,
        label=label,
    )
    key = job_key(job, getattr(provider, "name", card.provider), host) if cache else None
    ys, xs = np.nonzero(inside)
    reach = feather + 1  # the blend band (distance < feather + 0.5) lies within this
    changes = (
        max(0, int(xs.min()) - reach),
        max(0, int(ys.min()) - reach),
        min(canvas.width, int(xs.max()) + 1 + reach),
        min(canvas.height, int(ys.max()) + 1 + reach),
    )
    return Prepared(
        job, card, provider, inside, box, changes, frozen, feather, key, cache, reason, start
    )


def fetch(prepared: Prepared) -> Answer:
    """The provider's answer to ``prepared`` (or the cached one): the only network step."""
    cache, key = prepared.cache, prepared.key
    cached = cache.get(key) if cache is not None and key is not None else None
    if cached is not None:
        return Answer(cached, 0, 0, prepared.card.deterministic, True)
    answer = prepared.provider.run(prepared.job)
    if cache is not None and key is not None:
        cache.put(key, answer.image)
    return Answer(answer.image, answer.calls, answer.bytes_sent, answer.reproducible, False)


def paste(
    canvas: Image.Image, prepared: Prepared, answer: Answer
) -> tuple[Image.Image, RegionDraw]:
    """``canvas`` with ``answer`` blended in through the region's own feathered mask."""
    canvas = canvas.convert("RGB")
    box = prepared.box
    box_size = (box[2] - box[0], box[3] - box[1])
    drawn = canvas.copy()
    drawn.paste(answer.image.convert("RGB").resize(box_size, Image.Resampling.LANCZOS), box[:2])
    keep = KeepSpec(
        canvas, prepared.inside.astype(np.float32), feather=prepared.feather, frozen=prepared.frozen
    )
    result = composite(drawn, keep)  # beyond the band and on frozen pixels: canvas bytes
    record = RegionDraw(
        region=prepared.job.label,
        model=prepared.card.id,
        provider=prepared.card.provider,
        task=prepared.job.task,
        box=box,
        size=prepared.job.size,
        calls=answer.calls,
        bytes_sent=answer.bytes_sent,
        cached=answer.cached,
        reproducible=answer.reproducible,
        seconds=round(time.perf_counter() - prepared.start, 4),
        reason=prepared.reason,
    )
    return result, record


def draw_region(
    canvas: Image.Image,
    mask: np.ndarray,
    card: ModelCard,
    provider: ImageProvider,
    **options: Any,
) -> tuple[Image.Image, RegionDraw]:
    """``canvas`` with the region ``mask`` (H, W, > 0 inside) redrawn by ``provider``
    (options: those of :func:`prepare_region`)."""
    prepared = prepare_region(canvas, mask, card, provider, **options)
    return paste(canvas, prepared, fetch(prepared))
