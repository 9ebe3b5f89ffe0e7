"""Bad inputs and faults against the web server, one table row each (issue 20): the server's
error boundary (``pakati.server.errors``), the twin of the command line's.

Every row sends one request to the real app (real worker, real engine, embedded model) and
checks: the right HTTP status (for a queued job, the job's failure status), a JSON message
that names the problem, no traceback and no "bug" in the answer, and nothing of the user's
changed (the canvas's layout, image and history, and the saved projects). Rows with a
``fault`` inject it (a full or read-only disk, a bug) while the request runs.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from pakati.server import workspace as workspace_module
from pakati_engine import outputs, resources
from tests.server_support import LAYOUT, client_for, wait_job

Body = Callable[[dict[str, Any]], Any]
Fault = Callable[[pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Row:
    """``body(metadata)`` makes the request's JSON (or, with ``raw``, its bytes) from the
    metadata of the server's current image; ``fault`` is injected for the request."""

    id: str
    method: str
    path: str
    status: int
    says: str
    body: Body | None = None
    raw: bool = False
    fault: Fault | None = None


def _png(size: tuple[int, int] = (16, 16), text: str | None = None, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_itxt("pakati", text)
    Image.new(mode, size).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _ztxt_bomb() -> bytes:
    """A PNG whose compressed text chunk expands to 64 MB (past Pillow's text limit)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG")
    data = buffer.getvalue()
    text = b"pakati\x00\x00" + zlib.compress(b"{" * 64_000_000, 9)
    body = b"zTXt" + text
    chunk = struct.pack(">I", len(text)) + body + struct.pack(">I", zlib.crc32(body))
    return data[:33] + chunk + data[33:]  # after the 8-byte signature and the IHDR chunk


def _header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


BOMB = None


def _bomb() -> bytes:
    """A real 30000x30000 PNG: about 100 KB on disk, 900 Mpx decoded."""
    global BOMB
    if BOMB is None:
        buffer = io.BytesIO()
        Image.new("1", (30000, 30000)).save(buffer, format="PNG")
        BOMB = buffer.getvalue()
    return BOMB


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def layout(**changes: Any) -> Body:
    return lambda metadata: {**LAYOUT, **changes}


def region(**spec: Any) -> Body:
    return layout(regions=[{"name": "a", "prompt": "a red circle", **spec}])


def generate(**changes: Any) -> Body:
    return lambda metadata: {"layout": {**LAYOUT, "steps": 2, **changes}}


def generate_region(**spec: Any) -> Body:
    return generate(regions=[{"name": "a", "prompt": "a red circle", **spec}])


def pakati_png(edit: Callable[[dict[str, Any]], Any]) -> Body:
    """The server's own image, its metadata changed by ``edit``."""
    return lambda metadata: _png((128, 128), json.dumps(edit(json.loads(json.dumps(metadata)))))


def meta_layout(**changes: Any) -> Body:
    return pakati_png(lambda m: {**m, "layout": {**m["layout"], **changes}})


def truncated(body: Body) -> Body:
    return lambda metadata: body(metadata)[:300]


def constant(data: Any) -> Body:
    return lambda metadata: data() if callable(data) else data


def _os_error(code: int, text: str) -> OSError:
    return OSError(code, text)


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fsync of an output fails as on a full disk (the data never reaches the disk)."""

    def full(descriptor: int) -> None:
        raise _os_error(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)


def read_only_under(folder: str) -> Fault:
    """Writing under the server's ``folder`` fails as on a read-only file system."""

    def fault(monkeypatch: pytest.MonkeyPatch) -> None:
        real = outputs.tempfile.NamedTemporaryFile

        def read_only(*args: Any, **kwargs: Any) -> Any:
            if folder in Path(str(kwargs.get("dir", ""))).parts:
                raise OSError(errno.EROFS, "Read-only file system", str(kwargs["dir"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(outputs.tempfile, "NamedTemporaryFile", read_only)

    return fault


def little_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 1 GiB free: an 8192x8192 canvas must be refused before any tensor is made."""
    monkeypatch.setattr(resources, "available_bytes", lambda device: resources.GIB)


def bug_in(name: str) -> Fault:
    """A method of the workspace that fails as a bug would (an exception Pakati does not
    know)."""

    def fault(monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(*args: Any, **kwargs: Any) -> Any:
            return {}["no such key"]

        monkeypatch.setattr(workspace_module.Workspace, name, broken)

    return fault


PNG = "/api/import/png"
REF = "/api/references"
DEEP = "[" * 100_000 + "]" * 100_000

ROWS = [
    # --- layouts: refused at once (422: the schema; 400: what the server may not load) --
    Row("layout-width-0", "PUT", "/api/layout", 422, "width", layout(width=0)),
    Row("layout-width-huge", "PUT", "/api/layout", 422, "width", layout(width=100_000)),
    Row("layout-height-negative", "PUT", "/api/layout", 422, "height", layout(height=-64)),
    Row("layout-width-text", "PUT", "/api/layout", 422, "width", layout(width="wide")),
    Row("layout-version-99", "PUT", "/api/layout", 422, "version 99", layout(version=99)),
    Row("layout-steps-0", "PUT", "/api/layout", 422, "steps", layout(steps=0)),
    Row("layout-steps-many", "PUT", "/api/layout", 422, "steps", layout(steps="many")),
    Row("layout-steps-huge", "PUT", "/api/layout", 422, "steps", layout(steps=100_000)),
    Row("layout-seed-negative", "PUT", "/api/layout", 422, "seed", layout(seed=-1)),
    Row("layout-guidance-nan", "PUT", "/api/layout", 422, "guidance", layout(guidance_scale="nan")),
    Row("layout-mode-unknown", "PUT", "/api/layout", 422, "mode", layout(mode="magic")),
    Row("layout-regions-not-list", "PUT", "/api/layout", 422, "regions", layout(regions="x")),
    Row(
        "layout-prompt-null",
        "PUT",
        "/api/layout",
        422,
        "prompt",
        region(box=[0, 0, 9, 9], prompt=None),
    ),
    Row(
        "layout-weight-nan",
        "PUT",
        "/api/layout",
        422,
        "weight",
        region(box=[0, 0, 9, 9], weight="nan"),
    ),
    Row(
        "layout-region-seed-neg",
        "PUT",
        "/api/layout",
        422,
        "seed",
        region(box=[0, 0, 9, 9], seed=-1),
    ),
    Row("layout-box-3-numbers", "PUT", "/api/layout", 422, "box", region(box=[0, 0, 9])),
    Row(
        "layout-duplicate-names",
        "PUT",
        "/api/layout",
        422,
        "unique",
        layout(regions=[LAYOUT["regions"][0]] * 2),
    ),
    Row("layout-mask-file", "PUT", "/api/layout", 400, "mask file", region(mask="/etc/passwd")),
    Row("layout-model-path", "PUT", "/api/layout", 400, "not a model name", layout(model="/etc")),
    Row(
        "layout-model-dotdot",
        "PUT",
        "/api/layout",
        400,
        "not a model name",
        layout(model="../models/x"),
    ),
    Row(
        "layout-region-model-path",
        "PUT",
        "/api/layout",
        400,
        "not a model name",
        region(box=[0, 0, 9, 9], model="/usr/lib"),
    ),
    Row(
        "layout-lora-file",
        "PUT",
        "/api/layout",
        400,
        "LoRA",
        layout(loras=[{"path": "/etc/passwd", "weight": 0.5}]),
    ),
    Row("layout-not-json", "PUT", "/api/layout", 422, "invalid request", constant(b"{no"), True),
    Row("layout-nested-deep", "PUT", "/api/layout", 400, "pars", constant(DEEP.encode()), True),
    Row("layout-a-list", "PUT", "/api/layout", 422, "invalid request", constant([1, 2])),
    # --- generations that fail in the worker (the job's status) -------------------------
    Row("gen-model-unknown", "POST", "/api/generate", 404, "not found", generate(model="nope")),
    Row(
        "gen-region-model-unknown",
        "POST",
        "/api/generate",
        400,
        "unknown model",
        generate(regions=[{**LAYOUT["regions"][0], "model": "nope-model"}]),
    ),
    Row(
        "gen-8192-too-large-for-memory",
        "POST",
        "/api/generate",
        413,
        "GiB",
        generate(width=8192, height=8192, regions=[]),
        fault=little_memory,
    ),
    Row(
        "gen-size-odd",
        "POST",
        "/api/generate",
        400,
        "multiple of 8",
        generate(width=132, regions=[]),
    ),
    Row("gen-scheduler", "POST", "/api/generate", 400, "scheduler", generate(scheduler="warp")),
    Row(
        "gen-box-outside",
        "POST",
        "/api/generate",
        400,
        "outside",
        generate_region(box=[200, 200, 300, 300]),
    ),
    Row(
        "gen-box-inverted",
        "POST",
        "/api/generate",
        400,
        "zero area",
        generate_region(box=[60, 60, 10, 10]),
    ),
    Row(
        "gen-polygon-2-points",
        "POST",
        "/api/generate",
        400,
        "3 vertices",
        generate_region(polygon=[[0, 0], [5, 5]]),
    ),
    Row(
        "gen-mask-not-base64",
        "POST",
        "/api/generate",
        400,
        "base64",
        generate_region(mask_png="!!not base64"),
    ),
    Row(
        "gen-mask-not-an-image",
        "POST",
        "/api/generate",
        400,
        "not a readable image",
        generate_region(mask_png=_b64(b"hello")),
    ),
    Row(
        "gen-mask-wrong-size",
        "POST",
        "/api/generate",
        400,
        "resize the mask",
        generate_region(mask_png=_b64(_png((10, 10)))),
    ),
    Row(
        "gen-mask-decompression-bomb",
        "POST",
        "/api/generate",
        413,
        "too large",
        lambda m: generate_region(mask_png=_b64(_bomb()))(m),
    ),
    Row(
        "gen-mask-header-bomb",
        "POST",
        "/api/generate",
        413,
        "too large",
        generate_region(mask_png=_b64(_header_only(100_000, 100_000))),
    ),
    Row(
        "gen-seed-too-large",
        "POST",
        "/api/generate",
        422,
        "seed",
        constant({"seed": 2**64}),
    ),
    Row("gen-extra-field", "POST", "/api/generate", 422, "extra", constant({"colour": "red"})),
    # --- other requests ------------------------------------------------------------------
    Row(
        "refine-strength-0",
        "POST",
        "/api/refine",
        422,
        "strength",
        constant({"region": "left", "strength": 0}),
    ),
    Row(
        "refine-no-region", "POST", "/api/refine", 400, "no region", constant({"region": "nowhere"})
    ),
    Row(
        "regenerate-no-region",
        "POST",
        "/api/regenerate",
        400,
        "no region",
        constant({"regions": ["nowhere"]}),
    ),
    Row("lock-no-region", "POST", "/api/lock", 400, "no region", constant({"region": "x"})),
    Row("job-unknown", "GET", "/api/jobs/j999999", 404, "no job"),
    Row("cancel-unknown", "POST", "/api/jobs/j999999/cancel", 404, "no job"),
    Row("image-bad-name", "GET", "/api/images/abc.png", 400, "SHA-256"),
    Row("image-path", "GET", "/api/images/..%2F..%2Fetc.png", 404, "not found"),
    Row(
        "project-path-name",
        "POST",
        "/api/projects",
        422,
        "name",
        constant({"name": "../../etc/x" * 10}),
    ),
    Row("project-slash", "POST", "/api/projects", 400, "plain name", constant({"name": "a/b"})),
    Row("project-exists", "POST", "/api/projects", 409, "exists", constant({"name": "mine"})),
    Row(
        "project-open-missing",
        "POST",
        "/api/projects/open",
        400,
        "no project",
        constant({"name": "absent"}),
    ),
    Row(
        "analyze-missing-reference",
        "POST",
        "/api/analyze",
        400,
        "reference",
        constant({"reference": "0" * 32 + ".png"}),
    ),
    Row(
        "chat-thread-path",
        "POST",
        "/api/chat",
        400,
        "plain name",
        constant({"thread": "../x", "message": "hi"}),
    ),
    Row(
        "chat-message-huge",
        "POST",
        "/api/chat",
        422,
        "message",
        constant({"thread": "t", "message": "x" * 5000}),
    ),
    # --- uploads: images and their metadata ----------------------------------------------
    Row("import-empty", "POST", PNG, 400, "empty", constant(b""), True),
    Row("import-text", "POST", PNG, 415, "not an image", constant(b"hello, not an image"), True),
    Row(
        "import-truncated",
        "POST",
        PNG,
        415,
        "not an image",
        truncated(pakati_png(lambda m: m)),
        True,
    ),
    Row("import-jpeg", "POST", PNG, 415, "only a PNG", constant(lambda: _jpeg()), True),
    Row("import-gif", "POST", PNG, 415, "GIF", constant(lambda: _gif()), True),
    Row("import-bomb", "POST", PNG, 413, "too large", constant(_bomb), True),
    Row(
        "import-header-bomb",
        "POST",
        PNG,
        413,
        "too large",
        constant(_header_only(100_000, 100_000)),
        True,
    ),
    Row("import-over-the-limit", "POST", PNG, 413, "limit", constant(b"\0" * 2_000_001), True),
    Row("import-no-metadata", "POST", PNG, 400, "no Pakati metadata", constant(_png()), True),
    Row(
        "import-meta-not-json", "POST", PNG, 400, "corrupt", constant(_png(text="{not json")), True
    ),
    Row("import-meta-a-list", "POST", PNG, 400, "no layout", constant(_png(text="[1, 2]")), True),
    Row(
        "import-meta-nested-deep",
        "POST",
        PNG,
        400,
        "nested too deeply",
        constant(_png(text=DEEP)),
        True,
    ),
    Row("import-meta-ztxt-bomb", "POST", PNG, 415, "too large", constant(_ztxt_bomb), True),
    Row("import-meta-steps-abc", "POST", PNG, 400, "steps", meta_layout(steps="abc"), True),
    Row("import-meta-version-99", "POST", PNG, 400, "version 99", meta_layout(version=99), True),
    Row(
        "import-meta-size-differs",
        "POST",
        PNG,
        400,
        "does not match",
        meta_layout(width=8192, height=8192),
        True,
    ),
    Row(
        "import-meta-mask-file",
        "POST",
        PNG,
        400,
        "masks inline only",
        meta_layout(regions=[{"name": "m", "mask": "/etc/passwd", "prompt": "x"}]),
        True,
    ),
    Row(
        "import-meta-model-path",
        "POST",
        PNG,
        400,
        "not a model name",
        meta_layout(model="/etc"),
        True,
    ),
    Row(
        "import-meta-lora",
        "POST",
        PNG,
        400,
        "LoRA",
        meta_layout(loras=[{"path": "/etc/x.safetensors", "weight": 1.0}]),
        True,
    ),
    Row("reference-text", "POST", REF, 415, "not an image", constant(b"hello"), True),
    Row("reference-empty", "POST", REF, 400, "empty", constant(b""), True),
    Row("reference-bomb", "POST", REF, 413, "too large", constant(_bomb), True),
    Row("reference-gif", "POST", REF, 415, "GIF", constant(lambda: _gif()), True),
    # --- faults: disks and bugs ------------------------------------------------------------
    Row(
        "project-save-disk-full",
        "POST",
        "/api/projects",
        507,
        "disk is full",
        constant({"name": "new-one"}),
        fault=disk_full,
    ),
    Row(
        "project-save-read-only",
        "POST",
        "/api/projects",
        500,
        "read-only",
        constant({"name": "new-one"}),
        fault=read_only_under("projects"),
    ),
    Row(
        "reference-disk-full",
        "POST",
        REF,
        507,
        "disk is full",
        constant(lambda: _png((24, 24))),
        True,
        fault=disk_full,
    ),
    Row(
        "reference-read-only",
        "POST",
        REF,
        500,
        "read-only",
        constant(lambda: _png((32, 32))),
        True,
        fault=read_only_under("uploads"),
    ),
    Row(
        "import-read-only",
        "POST",
        PNG,
        500,
        "read-only",
        pakati_png(lambda m: m),
        True,
        fault=read_only_under("uploads"),
    ),
]


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (16, 16)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, dict]]:
    """A server with an image, a saved project and an uploaded reference: the user's."""
    root = tmp_path_factory.mktemp("server")
    with client_for(root, max_upload_bytes=2_000_000) as client:
        job = client.post("/api/generate", json={"layout": {**LAYOUT, "steps": 2}}).json()["job"]
        assert wait_job(client, job["id"])["state"] == "done"
        saved = client.post("/api/projects", json={"name": "mine"})
        assert saved.status_code == 200, saved.text
        png = client.get("/api/download.png").content
        metadata = json.loads(Image.open(io.BytesIO(png)).info["pakati"])
        yield client, root, metadata


def user_state(client: Any, root: Path) -> dict[str, Any]:
    """What a failed request may not change: the canvas and the saved projects."""
    state = client.get("/api/state").json()
    files = {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"dir"
        for p in sorted((root / "projects").rglob("*"))
    }
    return {
        "layout": state["layout"],
        "image": state["image_sha256"],
        "head": state["head"],
        "history": state["history"],
        "files": files,
    }


def send(client: Any, row: Row, metadata: dict[str, Any]) -> Any:
    if row.body is None:
        return client.request(row.method, row.path)
    body = row.body(metadata)
    if row.raw:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "image/png" if row.path == PNG else "application/json"}
        if row.path == REF:
            headers = {"content-type": "application/octet-stream"}
        return client.request(row.method, row.path, content=content, headers=headers)
    return client.request(row.method, row.path, json=body)


def outcome(client: Any, answer: Any) -> tuple[int, str]:
    """The status and message of a request, or of the job it queued."""
    if answer.status_code == 202:
        job = wait_job(client, answer.json()["job"]["id"])
        assert job["state"] == "failed", job
        return job["status"], job["error"]
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:200]
    return answer.status_code, answer.json()["detail"]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_server_fault(row: Row, server, monkeypatch) -> None:
    client, root, metadata = server
    before = user_state(client, root)
    try:
        with monkeypatch.context() as patch:
            if row.fault is not None:
                row.fault(patch)
            answer = send(client, row, metadata)
            status, message = outcome(client, answer)
        assert "Traceback" not in answer.text and 'File "' not in answer.text, answer.text
        assert status == row.status, (status, message)
        assert row.says.lower() in message.lower(), message
        assert "bug" not in message.lower(), message
        # An upload is named as such, not by the path the server stored it at.
        assert str(root / "uploads") + "/" not in message, message
        after = user_state(client, root)
        if answer.status_code == 202 and "layout" in (row.body(metadata) or {}):
            # A queued job failed: the page's edit stays as the draft to fix; nothing else
            # moved (a new size or model made no new canvas that lost the history).
            sent = [r["name"] for r in row.body(metadata)["layout"]["regions"]]
            assert [r["name"] for r in after["layout"]["regions"]] == sent
            after["layout"] = before["layout"]
        assert after == before
        leftovers = [p.name for p in root.rglob("*") if p.name.endswith((".tmp", ".part", ".bak"))]
        assert leftovers == []  # no half-written file anywhere in the server's folder
    finally:
        client.put("/api/layout", json=before["layout"])  # the next row starts the same


def test_the_server_table_is_large_and_its_ids_unique() -> None:
    assert len(ROWS) >= 60
    assert len({row.id for row in ROWS}) == len(ROWS)


# Unknown exceptions: a bug, said so, with the log named (in a request and in a job) -------


@pytest.mark.parametrize(
    ("method", "path", "broken"),
    [("GET", "/api/projects", "projects"), ("POST", "/api/undo", "undo")],
    ids=["in-a-request", "in-a-job"],
)
def test_an_unknown_exception_is_a_500_that_says_bug_and_names_its_log(
    method, path, broken, server, monkeypatch, tmp_path
) -> None:
    client, root, _metadata = server
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path))
    before = user_state(client, root)
    with monkeypatch.context() as patch:
        bug_in(broken)(patch)
        answer = client.request(method, path)
    assert answer.status_code == 500
    detail = answer.json()["detail"]
    assert "This is a bug in Pakati" in detail and "no such key" in detail
    assert "Traceback" not in answer.text
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and logs[0].name in detail
    assert "Traceback" in logs[0].read_text() and "no such key" in logs[0].read_text()
    assert str(tmp_path) not in detail  # the server's folders are not sent
    assert user_state(client, root) == before


