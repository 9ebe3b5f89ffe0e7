"""The regional benchmark (engine): seeded layouts, the judge on world renders, runs on a tiny
model and on the shipped one, and images byte-identical to the canvas's for the same layout."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pakati.canvas import PakatiCanvas
from pakati_engine.errors import InvalidInputError, OutputExistsError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import (
    EMBEDDED_MODEL,
    embedded_model_available,
    model_recommendations,
)
from pakati_engine.models.loading import load_model
from pakati_engine.training.config import TINY_MODEL, TrainConfig
from pakati_engine.training.state import new_state
from pakati_engine.training.train_t2i import Trainer
from pakati_engine.world.regional_benchmark import (
    EvalLayout,
    EvalRegion,
    generate_layout,
    judge_layout,
    run_regional_eval,
    sample_layouts,
)
from pakati_engine.world.render import render
from pakati_engine.world.sampling import sample_scene_spec
from pakati_engine.world.scene import pixel_cell

KEYS = {
    "accuracy_color",
    "accuracy_shape",
    "accuracy_both",
    "accuracy_background",
    "leakage",
    "seconds_per_image",
    "n_regions",
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model exported as the training script exports the real one."""
    out = tmp_path_factory.mktemp("t2i")
    trainer = Trainer(new_state(replace(TrainConfig(model=TINY_MODEL), seed=1)), out)
    return trainer.export(out / "model", settings={"steps": 3, "guidance_scale": 2.0})


def canvas_image(
    layout: EvalLayout, bundle: ModelBundle, settings: dict[str, Any], mode: str
) -> Image.Image:
    """``layout`` drawn through ``PakatiCanvas``, as the eval drew it before it moved into
    the engine (regions ``object-1``, ..., settings else the eval's defaults)."""
    canvas = PakatiCanvas(
        layout.size,
        layout.size,
        model=bundle,
        base_prompt=layout.base_prompt,
        steps=int(settings.get("steps", 20)),
        guidance_scale=float(settings.get("guidance_scale", 3.0)),
        base_ratio=float(settings.get("base_ratio", 0.2)),
        scheduler=settings.get("scheduler"),
        mode=mode,
    )
    for index, region in enumerate(layout.regions):
        canvas.create_region(box=region.box, name=f"object-{index + 1}")
        canvas.apply_to_region(f"object-{index + 1}", region.prompt)
    return canvas.generate(seed=layout.seed).image


def assert_same_image(a: Image.Image, b: Image.Image) -> None:
    assert (a.mode, a.size) == (b.mode, b.size)
    assert a.tobytes() == b.tobytes()


def test_layouts_are_seeded_with_two_to_four_disjoint_regions() -> None:
    layouts = sample_layouts(20, seed=5, size=128)
    assert layouts == sample_layouts(20, seed=5, size=128)
    assert layouts != sample_layouts(20, seed=6, size=128)
    for layout in layouts:
        assert 2 <= len(layout.regions) <= 4
        assert layout.base_prompt.endswith(f"{layout.background} background")
        boxes = [r.box for r in layout.regions]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap_w = min(a[2], b[2]) - max(a[0], b[0])
                overlap_h = min(a[3], b[3]) - max(a[1], b[1])
                assert overlap_w <= 0 or overlap_h <= 0


def _disjoint(boxes: list[tuple[int, int, int, int]]) -> bool:
    return all(
        min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
    )


def test_default_layouts_are_those_of_the_committed_figures() -> None:
    """``--n 200 --seed 0`` draws the layouts the README's figures were measured on."""
    digest = hashlib.sha256(repr(sample_layouts(200, seed=0, size=128)).encode()).hexdigest()
    assert digest == "bbdaea23d9e4f185bf73aea084946d7bc775a5dcea46635b76d2aac57ed6c9ba"


def test_five_to_six_region_and_small_object_layouts() -> None:
    many = sample_layouts(40, seed=0, size=128, min_regions=5, max_regions=6)
    assert {len(layout.regions) for layout in many} == {5, 6}
    assert all(_disjoint([r.box for r in layout.regions]) for layout in many)
    small = sample_layouts(40, seed=0, size=128, small_fraction=1.0)
    sides = [min(r.box[2] - r.box[0], r.box[3] - r.box[1]) for lay in small for r in lay.regions]
    assert max(sides) <= 46  # a small object's box: 1.3-2.2 times its 10-20 px
    assert all(_disjoint([r.box for r in layout.regions]) for layout in small)
    with pytest.raises(InvalidInputError, match="max_regions"):
        sample_layouts(1, max_regions=7)
    with pytest.raises(InvalidInputError, match="small"):
        sample_layouts(1, small_fraction=-0.1)


