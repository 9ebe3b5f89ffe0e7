"""The real openai, replicate and huggingface_hub clients against fake servers on 127.0.0.1."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from pakati.foreign import make_provider
from pakati_engine.providers.registry import Registry
from pakati_engine.providers.types import (
    ContentRefusedError,
    ImageJob,
    ProviderError,
    ProviderUnavailableError,
)
from tests.provider_fakes import PAINT, FakeImageServer

SECRET = "sk-test-SECRET-123"


def registry_for(fake: FakeImageServer) -> Registry:
    env = {
        "PAKATI_API_KEY_OPENAI": SECRET,
        "OPENAI_BASE_URL": f"{fake.url}/v1",
        "REPLICATE_API_TOKEN": SECRET,
        "REPLICATE_BASE_URL": fake.url,
        "HF_TOKEN": SECRET,
        "HF_INFERENCE_ENDPOINT": fake.url,
    }
    return Registry(env=env, dotenv=None, user_cards=False)


def edit_job(model: str, size: int = 256) -> ImageJob:
    image = Image.new("RGB", (size, size), (10, 20, 30))
    mask = np.zeros((size, size), dtype=bool)
    mask[40:90, 60:120] = True
    return ImageJob("edit", model, "a red boat", (size, size), image=image, mask=mask, label="boat")


class Sleeps:
    """Records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# OpenAI ---------------------------------------------------------------------------------


def test_openai_edit_sends_multipart_image_and_alpha_mask_of_the_same_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeImageServer() as fake:
        provider = make_provider(registry_for(fake), registry_for(fake).require("dall-e-2"))
        answer = provider.run(edit_job("dall-e-2"))
        (sent,) = fake.posts("/v1/images/edits")
    notice = capsys.readouterr().err  # the non-official host is named before the request
    assert f"go to {fake.url}/v1" in notice and "PAKATI_API_KEY_OPENAI" in notice
    assert SECRET not in notice
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.form["model"] == b"dall-e-2"
    assert sent.form["size"] == b"256x256"
    image = Image.open(io.BytesIO(sent.form["image"]))
    mask = Image.open(io.BytesIO(sent.form["mask"]))
    assert image.format == mask.format == "PNG"
    assert image.size == mask.size == (256, 256)
    alpha = np.asarray(mask.convert("RGBA"))[..., 3]
    assert (alpha[40:90, 60:120] == 0).all()  # transparent: where the model draws
    assert alpha.sum() == 255 * (256 * 256 - 50 * 60)  # opaque everywhere else
    assert len(sent.form["image"]) < 4 * 2**20
    pixels = np.asarray(answer.image)
    assert tuple(pixels[50, 70]) == PAINT and tuple(pixels[0, 0]) == (10, 20, 30)
    assert answer.reproducible is False and answer.calls == 1
    assert answer.bytes_sent >= len(sent.form["image"]) + len(sent.form["mask"])


def test_openai_generation_asks_for_base64_at_an_allowed_size() -> None:
    with FakeImageServer() as fake:
        registry = registry_for(fake)
        job = ImageJob("text-to-image", "dall-e-3", "a lake", (1792, 1024), label="lake")
        answer = make_provider(registry, registry.require("dalle-3")).run(job)
        (sent,) = fake.posts("/v1/images/generations")
    assert sent.json["model"] == "dall-e-3" and sent.json["size"] == "1792x1024"
    assert sent.json["response_format"] == "b64_json"
    assert answer.image.size == (1792, 1024)


@pytest.mark.parametrize(
    ("model", "job", "words"),
    [
        ("dall-e-3", edit_job("dall-e-3", 1024), "no edits"),
        ("dall-e-2", edit_job("dall-e-2", 320), "takes sizes 256x256, 512x512, 1024x1024"),
        (
            "dall-e-2",
            ImageJob("text-to-image", "dall-e-2", "x" * 1001, (256, 256), label="r"),
            "at most 1000",
        ),
    ],
)
def test_openai_refuses_what_the_model_cannot_take_before_sending(
    model: str, job: ImageJob, words: str
) -> None:
    with FakeImageServer() as fake:
        registry = registry_for(fake)
        with pytest.raises(ProviderUnavailableError, match=words):
            make_provider(registry, registry.require(model)).run(job)
        assert fake.seen == []  # nothing was sent


