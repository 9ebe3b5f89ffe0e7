"""Analytic judge of shapes-world images: no neural network, only colour and geometry.

For an image and the layout it was meant to follow (regions with an expected shape and
colour, plus an expected background), the judge says per region whether an object is there,
its colour (nearest canonical colour in CIELAB), its shape (from geometry) and how much colour
leaked between regions; and it names the image's background colour.

Method, in order:
1. Background: the most common canonical colour of the image border; its median observed
   colour is the reference for step 2.
2. Foreground: pixels farther than ``FOREGROUND_DELTA_E`` from that colour. The object of a
   region is the largest 8-connected foreground component inside the region; it is present if
   it covers at least ``min_area_fraction`` of the region (and a few pixels).
3. Colour: median colour of the object's core (the component eroded by one pixel, which drops
   anti-aliased edge pixels that mix object and background), matched in CIELAB.
4. Shape: from a soft coverage map (each pixel's position between background and object
   colour), the world shape whose template, matched to the object's centroid and second
   moments, overlaps it best (see :mod:`pakati_engine.world.shape_geometry`).
5. Leakage: among a region's clean-coloured core foreground pixels, the fraction whose colour
   is expected by another region and not by this one (``leakage``); and, per region, the
   share of its expected colour's clean pixels that lie outside it (``leakage_out``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from pakati_engine.world.colors import COLOR_LAB, COLOR_NAMES, nearest_color, rgb_to_lab
from pakati_engine.world.shape_geometry import ShapeFeatures, classify_shape, shape_features

if TYPE_CHECKING:
    from pakati_engine.world.scene import Scene

FOREGROUND_DELTA_E = 15.0
"""Half the smallest distance between two canonical colours (blue and purple, 30)."""
CLEAN_DELTA_E = 12.0
"""A pixel within this distance of a canonical colour has that colour for leakage counts."""
PixelBox = tuple[int, int, int, int]


class _LayoutLike(Protocol):
    @property
    def box(self) -> PixelBox: ...

    @property
    def shape(self) -> str: ...

    @property
    def color(self) -> str: ...


@dataclass(frozen=True)
class ExpectedRegion:
    """What a region should contain. Give ``box`` (x0, y0, x1, y1; exclusive ends) or ``mask``."""

    box: PixelBox | None = None
    mask: NDArray[np.bool_] | None = None
    shape: str | None = None
    color: str | None = None

    @classmethod
    def from_layout(cls, region: _LayoutLike) -> ExpectedRegion:
        """From anything with ``box``, ``shape`` and ``color`` (e.g. a world ``LayoutRegion``)."""
        return cls(box=tuple(region.box), shape=region.shape, color=region.color)  # type: ignore[arg-type]

    def pixel_mask(self, height: int, width: int) -> NDArray[np.bool_]:
        if self.mask is not None:
            mask = np.asarray(self.mask) > 0
            if mask.shape != (height, width):
                raise ValueError(f"region mask {mask.shape} does not match image {(height, width)}")
            return mask
        if self.box is None:
            raise ValueError("a region needs a box or a mask")
        x0, y0, x1, y1 = (int(v) for v in self.box)
        mask = np.zeros((height, width), dtype=bool)
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        return mask


@dataclass(frozen=True)
class RegionJudgement:
    """The judge's findings for one region."""

    expected_shape: str | None
    expected_color: str | None
    present: bool
    color: str | None
    color_distance: float
    """CIELAB distance from the object's median colour to ``color``."""
    shape: str | None
    features: ShapeFeatures | None
    object_box: PixelBox | None
    area_fraction: float
    """Object area over region area."""
    leakage: float
    leakage_out: float

    @property
    def color_correct(self) -> bool:
        return self.present and self.color == self.expected_color

    @property
    def shape_correct(self) -> bool:
        return self.present and self.shape == self.expected_shape

    @property
    def correct(self) -> bool:
        return self.color_correct and self.shape_correct


@dataclass(frozen=True)
class Judgement:
    """Per-region verdicts and aggregates for one image."""

    regions: tuple[RegionJudgement, ...]
    background: str
    expected_background: str | None
    accuracy_color: float
    accuracy_shape: float
    accuracy_both: float
    leakage: float
    """Mean over regions of ``RegionJudgement.leakage``."""
    leakage_out: float

    @property
    def background_correct(self) -> bool | None:
        if self.expected_background is None:
            return None
        return self.background == self.expected_background


def _as_rgb(image: Image.Image | NDArray[Any]) -> NDArray[np.uint8]:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    return array.astype(np.uint8)


