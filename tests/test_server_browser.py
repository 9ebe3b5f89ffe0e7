"""The web canvas in a real browser (Debian's Chromium driven by Playwright) against a real
``python -m pakati.server`` with the embedded model at 128x128.

Chromium must be installed (``.ci/run`` installs it): without it these tests fail with a
message, unless ``PAKATI_SKIP_BROWSER=1`` says to skip them. Screenshots of each step are
written under the pytest temporary folder (``screenshots/``), or ``PAKATI_SCREENSHOTS``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from pakati.history import image_sha256

CHROMIUM = Path(os.environ.get("PAKATI_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHAPES: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "model": "pakati-shapes",
    "seed": 3,
    "steps": 10,
    "base_prompt": "a white background",
    "regions": [
        {"name": "left", "box": [0, 0, 64, 128], "prompt": "a red circle"},
        {"name": "top-right", "box": [64, 0, 128, 64], "prompt": "a blue square"},
        {"name": "bottom-right", "box": [64, 64, 128, 128], "prompt": "a yellow triangle"},
    ],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        if os.environ.get("PAKATI_SKIP_BROWSER") == "1":
            pytest.skip("PAKATI_SKIP_BROWSER=1 and no Chromium")
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: install it (apt-get install -y chromium; "
            ".ci/run does) or set PAKATI_SKIP_BROWSER=1 to skip the browser tests locally"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m pakati.server`` on a free port, with the offline planner."""
    port = _free_port()
    project = tmp_path_factory.mktemp("web-project")
    log = (project / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pakati.server",
            "--port",
            str(port),
            "--project",
            str(project),
            "--provider",
            "offline",
            "--max-passes",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        # The same torch thread count as this process: pixels depend on it, and the test
        # compares the server's image with `pakati generate` run here.
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError((project / "server.log").read_text())
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("PAKATI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(server + "/")
    opened.wait_for_selector("body[data-ready='1']")
    yield opened
    context.close()
    assert not errors, errors


def _api(server: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, server + path, timeout=30, **kwargs)
    assert response.status_code < 400, response.text
    return response.json()


def _load_layout(page: Any, layout: dict[str, Any], folder: Path) -> None:
    """Import ``layout`` through the page's Import button (a JSON file)."""
    path = folder / "layout-in.json"
    path.write_text(json.dumps(layout))
    page.set_input_files("#import", str(path))
    page.wait_for_function(
        "names => JSON.stringify(window.pakati.layout.regions.map(r => r.name)) === names",
        arg=json.dumps([r["name"] for r in layout["regions"]], separators=(",", ":")),
    )


def _wait_done(page: Any, kind: str, timeout_ms: int = 120_000) -> str:
    """Wait until a job of ``kind`` ends; its id (it must have succeeded)."""
    page.wait_for_function(
        "kind => new RegExp(`:${kind}:(done|failed|cancelled)$`)"
        ".test(document.body.dataset.lastJob || '')",
        arg=kind,
        timeout=timeout_ms,
    )
    job, _, state = page.evaluate("document.body.dataset.lastJob").split(":")
    assert state == "done", page.inner_text("#message")
    page.evaluate("delete document.body.dataset.lastJob")
    return job


def _start(page: Any, selector: str, kind: str, timeout_ms: int = 120_000) -> str:
    """Click ``selector`` and wait for the ``kind`` job it starts to finish."""
    page.evaluate("delete document.body.dataset.lastJob")
    page.click(selector)
    return _wait_done(page, kind, timeout_ms)


def _saved_layout(page: Any, server: str) -> dict[str, Any]:
    """The server's draft once the page has sent it every edit (it sends a moment after
    the last one and says so in ``body[data-draft]``)."""
    page.wait_for_selector("body[data-draft='saved']", state="attached", timeout=60_000)
    return _api(server, "GET", "/api/layout")


def _image(server: str, sha: str) -> np.ndarray:
    response = httpx.get(f"{server}/api/images/{sha}.png", timeout=30)
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def _set_zoom(page: Any, label: str) -> None:
    for _ in range(10):
        if page.inner_text("#zoom-label") == label:
            return
        current = int(page.inner_text("#zoom-label").rstrip("%"))
        page.click("#zoom-in" if current < int(label.rstrip("%")) else "#zoom-out")
    raise AssertionError(f"could not reach zoom {label}")


def _drag(page: Any, start: tuple[int, int], end: tuple[int, int], zoom: int) -> None:
    box = page.locator("#overlay").bounding_box()
    assert abs(box["width"] - 128 * zoom) < 0.5  # the stage is the canvas at this zoom
    page.mouse.move(box["x"] + start[0] * zoom, box["y"] + start[1] * zoom)
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * zoom, box["y"] + end[1] * zoom, steps=6)
    page.mouse.up()


def test_draw_boxes_and_a_polygon_in_canvas_pixels_at_zoom_1_and_2(
    page: Any, server: str, shots: Path
) -> None:
    _load_layout(page, {**SHAPES, "regions": []}, shots)
    _set_zoom(page, "100%")
    _drag(page, (10, 20), (60, 100), zoom=1)
    page.fill("#region input[name=prompt]", "a red circle")
    page.press("#region input[name=prompt]", "Tab")
    _set_zoom(page, "200%")
    _drag(page, (70, 12), (121, 57), zoom=2)
    page.click("[data-tool=polygon]")
    box = page.locator("#overlay").bounding_box()
    for x, y in [(80, 80), (120, 90), (100, 124)]:
        page.mouse.click(box["x"] + x * 2, box["y"] + y * 2)
    page.keyboard.press("Enter")
    page.screenshot(path=str(shots / "01-drawn-at-zoom-2.png"))
    layout = _saved_layout(page, server)
    first, second, third = layout["regions"]
    assert np.allclose(first["box"], [10, 20, 60, 100], atol=1), first
    assert first["prompt"] == "a red circle"
    assert np.allclose(second["box"], [70, 12, 121, 57], atol=1), second
    assert np.allclose(third["polygon"], [[80, 80], [120, 90], [100, 124]], atol=1), third


def test_generate_streams_steps_and_matches_pakati_generate(
    page: Any, server: str, shots: Path, tmp_path: Path
) -> None:
    _load_layout(page, SHAPES, shots)
    job = _start(page, "#generate", "generate")
    assert page.evaluate(f"window.pakati.steps['{job}']") == SHAPES["steps"]
    assert page.inner_text("#progress-count") == f"{SHAPES['steps']}/{SHAPES['steps']}"
    page.screenshot(path=str(shots / "02-generated.png"))
    with page.expect_download() as download:
        page.click("#export")
    exported = tmp_path / "exported.json"
    download.value.save_as(exported)
    from pakati.cli import main

    out = tmp_path / "cli.png"
    assert main(["generate", str(exported), "--out", str(out), "--no-progress"]) == 0
    state = _api(server, "GET", "/api/state")
    assert image_sha256(Image.open(out)) == state["image_sha256"]
    # The PNG download carries its layout: importing it restores every region.
    with page.expect_download() as download:
        page.click("#download")
    png = tmp_path / "downloaded.png"
    download.value.save_as(png)
    _load_layout(page, {**SHAPES, "regions": SHAPES["regions"][:1]}, tmp_path)
    page.set_input_files("#import", str(png))
    page.wait_for_function("window.pakati.layout.regions.length === 3")
    assert _api(server, "GET", "/api/state")["image_sha256"] == state["image_sha256"]


def test_lock_a_regenerate_b_keeps_a_and_undo_restores(page: Any, server: str, shots: Path) -> None:
    _load_layout(page, SHAPES, shots)
    _start(page, "#generate", "generate")
    before = _api(server, "GET", "/api/state")["image_sha256"]
    page.click("#regions li[data-region='left']")
    page.click("#lock")
    page.wait_for_function("window.pakati.state.locked.includes('left')")
    page.click("#regions li[data-region='top-right']")
    page.fill("#region input[name=seed]", "77")
    page.press("#region input[name=seed]", "Tab")
    _start(page, "#regenerate", "regenerate")
    page.screenshot(path=str(shots / "03-left-locked-top-right-regenerated.png"))
    after = _api(server, "GET", "/api/state")["image_sha256"]
    assert after != before
    old, new = _image(server, before), _image(server, after)
    assert np.array_equal(old[:, :64], new[:, :64])  # A's pixels, byte for byte
    page.click("#undo")  # the lock's step: the image is still the first one
    page.wait_for_function(f"window.pakati.state.image_sha256 === '{before}'")
    page.screenshot(path=str(shots / "04-undone.png"))
    page.keyboard.press("Control+Shift+Z")
    page.wait_for_function(f"window.pakati.state.image_sha256 === '{after}'")
    # Compare the first step with the current image, side by side.
    page.click("#history li >> nth=0")
    page.wait_for_function(
        "['#compare-a', '#compare-b'].every(s => document.querySelector(s).naturalWidth === 128)"
    )
    assert page.is_visible("#compare")
    first = _api(server, "GET", "/api/state")["history"][0]["image_sha256"]
    assert first in (page.get_attribute("#compare-b", "src") or "")
    assert after in (page.get_attribute("#compare-a", "src") or "")
    # The difference overlay: magenta exactly where the two images differ (none in the
    # locked region), the current image in grey elsewhere.
    page.wait_for_selector("#compare-diff[data-changed]", state="attached")
    overlay = np.array(
        page.evaluate(
            """() => {
              const c = document.querySelector('#compare-diff');
              return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
            }"""
        ),
        np.uint8,
    ).reshape(128, 128, 4)
    differs = (_image(server, first) != new).any(axis=2)
    magenta = (overlay[..., 1] == 0) & (overlay[..., 0] >= 128)
    assert differs.any() and not differs[:, :64].any()
    assert np.array_equal(magenta, differs)
    assert int(page.get_attribute("#compare-diff", "data-changed") or -1) == differs.sum()
    assert f"{differs.sum()} pixels" in page.inner_text("#compare-diff-label")
    page.screenshot(path=str(shots / "05-compare.png"))


def test_chat_goal_becomes_regions_and_green_edit_redraws_only_the_circle(
    page: Any, server: str, shots: Path
) -> None:
    page.click("[data-tab=chat]")
    page.click("#chat-new")
    goal = "a red circle on the left and a blue square on the right, white background"
    page.fill("#chat-input", goal)
    page.evaluate("delete document.body.dataset.lastJob")
    page.press("#chat-input", "Enter")
    _wait_done(page, "chat", 240_000)
    names = page.evaluate("window.pakati.layout.regions.map(r => r.name)")
    assert len(names) == 2 and any("circle" in n for n in names), names
    drawn = page.eval_on_selector_all(
        "#overlay [data-region]", "els => els.map(e => e.dataset.region)"
    )
    assert sorted(drawn) == sorted(names)  # the plan is drawn as regions on the canvas
    assert page.locator(".chat-item[data-kind=critique]").count() >= 1
    assert page.locator(".chat-item[data-kind=pass] img").count() >= 1
    page.screenshot(path=str(shots / "06-chat-goal.png"))
    page.fill("#chat-input", "now make the circle green")
    page.evaluate("delete document.body.dataset.lastJob")
    page.press("#chat-input", "Enter")
    _wait_done(page, "chat", 240_000)
    redraw = page.locator(".chat-item[data-kind=redraw]").last.inner_text()
    circle = next(n for n in names if "circle" in n)
    others = [n for n in names if n != circle]
    assert f"regenerates: {circle};" in redraw and f"keeps exactly: {', '.join(others)}" in redraw
    prompt = page.evaluate(f"window.pakati.layout.regions.find(r => r.name === '{circle}').prompt")
    assert "green" in prompt
    page.screenshot(path=str(shots / "07-chat-green.png"))
    # The thread survives a reload: the transcript comes back from the server.
    count = page.locator(".chat-item").count()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.click("[data-tab=chat]")
    assert page.locator(".chat-item").count() == count


def test_reload_mid_run_resumes_progress(page: Any, server: str, shots: Path) -> None:
    slow = {**SHAPES, "steps": 150, "seed": 21}
    _load_layout(page, slow, shots)
    page.click("#generate")
    page.wait_for_function(
        "window.pakati.job && (window.pakati.steps[window.pakati.job.id] || 0) >= 3"
    )
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    job = page.evaluate("window.pakati.job && window.pakati.job.id")
    assert job, "after a reload the page follows the running job"
    page.wait_for_function(f"(window.pakati.steps['{job}'] || 0) >= 5")
    page.screenshot(path=str(shots / "08-reloaded-mid-run.png"))
    finished = _wait_done(page, "generate", 240_000)
    assert finished == job
    # Replayed from the job's first event, then live: every step seen once, in order.
    assert page.evaluate(f"window.pakati.steps['{job}']") == slow["steps"]
    assert page.inner_text("#progress-count") == "150/150"


def test_attach_a_reference_to_a_region_and_see_its_delta_analysis(
    page: Any, server: str, shots: Path, tmp_path: Path
) -> None:
    _load_layout(page, SHAPES, shots)
    _start(page, "#generate", "generate")
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 64), (30, 60, 200)).save(reference)
    page.click("#regions li[data-region='left']")
    page.set_input_files("#reference", str(reference))
    page.wait_for_function("document.querySelector('#reference-name').textContent !== 'none'")
    page.click("#analyze")
    page.wait_for_selector("#analysis tr[data-aspect=color]")
    assert page.locator("#analysis tr[data-aspect]").count() == 6
    page.locator("#analysis").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "09-delta-analysis.png"))