def test_openai_429_waits_retry_after_then_succeeds() -> None:
    with FakeImageServer("429", failures=2, retry_after="3") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("dall-e-2"))
        sleeps = Sleeps()
        provider.sleep = sleeps  # type: ignore[attr-defined]
        answer = provider.run(edit_job("dall-e-2"))
    assert sleeps.waits == [3.0, 3.0]
    assert fake.creates == 3 and answer.calls == 3


def test_openai_429_beyond_the_wait_budget_is_a_clear_error() -> None:
    with FakeImageServer("429", failures=5, retry_after="120") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("dall-e-2"))
        provider.sleep = Sleeps()  # type: ignore[attr-defined]
        with pytest.raises(ProviderError, match=r"rate limiting.*gave up"):
            provider.run(edit_job("dall-e-2"))
    assert fake.creates == 1


def test_openai_500_is_reported_once_and_not_retried() -> None:
    with FakeImageServer("500") as fake:
        registry = registry_for(fake)
        with pytest.raises(ProviderError, match=r"answered 500.*Not retried") as caught:
            make_provider(registry, registry.require("dall-e-2")).run(edit_job("dall-e-2"))
        assert fake.creates == 1
    assert "region 'boat'" in str(caught.value) and SECRET not in str(caught.value)


def test_openai_hang_times_out_with_a_clear_error() -> None:
    with FakeImageServer("hang", hang_s=4.0) as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("dall-e-2"), timeout_s=1.0)
        start = time.monotonic()
        with pytest.raises(ProviderError, match=r"did not answer within 1 s"):
            provider.run(edit_job("dall-e-2"))
        assert time.monotonic() - start < 3.5
        assert fake.creates == 1


def test_openai_content_refusal_names_region_and_reason() -> None:
    with FakeImageServer("refuse") as fake:
        registry = registry_for(fake)
        with pytest.raises(ContentRefusedError, match=r"region 'boat'.*safety system"):
            make_provider(registry, registry.require("gpt-image-1")).run(
                edit_job("gpt-image-1", 1024)
            )


# Replicate ------------------------------------------------------------------------------


def test_replicate_polls_starting_processing_succeeded_and_downloads() -> None:
    with FakeImageServer() as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("replicate-sdxl"))
        provider.sleep = Sleeps()  # type: ignore[attr-defined]
        job = edit_job("stability-ai/sdxl")
        answer = provider.run(ImageJob(**{**job.__dict__, "seed": 5}))
        (create,) = fake.posts("/predictions")
        polls = [s for s in fake.seen if s.method == "GET" and "/v1/predictions/" in s.path]
        download = [s for s in fake.seen if s.path.startswith("/files/")]
    assert create.path == "/v1/models/stability-ai/sdxl/predictions"
    assert create.headers["prefer"].startswith("wait")
    assert create.headers["authorization"] == f"Bearer {SECRET}"
    inputs = create.json["input"]
    assert inputs["seed"] == 5 and inputs["width"] == 256 and inputs["prompt"] == "a red boat"
    assert inputs["image"].startswith("data:image/png;base64,")
    assert len(polls) == 2  # starting -> processing -> succeeded
    assert fake.predictions["p1"]["status"] == "succeeded"
    assert "authorization" not in download[0].headers  # the key stays with the API host
    assert tuple(np.asarray(answer.image)[50, 70]) == PAINT  # white mask = painted
    assert answer.calls == 3


def test_replicate_429_on_create_honours_retry_after() -> None:
    with FakeImageServer("429", failures=1, retry_after="2") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("replicate-sdxl"))
        sleeps = Sleeps()
        provider.sleep = sleeps  # type: ignore[attr-defined]
        provider.run(ImageJob("text-to-image", "m", "a cat", (64, 64), label="cat"))
    assert sleeps.waits[0] == 2.0 and len(fake.posts("/predictions")) == 2