# Providers that fail: an LLM server on 127.0.0.1 -----------------------------------------


@pytest.mark.parametrize(("behaviour", "status"), [("500", 502), ("refused", 502), ("hang", 504)])
def test_a_failing_llm_server_fails_the_chat_turn_clearly(behaviour, status, tmp_path) -> None:
    from langchain_openai import ChatOpenAI

    from tests.test_fault_mechanisms import _closed_port, http_server

    @contextmanager
    def refused() -> Iterator[tuple[str, list[dict[str, str]]]]:
        yield f"http://127.0.0.1:{_closed_port()}/v1", []

    fake = refused() if behaviour == "refused" else http_server(behaviour)
    with fake as (url, _seen):
        llm = ChatOpenAI(
            model="gpt-test", base_url=url, api_key="sk-test-secret", timeout=1, max_retries=0
        )
        with client_for(tmp_path, llm=llm) as client:
            answer = client.post("/api/chat", json={"thread": "t1", "message": "a red circle"})
            assert answer.status_code == 202
            job = wait_job(client, answer.json()["job"]["id"], 120)
            assert job["state"] == "failed" and job["status"] == status, job
            assert "LLM provider failed" in job["error"] and "bug" not in job["error"]
            turns = client.get("/api/chat/t1").json()["turns"]
            assert turns[-1]["kind"] == "error" and "LLM provider failed" in turns[-1]["text"]
            text = json.dumps(turns) + json.dumps(job)
            assert "sk-test-secret" not in text and "Traceback" not in text
            assert client.get("/api/state").json()["image_sha256"] is None  # nothing drawn