def test_paint_a_mask_region_with_the_brush(page: Any, server: str, shots: Path) -> None:
    _load_layout(page, {**SHAPES, "regions": []}, shots)
    _set_zoom(page, "200%")
    page.click("[data-tool=brush]")
    page.fill("#brush-size", "6")
    page.dispatch_event("#brush-size", "input")
    _drag(page, (20, 30), (60, 30), zoom=2)
    page.wait_for_function("window.pakati.layout.regions.length === 1")
    page.fill("#region input[name=prompt]", "a green triangle")
    page.press("#region input[name=prompt]", "Tab")
    page.screenshot(path=str(shots / "10-brush-mask.png"))
    regions = _saved_layout(page, server)["regions"]
    assert regions[0]["prompt"] == "a green triangle"
    import base64

    mask = Image.open(io.BytesIO(base64.b64decode(regions[0]["mask_png"])))
    assert mask.size == (128, 128)  # painted at canvas resolution whatever the zoom
    alpha = np.asarray(mask.convert("RGBA").getchannel("A"))  # (H, W)
    assert alpha[30, 20] > 200 and alpha[30, 40] > 200 and alpha[30, 60] > 200
    assert alpha[30, 70] == 0 and alpha[40, 40] == 0 and alpha[100, 100] == 0
    assert alpha[34, 40] > 0  # the brush radius (6 px) reaches 4 px off the stroke