def test_replicate_failed_prediction_is_a_refusal_naming_the_region() -> None:
    with FakeImageServer("fail") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("replicate-sdxl"))
        provider.sleep = Sleeps()  # type: ignore[attr-defined]
        with pytest.raises(ContentRefusedError, match=r"region 'cat'.*NSFW"):
            provider.run(ImageJob("text-to-image", "m", "a cat", (64, 64), label="cat"))


def test_replicate_prediction_past_the_deadline_is_canceled() -> None:
    with FakeImageServer("stuck") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("replicate-sdxl"), timeout_s=0.5)
        provider.poll_s = 0.05  # type: ignore[attr-defined]
        with pytest.raises(ProviderError, match="canceled it"):
            provider.run(ImageJob("text-to-image", "m", "a cat", (64, 64), label="cat"))
        assert fake.posts("/cancel")


def test_replicate_500_on_create_is_not_retried() -> None:
    with FakeImageServer("500") as fake:
        registry = registry_for(fake)
        with pytest.raises(ProviderError, match="answered 500"):
            make_provider(registry, registry.require("replicate-sdxl")).run(
                ImageJob("text-to-image", "m", "a cat", (64, 64), label="cat")
            )
        assert fake.creates == 1


# Hugging Face ---------------------------------------------------------------------------


def test_huggingface_text_to_image_posts_to_the_model_url_with_size_and_seed() -> None:
    with FakeImageServer() as fake:
        registry = registry_for(fake)
        job = ImageJob("text-to-image", "m", "a fox", (256, 128), seed=9, label="fox")
        answer = make_provider(registry, registry.require("hf-sdxl")).run(job)
        (sent,) = fake.posts()
    assert sent.path == "/models/stabilityai/stable-diffusion-xl-base-1.0"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json["inputs"] == "a fox"
    assert sent.json["parameters"] == {"height": 128, "width": 256, "seed": 9}
    assert answer.image.size == (256, 128)


def test_huggingface_image_to_image_sends_the_crop() -> None:
    with FakeImageServer() as fake:
        registry = registry_for(fake)
        image = Image.new("RGB", (64, 64), (0, 0, 0))
        job = ImageJob("image-to-image", "m", "a fox", (64, 64), image=image, label="fox")
        answer = make_provider(registry, registry.require("hf-sdxl")).run(job)
        (sent,) = fake.posts()
    assert sent.json["parameters"]["prompt"] == "a fox"
    assert sent.json["parameters"]["target_size"] == {"width": 64, "height": 64}
    assert answer.image.size == (64, 64)


@pytest.mark.parametrize(
    ("behaviour", "error", "words"),
    [("500", ProviderError, "answered 500"), ("hang", ProviderError, "did not answer within")],
)
def test_huggingface_failures_are_clear_and_within_the_timeout(
    behaviour: str, error: type[Exception], words: str
) -> None:
    with FakeImageServer(behaviour, hang_s=4.0) as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("hf-sdxl"), timeout_s=1.0)
        start = time.monotonic()
        with pytest.raises(error, match=words):
            provider.run(ImageJob("text-to-image", "m", "a fox", (64, 64), label="fox"))
        assert time.monotonic() - start < 3.5
        assert fake.creates == 1


def test_huggingface_429_honours_retry_after() -> None:
    with FakeImageServer("429", failures=1, retry_after="2") as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("hf-sdxl"))
        sleeps = Sleeps()
        provider.sleep = sleeps  # type: ignore[attr-defined]
        provider.run(ImageJob("text-to-image", "m", "a fox", (64, 64), label="fox"))
    assert sleeps.waits == [2.0] and fake.creates == 2


def test_replicate_hang_on_create_times_out_without_retrying() -> None:
    with FakeImageServer("hang", hang_s=4.0) as fake:
        registry = registry_for(fake)
        provider = make_provider(registry, registry.require("replicate-sdxl"), timeout_s=1.0)
        start = time.monotonic()
        with pytest.raises(ProviderError, match=r"did not answer within 1 s.*Not retried"):
            provider.run(ImageJob("text-to-image", "m", "a cat", (64, 64), label="cat"))
        assert time.monotonic() - start < 3.5
        assert fake.creates == 1
