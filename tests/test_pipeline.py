"""Generation through the canvas: determinism, seeds, SDXL conditioning, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pakati import InvalidInputError, PakatiCanvas
from pakati_engine.diffusion.pipeline import GenerationRequest, RegionalDiffusionPipeline
from pakati_engine.diffusion.schedulers import SCHEDULERS
from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.models.bundle import ModelBundle


def _canvas(bundle: ModelBundle, **kwargs) -> PakatiCanvas:
    canvas = PakatiCanvas(64, 64, model=bundle, steps=4, base_prompt="a table", **kwargs)
    left = canvas.create_region([(0, 0), (32, 0), (32, 64), (0, 64)], name="left")
    right = canvas.create_region(box=(32, 0, 64, 64), name="right")
    canvas.apply_to_region(left, prompt="a red apple", negative_prompt="blurry")
    canvas.apply_to_region(right, prompt="a green pear")
    return canvas


def test_same_layout_and_seed_give_identical_pixels(bundle: ModelBundle) -> None:
    first = np.asarray(_canvas(bundle).generate(seed=42).image)
    second = np.asarray(_canvas(bundle).generate(seed=42).image)
    assert np.array_equal(first, second)
    other = np.asarray(_canvas(bundle).generate(seed=43).image)
    assert not np.array_equal(first, other)


def test_region_prompts_change_the_image(sd_bundle: ModelBundle) -> None:
    canvas = _canvas(sd_bundle)
    before = np.asarray(canvas.generate(seed=1).image).astype(int)
    canvas.apply_to_region("right", prompt="a purple umbrella in the rain")
    after = np.asarray(canvas.generate(seed=1).image).astype(int)
    assert np.abs(before - after).max() > 0


def test_unseeded_generation_records_the_seed_it_drew(sd_bundle: ModelBundle) -> None:
    result = _canvas(sd_bundle).generate()
    assert isinstance(result.seed, int)
    again = _canvas(sd_bundle).generate(seed=result.seed)
    assert np.array_equal(np.asarray(result.image), np.asarray(again.image))


def test_sdxl_gets_pooled_text_and_time_ids(sdxl_bundle: ModelBundle) -> None:
    pipe = RegionalDiffusionPipeline(sdxl_bundle)
    request = GenerationRequest(64, 48, "a room")
    embeddings = encode_prompts(sdxl_bundle, ["a room"], ["ugly"])
    added = pipe.prepare_added_conditioning(request, embeddings, do_cfg=True)
    assert added is not None
    assert added["text_embeds"].shape == (2, 32)
    assert added["time_ids"].tolist() == [[48, 64, 0, 0, 48, 64]] * 2
    assert embeddings.positive.shape[-1] == 64  # both encoders side by side


def test_sdxl_empty_negative_prompt_is_zeros_when_the_model_says_so(
    sdxl_bundle: ModelBundle,
) -> None:
    sdxl_bundle.force_zeros_for_empty_prompt = True
    try:
        embeddings = encode_prompts(sdxl_bundle, ["a", "b"], ["", "dark"])
    finally:
        sdxl_bundle.force_zeros_for_empty_prompt = False
    span = embeddings.tokens_per_prompt
    assert torch.count_nonzero(embeddings.negative[:, :span]) == 0
    assert torch.count_nonzero(embeddings.negative[:, span:]) > 0
    assert embeddings.pooled_negative is not None
    assert torch.count_nonzero(embeddings.pooled_negative) == 0


def test_long_prompts_warn_that_they_are_cut(sd_bundle: ModelBundle) -> None:
    with pytest.warns(UserWarning, match="cut off"):
        encode_prompts(sd_bundle, ["a " * 100], [""])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": 60}, "width 60 is not a positive multiple of 8"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"base_ratio": 1.5}, r"base_ratio must be in \[0, 1\]"),
    ],
)
def test_bad_generation_settings_get_clear_errors(
    sd_bundle: ModelBundle, change: dict, message: str
) -> None:
    request = GenerationRequest(**{"width": 64, "height": 64, **change})
    with pytest.raises(InvalidInputError, match=message):
        RegionalDiffusionPipeline(sd_bundle)(request)


def test_region_without_prompt_and_foreign_region_model_are_errors(sd_bundle) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2)
    canvas.create_region(box=(0, 0, 32, 32), name="sun")
    with pytest.raises(InvalidInputError, match="'sun' has no prompt"):
        canvas.generate(seed=0)
    canvas.apply_to_region("sun", prompt="a sun", model="another-model")
    with pytest.raises(InvalidInputError, match="unknown model 'another-model'"):
        canvas.generate(seed=0)


def test_step_callback_reports_progress(sd_bundle: ModelBundle) -> None:
    seen: list[tuple[int, int]] = []
    _canvas(sd_bundle).generate(seed=0, callback=lambda i, n: seen.append((i, n)))
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_a_sampler_that_cannot_step_clean_image_predictions_is_a_clear_error() -> None:
    from pakati_engine.diffusion.schedulers import make_scheduler
    from pakati_engine.training.build import build_sampler
    from pakati_engine.training.config import TINY_MODEL

    model_scheduler = build_sampler(TINY_MODEL)  # predicts the clean image ("sample")
    for name in ("euler_a", "pndm"):
        with pytest.raises(InvalidInputError, match="choose one of ddim, dpmpp_2m, euler"):
            make_scheduler(model_scheduler, name)
    for name in ("ddim", "dpmpp_2m", "euler", "lms", "unipc"):
        make_scheduler(model_scheduler, name).set_timesteps(4)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_named_sampler_generates(sd_bundle: ModelBundle, name: str) -> None:
    # LMS, UniPC and PNDM take no generator in their step: it must not be passed to them.
    canvas = PakatiCanvas(32, 32, model=sd_bundle, steps=8, scheduler=name)
    canvas.create_region(box=(0, 0, 16, 32), name="left")
    canvas.apply_to_region("left", "a red circle")
    image = np.asarray(canvas.generate(seed=1).image)
    assert image.shape == (32, 32, 3) and image.std() > 0
