"""Canvases whose regions are drawn by different models (pakati-shapes + fake remote models)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati import PakatiCanvas
from pakati.results import GenerationResult
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.errors import InvalidInputError
from pakati_engine.providers.cards import BUILTIN_CARDS
from pakati_engine.providers.compose import crop_box, draw_region, target_size
from pakati_engine.providers.registry import Registry
from pakati_engine.providers.types import ImageJob, ProviderImage
from tests.provider_fakes import FakeImageServer

SECRET = "sk-canvas-SECRET-42"
FEATHER = 8


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path / "home"))


def two_regions(square_model: str | None = None, registry: Registry | None = None) -> PakatiCanvas:
    canvas = PakatiCanvas(128, 128, "pakati-shapes", base_prompt="a grey background")
    canvas.create_region(box=(4, 30, 60, 90), name="circle")
    canvas.apply_to_region("circle", "a red circle")
    canvas.create_region(box=(68, 30, 124, 90), name="square")
    canvas.apply_to_region("square", "a blue square", model=square_model)
    canvas.model_registry = registry or Registry(env={}, dotenv=None, user_cards=False)
    return canvas


def outside_band(canvas: PakatiCanvas, name: str) -> np.ndarray:
    region = canvas.region(name).rasterize()
    return KeepSpec(Image.new("RGB", (128, 128)), region, feather=FEATHER).protected()


def fake_registry(fake: FakeImageServer) -> Registry:
    env = {"PAKATI_API_KEY_OPENAI": SECRET, "OPENAI_BASE_URL": f"{fake.url}/v1"}
    return Registry(env=env, dotenv=None, user_cards=False)


@pytest.fixture(scope="module")
def one_model() -> GenerationResult:
    return two_regions().generate(seed=3)


def test_remote_region_leaves_everything_outside_its_feathered_mask_byte_identical(
    one_model: GenerationResult, tmp_path: Path
) -> None:
    with FakeImageServer("scramble") as fake:  # it changes pixels outside the mask too
        canvas = two_regions("dall-e-2", fake_registry(fake))
        result = canvas.generate(seed=3)
        (sent,) = fake.posts("/v1/images/edits")
    before, after = np.asarray(one_model.image), np.asarray(result.image)
    keep = outside_band(canvas, "square")
    assert (before[keep] == after[keep]).all()  # the local region's pixels, exactly
    inside = canvas.region("square").rasterize() > 0
    assert (before[inside] != after[inside]).any(axis=-1).mean() > 0.9
    assert sent.form["size"] == b"256x256"  # the crop snapped to a size dall-e-2 takes
    (record,) = result.models
    assert record["model"] == "dall-e-2" and record["task"] == "edit" and record["calls"] == 1
    assert record["reproducible"] is False and result.metadata["reproducible"] is False
    path = result.save(tmp_path / "out.png")
    written = path.read_bytes() + path.with_suffix(".json").read_bytes()
    assert SECRET.encode() not in written and b"PAKATI_API_KEY_OPENAI" in written


def test_a_rerun_is_served_from_the_cache(one_model: GenerationResult) -> None:
    with FakeImageServer() as fake:
        registry = fake_registry(fake)
        first = two_regions("gpt-image-1", registry).generate(seed=3)
        second = two_regions("gpt-image-1", registry).generate(seed=3)
        assert len(fake.posts("/v1/images/edits")) == 1
    assert second.models[0]["cached"] is True and second.models[0]["calls"] == 0
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))


def test_text_to_image_model_draws_its_crop(one_model: GenerationResult) -> None:
    with FakeImageServer() as fake:
        canvas = two_regions("dalle-3", fake_registry(fake))
        result = canvas.generate(seed=3)
        (sent,) = fake.posts("/v1/images/generations")
    assert sent.json["size"] == "1024x1024"
    assert "a blue square" in sent.json["prompt"] and "a grey background" in sent.json["prompt"]
    keep = outside_band(canvas, "square")
    assert (np.asarray(one_model.image)[keep] == np.asarray(result.image)[keep]).all()


def test_locked_pixels_stay_whatever_the_provider_returns() -> None:
    canvas = Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), np.uint8))
    mask = np.zeros((96, 96), np.float32)
    mask[20:60, 20:60] = 1.0
    frozen = np.zeros((96, 96), bool)
    frozen[30:40, 30:40] = True

    class Scrambler:
        name = "scrambler"

        def run(self, job: ImageJob) -> ProviderImage:
            return ProviderImage(Image.new("RGB", job.size, (1, 2, 3)), reproducible=False)

    card = next(c for c in BUILTIN_CARDS if c.id == "dall-e-2")
    out, record = draw_region(
        canvas, mask, card, Scrambler(), prompt="x", label="r", frozen=frozen, feather=4
    )
    before, after = np.asarray(canvas), np.asarray(out)
    protected = KeepSpec(canvas, mask, feather=4, frozen=frozen).protected()
    assert (before[protected] == after[protected]).all()
    assert (after[45:55, 45:55] == (1, 2, 3)).all()
    assert record.size == (256, 256)


@pytest.mark.parametrize(
    ("model", "box_size", "size"),
    [
        ("dall-e-2", (70, 70), (256, 256)),
        ("dall-e-2", (300, 300), (512, 512)),
        ("gpt-image-1", (300, 150), (1536, 1024)),
        ("dall-e-3", (50, 120), (1024, 1792)),
        ("pakati-shapes", (64, 32), (128, 64)),
    ],
)
def test_crop_is_snapped_to_a_size_the_model_takes(
    model: str, box_size: tuple[int, int], size: tuple[int, int]
) -> None:
    card = next(c for c in BUILTIN_CARDS if c.id == model)
    assert target_size(card, box_size) == size


def test_crop_box_grows_to_the_aspect_inside_the_canvas() -> None:
    inside = np.zeros((100, 200), bool)
    inside[40:60, 180:200] = True
    box = crop_box(inside, (200, 100), 1.0, 4)
    assert box == (172, 36, 200, 64)  # square, shifted left at the canvas edge


def test_without_keys_the_canvas_model_stands_in_and_says_so(
    one_model: GenerationResult,
) -> None:
    canvas = two_regions("dalle-3")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = canvas.generate(seed=3)
    said = [str(w.message) for w in caught if "stands in" in str(w.message)]
    assert said and "no key" in said[0] and "region 'square'" in said[0]
    assert result.models[0]["fallback"] is True
    assert np.array_equal(np.asarray(result.image), np.asarray(one_model.image))
    canvas.model_fallback = False
    with pytest.raises(InvalidInputError, match="cannot be used here: no key"):
        canvas.generate(seed=3)


def test_an_unusable_model_gets_the_registrys_ranked_pick_with_its_reasons(
    one_model: GenerationResult,
) -> None:
    """dall-e-3 without an OpenAI key: the user's preference (an HF model, whose key is set)
    draws the region; the choice, its reason and each rejected model's reason are recorded."""
    with FakeImageServer() as fake:
        env = {"HF_TOKEN": SECRET, "HF_INFERENCE_ENDPOINT": fake.url}
        canvas = two_regions("dall-e-3", Registry(env=env, dotenv=None, user_cards=False))
        canvas.model_preference = ("midjourney", "hf-sdxl")
        with pytest.warns(UserWarning, match=r"dall-e-3 unavailable \(no key.*hf-sdxl stands in"):
            result = canvas.generate(seed=3)
        assert len(fake.posts("/models/")) == 1
    (record,) = result.models
    assert record["requested"] == "dall-e-3" and record["model"] == "hf-sdxl"
    assert record["fallback"] is True and "your preference #2" in record["reason"]
    assert "no public API" in record["rejected"]["midjourney"]
    assert "no key" in record["rejected"]["gpt-image-1"]
    assert "dall-e-3" not in record["rejected"]  # the model asked for is not a candidate
    assert "Looked for" not in json.dumps(record)  # reasons are short
    keep = outside_band(canvas, "square")
    assert (np.asarray(one_model.image)[keep] == np.asarray(result.image)[keep]).all()


