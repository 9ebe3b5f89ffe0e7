"""The critic's score conventions, verdicts and suggestions, and reference deltas."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pakati.agents.critic import clip_score, critique_image
from pakati.agents.schemas import Plan
from pakati_engine.world import make_scene
from tests.agent_fakes import ScriptedScorer, plan_args


class LooksLikeScorer(ScriptedScorer):
    """Crops look most like ``looks_like`` (cosine 0.6); everything else as scripted."""

    def __init__(self, looks_like: str, **kw) -> None:
        super().__init__(**kw)
        self.looks_like = looks_like

    def similarity(self, images, texts):
        out = super().similarity(images, texts)
        if len(texts) > 1 and self.looks_like in texts:
            out[:, list(texts).index(self.looks_like)] = 0.6
        return out


def scene_image() -> Image.Image:
    return Image.fromarray(make_scene(3, 64, 2).image)


def test_score_conventions():
    assert clip_score(0.31) == pytest.approx(31.0)
    assert clip_score(-0.2) == 0.0
    plan = Plan.model_validate(plan_args(goal="g"))
    scorer = ScriptedScorer({"g": [0.2], "a red circle": [0.5], "a blue square": [0.1]})
    review = critique_image(scene_image(), plan, scorer, target=0.3)
    assert review.global_score == pytest.approx(0.2)
    assert review.score == pytest.approx((0.2 + (0.5 + 0.1) / 2) / 2)
    assert review.clip_score == pytest.approx(20.0)
    assert [v.passed for v in review.regions] == [True, False]
    assert review.failing == ["square"] and not review.passed


def test_failing_region_that_looks_like_another_object_gets_a_concrete_suggestion():
    plan = Plan.model_validate(plan_args(goal="g"))
    scorer = LooksLikeScorer(
        "a green square", scripts={"a red circle": [0.1], "a blue square": [0.1]}
    )
    image = np.full((64, 64, 3), 245, np.uint8)
    image[16:44, 2:30] = (40, 170, 70)  # a green block where the red circle should be
    image[20:40, 38:58] = (40, 80, 220)
    review = critique_image(Image.fromarray(image), plan, scorer, target=0.3)
    circle = review.regions[0]
    assert circle.best_caption == "a green square"
    assert "looks like 'a green square', not 'a red circle'" in circle.suggestions[0]


def test_empty_region_is_called_empty():
    plan = Plan.model_validate(plan_args(goal="g"))
    blank = Image.new("RGB", (64, 64), (245, 245, 245))
    review = critique_image(blank, plan, ScriptedScorer(default=0.0), target=0.3)
    assert all("looks empty" in v.suggestions[0] for v in review.regions)


def test_reference_deltas_are_reported_when_the_plan_has_references(tmp_path):
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