def test_small_and_many_object_world_renders_are_judged_right() -> None:
    """The benchmark's judge on exact renders of its 5-6-object and small-object layouts."""
    rng = np.random.default_rng(4)
    for kwargs in ({"n_objects": 6}, {"n_objects": 5}, {"n_objects": 3, "small_fraction": 1.0}):
        for _ in range(5):
            spec = sample_scene_spec(rng, 128, 128, **kwargs)  # type: ignore[arg-type]
            regions = tuple(EvalRegion(pixel_cell(o), o.shape, o.color) for o in spec.objects)
            layout = EvalLayout(128, spec.background, regions, 0)
            image = render([spec])[0][0]
            judgement = judge_layout(layout, image)
            assert judgement.accuracy_both == 1.0 and judgement.background_correct


def test_judging_a_world_render_of_the_layout_is_right() -> None:
    """The eval's layouts and the judge agree on the world's own pictures."""
    rng = np.random.default_rng(0)
    spec = sample_scene_spec(rng, 128, 128, 3)
    images, _ = render([spec])

    layout = EvalLayout(
        128,
        spec.background,
        tuple(EvalRegion(pixel_cell(o), o.shape, o.color) for o in spec.objects),
        0,
    )
    judgement = judge_layout(layout, images[0])
    assert judgement.accuracy_both == 1.0
    assert judgement.background_correct


@pytest.mark.parametrize("mode", ["attention", "latent"])
def test_benchmark_images_equal_the_canvas_images(tiny_folder: Path, mode: str) -> None:
    """The benchmark draws through the engine's layout path, the canvas through its own
    layout: same layout and settings, same bytes (sampler and base ratio overridden too)."""
    bundle = load_model(str(tiny_folder))
    settings = {**bundle.recommended, "base_ratio": 0.4, "scheduler": "ddim"}
    layout = sample_layouts(1, seed=2, size=32)[0]
    image, _ = generate_layout(layout, bundle, settings, mode=mode)
    assert_same_image(image, canvas_image(layout, bundle, settings, mode))


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_shipped_model_benchmark_image_equals_the_canvas_image() -> None:
    """With the shipped weights and settings, the eval's first layout is drawn byte for byte
    as ``PakatiCanvas`` draws it, so the eval's figures measure what the canvas makes."""
    bundle = load_model(EMBEDDED_MODEL)
    settings = bundle.recommended
    layout = sample_layouts(1, seed=0, size=int(settings["width"]))[0]
    image, _ = generate_layout(layout, bundle, settings)
    assert_same_image(image, canvas_image(layout, bundle, settings, "attention"))


def test_eval_runs_end_to_end_on_a_tiny_model(tiny_folder: Path) -> None:
    done: list[int] = []
    result = run_regional_eval(
        model=tiny_folder, n=2, seed=0, size=32, progress=lambda i, n: done.append(i)
    )
    assert set(result) >= KEYS
    assert done == [1, 2]
    assert result["n_images"] == 2
    assert 4 <= result["n_regions"] <= 8
    assert result["steps"] == 3  # from the folder's pakati.json
    for key in ("accuracy_color", "accuracy_shape", "accuracy_both", "accuracy_background"):
        assert 0.0 <= result[key] <= 1.0


def test_latent_mode_runs_one_unet_pass_per_region(tiny_folder: Path) -> None:
    bundle = load_model(str(tiny_folder))
    calls: list[int] = []  # the batch size of each UNet call
    hook = bundle.unet.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    try:
        run_regional_eval(model=bundle, n=1, seed=0, size=32)
        attention_calls = list(calls)
        calls.clear()
        latent = run_regional_eval(model=bundle, n=1, seed=0, size=32, mode="latent")
    finally:
        hook.remove()
    assert latent["mode"] == "latent" and set(latent) >= KEYS
    regions = latent["n_regions"]
    assert len(attention_calls) == 3  # one pass per step (guidance batched)
    assert attention_calls[0] == 2  # the guidance pair
    # a row per region per step (and the negative row all passes share), batched: one
    # call per step
    assert len(calls) == 3 and all(rows >= regions + 1 for rows in calls)


