"""The server keeps only the last few history entries' pixels in memory; older ones are
spilled to ``history/`` in its project folder and come back exactly (the image, and the
latents a later edit reuses) on undo, in the compare view and in a saved project."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati.history import image_sha256
from pakati.server import workspace
from tests.server_support import LAYOUT, client_for, wait_job


def _run(client, path: str, body: dict) -> str:
    answer = client.post(path, json=body)
    assert answer.status_code == 202, answer.text
    job = wait_job(client, answer.json()["job"]["id"])
    assert job["state"] == "done", job
    return client.get("/api/state").json()["image_sha256"]


def test_old_entries_are_spilled_and_restore_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "HISTORY_IN_MEMORY", 2)
    with client_for(tmp_path) as client:
        first = _run(client, "/api/generate", {"layout": LAYOUT})
        assert client.post("/api/lock", json={"region": "left"}).status_code == 200
        shas = [first]
        for seed in (11, 12, 13):
            shas.append(_run(client, "/api/regenerate", {"regions": ["right"], "seed": seed}))
        assert len(set(shas)) == 4
        history = client.app.state.server.workspace.canvas.history
        assert [e.id for e in history if e.image is not None] == ["e4", "e5"]
        assert [e.id for e in history if e.spilled is not None] == ["e1", "e2", "e3"]
        assert {p.stem for p in (tmp_path / "history").glob("*.png")} == set(shas[:2])
        # The compare view reads a spilled image from disk.
        served = client.get(f"/api/images/{first}.png")
        assert served.status_code == 200
        assert image_sha256(Image.open(io.BytesIO(served.content))) == first
        # Undo to the lock step (e2, spilled): its image is back, and redrawing with the
        # same seed gives e3's pixels exactly: the latents it reuses came back bit for bit.
        for _ in range(3):
            state = client.post("/api/undo").json()["state"]
        assert state["head"] == "e2" and state["image_sha256"] == first
        assert _run(client, "/api/regenerate", {"regions": ["right"], "seed": 11}) == shas[1]
        assert history.current.params["reuse_latents"] is True
        # Without those latents (re-encoded from the image) the pixels would differ, so
        # the check above does test that they were restored.
        client.post("/api/undo")
        history.current.latents = None
        redrawn = _run(client, "/api/regenerate", {"regions": ["right"], "seed": 11})
        assert redrawn != shas[1]
        # A project saved now holds every image, spilled or not.
        assert client.post("/api/projects", json={"name": "long"}).status_code == 200
        images = {p.stem for p in (tmp_path / "projects" / "long.images").glob("*.png")}
        assert set(shas) <= images
        opened = client.post("/api/projects/open", json={"name": "long"})
        assert opened.status_code == 200, opened.text
        for sha in shas:
            pixels = np.asarray(
                Image.open(io.BytesIO(client.get(f"/api/images/{sha}.png").content))
            )
            assert pixels.shape == (128, 128, 3)