def test_os_errors_map_to_statuses() -> None:
    from pakati.server.errors import http_status, problem

    assert http_status(OSError(errno.ENOSPC, "full")) == 507
    assert http_status(OSError(errno.EDQUOT, "quota")) == 507
    assert problem(OSError(errno.EROFS, "Read-only file system"))[0] == 500
    assert "read-only" in problem(OSError(errno.EROFS, "Read-only file system"))[1]
    assert http_status(MemoryError()) == 503


# An image provider that fails: the fake OpenAI images server on 127.0.0.1 -----------------


@pytest.mark.parametrize(("behaviour", "status"), [("500", 502), ("refuse", 400)])
def test_a_failing_image_provider_fails_the_job_clearly(
    behaviour, status, tmp_path, monkeypatch
) -> None:
    from tests.provider_fakes import FakeImageServer

    secret = "sk-image-secret"
    with FakeImageServer(behaviour) as fake:
        monkeypatch.setenv("PAKATI_API_KEY_OPENAI", secret)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        monkeypatch.chdir(tmp_path)  # no .env of the developer's
        with client_for(tmp_path / "root") as client:
            regions = [{**LAYOUT["regions"][0]}, {**LAYOUT["regions"][1], "model": "dall-e-2"}]
            body = {"layout": {**LAYOUT, "steps": 2, "regions": regions}}
            answer = client.post("/api/generate", json=body)
            assert answer.status_code == 202, answer.text
            job = wait_job(client, answer.json()["job"]["id"])
            assert job["state"] == "failed" and job["status"] == status, job
            assert "dall-e-2" in job["error"] or "OpenAI" in job["error"], job
            assert "bug" not in job["error"] and secret not in json.dumps(job)
            assert client.get("/api/state").json()["image_sha256"] is None
        assert fake.posts()  # the request reached the provider
