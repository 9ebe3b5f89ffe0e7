"""The critic on rendered shapes-world images (no generative model) with the shipped CLIP:
it passes right images and fails empty regions, swapped colours and shapes, objects in the
wrong half, reversed relations, extra objects and wrong backgrounds. Plus its score
conventions and reference deltas, with a scripted scorer."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from PIL import Image

from pakati.agents.critic import clip_score, critique_image, rival_captions
from pakati.agents.schemas import Critique, Plan
from pakati.tools.session import default_scorer
from pakati_engine.world.render import render
from pakati_engine.world.sampling import ObjectSpec, SceneSpec
from tests.agent_fakes import ScriptedScorer, plan_args

LEFT, RIGHT = (8, 32, 60, 96), (68, 32, 120, 96)
TOP, BOTTOM = (4, 4, 124, 60), (4, 68, 124, 124)


@cache
def scorer():
    return default_scorer()


def scene(objects, background: str = "white", sizes=()) -> Image.Image:
    """Objects as (shape, colour, centre x, centre y), 36 px (or ``sizes``), on a plain
    background."""
    sides = list(sizes) or [36] * len(objects)
    specs = tuple(
        ObjectSpec(s, c, x, y, side, (0, 0, 128, 128))
        for (s, c, x, y), side in zip(objects, sides, strict=True)
    )
    images, _ = render([SceneSpec(128, 128, background, specs)])
    return Image.fromarray(images[0])


def side_by_side(relations=()) -> Plan:
    return Plan(
        width=128,
        height=128,
        goal="a red circle on the left and a blue square on the right, on a white background",
        base_prompt="a white background",
        regions=[
            {"name": "circle", "box": LEFT, "prompt": "a red circle"},
            {"name": "square", "box": RIGHT, "prompt": "a blue square"},
        ],
        relations=list(relations),
    )


def check(image: Image.Image, plan: Plan) -> Critique:
    return critique_image(image, plan, scorer(), target=0.3)


RIGHT_IMAGE = [("circle", "red", 34, 64), ("square", "blue", 94, 64)]


def test_the_right_image_passes() -> None:
    review = check(scene(RIGHT_IMAGE), side_by_side())
    assert review.passed, review.suggestions
    assert review.background_ok and not review.extras
    assert all(v.problem is None for v in review.regions)


def test_an_empty_region_fails_as_missing() -> None:
    review = check(scene(RIGHT_IMAGE[:1]), side_by_side())
    assert not review.passed and review.failing == ["square"]
    assert review.regions[1].problem == "missing" and "looks empty" in review.suggestions[0]


def test_swapped_colours_fail_as_wrong() -> None:
    swapped = [("circle", "blue", 34, 64), ("square", "red", 94, 64)]
    review = check(scene(swapped), side_by_side())
    assert not review.passed and set(review.failing) == {"circle", "square"}


def test_swapped_shapes_fail() -> None:
    swapped = [("square", "red", 34, 64), ("circle", "blue", 94, 64)]
    review = check(scene(swapped), side_by_side())
    assert not review.passed and review.failing


def test_an_object_in_the_wrong_half_fails_and_is_found_outside_its_region() -> None:
    plan = side_by_side().model_copy(update={"regions": side_by_side().regions[:1]})
    review = check(scene([("circle", "red", 94, 64)]), plan)
    assert not review.passed and review.regions[0].problem == "missing"
    assert review.extras and review.extras[0][0] >= 60  # found on the right


def test_a_reversed_relation_fails_while_each_object_is_in_its_region() -> None:
    plan = Plan(
        width=128,
        height=128,
        base_prompt="a white background",
        regions=[
            {"name": "circle", "box": TOP, "prompt": "a red circle"},
            {"name": "square", "box": BOTTOM, "prompt": "a blue square"},
        ],
        relations=[{"subject": "circle", "kind": "left_of", "object": "square"}],
    )
    kept = check(scene([("circle", "red", 30, 32), ("square", "blue", 98, 96)]), plan)
    assert kept.passed and kept.relations[0].holds
    reversed_ = check(scene([("circle", "red", 98, 32), ("square", "blue", 30, 96)]), plan)
    assert not reversed_.passed and not reversed_.relations[0].holds
    assert not reversed_.failing  # the objects themselves are right


def test_the_wrong_background_fails() -> None:
    review = check(scene(RIGHT_IMAGE, background="yellow"), side_by_side())
    assert not review.passed and review.background_ok is False and not review.failing


def test_rival_captions_swap_one_colour_or_shape_word() -> None:
    rivals = rival_captions("a red circle", ["a blue square"])
    assert rivals[0] == "a blue square"
    assert "an orange circle" in rivals and "a red square" in rivals
    assert "a red circle" not in rivals
    assert rival_captions("a majestic lion", ["a calm lake"]) == ["a calm lake"]


def test_score_conventions() -> None:
    assert clip_score(0.31) == pytest.approx(31.0)
    assert clip_score(-0.2) == 0.0
    plan = Plan.model_validate(plan_args(goal="g"))
    fake = ScriptedScorer({"g": [0.2], "a red circle": [0.5], "a blue square": [0.1]})
    image = np.full((64, 64, 3), 245, np.uint8)
    image[18:42, 4:28] = (220, 40, 40)
    image[18:42, 36:60] = (40, 80, 220)
    review = critique_image(Image.fromarray(image), plan, fake, target=0.3)
    assert review.global_score == pytest.approx(0.2)
    assert review.score == pytest.approx((0.2 + (0.5 + 0.1) / 2) / 2)
    assert review.clip_score == pytest.approx(20.0)


def test_reference_deltas_are_reported_when_the_plan_has_references(tmp_path) -> None:
    reference = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), (20, 20, 20)).save(reference)
    plan = Plan.model_validate(
        plan_args(
            goal="g", references=[{"path": str(reference), "aspect": "color", "region": "circle"}]
        )
    )
    bright = Image.new("RGB", (64, 64), (240, 240, 40))
    review = critique_image(bright, plan, ScriptedScorer(default=0.5), target=0.3)
    (similarity,) = review.deltas.values()
    assert list(review.deltas) == ["ref.png:color"] and similarity < 0.5
    assert review.suggestions  # the colour mismatch became advice
    missing = plan.model_copy(
        update={"references": [plan.references[0].model_copy(update={"path": "nope.png"})]}
    )
    review = critique_image(bright, missing, ScriptedScorer(default=0.5), target=0.3)
    assert any("could not be compared" in s for s in review.suggestions)


def test_a_second_object_inside_a_region_fails_as_crowded() -> None:
    crowded = [("circle", "red", 22, 48), ("circle", "red", 46, 80), ("square", "blue", 94, 64)]
    specs = tuple(ObjectSpec(s, c, x, y, 22, (0, 0, 128, 128)) for s, c, x, y in crowded)
    images, _ = render([SceneSpec(128, 128, "white", specs)])
    review = check(Image.fromarray(images[0]), side_by_side())
    assert not review.passed and review.regions[0].problem == "crowded"
    assert review.regions[1].passed


def sized(size: str) -> Plan:
    plan = side_by_side()
    regions = [plan.regions[0].model_copy(update={"size": size}), plan.regions[1]]
    return plan.model_copy(update={"regions": regions})


@pytest.mark.parametrize(
    ("size", "sides", "passes"),
    [
        ("small", (22, 40), True),
        ("small", (40, 40), False),
        ("small", (44, 30), False),
        ("large", (48, 30), True),
        ("large", (30, 30), False),
        ("large", (26, 40), False),
    ],
)
def test_size_words_are_checked_against_the_unsized_objects(size, sides, passes) -> None:
    review = check(scene(RIGHT_IMAGE, sizes=sides), sized(size))
    assert review.passed is passes, review.suggestions
    if not passes:
        assert review.failing == ["circle"] and review.regions[0].problem == "mis-sized"
        assert ("smaller" if size == "small" else "larger") in review.suggestions[0]


def test_objects_that_touch_fail_as_touching() -> None:
    apart = check(scene([("circle", "red", 40, 64), ("square", "blue", 88, 64)]), side_by_side())
    assert apart.passed, apart.suggestions
    touching = [("circle", "red", 47, 64), ("square", "blue", 82, 64)]
    review = check(scene(touching), side_by_side())
    assert not review.passed and set(review.failing) == {"circle", "square"}
    assert {v.problem for v in review.regions} == {"touching"}
    assert "touches the object of 'square'" in review.regions[0].suggestions[0]
