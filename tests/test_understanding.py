"""Reference understanding: masking strategies, hidden-pixel scores, baselines, learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import embedded_model_available
from pakati_engine.understanding import (
    MASKING_STRATEGIES,
    SceneDescription,
    describe_scene,
    infer_description,
    observe,
    reconstruct,
    score_hidden,
    trivial_fill,
    understanding_level,
)
from pakati_engine.understanding.scoring import lower_bound
from pakati_engine.world import make_scene

needs_model = pytest.mark.skipif(
    not embedded_model_available(), reason="the embedded model is not installed"
)


@pytest.fixture(scope="module")
def scene():
    return make_scene(3)


@pytest.fixture(scope="module")
def shapes():
    from pakati_engine.models.loading import load_model

    return load_model("pakati-shapes")


@pytest.mark.parametrize(
    "strategy", ["random_patches", "progressive_reveal", "center_out", "edge_in"]
)
@pytest.mark.parametrize("difficulty", [0.25, 0.5, 0.75])
def test_mask_strategies_hide_the_fraction_they_say(scene, strategy, difficulty):
    obs = observe(scene.image, strategy, difficulty, seed=4)
    assert obs.hidden_fraction == pytest.approx(difficulty, abs=0.03)
    assert obs.inpaint
    assert (obs.visible[~obs.hidden] == scene.image[~obs.hidden]).all()
    assert (obs.visible[obs.hidden] == 127).all()


def test_quadrants_semantic_and_frequency_bands(scene):
    assert observe(scene.image, "quadrant_reveal", 0.5, 0).hidden_fraction == 0.5
    assert observe(scene.image, "quadrant_reveal", 0.1, 0).hidden_fraction == 0.25
    semantic = observe(scene.image, "semantic_regions", 0.3, 0)
    truth = describe_scene(scene)
    covered = [
        semantic.hidden[o.box[1] : o.box[3], o.box[0] : o.box[2]].mean() for o in truth.objects
    ]
    assert 0.1 < semantic.hidden_fraction < 0.5 and max(covered) > 0.4  # whole objects hidden
    bands = observe(scene.image, "frequency_bands", 0.5, 0)
    assert not bands.inpaint and bands.hidden.all()
    assert np.abs(bands.visible.astype(int) - scene.image).mean() > 3  # the detail is gone


def test_masks_are_seeded_and_progressive_reveal_is_nested(scene):
    a = observe(scene.image, "random_patches", 0.5, 1).hidden
    assert (a == observe(scene.image, "random_patches", 0.5, 1).hidden).all()
    assert (a != observe(scene.image, "random_patches", 0.5, 2).hidden).any()
    levels = [observe(scene.image, "progressive_reveal", d, 7).hidden for d in (0.25, 0.5, 0.75)]
    assert (levels[0] <= levels[1]).all() and (levels[1] <= levels[2]).all()


def test_unknown_strategy_lists_the_valid_ones(scene):
    with pytest.raises(InvalidInputError) as err:
        observe(scene.image, "diagonal", 0.5, 0)
    assert all(name in str(err.value) for name in MASKING_STRATEGIES)


def test_scores_use_hidden_pixels_only(scene):
    obs = observe(scene.image, "edge_in", 0.5, 0)
    truth = describe_scene(scene)
    filled = trivial_fill(obs)
    base = score_hidden(filled, scene.image, obs.hidden, truth)
    changed = filled.copy()
    changed[~obs.hidden] = 255 - changed[~obs.hidden]  # visible pixels ruined
    again = score_hidden(changed, scene.image, obs.hidden, truth)
    assert again.components["pixel"] == pytest.approx(base.components["pixel"])
    assert again.components["color"] == pytest.approx(base.components["color"])
    assert again.components["feature"] == pytest.approx(base.components["feature"], abs=1e-6)
    perfect = score_hidden(scene.image, scene.image, obs.hidden, truth)
    assert perfect.components["pixel"] == 1.0 and perfect.components["context"] == 1.0
    assert perfect.components["feature"] == pytest.approx(1.0, abs=1e-5)
    assert base.components["feature"] < perfect.components["feature"] - 0.01  # CLIP cosine
    assert perfect.score > base.score


def test_level_is_zero_at_the_baseline_and_one_at_the_oracle():
    assert understanding_level(0.4, 0.4, 0.8) == 0.0
    assert understanding_level(0.8, 0.4, 0.8) == 1.0
    assert understanding_level(0.6, 0.4, 0.8) == pytest.approx(0.5)
    assert understanding_level(0.6, 0.5, 0.5) is None  # the oracle is no better: no level
    assert lower_bound([0.9]) == 0.0 and lower_bound([0.9, 0.9]) == pytest.approx(0.9)


def test_trivial_fill_keeps_visible_pixels(scene):
    obs = observe(scene.image, "random_patches", 0.5, 0)
    filled = trivial_fill(obs)
    assert (filled[~obs.hidden] == scene.image[~obs.hidden]).all()


def test_infer_description_from_seen_pixels(scene):
    truth = describe_scene(scene)
    everything = infer_description(scene.image, np.ones(scene.image.shape[:2], bool))
    assert everything.background == truth.background
    assert sorted((o.color, o.shape) for o in everything.objects) == sorted(
        (o.color, o.shape) for o in truth.objects
    )
    left = np.zeros(scene.image.shape[:2], bool)
    left[:, :40] = True
    assert len(infer_description(scene.image, left).objects) < len(truth.objects)
    with pytest.raises(InvalidInputError):
        infer_description(scene.image, np.zeros_like(left))
    assert SceneDescription.from_dict(truth.to_dict()) == truth


@needs_model
def test_reconstruction_keeps_visible_pixels_and_never_reads_hidden_ones(scene, shapes):
    truth = describe_scene(scene)
    obs = observe(scene.image, "edge_in", 0.5, 0)
    layout = truth.to_layout(128, 128, shapes.source, seed=0, steps=4)
    first = reconstruct(shapes, obs, layout)
    assert (first[~obs.hidden] == scene.image[~obs.hidden]).all()
    tampered = obs.visible.copy()
    tampered[obs.hidden] = 0
    second = reconstruct(shapes, dataclasses.replace(obs, visible=tampered), layout)
    assert (first == second).all()


@needs_model
def test_learn_reference_reports_levels_and_errors(tmp_path, scene, shapes):
    from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
    from pakati_engine.understanding.inversion import InversionSettings

    path = tmp_path / "ref.png"
    Image.fromarray(scene.image).resize((96, 96)).save(path)
    lines: list[str] = []
    engine = ReferenceUnderstandingEngine(
        model=shapes,
        steps=2,
        progress=lines.append,
        inversion=InversionSettings(steps=2, batch=2),
        reproduction_seeds=(0,),
    )
    reference = ReferenceImage(path, metadata={"scene": describe_scene(scene).to_dict()})
    with pytest.raises(InvalidInputError, match="semantic_regions"):
        engine.learn_reference(reference, masking_strategies=["nope"])
    understanding = engine.learn_reference(
        reference, masking_strategies=["quadrant_reveal", "edge_in"], max_attempts=2
    )
    assert understanding.held_out_strategies == ["edge_in"]
    assert set(understanding.strategy_scores) == {"quadrant_reveal", "edge_in"}
    assert understanding.strategy_scores["edge_in"]["held_out"]
    assert 0.0 <= understanding.understanding_level <= 1.0
    assert understanding.mastery_achieved == (understanding.level_lower_bound >= 0.85)
    assert 1 <= len(understanding.attempts) <= 2 and lines and "attempt 1/2" in lines[0]
    assert any("resized" in note for note in understanding.notes)
    assert engine.understood[understanding.reference_id] is understanding
    assert understanding.to_dict()["pathway"]["background"]


@needs_model
def test_the_oracle_description_scores_level_one(scene, shapes):
    from pakati.understanding import ReferenceUnderstandingEngine

    engine = ReferenceUnderstandingEngine(model=shapes, steps=2, progress=None)
    engine._truth_image = scene.image
    truth = describe_scene(scene)
    cases = engine._cases(scene.image, truth, ["edge_in"], seed=0)
    levels = engine._levels(truth, cases, truth, {})
    assert levels and all(level == 1.0 for level in levels)
