"""The web API against the real app, worker and engine (the embedded model at 128x128):
every endpoint, the progress events, locking, undo, projects, imports, the chat, and
bad inputs answered with a 4xx and a message, never a 500."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati.history import image_sha256
from pakati_engine.metadata import TEXT_KEY
from tests.server_support import LAYOUT, client_for, wait_job


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with client_for(tmp_path_factory.mktemp("server"), max_upload_bytes=2_000_000) as client:
        yield client


def _pixels(client, sha: str) -> np.ndarray:
    response = client.get(f"/api/images/{sha}.png")
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def _generate(client, layout=LAYOUT) -> dict:
    answer = client.post("/api/generate", json={"layout": layout})
    assert answer.status_code == 202, answer.text
    job = wait_job(client, answer.json()["job"]["id"])
    assert job["state"] == "done", job
    return job


def test_page_static_files_and_openapi(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for name in ("app.js", "api.js", "canvas.js", "chat.js", "panel.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200, name
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in ("/api/state", "/api/layout", "/api/generate", "/api/regenerate", "/api/refine",
                 "/api/lock", "/api/undo", "/api/redo", "/api/jobs/{job_id}",
                 "/api/jobs/{job_id}/cancel", "/api/events", "/api/images/{sha}.png",
                 "/api/download.png", "/api/import/png", "/api/projects", "/api/projects/open",
                 "/api/models", "/api/chat", "/api/chat/{thread}"):  # fmt: skip
        assert path in paths, path
    assert "Layout" in spec["components"]["schemas"]  # the layout schema is the wire format
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no CDN


def test_generate_streams_one_step_event_per_step_and_serves_the_image(client) -> None:
    job = _generate(client)
    events = client.get("/api/events", params={"since": job["first_event"], "once": True}).text
    records = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    mine = [r for r in records if r.get("job") == job["id"]]
    steps = [r for r in mine if r["type"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, 11))  # one event per step, 10 steps
    assert steps[0]["preview"].startswith("data:image/png;base64,")
    assert steps[-1]["preview"].startswith("data:image/png;base64,")
    assert [r["type"] for r in mine][:2] == ["queued", "started"] and mine[-1]["type"] == "done"
    state = client.get("/api/state").json()
    assert state["image_sha256"] == job["result"]["image_sha256"]
    assert state["layout"]["seed"] == 3 and state["job"] is None
    assert _pixels(client, state["image_sha256"]).shape == (128, 128, 3)
    # The download carries the metadata that restores every region.
    download = client.get("/api/download.png")
    assert download.status_code == 200
    image = Image.open(io.BytesIO(download.content))
    metadata = json.loads(image.info[TEXT_KEY])
    assert [r["name"] for r in metadata["layout"]["regions"]] == ["left", "right"]
    assert image_sha256(image) == state["image_sha256"]


def test_lock_regenerate_keeps_the_locked_region_and_undo_restores(client) -> None:
    _generate(client)
    before = client.get("/api/state").json()
    locked = client.post("/api/lock", json={"region": "left"})
    assert locked.status_code == 200 and locked.json()["state"]["locked"] == ["left"]
    answer = client.post("/api/regenerate", json={"regions": ["right"], "seed": 11})
    job = wait_job(client, answer.json()["job"]["id"])
    assert job["state"] == "done", job
    after = client.get("/api/state").json()
    assert after["image_sha256"] != before["image_sha256"]
    old, new = _pixels(client, before["image_sha256"]), _pixels(client, after["image_sha256"])
    assert np.array_equal(old[:, :64], new[:, :64])  # the locked region, byte for byte
    refused = client.post("/api/regenerate", json={"regions": ["left"]})
    failed = wait_job(client, refused.json()["job"]["id"])
    assert failed["state"] == "failed" and "locked" in failed["error"]
    undone = client.post("/api/undo").json()["state"]
    assert undone["image_sha256"] == before["image_sha256"] and undone["locked"] == ["left"]
    redone = client.post("/api/redo").json()["state"]
    assert redone["image_sha256"] == after["image_sha256"]
    assert client.post("/api/lock", json={"region": "left", "locked": False}).status_code == 200


def test_refine_changes_only_its_region(client) -> None:
    _generate(client)
    before = client.get("/api/state").json()["image_sha256"]
    answer = client.post("/api/refine", json={"region": "right", "strength": 0.5})
    job = wait_job(client, answer.json()["job"]["id"])
    assert job["state"] == "done" and 0 < job["total"] < 10  # strength 0.5: about half
    after = client.get("/api/state").json()["image_sha256"]
    assert after != before
    assert np.array_equal(_pixels(client, before)[:, :48], _pixels(client, after)[:, :48])


def test_cancel_queued_and_running_jobs(client) -> None:
    _generate(client)
    before = client.get("/api/state").json()
    slow = {**LAYOUT, "steps": 400, "seed": 9}
    running = client.post("/api/generate", json={"layout": slow}).json()["job"]
    queued = client.post("/api/generate", json={"layout": slow}).json()["job"]
    assert queued["position"] == 2
    assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["state"] == "cancelled"
    while client.get(f"/api/jobs/{running['id']}").json()["step"] < 2:
        time.sleep(0.05)
    client.post(f"/api/jobs/{running['id']}/cancel")
    assert wait_job(client, running["id"])["state"] == "cancelled"
    after = client.get("/api/state").json()
    assert after["image_sha256"] == before["image_sha256"]  # a cancelled run changes nothing
    assert len(after["history"]) == len(before["history"])
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404


def test_projects_save_refuse_overwrite_and_open(client) -> None:
    _generate(client)
    sha = client.get("/api/state").json()["image_sha256"]
    assert client.post("/api/projects", json={"name": "first"}).status_code == 200
    again = client.post("/api/projects", json={"name": "first"})
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert (
        client.post("/api/projects", json={"name": "first", "overwrite": True}).status_code == 200
    )
    assert "first" in client.get("/api/projects").json()["projects"]
    _generate(client, {**LAYOUT, "seed": 4})
    opened = client.post("/api/projects/open", json={"name": "first"})
    assert opened.status_code == 200 and opened.json()["state"]["image_sha256"] == sha
    for bad in ("../escape", "/etc/passwd", "a/b", ".hidden"):
        answer = client.post("/api/projects", json={"name": bad})
        assert answer.status_code in (400, 422) and answer.json()["detail"], bad
    missing = client.post("/api/projects/open", json={"name": "absent"})
    assert missing.status_code == 400 and "no project" in missing.json()["detail"]


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_import_png_restores_regions_and_bad_uploads_are_clear_4xx(client) -> None:
    _generate(client, {**LAYOUT, "seed": 5})
    png = client.get("/api/download.png").content
    _generate(client, {**LAYOUT, "seed": 6, "regions": LAYOUT["regions"][:1]})
    opened = client.post("/api/import/png", content=png, headers={"content-type": "image/png"})
    assert opened.status_code == 200, opened.text
    state = opened.json()["state"]
    assert [r["name"] for r in state["layout"]["regions"]] == ["left", "right"]
    assert state["image_sha256"] == image_sha256(Image.open(io.BytesIO(png)))
    plain = io.BytesIO()
    Image.new("RGB", (16, 16)).save(plain, format="PNG")
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16)).save(jpeg, format="JPEG")
    cases = {
        "no metadata": (plain.getvalue(), 400, "no Pakati metadata"),
        "jpeg": (jpeg.getvalue(), 415, "only a PNG"),
        "text": (b"hello, not an image", 415, "not an image"),
        "empty": (b"", 400, "empty"),
        "bomb": (_png_header_only(100_000, 100_000), 413, "too large"),
        "too big": (b"\0" * 2_000_001, 413, "limit"),
    }
    for name, (body, status, words) in cases.items():
        answer = client.post("/api/import/png", content=body, headers={"content-type": "image/png"})
        assert answer.status_code == status, (name, answer.text)
        assert words in answer.json()["detail"], (name, answer.json())


def test_bad_inputs_are_4xx_with_a_message(client) -> None:
    with_mask = {**LAYOUT, "regions": [{"name": "m", "mask": "/etc/passwd", "prompt": "x"}]}
    control = {"controlnet": "pakati-shapes-outline", "image": "/etc/passwd"}
    box = {"name": "c", "box": [0, 0, 64, 64], "prompt": "x"}
    with_control_file = {**LAYOUT, "regions": [{**box, "control": control}]}
    inline = {"controlnet": "/tmp", "image_png": "iVBORw0KGgo="}
    with_control_path = {**LAYOUT, "regions": [{**box, "control": inline}]}
    cases = [
        ("PUT", "/api/layout", with_mask, 400, "mask file"),
        ("PUT", "/api/layout", {**LAYOUT, "model": "/etc"}, 400, "not a model name"),
        ("PUT", "/api/layout", with_control_file, 400, "control maps inline only"),
        ("PUT", "/api/layout", with_control_path, 400, "not a model name"),
        ("PUT", "/api/layout", {**LAYOUT, "model": "../models/x"}, 400, "not a model name"),
        ("PUT", "/api/layout", {**LAYOUT, "width": -5}, 422, "width"),
        ("PUT", "/api/layout", {"regions": "nope"}, 422, "invalid request"),
        ("POST", "/api/lock", {"region": "nowhere"}, 400, "no region"),
        ("POST", "/api/refine", {"region": "left", "strength": 2}, 422, "strength"),
        ("POST", "/api/regenerate", {"regions": []}, 422, "regions"),
        ("POST", "/api/chat", {"thread": "../x", "message": "hi"}, 400, "plain name"),
        ("POST", "/api/chat", {"thread": "ok", "message": "   "}, 400, "empty"),
        ("GET", "/api/images/abc.png", None, 400, "SHA-256"),
        ("GET", "/api/images/" + "0" * 64 + ".png", None, 404, "no image"),
        ("GET", "/api/chat/t/images/..%2F..%2Fagent.sqlite", None, 404, ""),
        ("GET", "/api/chat/..%2Fprojects", None, 404, ""),
        ("GET", "/api/events?since=-1", None, 422, "since"),
    ]
    for method, path, body, status, words in cases:
        answer = client.request(method, path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert words in answer.json()["detail"], (path, answer.json())
    answer = client.post(
        "/api/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


def test_empty_history_undo_redo_and_download(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        assert client.post("/api/undo").status_code == 400
        assert "nothing to redo" in client.post("/api/redo").json()["detail"]
        assert client.get("/api/download.png").status_code == 404
        saved = client.post("/api/projects", json={"name": "p"})
        assert saved.status_code == 400 and "nothing to save" in saved.json()["detail"]
        models = client.get("/api/models").json()
        assert "pakati-shapes" in models["models"]


def test_token_host_and_origin_guards(tmp_path: Path) -> None:
    with client_for(tmp_path, token="s3cret-token", host="0.0.0.0") as client:
        assert client.get("/api/state").status_code == 401
        assert client.get("/").status_code == 200  # the page itself holds nothing
        headers = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/api/state", headers=headers).status_code == 200
        assert client.get("/api/state?token=s3cret-token").status_code == 200
        assert (
            client.get("/api/state", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
    with client_for(tmp_path) as client:
        evil = client.get("/api/state", headers={"host": "evil.example"})
        assert evil.status_code == 400  # DNS rebinding: a loopback server answers loopback names
        cross = client.post("/api/undo", headers={"origin": "http://evil.example"})
        assert cross.status_code == 403 and "another site" in cross.json()["detail"]
        answer = client.get("/api/state", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in answer.headers  # CORS closed


def test_chat_goal_then_edit_redraws_only_the_changed_region(tmp_path: Path) -> None:
    with client_for(tmp_path, max_passes=2) as client:
        goal = "a red circle on the left and a blue square on the right, white background"
        job = client.post("/api/chat", json={"thread": "t1", "message": goal}).json()["job"]
        assert wait_job(client, job["id"], 300)["state"] == "done"
        turns = client.get("/api/chat/t1").json()["turns"]
        kinds = [t.get("kind", t["role"]) for t in turns]
        assert kinds[:4] == ["user", "plan", "pass", "critique"] and kinds[-1] == "done"
        plan = turns[1]["layout"]
        names = [r["name"] for r in plan["regions"]]
        assert len(names) == 2 and any("circle" in n for n in names)
        before = client.get("/api/state").json()
        assert [r["name"] for r in before["layout"]["regions"]] == names  # the canvas follows
        job = client.post(
            "/api/chat", json={"thread": "t1", "message": "now make the circle green"}
        )
        assert wait_job(client, job.json()["job"]["id"], 300)["state"] == "done"
        turns = client.get("/api/chat/t1").json()["turns"]
        redraw = next(t for t in reversed(turns) if t.get("kind") == "redraw")
        circle = next(n for n in names if "circle" in n)
        assert redraw["regenerated"] == [circle] and not redraw["full"]
        after = client.get("/api/state").json()
        spec = next(r for r in after["layout"]["regions"] if r["name"] == circle)
        assert "green" in spec["prompt"]
        passes = [t["image"] for t in turns if t.get("kind") == "pass"]
        old, new = _chat_pixels(client, passes[-2]), _chat_pixels(client, passes[-1])
        assert passes[-1].endswith("edit-1.png")
        x0, y0, x1, y1 = (int(v) for v in spec["box"])
        outside = np.ones(old.shape[:2], bool)
        outside[max(0, y0 - 9) : y1 + 9, max(0, x0 - 9) : x1 + 9] = False  # box + feather
        assert np.array_equal(old[outside], new[outside])
        assert not np.array_equal(old, new)
        transcript = client.get("/api/chat/t1").json()
        assert transcript["running"] is False and transcript["unfinished"] is False
        image = client.get(turns[2]["image"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def _chat_pixels(client, url: str) -> np.ndarray:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_reference_upload_and_delta_analysis_of_a_region(client) -> None:
    _generate(client)
    reference = io.BytesIO()
    Image.new("RGB", (96, 64), (20, 160, 40)).save(reference, format="JPEG")
    uploaded = client.post(
        "/api/references", content=reference.getvalue(), headers={"content-type": "image/jpeg"}
    )
    assert uploaded.status_code == 200, uploaded.text
    info = uploaded.json()
    assert info["format"] == "JPEG" and (info["width"], info["height"]) == (96, 64)
    answer = client.post("/api/analyze", json={"reference": info["name"], "region": "left"})
    assert answer.status_code == 200, answer.text
    aspects = answer.json()["aspects"]
    assert set(aspects) == {"color", "texture", "lighting", "composition", "style", "general"}
    assert all(0.0 <= a["similarity"] <= 1.0 for a in aspects.values())
    assert aspects["color"]["findings"]  # a red circle is not a green field
    only = client.post(
        "/api/analyze", json={"reference": info["name"], "aspects": ["color"]}
    ).json()
    assert set(only["aspects"]) == {"color"}
    cases = [
        ({"reference": "missing.png"}, 400, "no uploaded reference"),
        ({"reference": "../../etc/passwd"}, 400, "plain name"),
        ({"reference": info["name"], "region": "nowhere"}, 400, "no region"),
        ({"reference": info["name"], "aspects": ["smell"]}, 422, "aspects"),
    ]
    for body, status, words in cases:
        bad = client.post("/api/analyze", json=body)
        assert bad.status_code == status and words in bad.json()["detail"], (body, bad.text)
    garbage = client.post("/api/references", content=b"GIF89a not really")
    assert garbage.status_code == 415


def test_api_keys_never_reach_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-pakati-test-secret-0123456789"
    for name in ("OPENAI_API_KEY", "PAKATI_API_KEY_OPENAI", "REPLICATE_API_TOKEN", "HF_TOKEN"):
        monkeypatch.setenv(name, secret)
    with client_for(tmp_path) as client:
        models = client.get("/api/models").json()
        assert any(card["provider"] != "local" for card in models["cards"])
        paths = ["/", "/api/state", "/api/models", "/openapi.json", "/api/layout", "/api/projects"]
        paths += [f"/static/{name}" for name in ("app.js", "api.js", "chat.js")]
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert secret not in answer.text and secret[:12] not in answer.text, path


def test_server_refuses_a_public_host_without_a_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "pakati.server",
        "--host",
        "0.0.0.0",
        "--project",
        str(tmp_path),
    ]
    process = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert "--token" in process.stderr and "beyond this machine" in process.stderr
    short = subprocess.run([*command, "--token", "abc"], capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 8" in short.stderr