def test_a_control_map_is_placed_at_its_region(
    page: Any, server: str, shots: Path, tmp_path: Path
) -> None:
    import base64

    _load_layout(page, SHAPES, shots)
    control = shots / "control-map.png"
    square = Image.new("RGB", (64, 64), (0, 0, 0))
    square.paste((255, 255, 255), (16, 16, 48, 48))
    square.save(control)
    page.click("#regions li[data-region='top-right']")
    page.set_input_files("#control-map", str(control))
    page.wait_for_function("document.querySelector('#control-name').textContent !== 'no control'")
    regions = {r["name"]: r for r in _saved_layout(page, server)["regions"]}
    spec = regions["top-right"]["control"]
    assert spec["controlnet"] == "pakati-shapes-outline" and spec["scale"] == 1
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(spec["image_png"]))).convert("L"))
    assert drawn.shape == (128, 128)  # canvas-sized, the map placed at the box (64, 0, 128, 64)
    assert drawn[32, 96] == 255 and drawn[8, 72] == 0 and drawn[96, 32] == 0
    # Generate with it (the shipped outline ControlNet): the same pixels as `pakati
    # generate` on the exported layout, control map included.
    _start(page, "#generate", "generate")
    page.screenshot(path=str(shots / "11-generated-with-control.png"))
    with page.expect_download() as download:
        page.click("#export")
    exported = tmp_path / "exported.json"
    download.value.save_as(exported)
    assert json.loads(exported.read_text())["regions"][1]["control"]["image_png"]
    from pakati.cli import main

    out = tmp_path / "cli.png"
    assert main(["generate", str(exported), "--out", str(out), "--no-progress"]) == 0
    controlled = _api(server, "GET", "/api/state")["image_sha256"]
    assert image_sha256(Image.open(out)) == controlled
    page.click("#control-clear")
    page.wait_for_function("document.querySelector('#control-name').textContent === 'no control'")
    assert _saved_layout(page, server)["regions"][1].get("control") is None
    _start(page, "#generate", "generate")  # without the map the picture differs
    assert _api(server, "GET", "/api/state")["image_sha256"] != controlled
