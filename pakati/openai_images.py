"""OpenAI images (gpt-image-1, dall-e-3, dall-e-2) through the official ``openai`` client.

Generations are ``POST /images/generations``; edits are multipart ``POST /images/edits``
with the crop as a PNG and a mask PNG of the same size whose alpha is 0 where the model
should draw. Everything the API would refuse (a task the model lacks, such as dall-e-3
edits; a size it does not take; a prompt or upload too long) is refused here, before any
byte is sent. The client's own retries are off (``max_retries=0``): a create is repeated
only after a 429, as :mod:`pakati_engine.providers.retrying` explains.

It lives in the canvas API layer, not in ``pakati_engine.providers`` with the other
providers, because the engine imports no LLM package and ``openai`` is one;
:func:`pakati.foreign.make_provider` is where it is chosen.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from pakati_engine.providers.cards import ModelCard, check_job
from pakati_engine.providers.keys import ProviderAccess
from pakati_engine.providers.retrying import RateLimited, create_with_retry, parse_retry_after
from pakati_engine.providers.types import (
    ContentRefusedError,
    ImageJob,
    ProviderError,
    ProviderImage,
    ProviderUnavailableError,
    alpha_mask_png,
    png_bytes,
)

#: Error codes OpenAI uses for content refusals.
REFUSAL_CODES = ("content_policy_violation", "moderation_blocked", "content_filter")


class OpenAIImages:
    """The OpenAI images provider for one model card."""

    name = "openai"

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

    def run(self, job: ImageJob) -> ProviderImage:
        check_job(self.card, job)
        if self.access.key is None:
            raise ProviderUnavailableError(
                f"{self.card.id} needs an OpenAI key: set PAKATI_API_KEY_OPENAI (or "
                "OPENAI_API_KEY) in the environment or .env"
            )
        fields: dict[str, Any] = {
            "model": self.card.id,
            "prompt": job.prompt,
            "size": f"{job.size[0]}x{job.size[1]}",
            "n": 1,
        }
        if self.card.id.startswith("dall-e"):
            fields["response_format"] = "b64_json"  # GPT image models always answer base64
        sent = len(job.prompt.encode())
        if job.task == "edit":
            assert job.image is not None and job.mask is not None
            if job.image.size != job.size or job.mask.shape != (job.size[1], job.size[0]):
                raise ProviderError("the crop, its mask and the size must agree (a Pakati bug)")
            image = png_bytes(job.image.convert("RGBA"))
            mask = alpha_mask_png(job.mask)
            limit = self.card.max_upload_bytes
            if limit is not None and max(len(image), len(mask)) > limit:
                raise ProviderUnavailableError(
                    f"region {job.label!r}: the crop PNG is {len(image)} bytes; {self.card.id} "
                    f"takes at most {limit}"
                )
            fields["image"] = ("image.png", image, "image/png")
            fields["mask"] = ("mask.png", mask, "image/png")
            sent += len(image) + len(mask)
        client = self._client()
        self.access.announce()
        call = client.images.edit if job.task == "edit" else client.images.generate
        calls = 0

        def create() -> Any:
            nonlocal calls
            calls += 1
            return self._guarded(lambda: call(**fields), job)

        response = create_with_retry(
            create, give_up=self._gave_up(job), max_wait_s=self.max_wait_s, sleep=self.sleep
        )
        picture = self._decode(response, job)
        return ProviderImage(
            image=picture, reproducible=False, calls=calls, bytes_sent=sent * calls
        )

    def _client(self) -> Any:
        from openai import OpenAI  # imported only when an OpenAI model is used

        assert self.access.key is not None
        return OpenAI(
            api_key=self.access.key.get_secret_value(),
            base_url=self.access.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def _guarded(self, send: Callable[[], Any], job: ImageJob) -> Any:
        import openai

        where = f"{self.card.id} (region {job.label!r})"
        try:
            return send()
        except openai.RateLimitError as error:
            wait = parse_retry_after(error.response.headers.get("retry-after"))
            raise RateLimited(wait, _message(error)) from error
        except openai.APITimeoutError as error:
            raise ProviderError(
                f"{where}: OpenAI did not answer within {self.timeout_s:g} s. Not retried (the "
                "image may have been made and billed); try again later"
            ) from error
        except openai.APIConnectionError as error:
            raise ProviderError(
                f"{where}: could not reach {self.access.base_url} ({error}); check the "
                "network or OPENAI_BASE_URL"
            ) from error
        except openai.AuthenticationError as error:
            raise ProviderError(
                f"{where}: OpenAI rejected the key in {self.access.key_name} (401); check it"
            ) from error
        except openai.APIStatusError as error:
            code = getattr(error, "code", None) or ""
            if code in REFUSAL_CODES or "safety" in _message(error).lower():
                raise ContentRefusedError(
                    f"{where}: OpenAI refused the request: {_message(error)}. Change the "
                    "region's prompt"
                ) from error
            retried = "" if error.status_code < 500 else " Not retried (it may have run)."
            raise ProviderError(
                f"{where}: OpenAI answered {error.status_code}: {_message(error)}.{retried}"
            ) from error

    def _gave_up(self, job: ImageJob) -> Callable[[RateLimited, float], Exception]:
        def make(limited: RateLimited, waited: float) -> Exception:
            return ProviderError(
                f"{self.card.id} (region {job.label!r}): OpenAI is rate limiting "
                f"({limited.detail}); waited {waited:g} s as it asked, then gave up "
                f"(limit {self.max_wait_s:g} s). Try again later"
            )

        return make

    def _decode(self, response: Any, job: ImageJob) -> Image.Image:
        data = getattr(response, "data", None) or []
        encoded = getattr(data[0], "b64_json", None) if data else None
        if not encoded:
            raise ProviderError(
                f"{self.card.id} (region {job.label!r}): the answer held no base64 image"
            )
        try:
            image = Image.open(io.BytesIO(base64.b64decode(encoded)))
            image.load()
        except Exception as error:
            raise ProviderError(
                f"{self.card.id} (region {job.label!r}): the answer is not an image ({error})"
            ) from error
        return image.convert("RGB")


def _message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", error))