def test_unknown_mode_is_a_clear_error(tiny_folder: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown mode"):
        run_regional_eval(model=tiny_folder, n=1, mode="pixel", size=32)


def test_save_keeps_each_image_with_its_verdicts_and_never_overwrites(
    tiny_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "eval"
    summary = run_regional_eval(model=tiny_folder, n=2, seed=3, size=32, save_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "000.json",
        "000.png",
        "001.json",
        "001.png",
        "summary.json",
    ]
    assert json.loads((folder / "summary.json").read_text()) == summary
    layouts = sample_layouts(2, seed=3, size=32)
    for index, layout in enumerate(layouts):
        record = json.loads((folder / f"{index:03d}.json").read_text())
        assert record["seed"] == layout.seed
        assert [r["prompt"] for r in record["regions"]] == [r.prompt for r in layout.regions]
        # The saved image, judged again, gives the saved verdicts.
        again = judge_layout(layout, Image.open(folder / f"{index:03d}.png"))
        assert [r["shape_correct"] for r in record["regions"]] == [
            v.shape_correct for v in again.regions
        ]
    before = (folder / "000.png").read_bytes()
    with pytest.raises(OutputExistsError, match="not empty"):
        run_regional_eval(model=tiny_folder, n=1, seed=3, size=32, save_dir=folder)
    assert (folder / "000.png").read_bytes() == before


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_shipped_model_draws_the_asked_objects() -> None:
    """8 fixed layouts with the shipped weights: the judge finds most regions' objects right.

    Measured when these weights were exported (step 14872): on these 8 layouts present,
    colour, shape and both 1.0, background 1.0 (on the eval's 200: 1.0, 0.997, 0.988, 0.988,
    1.0); by chance colour is about 0.14 and both about 0.05. The thresholds sit below, so
    this guards against a broken model or engine, not against small changes of quality;
    raise them when better weights ship.
    """
    settings = model_recommendations(EMBEDDED_MODEL)
    assert settings["width"] >= 128 and settings["height"] >= 128
    result = run_regional_eval(n=8, seed=0, size=settings["width"])
    assert result["accuracy_present"] >= 0.9
    assert result["accuracy_color"] >= 0.9
    assert result["accuracy_both"] >= 0.85
    assert result["accuracy_background"] >= 0.9


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_shipped_model_draws_five_and_six_objects_and_small_ones() -> None:
    """The shipped weights (step 34555, with the detail head) on 4 five-to-six-object layouts
    (23 regions): present 1.0, both 0.96; on 8 small-object layouts (28 regions): present
    1.0, colour 1.0, both 0.96 (0.93 at step 30083; colour 0.96 at steps 22216 and 25182;
    step 19442, without the head: 0.86). Step 14872, before small objects' boxes weighed
    more in the loss, drew them as blobs (both 0.68 here); step 13107 drew most not at all
    (present 0.25 on the eval's 100)."""
    many = run_regional_eval(n=4, seed=0, min_regions=5, max_regions=6)
    assert many["n_regions"] >= 20
    assert many["accuracy_present"] >= 0.9 and many["accuracy_both"] >= 0.85
    small = run_regional_eval(n=8, seed=0, small_fraction=1.0)
    assert small["accuracy_present"] >= 0.85 and small["accuracy_color"] >= 0.85
    assert small["accuracy_both"] >= 0.85


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_shipped_model_in_latent_mode_keeps_objects_and_background() -> None:
    """Latent mode's region passes are routed (own prompt inside, base prompt outside).

    Measured on these 4 layouts (step 13107): both 1.0, background 1.0. Before the routing
    each pass saw only its object's caption and painted its own background: with step
    9615 on the eval's first 20 layouts background 0.20 and both 0.57 (routed: 1.0, 1.0).
    """
    settings = model_recommendations(EMBEDDED_MODEL)
    result = run_regional_eval(n=4, seed=0, size=settings["width"], mode="latent")
    assert result["accuracy_background"] >= 0.75
    assert result["accuracy_both"] >= 0.7
