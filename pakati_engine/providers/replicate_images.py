"""Replicate through the official ``replicate`` client: create a prediction, wait, download.

The create is ``POST /v1/models/{owner}/{name}/predictions`` with ``Prefer: wait`` (the
server holds the request open up to the wait); a prediction still ``starting`` or
``processing`` after it is polled (the client's GETs) until it ends or the deadline passes,
when it is canceled. Outputs are deleted by Replicate after an hour, so they are downloaded
at once, without the API key (it is for Replicate's API host only). The card's ``inputs``
name the model's input fields; its mask is white where the model paints.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np
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

TERMINAL = ("succeeded", "failed", "canceled")
REFUSAL_WORDS = ("nsfw", "safety", "content policy", "flagged")


def data_uri(payload: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(payload).decode("ascii")


class ReplicateImages:
    """The Replicate provider for one model card (``card.remote_id`` is owner/name)."""

    name = "replicate"

    def __init__(
        self,
        card: ModelCard,
        access: ProviderAccess,
        *,
        timeout_s: float = 300.0,
        max_wait_s: float = 60.0,
        poll_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.card = card
        self.access = access
        self.timeout_s = timeout_s
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self.sleep = sleep
        #: ``Retry-After`` of the last 429 (the client's error does not carry headers).
        self._last_retry_after: str | None = None

    def run(self, job: ImageJob) -> ProviderImage:
        card = self.card
        where = f"{card.id} (region {job.label!r})"
        if job.task not in card.tasks:
            raise ProviderUnavailableError(
                f"{where}: cannot do {job.task}; it offers {', '.join(card.tasks)}"
            )
        if self.access.key is None:
            raise ProviderUnavailableError(
                f"{card.id} needs a Replicate token: set PAKATI_API_KEY_REPLICATE (or "
                "REPLICATE_API_TOKEN) in the environment or .env"
            )
        if not card.remote_id:
            raise ProviderUnavailableError(f"card {card.id!r} names no Replicate model (remote_id)")
        inputs, sent = self._inputs(job)
        client = self._client()
        self.access.announce()
        deadline = time.monotonic() + self.timeout_s
        calls = 0

        def create() -> Any:
            nonlocal calls
            calls += 1
            return self._guarded(
                # models.predictions: client.predictions.create drops ``wait`` for models
                lambda: client.models.predictions.create(
                    model=card.remote_id, input=inputs, wait=self._wait_s()
                ),
                where,
            )

        prediction = create_with_retry(
            create, give_up=self._gave_up(where), max_wait_s=self.max_wait_s, sleep=self.sleep
        )
        while prediction.status not in TERMINAL:
            if time.monotonic() > deadline:
                self._guarded(prediction.cancel, where)
                raise ProviderError(
                    f"{where}: Replicate prediction {prediction.id} was still "
                    f"{prediction.status} after {self.timeout_s:g} s; canceled it"
                )
            self.sleep(self.poll_s)
            self._guarded(prediction.reload, where)
            calls += 1
        if prediction.status != "succeeded":
            reason = str(prediction.error or prediction.status)
            if any(word in reason.lower() for word in REFUSAL_WORDS):
                raise ContentRefusedError(
                    f"{where}: Replicate refused the request: {reason}. Change the prompt"
                )
            raise ProviderError(f"{where}: Replicate prediction {prediction.status}: {reason}")
        image = self._download(prediction.output, where)
        reproducible = card.deterministic and job.seed is not None
        return ProviderImage(image=image, reproducible=reproducible, calls=calls, bytes_sent=sent)

    def _wait_s(self) -> int:
        return max(1, min(60, int(self.timeout_s)))

    def _inputs(self, job: ImageJob) -> tuple[dict[str, Any], int]:
        names = self.card.inputs
        values: dict[str, Any] = {
            "prompt": job.prompt,
            "width": job.size[0],
            "height": job.size[1],
        }
        if job.negative_prompt:
            values["negative_prompt"] = job.negative_prompt
        if job.seed is not None and self.card.seed:
            values["seed"] = job.seed
        if job.image is not None and job.task in ("edit", "image-to-image"):
            values["image"] = data_uri(png_bytes(job.image.convert("RGB")))
            values["strength"] = job.strength if job.task == "image-to-image" else 1.0
        if job.mask is not None and job.task == "edit":
            white = Image.fromarray(np.where(job.mask, 255, 0).astype(np.uint8), mode="L")
            values["mask"] = data_uri(png_bytes(white))
        inputs = {names.get(key, key): value for key, value in values.items() if key in names}
        sent = sum(len(str(value)) for value in inputs.values())
        return inputs, sent

    def _client(self) -> Any:
        import httpx
        import replicate

        assert self.access.key is not None

        def remember(response: httpx.Response) -> None:
            if response.status_code == 429:
                self._last_retry_after = response.headers.get("retry-after")

        return replicate.Client(
            api_token=self.access.key.get_secret_value(),
            base_url=self.access.base_url,
            timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
            event_hooks={"response": [remember]},
        )

    def _guarded(self, send: Callable[[], Any], where: str) -> Any:
        import httpx
        from replicate.exceptions import ModelError, ReplicateError

        try:
            return send()
        except ReplicateError as error:
            detail = error.detail or error.title or str(error)
            if error.status == 429:
                raise RateLimited(parse_retry_after(self._last_retry_after), detail) from error
            if error.status == 401:
                raise ProviderError(
                    f"{where}: Replicate rejected the token in {self.access.key_name} (401)"
                ) from error
            if any(word in detail.lower() for word in REFUSAL_WORDS):
                raise ContentRefusedError(f"{where}: Replicate refused: {detail}") from error
            again = " Not retried (it may have run)." if (error.status or 0) >= 500 else ""
            raise ProviderError(
                f"{where}: Replicate answered {error.status}: {detail}.{again}"
            ) from error
        except ModelError as error:
            raise ProviderError(f"{where}: the model failed: {error}") from error
        except httpx.TimeoutException as error:
            raise ProviderError(
                f"{where}: Replicate did not answer within {self.timeout_s:g} s. Not retried "
                "(the prediction may have been created); try again later"
            ) from error
        except httpx.TransportError as error:
            raise ProviderError(
                f"{where}: could not reach {self.access.base_url} ({error}); check the network "
                "or REPLICATE_BASE_URL"
            ) from error

    def _gave_up(self, where: str) -> Callable[[RateLimited, float], Exception]:
        def make(limited: RateLimited, waited: float) -> Exception:
            return ProviderError(
                f"{where}: Replicate is rate limiting ({limited.detail}); waited {waited:g} s "
                f"as it asked, then gave up (limit {self.max_wait_s:g} s). Try again later"
            )

        return make

    def _download(self, output: Any, where: str) -> Image.Image:
        import httpx

        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or not url:
            raise ProviderError(f"{where}: the prediction succeeded but gave no image URL")
        try:
            if url.startswith("data:"):
                payload = base64.b64decode(url.split(",", 1)[1])
            else:
                response = httpx.get(url, timeout=self.timeout_s, follow_redirects=True)
                response.raise_for_status()
                payload = response.content
            image = Image.open(io.BytesIO(payload))
            image.load()
        except (httpx.HTTPError, OSError, ValueError) as error:
            raise ProviderError(
                f"{where}: could not download the output ({error}); Replicate deletes outputs "
                "after an hour"
            ) from error
        return image.convert("RGB")
