"""Hugging Face Inference through ``huggingface_hub.InferenceClient``.

The client is given the model's URL (``<endpoint>/models/<repo id>``, the endpoint being
``HF_INFERENCE_ENDPOINT`` or Hugging Face's router), so it posts there and appends nothing.
Hugging Face offers ``text_to_image`` and ``image_to_image`` but no masked edit: a region is
drawn from its crop by image-to-image and composited inside its own mask by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from pakati_engine.providers.cards import ModelCard
from pakati_engine.providers.keys import ProviderAccess
from pakati_engine.providers.retrying import RateLimited, create_with_retry, parse_retry_after
from pakati_engine.providers.types import (
    ContentRefusedError,
    ImageJob,
    ProviderError,
    ProviderImage,
    ProviderUnavailableError,
    png_bytes,
)

REFUSAL_WORDS = ("nsfw", "safety", "content policy", "flagged")


class HuggingFaceImages:
    """The Hugging Face Inference provider for one model card (``remote_id``: repo id)."""

    name = "huggingface"

    def __init__(
        self,
        card: ModelCard,
        access: ProviderAccess,
        *,
        timeout_s: float = 120.0,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.card = card
        self.access = access
        self.timeout_s = timeout_s
        self.max_wait_s = max_wait_s
        self.sleep = sleep

    @property
    def url(self) -> str:
        return f"{self.access.base_url.rstrip('/')}/models/{self.card.remote_id or self.card.id}"

    def run(self, job: ImageJob) -> ProviderImage:
        where = f"{self.card.id} (region {job.label!r})"
        if job.task not in self.card.tasks:
            raise ProviderUnavailableError(
                f"{where}: Hugging Face Inference cannot do {job.task} with this model; it "
                f"offers {', '.join(self.card.tasks)}"
            )
        if self.access.key is None:
            raise ProviderUnavailableError(
                f"{self.card.id} needs a Hugging Face token: set PAKATI_API_KEY_HUGGINGFACE "
                "(or HF_TOKEN) in the environment or .env"
            )
        from huggingface_hub import ImageToImageTargetSize, InferenceClient

        client = InferenceClient(
            model=self.url, token=self.access.key.get_secret_value(), timeout=self.timeout_s
        )
        self.access.announce()
        width, height = job.size
        seed = job.seed if self.card.seed else None
        sent = len(job.prompt.encode())
        if job.task == "image-to-image":
            assert job.image is not None

            payload = png_bytes(job.image.convert("RGB"))
            sent += len(payload)

            def send() -> Any:
                return client.image_to_image(
                    payload,
                    prompt=job.prompt,
                    negative_prompt=job.negative_prompt or None,
                    target_size=ImageToImageTargetSize(width=width, height=height),
                    strength=job.strength,
                    seed=seed,
                )
        else:

            def send() -> Any:
                return client.text_to_image(
                    job.prompt,
                    negative_prompt=job.negative_prompt or None,
                    width=width,
                    height=height,
                    seed=seed,
                )

        calls = 0

        def create() -> Any:
            nonlocal calls
            calls += 1
            return self._guarded(send, where)

        image = create_with_retry(
            create, give_up=self._gave_up(where), max_wait_s=self.max_wait_s, sleep=self.sleep
        )
        if not isinstance(image, Image.Image):
            raise ProviderError(f"{where}: the answer is not an image")
        reproducible = self.card.deterministic and seed is not None
        return ProviderImage(
            image=image.convert("RGB"), reproducible=reproducible, calls=calls, bytes_sent=sent
        )

    def _guarded(self, send: Callable[[], Any], where: str) -> Any:
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        try:
            return send()
        except InferenceTimeoutError as error:
            raise ProviderError(
                f"{where}: Hugging Face did not answer within {self.timeout_s:g} s. Not retried; "
                "try again later"
            ) from error
        except HfHubHTTPError as error:
            response = getattr(error, "response", None)
            status = getattr(response, "status_code", None)
            detail = _detail(error)
            if status == 429:
                wait = parse_retry_after(response.headers.get("retry-after") if response else None)
                raise RateLimited(wait, detail) from error
            if status == 401:
                raise ProviderError(
                    f"{where}: Hugging Face rejected the token in {self.access.key_name} (401)"
                ) from error
            if any(word in detail.lower() for word in REFUSAL_WORDS):
                raise ContentRefusedError(f"{where}: Hugging Face refused: {detail}") from error
            again = " Not retried (it may have run)." if (status or 0) >= 500 else ""
            raise ProviderError(f"{where}: Hugging Face answered {status}: {detail}.{again}") from (
                error
            )
        except OSError as error:  # connection failures surface as OSError subclasses
            raise ProviderError(
                f"{where}: could not reach {self.url} ({error}); check the network or "
                "HF_INFERENCE_ENDPOINT"
            ) from error

    def _gave_up(self, where: str) -> Callable[[RateLimited, float], Exception]:
        def make(limited: RateLimited, waited: float) -> Exception:
            return ProviderError(
                f"{where}: Hugging Face is rate limiting ({limited.detail}); waited {waited:g} s "
                f"as it asked, then gave up (limit {self.max_wait_s:g} s). Try again later"
            )

        return make


def _detail(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    server = getattr(error, "server_message", None)
    return f"{text} ({server})" if server else text
