"""A schema-driven fuzz of the web API (schemathesis reads ``/openapi.json`` and sends
requests that follow it, and requests that break it): no request may get a 500.

Two runs. With the worker stopped, fuzzed generations queue instead of running (a random
layout may ask for an 8192x8192 canvas): this tests the HTTP boundary, and a quick action
that would wait behind them answers 503 "still waiting", which is allowed there. With the
worker running, every fuzzed job really runs, its sizes bounded (canvases of at most 64x64,
two steps, four regions) so the run stays fast: then no answer may be a 5xx, every failed
job must fail with a 4xx status and a message, and nothing may print a traceback. The
event stream (``/api/events``) never ends, so it is left out; tests/test_server_api.py
reads it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from pakati.server.app import ServerConfig, create_app
from pakati_engine.layout import Layout

MAX_SIDE = 64
MAX_STEPS = 2
MAX_REGIONS = 4
SEED_LAYOUT: dict[str, Any] = {
    "width": 64,
    "height": 64,
    "model": "pakati-shapes",
    "steps": MAX_STEPS,
    "regions": [
        {"name": "left", "box": [0, 0, 32, 64], "prompt": "a red circle"},
        {"name": "right", "box": [32, 0, 64, 64], "prompt": "a blue square"},
    ],
}


def _schema(root: Path, **options: Any) -> Any:
    config = ServerConfig(root=root, provider="offline", max_upload_bytes=200_000, **options)
    app = create_app(config)
    schema = schemathesis.openapi.from_asgi("/openapi.json", _as_loopback(app))
    return app, schema.exclude(path="/api/events")


def _as_loopback(app: Any) -> Any:
    """``app`` seen through the Host header a browser on this machine sends (the fuzz
    client names another host, which the server refuses as DNS rebinding)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope = {**scope, "headers": [*headers, (b"host", b"127.0.0.1")]}
        await app(scope, receive, send)

    return wrapped


def _fuzz(
    schema: Any, max_examples: int, busy_allowed: bool, prepare: Callable[[Any], None]
) -> dict[int, int]:
    """Send each operation's valid and invalid examples; the count of each status."""
    # schemathesis's own pytest plugin does not run under this pytest, so each operation's
    # strategy is driven by hypothesis directly.
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    calls: dict[int, int] = {}
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            prepare(case)
            response = case.call(timeout=120)
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            busy = response.status_code == 503 and "waiting" in response.text
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500 or (busy and busy_allowed), (
                where,
                response.text[:500],
            )
            if response.status_code >= 400:
                detail = response.json().get("detail")
                assert isinstance(detail, str) and detail, (where, response.text[:500])

        try:
            check()
        except Unsatisfiable:  # nothing to break: an operation without parameters or body
            assert mode is schemathesis.GenerationMode.NEGATIVE
    return calls


def test_no_request_gets_a_500(tmp_path: Path) -> None:
    _app, schema = _schema(tmp_path, start_worker=False, action_timeout_s=0.05)
    calls = _fuzz(schema, 12, busy_allowed=True, prepare=lambda case: None)
    # Both valid requests (2xx) and broken ones (4xx) were sent.
    assert sum(n for code, n in calls.items() if code < 300) >= 30, calls
    assert sum(n for code, n in calls.items() if 400 <= code < 500) >= 50, calls


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return float("-inf")


def _bounded(case: Any) -> None:
    """Keep a fuzzed job small: the canvas, the steps and the regions of its layout."""
    body = case.body
    if not isinstance(body, dict):
        return
    layouts = [body] if case.path == "/api/layout" else []
    if isinstance(body.get("layout"), dict):
        layouts.append(body["layout"])
    for layout in layouts:
        for key, limit in (("width", MAX_SIDE), ("height", MAX_SIDE), ("steps", MAX_STEPS)):
            if _number(layout.get(key)) > limit:  # also "1057" or 1057.0, which parse too
                layout[key] = limit
        if isinstance(layout.get("regions"), list):
            del layout["regions"][MAX_REGIONS:]
        layout.pop("detail", None)


def _aimed(case: Any, server: Any) -> None:
    """Bounded, and half of the region names a valid edit sends are the draft's own, so
    redraws, refinements and locks run (random names would only ever be refused)."""
    _bounded(case)
    body = case.body
    if not isinstance(body, dict) or not server._ready.is_set():
        return
    names = [r.name for r in server.workspace.draft.regions if r.name]
    if not names:  # a fuzzed layout without named regions: draft two (as the page would)
        server.workspace.set_draft(Layout.model_validate(SEED_LAYOUT))
        names = ["left", "right"]
    if isinstance(body.get("region"), str) and len(body["region"]) % 2 == 0:
        body["region"] = names[len(body["region"]) % len(names)]
    if isinstance(body.get("regions"), list):
        body["regions"] = [
            names[len(n) % len(names)] if isinstance(n, str) and len(n) % 2 == 0 else n
            for n in body["regions"]
        ]


def test_no_request_or_job_gets_a_500_with_the_worker_running(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    app, schema = _schema(tmp_path, max_passes=1, action_timeout_s=120)
    server = app.state.server
    jobs: list[Any] = []  # every job, also those the worker forgets after a while
    submit = server.worker.submit
    server.worker.submit = lambda kind, run: jobs.append(submit(kind, run)) or jobs[-1]
    # (schemathesis starts the app's lifespan, and so the worker, with the first request.)
    calls = _fuzz(schema, 6, busy_allowed=False, prepare=lambda case: _aimed(case, server))
    for job in jobs:
        assert job.finished.wait(300), f"fuzzed job {job.summary()} did not finish"
    summaries = [job.summary() for job in jobs]
    ran = [j for j in summaries if j["kind"] in ("generate", "regenerate", "refine", "chat")]
    assert any(j["state"] == "done" for j in ran), summaries
    for job in summaries:
        if job["state"] == "failed":
            assert job["status"] is not None and 400 <= job["status"] < 500, job
            assert job["error"] and "bug" not in job["error"], job
    assert sum(n for code, n in calls.items() if code < 300) >= 20, calls
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, (out + err)[-3000:]
