"""The shapes world: seeded procedural scenes of coloured shapes with known ground truth.

Pakati's embedded models are trained on it and its judge is tested on it. Everything that
names a colour imports it from ``pakati_engine.world.colors``.
"""

from pakati_engine.world.batch import SceneBatch, generate_batch, images_per_second
from pakati_engine.world.colors import COLOR_NAMES, COLORS, nearest_color, rgb_to_lab
from pakati_engine.world.sampling import SHAPES, SPATIAL_WORDS, spatial_phrase, spatial_word
from pakati_engine.world.scene import (
    LayoutRegion,
    Scene,
    SceneObject,
    make_scene,
    object_caption,
    scene_caption,
)

__all__ = [
    "COLORS",
    "COLOR_NAMES",
    "SHAPES",
    "SPATIAL_WORDS",
    "LayoutRegion",
    "Scene",
    "SceneBatch",
    "SceneObject",
    "generate_batch",
    "images_per_second",
    "make_scene",
    "nearest_color",
    "object_caption",
    "rgb_to_lab",
    "scene_caption",
    "spatial_phrase",
    "spatial_word",
]
