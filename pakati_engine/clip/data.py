"""Training batches for the small CLIP: scenes, region crops, captions and hard negatives.

A batch mixes whole scenes (with their scene captions) and region crops (each layout cell
cropped and padded to a square, with its per-object caption; a few cells are left empty and
captioned as plain background). Hard negative captions change exactly one thing: an
object's colour or shape, the background, or which object sits where. They are extra text
columns in the image-to-text loss, so the model must bind colour to shape and position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from pakati_engine.clip.scoring import crop_region
from pakati_engine.world.batch import generate_batch
from pakati_engine.world.colors import COLOR_NAMES, COLOR_RGB, article
from pakati_engine.world.render import render
from pakati_engine.world.sampling import SHAPES, SceneSpec
from pakati_engine.world.scene import object_caption, pixel_cell, spec_caption

# open_clip's default (OpenAI) normalisation, which the model config keeps.
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def empty_caption(background: str) -> str:
    """Caption of a region with no object: "a plain white background"."""
    return f"{article('plain')} plain {background} background"


@dataclass(frozen=True)
class TrainBatch:
    """Images (normalised model input), their captions, and extra negative captions."""

    images: torch.Tensor
    """(N, 3, S, S) normalised."""
    captions: list[str]
    negatives: list[str]


def to_model_input(images: list[NDArray[np.uint8]], size: int) -> torch.Tensor:
    """uint8 (H, W, 3) images of any sizes -> (N, 3, size, size) normalised tensors.

    Resizes with antialiased bicubic, close to the PIL bicubic resize of open_clip's preprocess.
    """
    out = []
    for image in images:
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        if t.shape[-1] != size or t.shape[-2] != size:
            t = F.interpolate(
                t, size=(size, size), mode="bicubic", antialias=True, align_corners=False
            )
        out.append(t)
    x = torch.cat(out).clamp_(0.0, 1.0)  # (N, 3, size, size)
    return (x - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild photometric noise so the critic tolerates imperfect generated images.

    Small gains, blur and Gaussian noise; none of them moves a canonical colour anywhere
    near another one.
    """
    n = x.shape[0]
    gain = 1.0 + 0.06 * (torch.rand(n, 3, 1, 1, generator=gen) - 0.5)
    x = x * gain
    blur_mask = (torch.rand(n, 1, 1, 1, generator=gen) < 0.3).float()
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 16.0).expand(3, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    x = blur_mask * blurred + (1.0 - blur_mask) * x
    sigma = 0.1 * torch.rand(n, 1, 1, 1, generator=gen)
    return x + sigma * torch.randn(x.shape, generator=gen)


def scene_negatives(spec: SceneSpec, rng: np.random.Generator, count: int) -> list[str]:
    """Captions that differ from the scene's in one respect."""
    positive = spec_caption(spec)
    out: list[str] = []
    for _ in range(4 * count):
        if len(out) == count:
            break
        objs = list(spec.objects)
        k = int(rng.integers(len(objs)))
        kind = int(rng.integers(4))
        if kind == 0:
            colors = [c for c in COLOR_NAMES if c not in (objs[k].color, spec.background)]
            objs[k] = replace(objs[k], color=colors[int(rng.integers(len(colors)))])
            other = replace(spec, objects=tuple(objs))
        elif kind == 1:
            shapes = [s for s in SHAPES if s != objs[k].shape]
            objs[k] = replace(objs[k], shape=shapes[int(rng.integers(len(shapes)))])
            other = replace(spec, objects=tuple(objs))
        elif kind == 2:
            backgrounds = [c for c in COLOR_NAMES if c not in {o.color for o in objs}]
            other = replace(spec, background=backgrounds[int(rng.integers(len(backgrounds)))])
        else:
            if len(objs) < 2:
                continue
            j = (k + 1 + int(rng.integers(len(objs) - 1))) % len(objs)
            a, b = objs[k], objs[j]
            objs[k] = replace(a, color=b.color, shape=b.shape)
            objs[j] = replace(b, color=a.color, shape=a.shape)
            other = replace(spec, objects=tuple(objs))
        caption = spec_caption(other)
        if caption != positive and caption not in out:
            out.append(caption)
    return out


def object_negatives(color: str, shape: str, rng: np.random.Generator) -> list[str]:
    """Same shape in another colour, and same colour as another shape."""
    colors = [c for c in COLOR_NAMES if c != color]
    shapes = [s for s in SHAPES if s != shape]
    return [
        object_caption(colors[int(rng.integers(len(colors)))], shape),
        object_caption(color, shapes[int(rng.integers(len(shapes)))]),
    ]


def make_crops(
    rng: np.random.Generator, count: int, size: int, empty_fraction: float = 0.1
) -> tuple[list[NDArray[np.uint8]], list[str], list[str]]:
    """Region crops of freshly drawn scenes: (crops, captions, hard negative captions).

    A cell is cropped with a small random jitter of its box, as a user's region would not
    match the cell exactly. ``empty_fraction`` of the crops come from scenes re-rendered
    without that object.
    """
    crops: list[NDArray[np.uint8]] = []
    captions: list[str] = []
    negatives: list[str] = []
    while len(crops) < count:
        batch = generate_batch(rng, max(8, count // 2), size)
        for spec, image in zip(batch.specs, batch.images, strict=True):
            bg = tuple(int(v) for v in COLOR_RGB[COLOR_NAMES.index(spec.background)])
            fill = (bg[0], bg[1], bg[2])
            for k, obj in enumerate(spec.objects):
                if len(crops) >= count:
                    break
                x0, y0, x1, y1 = pixel_cell(obj)
                jx, jy = 0.04 * (x1 - x0), 0.04 * (y1 - y0)
                box = (
                    int(x0 - rng.uniform(0, jx)),
                    int(y0 - rng.uniform(0, jy)),
                    int(x1 + rng.uniform(0, jx)),
                    int(y1 + rng.uniform(0, jy)),
                )
                if rng.random() < empty_fraction:
                    rest = tuple(o for i, o in enumerate(spec.objects) if i != k)
                    bare = render([replace(spec, objects=rest)])[0][0]
                    crops.append(crop_region(bare, box, fill))
                    captions.append(empty_caption(spec.background))
                    negatives.append(object_caption(obj.color, obj.shape))
                    continue
                crops.append(crop_region(image, box, fill))
                captions.append(object_caption(obj.color, obj.shape))
                negatives.extend(object_negatives(obj.color, obj.shape, rng))
    return crops, captions, negatives


def make_train_batch(
    rng: np.random.Generator,
    gen: torch.Generator,
    n_scenes: int,
    n_crops: int,
    image_size: int = 64,
    scene_negatives_per_image: int = 2,
) -> TrainBatch:
    """One mixed batch; the canvas size is drawn per batch from 64, 96 and 128 pixels."""
    canvas = int(rng.choice([64, 96, 128]))
    scenes = generate_batch(rng, n_scenes, canvas)
    negatives: list[str] = []
    for spec in scenes.specs:
        negatives.extend(scene_negatives(spec, rng, scene_negatives_per_image))
    crops, crop_captions, crop_negatives = make_crops(rng, n_crops, 128)
    images = to_model_input([*scenes.images, *crops], image_size)
    return TrainBatch(
        images=augment(images, gen),
        captions=[*scenes.captions, *crop_captions],
        negatives=negatives + crop_negatives,
    )
