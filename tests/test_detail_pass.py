"""The detail pass: small regions redrawn zoomed in after the main pass.

It changes only small regions (everything outside their feather bands is the main pass's
bytes), is kept in the layout so an image reproduces, is off unless asked for, and on the
embedded model's small-object layouts it draws more objects as the right shape.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from pakati import PakatiCanvas
from pakati.cli import main
from pakati_engine.diffusion.detail import DETAIL_FEATHER, SMALL_FRACTION, small_regions
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.pipeline import GenerationRequest, RegionPrompt
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import EMBEDDED_MODEL
from pakati_engine.models.loading import load_model
from pakati_engine.world.regional_benchmark import (
    EvalLayout,
    generate_layout,
    judge_layout,
    sample_layouts,
)

SIZE = 128


def _mask(box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.float32)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1.0
    return mask


def test_small_regions_are_those_at_most_a_share_of_the_canvas_side() -> None:
    limit = int(SMALL_FRACTION * SIZE)  # 44 px on 128
    boxes = [(0, 0, SIZE, 40), (10, 10, 10 + limit, 30), (50, 50, 51 + limit, 60), (5, 90, 17, 102)]
    request = GenerationRequest(
        SIZE, SIZE, regions=[RegionPrompt(_mask(b), f"r{i}") for i, b in enumerate(boxes)]
    )
    assert small_regions(request) == [1, 3]
    empty = GenerationRequest(SIZE, SIZE, regions=[RegionPrompt(np.zeros((SIZE, SIZE)), "x")])
    assert small_regions(empty) == []


def _canvas(bundle: ModelBundle) -> PakatiCanvas:
    canvas = PakatiCanvas(SIZE, SIZE, model=bundle, steps=3, base_prompt="a landscape")
    canvas.create_region(box=(0, 0, SIZE, 48), name="sky")  # 128 px wide: not small
    canvas.create_region(box=(70, 70, 94, 94), name="dot")  # 24 px: small
    canvas.apply_to_region("sky", "sunset sky")
    canvas.apply_to_region("dot", "a red ball")
    return canvas


def test_the_detail_pass_redraws_only_small_regions_and_reproduces(sd_bundle: ModelBundle) -> None:
    canvas = _canvas(sd_bundle)
    plain = canvas.generate(seed=5)
    before = np.asarray(plain.image)
    detailed = canvas.generate(seed=5, detail=True)
    after = np.asarray(detailed.image)
    dot = canvas.region("dot").rasterize() > 0
    band = KeepSpec(plain.image, dot.astype(np.float32), DETAIL_FEATHER).protected()
    assert np.array_equal(before[band], after[band])  # all but the dot's band: the same bytes
    assert not np.array_equal(before[dot], after[dot])
    assert canvas.to_layout().detail is True
    assert detailed.unet_calls > plain.unet_calls  # the redraw's steps are counted
    assert np.array_equal(np.asarray(canvas.reproduce()), after)
    again = canvas.generate(seed=5, detail=False)
    assert np.array_equal(np.asarray(again.image), before)  # off again: the main pass alone
    assert canvas.to_layout().detail is None


def test_an_image_without_the_detail_pass_does_not_mention_it(sd_bundle, tmp_path) -> None:
    canvas = _canvas(sd_bundle)
    canvas.generate(seed=1).save(tmp_path / "plain.png")
    text = Image.open(tmp_path / "plain.png").text
    assert all('"detail"' not in value for value in text.values())  # older Pakati reads it
    canvas.generate(seed=1, detail=True).save(tmp_path / "detail.png")
    text = Image.open(tmp_path / "detail.png").text
    assert any('"detail": true' in value for value in text.values())


def test_pakati_generate_detail_writes_a_layout_that_keeps_it(sd_folder, tmp_path) -> None:
    layout = {
        "width": SIZE,
        "height": SIZE,
        "model": str(sd_folder),
        "steps": 2,
        "seed": 3,
        "regions": [{"name": "dot", "box": [70, 70, 94, 94], "prompt": "a red ball"}],
    }
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    out = tmp_path / "out.png"
    args = ["generate", str(tmp_path / "layout.json"), "--out", str(out), "--detail"]
    assert main([*args, "--no-progress"]) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["layout"]["detail"] is True


# Of the small-object eval's seed-0 layouts (`pakati eval regional --n 100 --small`), the
# two whose shapes the shipped step 34555 draws wrong without the pass (of its 3 errors in
# 298 regions), and two it draws right, which the pass must not break.
HARD_SMALL_LAYOUTS = (4, 16)
EASY_SMALL_LAYOUTS = (0, 1)


def _wrong_regions(layout: EvalLayout, model: ModelBundle, settings: dict[str, object]) -> int:
    image, _ = generate_layout(layout, model, settings)
    return sum(not verdict.correct for verdict in judge_layout(layout, image).regions)


def test_on_small_objects_the_embedded_model_draws_more_right_shapes_with_it() -> None:
    """The pass fixes the small shapes the main pass gets wrong, and keeps the right ones.

    On 100 layouts the pass takes small objects from 0.990 to 1.0 (README); so few are wrong
    without it now that a random handful shows no difference, so this test draws the
    layouts the shipped model gets wrong (picked by running the eval; an earlier test on 6
    random layouts measured 0.70 -> 0.85 on step 14872 and 0.90 -> 1.0 on steps 22216-30083).
    A new model needs them picked again: the first assertion says so."""
    model = load_model(EMBEDDED_MODEL)
    settings = dict(model.recommended)
    layouts = sample_layouts(100, seed=0, small_fraction=1.0)
    hard = [layouts[i] for i in HARD_SMALL_LAYOUTS]
    plain_wrong = sum(_wrong_regions(layout, model, settings) for layout in hard)
    assert plain_wrong >= len(hard), "the shipped model changed: pick HARD_SMALL_LAYOUTS again"
    detailed = {**settings, "detail": True}
    assert sum(_wrong_regions(layout, model, detailed) for layout in hard) == 0
    for index in EASY_SMALL_LAYOUTS:
        assert _wrong_regions(layouts[index], model, settings) == 0
        assert _wrong_regions(layouts[index], model, detailed) == 0
