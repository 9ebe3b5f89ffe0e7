"""Vectorised rasterisation of shapes-world scenes.

Each shape is described by a signed distance (negative inside, in pixels) evaluated at pixel
centres; coverage is ``clip(0.5 - distance, 0, 1)``, the area a one-pixel box filter sees of
a straight edge. That is the anti-aliasing a supersample-then-downscale renderer converges
to, at the cost of one distance per pixel, and it vectorises across a whole batch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pakati_engine.world.colors import COLOR_NAMES, COLOR_RGB
from pakati_engine.world.sampling import MAX_OBJECTS, SHAPES, SceneSpec

_SQRT5 = float(np.sqrt(5.0))


def _signed_distance(
    shape: str, dx: NDArray[np.float32], dy: NDArray[np.float32], half: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Signed distance to a shape of bounding-box half-side ``half`` centred at the origin.

    dx: (M, 1, W) and dy: (M, H, 1) pixel-centre offsets; half: (M, 1, 1). Returns (M, H, W).
    """
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - half
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - half
    if shape == "triangle":
        # Apex at (0, -half), base corners at (+-half, +half); side normals are (+-2, -1)/sqrt5.
        base = dy - half
        sides = (2.0 * np.abs(dx) - (dy + half)) / _SQRT5
        return np.maximum(base, sides)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def render_alphas(specs: list[SceneSpec]) -> NDArray[np.float32]:
    """Coverage of every object slot: (B, MAX_OBJECTS, H, W) in [0, 1]; empty slots are 0.

    All specs must share one canvas size. Work is grouped by shape so each object costs one
    distance evaluation over the canvas.
    """
    if not specs:
        raise ValueError("no scenes to render")
    width, height = specs[0].width, specs[0].height
    if any(s.width != width or s.height != height for s in specs):
        raise ValueError("all scenes of one batch must have the same size")
    alphas = np.zeros((len(specs), MAX_OBJECTS, height, width), dtype=np.float32)
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    for shape in SHAPES:
        index = [
            (b, k) for b, s in enumerate(specs) for k, o in enumerate(s.objects) if o.shape == shape
        ]
        if not index:
            continue
        objs = [specs[b].objects[k] for b, k in index]
        cx = np.array([o.cx for o in objs], dtype=np.float32)
        cy = np.array([o.cy for o in objs], dtype=np.float32)
        half = np.array([o.size / 2 for o in objs], dtype=np.float32)[:, None, None]
        dx = xs[None, None, :] - cx[:, None, None]  # (M, 1, W)
        dy = ys[None, :, None] - cy[:, None, None]  # (M, H, 1)
        dist = _signed_distance(shape, dx, dy, half)  # (M, H, W)
        bs, ks = zip(*index, strict=True)
        alphas[list(bs), list(ks)] = np.clip(0.5 - dist, 0.0, 1.0)
    return alphas


def composite(specs: list[SceneSpec], alphas: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Paint objects over their backgrounds: (B, H, W, 3) uint8.

    Objects never overlap, so the image is the background weighted by the uncovered fraction
    plus each object's colour weighted by its coverage.
    """
    color_index = {name: i for i, name in enumerate(COLOR_NAMES)}
    rgb = COLOR_RGB.astype(np.float32)
    bg = rgb[[color_index[s.background] for s in specs]]  # (B, 3)
    obj = np.zeros((len(specs), MAX_OBJECTS, 3), dtype=np.float32)
    for b, s in enumerate(specs):
        for k, o in enumerate(s.objects):
            obj[b, k] = rgb[color_index[o.color]]
    covered = np.clip(alphas.sum(axis=1), 0.0, 1.0)  # (B, H, W)
    image = bg[:, None, None, :] * (1.0 - covered)[..., None]  # (B, H, W, 3)
    image += np.einsum("bkhw,bkc->bhwc", alphas, obj)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def render(specs: list[SceneSpec]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Render scenes: images (B, H, W, 3) uint8 and object coverage (B, MAX_OBJECTS, H, W)."""
    alphas = render_alphas(specs)
    return composite(specs, alphas), alphas
