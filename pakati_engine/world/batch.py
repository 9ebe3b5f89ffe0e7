"""Fast batches of shapes-world scenes for training.

Scene specs are sampled one by one (cheap) from one generator; rendering is vectorised over
the batch. Objects are returned as padded arrays rather than ``Scene`` records, which keeps
per-sample Python work small when hundreds of thousands of images are drawn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.render import MAX_OBJECTS, render
from pakati_engine.world.sampling import SHAPES, SceneSpec, sample_scene_spec
from pakati_engine.world.scene import Scene, build_scene, object_caption, pixel_cell, spec_caption


@dataclass(frozen=True)
class SceneBatch:
    """A batch of B rendered scenes; object arrays are padded to ``MAX_OBJECTS`` slots."""

    images: NDArray[np.uint8]
    """(B, H, W, 3) RGB."""
    alphas: NDArray[np.float32]
    """(B, MAX_OBJECTS, H, W) object coverage; empty slots are all zero."""
    specs: tuple[SceneSpec, ...]
    captions: tuple[str, ...]
    """Whole-scene captions."""
    object_captions: tuple[tuple[str, ...], ...]
    """Per scene, per object: "a red circle"."""
    n_objects: NDArray[np.int64]
    """(B,) number of objects."""
    shape_ids: NDArray[np.int64]
    """(B, MAX_OBJECTS) index into ``SHAPES``; -1 for empty slots."""
    color_ids: NDArray[np.int64]
    """(B, MAX_OBJECTS) index into ``COLOR_NAMES``; -1 for empty slots."""
    background_ids: NDArray[np.int64]
    """(B,) index into ``COLOR_NAMES``."""
    regions: NDArray[np.int64]
    """(B, MAX_OBJECTS, 4) pixel cells (x0, y0, x1, y1), exclusive ends; zero for empty slots."""

    def __len__(self) -> int:
        return len(self.specs)

    def scene(self, i: int) -> Scene:
        """The i-th sample as a full ``Scene`` record."""
        return build_scene(self.specs[i], self.images[i], self.alphas[i], None)


def generate_batch(
    rng: np.random.Generator,
    batch_size: int,
    size: int | tuple[int, int] = 128,
    n_objects: int | None = None,
    small_fraction: float = 0.0,
) -> SceneBatch:
    """Draw ``batch_size`` scenes from ``rng`` and render them together (``n_objects`` and
    ``small_fraction`` as :func:`~pakati_engine.world.sampling.sample_scene_spec` takes them)."""
    width, height = (size, size) if isinstance(size, int) else size
    specs = [
        sample_scene_spec(rng, width, height, n_objects, small_fraction=small_fraction)
        for _ in range(batch_size)
    ]
    images, alphas = render(specs)
    shape_ids = np.full((batch_size, MAX_OBJECTS), -1, dtype=np.int64)
    color_ids = np.full((batch_size, MAX_OBJECTS), -1, dtype=np.int64)
    regions = np.zeros((batch_size, MAX_OBJECTS, 4), dtype=np.int64)
    for b, spec in enumerate(specs):
        for k, o in enumerate(spec.objects):
            shape_ids[b, k] = SHAPES.index(o.shape)
            color_ids[b, k] = COLOR_NAMES.index(o.color)
            regions[b, k] = pixel_cell(o)
    return SceneBatch(
        images=images,
        alphas=alphas,
        specs=tuple(specs),
        captions=tuple(spec_caption(s) for s in specs),
        object_captions=tuple(
            tuple(object_caption(o.color, o.shape) for o in s.objects) for s in specs
        ),
        n_objects=np.array([len(s.objects) for s in specs], dtype=np.int64),
        shape_ids=shape_ids,
        color_ids=color_ids,
        background_ids=np.array([COLOR_NAMES.index(s.background) for s in specs], dtype=np.int64),
        regions=regions,
    )


def images_per_second(
    size: int = 128, batch_size: int = 256, batches: int = 8, seed: int = 0
) -> float:
    """Measure the batch generator's throughput (images per second) on this machine."""
    rng = np.random.default_rng(seed)
    generate_batch(rng, batch_size, size)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        generate_batch(rng, batch_size, size)
    return batch_size * batches / (time.perf_counter() - start)