def test_auto_lets_the_registry_choose(one_model: GenerationResult) -> None:
    with FakeImageServer() as fake:
        canvas = two_regions("auto", fake_registry(fake))
        result = canvas.generate(seed=3)  # no preference: the canvas model ranks first
        assert fake.posts() == []
        assert np.array_equal(np.asarray(result.image), np.asarray(one_model.image))
        (record,) = result.models
        assert record["model"] is None and record["fallback"] is False
        assert record["reason"].startswith("pakati-shapes chosen (your preference #1 among")
        canvas.model_preference = ("dall-e-2",)
        chosen = canvas.generate(seed=3)
        assert len(fake.posts("/v1/images/edits")) == 1
    (record,) = chosen.models
    assert record["model"] == "dall-e-2" and "dall-e-2 chosen" in record["reason"]


def test_the_seed_example_with_sdxl_and_dalle3_runs(one_model: GenerationResult) -> None:
    """The product description's example: SDXL (absent here) and DALL-E 3 per region."""
    with FakeImageServer() as fake:
        canvas = PakatiCanvas(128, 128, "pakati-shapes", base_prompt="a savanna at sunset")
        canvas.model_registry = fake_registry(fake)
        lion = canvas.create_region(box=(8, 40, 60, 110))
        canvas.apply_to_region(lion, "a majestic lion", model="stable-diffusion-xl")
        lake = canvas.create_region(box=(70, 50, 124, 110))
        canvas.apply_to_region(lake, "a calm blue lake", model="dalle-3")
        with pytest.warns(UserWarning, match="stable-diffusion-xl unavailable .*no weights"):
            result = canvas.generate(seed=42)
    by_region = {m["region"]: m for m in result.models}
    assert by_region["region-1"]["fallback"] is True
    assert by_region["region-2"]["model"] == "dall-e-3"
    assert json.loads(json.dumps(result.metadata))["region_models"]


