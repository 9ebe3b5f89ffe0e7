"""What the web server's tests share: an in-process app, a layout, waiting for jobs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pakati.server.app import ServerConfig, create_app

LAYOUT: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "model": "pakati-shapes",
    "seed": 3,
    "steps": 10,
    "base_prompt": "a white background",
    "regions": [
        {"name": "left", "box": [0, 0, 64, 128], "prompt": "a red circle"},
        {"name": "right", "box": [64, 0, 128, 128], "prompt": "a blue square"},
    ],
}


def client_for(root: Path, **options: Any) -> TestClient:
    """A client of a real app (real worker, real engine) serving ``root``."""
    app = create_app(ServerConfig(root=root, provider="offline", **options))
    return TestClient(app, base_url="http://127.0.0.1")


def wait_job(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """The job's final state (done, failed or cancelled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")
