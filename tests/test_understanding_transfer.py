"""Using an understood reference (guidance, generation) and ``pakati understand``."""

from __future__ import annotations

import dataclasses
import json

import pytest
from PIL import Image

from pakati.cli import main
from pakati.enhanced import EnhancedPakatiCanvas
from pakati.understanding import ReferenceUnderstanding, ReferenceUnderstandingEngine
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import embedded_model_available
from pakati_engine.understanding import describe_scene
from pakati_engine.world import make_scene
from pakati_engine.world.colors import article
from pakati_engine.world.goal_judge import find_objects

needs_model = pytest.mark.skipif(
    not embedded_model_available(), reason="the embedded model is not installed"
)


def understood(scene) -> ReferenceUnderstanding:
    truth = describe_scene(scene)
    return ReferenceUnderstanding(
        reference_id="abc123",
        reference_path="ref.png",
        understanding_level=1.0,
        level_lower_bound=1.0,
        mastery_achieved=True,
        training_strategies=["quadrant_reveal"],
        held_out_strategies=["edge_in"],
        strategy_scores={},
        attempts=[],
        description=truth,
        oracle_description=truth,
    )


def test_guidance_maps_aspects_to_mechanisms():
    scene = make_scene(5, n_objects=2)
    engine = ReferenceUnderstandingEngine(model=object(), progress=None)  # type: ignore[arg-type]
    engine.understood["abc123"] = understood(scene)
    guidance = engine.use_understood_reference(
        "abc123", "a green triangle", ["color_harmony", "lighting", "composition"]
    )
    assert guidance.base_prompt == f"{article(scene.background)} {scene.background} background"
    assert [r["prompt"] for r in guidance.regions[:-1]] == [o.caption for o in scene.objects]
    assert [r["box"] for r in guidance.regions[:-1]] == [
        list(o.box) for o in describe_scene(scene).objects
    ]
    assert guidance.regions[-1]["prompt"] == "a green triangle"
    assert guidance.transferred == ["color_harmony", "composition"]
    assert "lighting" in guidance.not_transferred
    with pytest.raises(InvalidInputError, match="composition, color_harmony, lighting, style"):
        engine.use_understood_reference("abc123", "x", ["mood"])
    with pytest.raises(InvalidInputError, match="learn_reference"):
        engine.use_understood_reference("nope", "x")


@needs_model
def test_generate_with_understanding_keeps_the_composition():
    from pakati_engine.models.loading import load_model

    scene = make_scene(5, n_objects=2)
    canvas = EnhancedPakatiCanvas(128, 128, model=load_model("pakati-shapes"))
    canvas.steps = 6
    engine = ReferenceUnderstandingEngine(canvas_interface=canvas, progress=None)
    engine.understood["abc123"] = understood(scene)
    guidance = engine.use_understood_reference("abc123", "", ["color_harmony", "composition"])
    image = canvas.generate_with_understanding(guidance, seed=0).image
    background, found = find_objects(image)
    assert background == scene.background
    assert {(f.color, f.shape) for f in found} & {(o.color, o.shape) for o in scene.objects}


@needs_model
def test_cli_understand_json(tmp_path, capsys):
    scene = make_scene(3)
    path = tmp_path / "ref.png"
    Image.fromarray(scene.image).save(path)
    status = main(
        [
            "understand",
            str(path),
            "--strategies",
            "quadrant_reveal,edge_in",
            "--max-attempts",
            "1",
            "--steps",
            "2",
            "--token-steps",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    record = json.loads(out[-1])
    assert set(record) >= {"reference_id", "understanding_level", "mastery_achieved", "attempts"}
    assert set(record["strategy_scores"]) == {"quadrant_reveal", "edge_in"}
    assert (tmp_path / "out" / "understanding.json").is_file()
    assert main(["understand", str(path), "--strategies", "diagonal", "--json"]) != 0
    assert "random_patches" in capsys.readouterr().out


@needs_model
def test_iterative_refinement_uses_the_best_understood_reference(tmp_path):
    from pakati import IterativeRefinementEngine
    from pakati_engine.models.loading import load_model

    scene = make_scene(5, n_objects=2)
    path = tmp_path / "ref.png"
    Image.fromarray(scene.image).save(path)
    canvas = EnhancedPakatiCanvas(128, 128, model=load_model("pakati-shapes"))
    canvas.steps = 4
    engine = ReferenceUnderstandingEngine(canvas_interface=canvas, progress=None)
    good = understood(scene)
    good.reference_path = str(path)
    poor = dataclasses.replace(good, reference_id="poor", understanding_level=0.2)
    engine.understood.update({"abc123": good, "poor": poor})
    refiner = IterativeRefinementEngine(
        canvas_interface=canvas, reference_understanding_engine=engine
    )
    result = refiner.refine_with_understanding("", ["poor", "abc123"], max_iterations=1, seed=0)
    assert refiner.skipped == ["poor"]
    assert [r.name for r in canvas.regions] == ["understood-1", "understood-2"]
    assert len(canvas.references) == 1 and 1 <= len(result.passes) <= 2
    assert canvas.references[0].metadata["weight"] == good.understanding_level
    with pytest.raises(InvalidInputError, match="learn_reference"):
        refiner.refine_with_understanding("", ["missing"])