@pytest.mark.parametrize(
    ("model", "words"),
    [("midjourney", "no public API"), ("claude", "planner/critic"), ("imagen-9", "unknown model")],
)
def test_models_without_an_image_api_are_refused_with_their_reason(model: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        two_regions(model).generate(seed=1)


def test_edits_of_a_multi_model_canvas_redraw_each_region_with_its_own_model() -> None:
    with FakeImageServer() as fake:
        canvas = two_regions("dall-e-2", fake_registry(fake))
        first = canvas.generate(seed=3)
        canvas.lock("square")
        circle = canvas.regenerate("circle", seed=11)  # the canvas model, as before
        square = canvas.region("square").rasterize() > 0
        assert (np.asarray(circle.image)[square] == np.asarray(first.image)[square]).all()
        assert len(fake.posts("/v1/images/edits")) == 1
        canvas.unlock("square")
        before = np.asarray(canvas.image)
        redrawn = canvas.regenerate("square", seed=12)  # dall-e-2 again, new seed: a call
        assert len(fake.posts("/v1/images/edits")) == 2
    keep = outside_band(canvas, "square")
    assert (np.asarray(redrawn.image)[keep] == before[keep]).all()
    assert redrawn.models[0]["model"] == "dall-e-2" and redrawn.unet_calls == 0


def test_another_local_model_draws_its_region_reproducibly(one_model: GenerationResult) -> None:
    """A region on tiny-random (another latent space) is a masked edit of its crop."""
    canvas = two_regions("tiny-random")
    result = canvas.generate(seed=3)
    again = two_regions("tiny-random").generate(seed=3)
    keep = outside_band(canvas, "square")
    assert (np.asarray(one_model.image)[keep] == np.asarray(result.image)[keep]).all()
    inside = canvas.region("square").rasterize() > 0
    assert (np.asarray(one_model.image)[inside] != np.asarray(result.image)[inside]).any()
    assert np.array_equal(np.asarray(result.image), np.asarray(again.image))
    (record,) = result.models
    assert record["model"] == "tiny-random" and record["provider"] == "local"
    assert record["task"] == "edit" and record["reproducible"] is True
    assert result.metadata["reproducible"] is True


def test_a_chosen_local_stand_in_draws_an_unusable_model(one_model: GenerationResult) -> None:
    canvas = two_regions("dall-e-3")
    canvas.stand_in = "tiny-random"
    with pytest.warns(UserWarning, match="dall-e-3 unavailable .*tiny-random stands in"):
        result = canvas.generate(seed=3)
    (record,) = result.models
    assert record["model"] == "tiny-random" and record["fallback"] is True
    canvas.stand_in = "dall-e-2"  # a stand-in must be usable here (no OpenAI key)
    with pytest.raises(InvalidInputError, match="stand-in 'dall-e-2' cannot be used either"):
        canvas.generate(seed=3)


def test_refining_a_huggingface_region_is_image_to_image_with_the_strength() -> None:
    with FakeImageServer() as fake:
        env = {"HF_TOKEN": SECRET, "HF_INFERENCE_ENDPOINT": fake.url}
        canvas = two_regions("hf-sdxl", Registry(env=env, dotenv=None, user_cards=False))
        first = canvas.generate(seed=3)
        refined = canvas.refine("square", strength=0.3)
        generate_call, refine_call = fake.posts("/models/")
    assert generate_call.json["parameters"]["strength"] == 0.8  # context kept when drawn
    assert refine_call.json["parameters"]["strength"] == 0.3
    assert first.models[0]["task"] == refined.models[0]["task"] == "image-to-image"
    keep = outside_band(canvas, "square")
    assert (np.asarray(first.image)[keep] == np.asarray(refined.image)[keep]).all()


def test_cli_trust_env_file_and_prefer_reach_the_canvas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base URL from ./.env gets the environment's key only with --trust-env-file; --prefer
    ranks models for a region whose model is "auto"."""
    from pakati.cli import main

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PAKATI_MODEL_CARDS", "PAKATI_STAND_IN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAKATI_API_KEY_OPENAI", SECRET)
    monkeypatch.chdir(tmp_path)
    layout = {
        "width": 128,
        "height": 128,
        "model": "pakati-shapes",
        "seed": 3,
        "base_prompt": "a grey background",
        "regions": [{"name": "square", "box": [68, 30, 124, 90], "prompt": "a blue square"}],
    }

    def run(model: str, out: str, *flags: str) -> dict[str, object]:
        layout["regions"][0]["model"] = model  # type: ignore[index]
        (tmp_path / "layout.json").write_text(json.dumps(layout))
        code = main(["generate", "layout.json", "--out", out, "--no-progress", *flags])
        assert code == 0
        sidecar = json.loads((tmp_path / out).with_suffix(".json").read_text())
        (record,) = sidecar["region_models"]
        return record

    with FakeImageServer() as fake:
        (tmp_path / ".env").write_text(f"OPENAI_BASE_URL={fake.url}/v1\n")
        with pytest.warns(UserWarning, match="--trust-env-file"):
            refused = run("dall-e-2", "refused.png")
        assert fake.posts() == [] and refused["fallback"] is True
        trusted = run("dall-e-2", "trusted.png", "--trust-env-file")
        assert len(fake.posts("/v1/images/edits")) == 1 and trusted["model"] == "dall-e-2"
        preferred = run("auto", "auto.png", "--trust-env-file", "--prefer", "dall-e-2")
        assert len(fake.posts("/v1/images/edits")) == 1  # the same job: from the cache
    assert preferred["model"] == "dall-e-2" and "your preference #1" in str(preferred["reason"])
    assert preferred["cached"] is True
    output = capsys.readouterr()
    assert SECRET not in output.out + output.err
    assert f"go to {fake.url}/v1" in output.err  # the non-official host, named once
