"""Fake OpenAI, Replicate and Hugging Face image servers on 127.0.0.1 for the real clients.

One threaded HTTP server answers all three APIs by path. Every request is recorded
(method, path, headers, parsed body) so tests can check what the real client sent. Its
``behaviour`` scripts failures: ``"429"`` (answer 429 with ``Retry-After`` for the first
``failures`` creates), ``"500"``, ``"hang"`` (never answer within the client's timeout),
``"refuse"`` (a content refusal), ``"scramble"`` (change every pixel, inside and outside
the mask, as a careless remote model might), ``"fail"`` (a failed prediction).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

PAINT = (250, 20, 200)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, bytes] = field(default_factory=dict)
    raw: bytes = b""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = BytesParser(policy=email_policy).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


def painted(size: tuple[int, int], colour: tuple[int, int, int] = PAINT) -> Image.Image:
    return Image.new("RGB", size, colour)


def edited(image_png: bytes, mask: np.ndarray | None, scramble: bool) -> Image.Image:
    """The sent image with the mask's area painted; ``scramble`` also changes the rest."""
    array = np.asarray(Image.open(io.BytesIO(image_png)).convert("RGB")).copy()
    if mask is not None:
        array[mask] = PAINT
    if scramble:
        array = (255 - array).astype(np.uint8)
        array[::2] = (array[::2] // 2).astype(np.uint8)
    return Image.fromarray(array)


class FakeImageServer:
    """Start with ``with FakeImageServer() as fake:``; ``fake.url`` is its base URL."""

    def __init__(
        self,
        behaviour: str = "ok",
        *,
        failures: int = 1,
        retry_after: str = "1",
        latency_s: float = 0.0,
        latencies: tuple[float, ...] = (),
        hang_s: float = 5.0,
    ) -> None:
        self.behaviour = behaviour
        self.failures = failures
        self.retry_after = retry_after
        self.latency_s = latency_s
        #: Per create, in arrival order (cycled): answers can come back out of order.
        self.latencies = latencies
        self.hang_s = hang_s
        #: Replicate models' published schemas, by "owner/name" (GET /v1/models/owner/name).
        self.schemas: dict[str, dict[str, Any]] = {}
        #: Creates being answered now, and the most at once (requests sent together).
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen: list[Seen] = []
        self.creates = 0
        self.predictions: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeImageServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posts(self, fragment: str = "") -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and fragment in s.path]

    # Behaviour ------------------------------------------------------------------------

    def _failure(self) -> tuple[int, dict[str, str], Any] | None:
        """A scripted failure for this create, or None to answer normally."""
        with self._lock:
            self.creates += 1
            count = self.creates
        delay = self.latencies[(count - 1) % len(self.latencies)] if self.latencies else 0.0
        if self.latency_s or delay:
            time.sleep(self.latency_s + delay)
        if self.behaviour == "429" and count <= self.failures:
            return (
                429,
                {"Retry-After": self.retry_after},
                {
                    "error": {"message": "Rate limit reached", "type": "requests"},
                    "detail": "Rate limit reached",
                    "status": 429,
                },
            )
        if self.behaviour == "500":
            return (
                500,
                {},
                {
                    "error": {"message": "The server had an error", "type": "server"},
                    "detail": "internal error",
                    "status": 500,
                },
            )
        if self.behaviour == "hang":
            time.sleep(self.hang_s)
            return 504, {}, {"error": {"message": "too late"}}
        if self.behaviour == "refuse":
            return (
                400,
                {},
                {
                    "error": {
                        "message": "Your request was rejected by the safety system.",
                        "code": "content_policy_violation",
                        "type": "image_generation_user_error",
                    },
                    "detail": "NSFW content detected: flagged by the safety checker",
                    "status": 400,
                },
            )
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self,
                status: int,
                body: Any,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _read(self) -> Seen:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    raw=raw,
                )
                kind = self.headers.get("Content-Type", "")
                if kind.startswith("application/json") and raw:
                    seen.json = json.loads(raw)
                elif kind.startswith("multipart/form-data"):
                    seen.form = parse_multipart(kind, raw)
                fake.seen.append(seen)
                return seen

            def do_GET(self) -> None:
                self._read()
                if self.path.startswith("/files/"):
                    self._send(200, fake.files[self.path], content_type="image/png")
                elif self.path.startswith("/v1/models/") and "/predictions" not in self.path:
                    owner_name = self.path.removeprefix("/v1/models/").strip("/")
                    if owner_name in fake.schemas:
                        self._send(200, fake._replicate_model(owner_name))
                    else:
                        self._send(
                            404, {"title": "Not found", "detail": "Not found.", "status": 404}
                        )
                elif self.path.startswith("/v1/predictions/"):
                    prediction = fake.predictions[self.path.rsplit("/", 1)[1]]
                    fake._advance(prediction)
                    self._send(200, prediction)
                else:
                    self._send(404, {"detail": "not found"})

            def do_POST(self) -> None:
                seen = self._read()
                if self.path.endswith("/cancel"):
                    prediction = fake.predictions[self.path.split("/")[-2]]
                    prediction["status"] = "canceled"
                    self._send(200, prediction)
                    return
                with fake._lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    self._create(seen)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _create(self, seen: Seen) -> None:
                failure = fake._failure()
                if failure is not None:
                    status, headers, body = failure
                    with contextlib.suppress(OSError):  # a client that gave up (hang)
                        self._send(status, body, headers)
                    return
                if self.path.startswith("/v1/images/"):
                    self._send(200, fake._openai(seen))
                elif "/predictions" in self.path:
                    self._send(201, fake._replicate_create(seen))
                elif self.path.startswith("/models/"):
                    self._send(200, png(fake._hf(seen)), content_type="image/png")
                else:
                    self._send(404, {"detail": "not found"})

        return Handler

    # The three APIs --------------------------------------------------------------------

    def _openai(self, seen: Seen) -> dict[str, Any]:
        if seen.path.endswith("/edits"):
            mask_png = seen.form.get("mask")
            mask = None
            if mask_png is not None:
                alpha = np.asarray(Image.open(io.BytesIO(mask_png)).convert("RGBA"))[..., 3]
                mask = alpha == 0
            image = edited(seen.form["image"], mask, self.behaviour == "scramble")
        else:
            assert seen.json is not None
            width, height = (int(v) for v in seen.json["size"].split("x"))
            image = painted((width, height))
        return {"created": 0, "data": [{"b64_json": base64.b64encode(png(image)).decode()}]}

    def _replicate_create(self, seen: Seen) -> dict[str, Any]:
        assert seen.json is not None
        inputs = seen.json["input"]
        if "image" in inputs:
            image_png = base64.b64decode(inputs["image"].split(",", 1)[1])
            mask = None
            if "mask" in inputs:
                grey = Image.open(io.BytesIO(base64.b64decode(inputs["mask"].split(",", 1)[1])))
                mask = np.asarray(grey.convert("L")) > 127
            image = edited(image_png, mask, self.behaviour == "scramble")
        else:
            image = painted((int(inputs.get("width", 64)), int(inputs.get("height", 64))))
        with self._lock:
            number = len(self.predictions) + 1
        pid = f"p{number}"
        self.files[f"/files/{pid}.png"] = png(image)
        prediction = {
            "id": pid,
            "model": "fake/model",
            "version": "v1",
            "status": "starting",
            "input": inputs,
            "output": None,
            "error": None,
            "logs": "",
            "urls": {
                "get": f"{self.url}/v1/predictions/{pid}",
                "cancel": f"{self.url}/v1/predictions/{pid}/cancel",
            },
            "_polls": 0,
        }
        self.predictions[pid] = prediction
        return {k: v for k, v in prediction.items() if not k.startswith("_")}

    def _replicate_model(self, owner_name: str) -> dict[str, Any]:
        owner, name = owner_name.split("/")
        return {
            "url": f"https://replicate.com/{owner_name}",
            "owner": owner,
            "name": name,
            "description": "a fake model",
            "visibility": "public",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": 1,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": {
                "id": "0123456789abcdef0123456789abcdef",
                "created_at": "2026-01-01T00:00:00Z",
                "cog_version": "0.9.0",
                "openapi_schema": self.schemas[owner_name],
            },
        }

    def _advance(self, prediction: dict[str, Any]) -> None:
        """starting -> processing -> succeeded (or failed), one step per poll."""
        prediction["_polls"] += 1
        if prediction["status"] == "canceled" or self.behaviour == "stuck":
            return
        if prediction["status"] == "starting":
            prediction["status"] = "processing"
        elif prediction["status"] == "processing":
            if self.behaviour == "fail":
                prediction["status"] = "failed"
                prediction["error"] = "NSFW content detected in the output"
            else:
                prediction["status"] = "succeeded"
                prediction["output"] = [f"{self.url}/files/{prediction['id']}.png"]

    def _hf(self, seen: Seen) -> Image.Image:
        body = seen.json or {}
        parameters = body.get("parameters", {})
        inputs = body.get("inputs")
        if isinstance(inputs, str) and parameters.get("prompt") is not None:  # image-to-image
            image_png = base64.b64decode(inputs)
            image = edited(image_png, None, True)
            size = parameters.get("target_size") or {}
            if size:
                image = image.resize((int(size["width"]), int(size["height"])))
            return image
        return painted((int(parameters.get("width", 64)), int(parameters.get("height", 64))))
