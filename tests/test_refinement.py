"""Reference-guided multi-pass generation on the embedded model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pakati.enhanced import EnhancedPakatiCanvas
from pakati.refinement import RefinementStrategy
from pakati_engine.analysis.palette_terms import object_colour, recolour_prompt
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import embedded_model_available

needs_model = pytest.mark.skipif(
    not embedded_model_available(), reason="the embedded model is not installed"
)


def test_recolour_prompt_and_palette():
    assert recolour_prompt("a circle", "orange") == "an orange circle"
    assert recolour_prompt("a blue square on the left", "red") == "a red square on the left"
    assert recolour_prompt("circle", "red") == "red circle"
    image = np.full((40, 40, 3), 255, np.uint8)
    image[10:25, 10:25] = (220, 30, 30)
    assert object_colour(image) == "red"


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(InvalidInputError, match="conservative, adaptive, aggressive"):
        RefinementStrategy.parse("gentle")


@pytest.fixture(scope="module")
def shapes():
    from pakati_engine.models.loading import load_model

    return load_model("pakati-shapes")


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refs")
    paths = {}
    for name, fill in (("red", (220, 30, 30)), ("yellow", (240, 220, 30))):
        image = Image.new("RGB", (64, 128), (255, 255, 255))
        ImageDraw.Draw(image).ellipse((8, 40, 56, 88), fill=fill)
        paths[name] = folder / f"{name}.png"
        image.save(paths[name])
    return paths


def make_canvas(shapes, references, lock_right=False):
    canvas = EnhancedPakatiCanvas(128, 128, model=shapes)
    canvas.steps = 4
    canvas.base_prompt = "a white background"
    canvas.create_region(box=(0, 0, 48, 64), name="a")
    canvas.create_region(box=(0, 64, 48, 128), name="b")
    canvas.create_region(box=(80, 32, 128, 96), name="right")
    canvas.apply_to_region("right", "a blue square")
    canvas.add_reference_image(references["red"], "red", aspect="color")
    canvas.add_reference_image(references["yellow"], "yellow", aspect="color")
    canvas.apply_to_region_with_references("a", "a green circle", ["red"])
    canvas.apply_to_region_with_references("b", "a green circle", ["yellow"])
    if lock_right:
        canvas.lock("right")
    return canvas


@needs_model
def test_strategies_differ_as_documented(shapes, references):
    results = {}
    for strategy in RefinementStrategy:
        canvas = make_canvas(shapes, references)
        results[strategy] = canvas.generate_with_refinement(
            max_passes=1, target_quality=0.99, strategy=strategy, seed=3
        )
    conservative = [c for p in results[RefinementStrategy.CONSERVATIVE].passes for c in p.changes]
    assert conservative and all(
        c["action"] == "refine" and c["strength"] == 0.35 for c in conservative
    )
    assert all(len(p.changes) <= 1 for p in results[RefinementStrategy.CONSERVATIVE].passes)
    assert all("guidance_scale" not in c and "seed" not in c for c in conservative)
    adaptive = results[RefinementStrategy.ADAPTIVE].passes
    assert {c["region"] for c in adaptive[1].changes} == {"a", "b"}  # every failing region
    assert all(c["action"] == "refine" and c["strength"] == 0.6 for c in adaptive[1].changes)
    aggressive = [c for p in results[RefinementStrategy.AGGRESSIVE].passes for c in p.changes]
    assert aggressive and all(c["action"] == "regenerate" and "seed" in c for c in aggressive)
    # the palette colour of each region's reference is written into its prompt
    first = {c["region"]: c for c in adaptive[1].changes}
    assert first["a"]["prompt"].startswith("a red circle")
    assert first["b"]["prompt"].startswith("a yellow circle")


@needs_model
def test_locked_region_is_identical_and_the_best_pass_is_kept(shapes, references):
    canvas = make_canvas(shapes, references, lock_right=True)
    result = canvas.generate_with_refinement(
        max_passes=2, target_quality=0.99, strategy="aggressive", seed=5
    )
    locked = canvas.region("right").rasterize() > 0
    images = [np.asarray(e.image) for e in canvas.history.entries.values() if e.image is not None]
    assert len(images) >= 3
    for image in images[1:]:
        assert (image[locked] == images[0][locked]).all()
    assert all(c["region"] != "right" for p in result.passes for c in p.changes)
    best = max(p.quality for p in result.passes)
    assert result.quality == best and result.passes[result.best_pass].quality == best
    assert canvas.image is result.image
    assert canvas.history.current is not None and canvas.history.current.image is canvas.image
    record = result.to_dict()
    assert record["strategy"] == "aggressive" and len(record["passes"]) == len(result.passes)


@needs_model
def test_refinement_needs_references(shapes):
    canvas = EnhancedPakatiCanvas(128, 128, model=shapes)
    with pytest.raises(InvalidInputError, match="add_reference_image"):
        canvas.generate_with_refinement()


@needs_model
def test_composition_delta_moves_the_box_through_the_layout_solver(shapes, tmp_path):
    reference = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(reference).ellipse((40, 22, 60, 42), fill=(220, 30, 30))  # far right
    reference.save(tmp_path / "right.png")
    canvas = EnhancedPakatiCanvas(128, 128, model=shapes)
    canvas.steps = 4
    canvas.base_prompt = "a white background"
    canvas.create_region(box=(32, 32, 96, 96), name="subject")
    canvas.create_region(box=(100, 0, 128, 30), name="corner")
    canvas.apply_to_region("corner", "a blue square")
    canvas.apply_to_region_with_references("subject", "a red circle", [])
    canvas.add_reference_image(tmp_path / "right.png", "right", "composition", region="subject")
    result = canvas.generate_with_refinement(
        max_passes=1, target_quality=0.999, strategy="adaptive", seed=3
    )
    moves = [c for p in result.passes for c in p.changes if "box" in c]
    assert moves, [p.changes for p in result.passes]
    old, new = moves[0]["box"]
    assert old == [32, 32, 96, 96] and new != old
    assert new[2] - new[0] == 64 and new[3] - new[1] == 64  # moved, not resized
    assert min(new) >= 0 and max(new) <= 128
    assert new[2] <= 100 or new[1] >= 30  # kept off the fixed corner region
    assert [r.name for r in canvas.regions] == ["subject", "corner"]  # no helper region left
    conservative = canvas.generate_with_refinement(
        max_passes=1, target_quality=0.999, strategy="conservative", seed=3
    )
    assert not [c for p in conservative.passes for c in p.changes if "box" in c]


@needs_model
def test_reference_weights_set_the_region_similarity(shapes, references):
    from pakati.refinement import _Refiner

    canvas = EnhancedPakatiCanvas(128, 128, model=shapes)
    canvas.steps = 4
    canvas.create_region(box=(0, 0, 64, 128), name="a")
    canvas.add_reference_image(references["red"], "red", aspect="color", metadata={"weight": 3})
    canvas.add_reference_image(references["yellow"], "yellow", aspect="color")
    canvas.apply_to_region_with_references("a", "a red circle", ["red", "yellow"])
    canvas.generate(seed=0)
    sims = {d.reference.description: d.delta.similarity for d in canvas.analyze_deltas(region="a")}
    assert sims["red"] != pytest.approx(sims["yellow"])
    record, _ = _Refiner(canvas, RefinementStrategy.ADAPTIVE, 0.9, None, 0.3, print).measure(0, [])
    assert record.region_scores["a"] == pytest.approx((3 * sims["red"] + sims["yellow"]) / 4)
