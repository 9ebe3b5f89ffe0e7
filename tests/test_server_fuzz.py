"""A schema-driven fuzz of the web API (schemathesis reads ``/openapi.json`` and sends
requests that follow it, and requests that break it): no request may get a 500.

The worker is not started, so fuzzed generations queue instead of running (a random
layout may ask for an 8192x8192 canvas): this tests the HTTP boundary. A quick action that
would wait behind them answers 503 "still waiting", which is allowed. The event stream
(``/api/events``) never ends, so it is left out here; tests/test_server_api.py reads it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from pakati.server.app import ServerConfig, create_app


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    config = ServerConfig(
        root=tmp_path_factory.mktemp("fuzz"),
        provider="offline",
        start_worker=False,
        action_timeout_s=0.05,
        max_upload_bytes=200_000,
    )
    app = _as_loopback(create_app(config))
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/api/events")


def _as_loopback(app: Any) -> Any:
    """``app`` seen through the Host header a browser on this machine sends (the fuzz
    client names another host, which the server refuses as DNS rebinding)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope = {**scope, "headers": [*headers, (b"host", b"127.0.0.1")]}
        await app(scope, receive, send)

    return wrapped


def test_no_request_gets_a_500(api_schema) -> None:
    # schemathesis's own pytest plugin does not run under this pytest, so each operation's
    # strategy is driven by hypothesis directly.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 18
    calls: dict[int, int] = {}
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            busy = response.status_code == 503 and "waiting" in response.text
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500 or busy, (where, response.text[:500])
            if response.status_code >= 400:
                detail = response.json().get("detail")
                assert isinstance(detail, str) and detail, (where, response.text[:500])

        try:
            check()
        except Unsatisfiable:  # nothing to break: an operation without parameters or body
            assert mode is schemathesis.GenerationMode.NEGATIVE
    # Both valid requests (2xx) and broken ones (4xx) were sent.
    assert sum(n for code, n in calls.items() if code < 300) >= 30, calls
    assert sum(n for code, n in calls.items() if 400 <= code < 500) >= 50, calls