def _labels(lab: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest canonical colour index and its distance, per pixel."""
    dist = np.linalg.norm(lab[..., None, :] - COLOR_LAB, axis=-1)  # (H, W, 8)
    return dist.argmin(axis=-1), dist.min(axis=-1)


def estimate_background(
    rgb: NDArray[np.uint8], lab: NDArray[np.float64]
) -> tuple[str, NDArray[np.float64]]:
    """Background name and observed Lab colour from the image border's commonest colour."""
    h, w = rgb.shape[:2]
    ring = max(1, round(0.02 * min(h, w)))
    border = np.ones((h, w), dtype=bool)
    border[ring : h - ring, ring : w - ring] = False
    labels, _ = _labels(lab[border])
    mode = int(np.bincount(labels, minlength=len(COLOR_NAMES)).argmax())
    observed = np.median(lab[border][labels == mode], axis=0)
    return COLOR_NAMES[mode], observed


def _coverage(
    rgb: NDArray[np.uint8],
    component: NDArray[np.bool_],
    obj: NDArray[np.float64],
    bg: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per pixel, how far its colour lies from background to object colour, in [0, 1]."""
    near = ndimage.binary_dilation(component, iterations=1)
    axis = obj - bg
    t = ((rgb.astype(np.float64) - bg) @ axis) / max(float(axis @ axis), 1e-9)
    return np.where(near, np.clip(t, 0.0, 1.0), 0.0)


def _leakage(
    region: ExpectedRegion,
    mask: NDArray[np.bool_],
    regions: Sequence[ExpectedRegion],
    masks: Sequence[NDArray[np.bool_]],
    clean: NDArray[np.bool_],
    labels: NDArray[np.int64],
) -> tuple[float, float]:
    """(share of the region's clean pixels in other regions' colours, share of the region's
    colour found outside every region that expects it)."""
    others = [COLOR_NAMES.index(r.color) for r in regions if r.color not in (None, region.color)]
    inside = clean & mask
    leak = float(np.isin(labels[inside], others).mean()) if inside.any() and others else 0.0
    if region.color not in COLOR_NAMES:
        return leak, 0.0
    own = clean & (labels == COLOR_NAMES.index(region.color))
    elsewhere = own.copy()
    for other, other_mask in zip(regions, masks, strict=True):
        if other.color == region.color:
            elsewhere &= ~other_mask
    total = int(own.sum())
    return leak, float(elsewhere.sum()) / total if total else 0.0


def _judge_region(
    rgb: NDArray[np.uint8],
    foreground: NDArray[np.bool_],
    bg_rgb: NDArray[np.float64],
    region: ExpectedRegion,
    mask: NDArray[np.bool_],
    leak: float,
    leak_out: float,
    min_area_fraction: float,
) -> RegionJudgement:
    """Find the region's object (largest foreground component) and describe it."""
    area = max(int(mask.sum()), 1)
    components, n = ndimage.label(foreground & mask, structure=np.ones((3, 3)))
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
    obj_area = int(sizes.max()) if n else 0
    if n == 0 or obj_area < max(4, min_area_fraction * area):
        return RegionJudgement(
            expected_shape=region.shape, expected_color=region.color, present=False,
            color=None, color_distance=0.0, shape=None, features=None, object_box=None,
            area_fraction=obj_area / area, leakage=leak, leakage_out=leak_out,
        )  # fmt: skip
    component = components == int(sizes.argmax()) + 1
    core = ndimage.binary_erosion(component, iterations=1)
    pixels = rgb[core] if core.sum() >= 3 else rgb[component]
    median = np.median(pixels.astype(np.float64), axis=0)
    color, color_distance = nearest_color(median)
    features = shape_features(_coverage(rgb, component, median, bg_rgb))
    ys, xs = np.nonzero(component)
    return RegionJudgement(
        expected_shape=region.shape,
        expected_color=region.color,
        present=True,
        color=color,
        color_distance=color_distance,
        shape=classify_shape(features),
        features=features,
        object_box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        area_fraction=obj_area / area,
        leakage=leak,
        leakage_out=leak_out,
    )


def judge(
    image: Image.Image | NDArray[Any],
    regions: Sequence[ExpectedRegion],
    background: str | None = None,
    min_area_fraction: float = 0.004,
) -> Judgement:
    """Judge an RGB image against its expected regions and background."""
    rgb = _as_rgb(image)
    h, w = rgb.shape[:2]
    lab = rgb_to_lab(rgb)
    bg_name, bg_lab = estimate_background(rgb, lab)
    bg_distance = np.linalg.norm(lab - bg_lab, axis=-1)
    foreground = bg_distance > FOREGROUND_DELTA_E
    bg_rgb = (
        np.median(rgb[~foreground].astype(np.float64), axis=0)
        if (~foreground).any()
        else np.zeros(3)
    )
    labels, dist = _labels(lab)
    clean = ndimage.binary_erosion(foreground, iterations=1) & (dist < CLEAN_DELTA_E)
    masks = [r.pixel_mask(h, w) for r in regions]
    verdicts = []
    for region, mask in zip(regions, masks, strict=True):
        leak, leak_out = _leakage(region, mask, regions, masks, clean, labels)
        verdicts.append(
            _judge_region(rgb, foreground, bg_rgb, region, mask, leak, leak_out, min_area_fraction)
        )

    def mean(values: list[bool] | list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    return Judgement(
        regions=tuple(verdicts),
        background=bg_name,
        expected_background=background,
        accuracy_color=mean([v.color_correct for v in verdicts]),
        accuracy_shape=mean([v.shape_correct for v in verdicts]),
        accuracy_both=mean([v.correct for v in verdicts]),
        leakage=mean([v.leakage for v in verdicts]),
        leakage_out=mean([v.leakage_out for v in verdicts]),
    )


def judge_scene(scene: Scene, image: Image.Image | NDArray[Any] | None = None) -> Judgement:
    """Judge ``image`` (default: the scene's own image) against a world scene's layout."""
    regions = [ExpectedRegion.from_layout(r) for r in scene.region_layout]
    return judge(scene.image if image is None else image, regions, scene.background)
