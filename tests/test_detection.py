"""Open-vocabulary localisation: the CLIP window grid with the shipped CLIP on rendered
scenes, the critic's misplacement check, and OWL-ViT plumbing with tiny random weights."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import torch
from PIL import Image

from pakati.agents.critic import critique_image
from pakati.agents.schemas import Plan
from pakati.tools.session import default_scorer
from pakati_engine.analysis.detection import ClipGridDetector, OwlDetector, grid_windows
from pakati_engine.errors import ModelNotFoundError
from pakati_engine.world.render import render
from pakati_engine.world.sampling import ObjectSpec, SceneSpec
from tests.conftest import TOKENIZER_DIR


@cache
def detector() -> ClipGridDetector:
    return ClipGridDetector(default_scorer())


def scene(objects) -> Image.Image:
    specs = tuple(ObjectSpec(s, c, x, y, 36, (0, 0, 128, 128)) for s, c, x, y in objects)
    images, _ = render([SceneSpec(128, 128, "white", specs)])
    return Image.fromarray(images[0])


def test_grid_windows_cover_the_canvas_at_every_scale() -> None:
    windows = grid_windows(128, 96, scales=(0.5, 0.25))
    assert {w[2] - w[0] for w in windows} == {48, 24}
    assert max(w[2] for w in windows) == 128 and max(w[3] for w in windows) == 96
    assert all(w[0] >= 0 and w[1] >= 0 for w in windows)


def test_the_clip_grid_finds_each_object_in_its_half() -> None:
    image = scene([("circle", "red", 30, 40), ("square", "blue", 98, 90)])
    circle, square = detector().locate(image, ["a red circle", "a blue square"])
    assert circle.centre[0] < 64 and square.centre[0] > 64
    assert circle.centre[1] < square.centre[1]


def test_the_critic_with_a_detector_passes_right_images_and_fails_misplaced_ones() -> None:
    plan = Plan(
        width=128,
        height=128,
        base_prompt="a white background",
        regions=[
            {"name": "circle", "box": (8, 32, 60, 96), "prompt": "a red circle"},
            {"name": "square", "box": (68, 32, 120, 96), "prompt": "a blue square"},
        ],
    )
    scorer = default_scorer()
    right = scene([("circle", "red", 34, 64), ("square", "blue", 94, 64)])
    review = critique_image(right, plan, scorer, 0.3, detector=detector())
    assert review.passed, review.suggestions
    swapped = scene([("square", "blue", 34, 64), ("circle", "red", 94, 64)])
    review = critique_image(swapped, plan, scorer, 0.3, detector=detector())
    assert not review.passed and set(review.failing) == {"circle", "square"}


def tiny_owl(folder: Path) -> Path:
    """A random-weight OWL-ViT with the vendored CLIP tokenizer, saved as a user would have it."""
    from transformers import (
        CLIPTokenizer,
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    torch.manual_seed(0)
    config = OwlViTConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 16},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )  # fmt: skip
    OwlViTForObjectDetection(config).save_pretrained(folder)
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER_DIR, model_max_length=16)
    size = {"height": 32, "width": 32}
    processor = OwlViTProcessor(OwlViTImageProcessor(size=size, crop_size=size), tokenizer)
    processor.save_pretrained(folder)
    return folder


def test_owl_detector_loads_local_weights_and_boxes_every_query(tmp_path: Path) -> None:
    owl = OwlDetector.from_pretrained(tiny_owl(tmp_path / "owl"))
    image = scene([("circle", "red", 34, 64)])
    found = owl.locate(image, ["a red circle", "a blue square"])
    assert [d.query for d in found] == ["a red circle", "a blue square"]
    for detection in found:
        x0, y0, x1, y1 = detection.box
        assert 0 <= x0 <= x1 <= 128 and 0 <= y0 <= y1 <= 128
        assert 0.0 < detection.score < 1.0


def test_owl_detector_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        OwlDetector.from_pretrained(tmp_path / "absent")


def test_a_region_whose_prompt_is_detected_elsewhere_fails_as_misplaced() -> None:
    from pakati_engine.analysis.detection import Detection

    class Elsewhere:
        def locate(self, image, queries):
            return [Detection(q, (100, 100, 120, 120), 0.9) for q in queries]

    plan = Plan(
        width=128,
        height=128,
        base_prompt="a white background",
        regions=[{"name": "circle", "box": (8, 32, 60, 96), "prompt": "a red circle"}],
    )
    image = scene([("circle", "red", 34, 64)])
    assert critique_image(image, plan, default_scorer(), 0.3).passed
    review = critique_image(image, plan, default_scorer(), 0.3, detector=Elsewhere())
    assert not review.passed and review.regions[0].problem == "misplaced"
