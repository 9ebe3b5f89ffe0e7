"""Latency and memory of the web canvas (``python -m pakati.server``), embedded model.

Run: ``python benchmarks/server_latency.py [--runs N] [--edits N]``. It starts the real
server on a free port in a temporary project folder and measures, from this client:

- ``startup_to_first_page_s``: from launching ``python -m pakati.server`` to the page served;
- per generation (128x128, the model's 20 steps): from the Generate request to the first
  preview event and to the final ``done`` event, as the page sees them over SSE; the first
  run loads the model (``cold``), the others are ``warm`` (median);
- ``rss_mb``: the server's resident memory before and after ``--edits`` edits (layout
  changes from the page, every tenth a region regeneration, which adds a history entry).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

LAYOUT: dict[str, Any] = {
    "width": 128,
    "height": 128,
    "model": "pakati-shapes",
    "base_prompt": "a white background",
    "regions": [
        {"name": "left", "box": [0, 0, 64, 128], "prompt": "a red circle"},
        {"name": "right", "box": [64, 0, 128, 128], "prompt": "a blue square"},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def timed_job(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, float]:
    """Send a job and follow its events; seconds to the first preview and to ``done``."""
    start = time.perf_counter()
    job = client.post(path, json=body).json()["job"]
    first_preview = None
    with client.stream("GET", "/api/events", params={"since": job["first_event"]}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event.get("job") != job["id"]:
                continue
            if event["type"] == "step" and "preview" in event and first_preview is None:
                first_preview = time.perf_counter() - start
            if event["type"] in ("done", "failed", "cancelled"):
                if event["type"] != "done":
                    raise RuntimeError(f"job {job['id']} {event['type']}: {event.get('error')}")
                break
    final = time.perf_counter() - start
    return {"first_preview_s": first_preview or final, "final_image_s": final}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="generations to time (first: cold)")
    parser.add_argument("--edits", type=int, default=300, help="edits before measuring memory")
    args = parser.parse_args()
    port = free_port()
    project = Path(tempfile.mkdtemp(prefix="pakati-bench-server-"))
    launched = time.perf_counter()
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            time.sleep(0.02)
        startup = time.perf_counter() - launched
        client = httpx.Client(base_url=base, timeout=300)
        client.put("/api/layout", json=LAYOUT).raise_for_status()
        runs = [timed_job(client, "/api/generate", {"seed": seed}) for seed in range(args.runs)]
        warm = runs[1:] or runs
        rss_before = rss_mb(process.pid)
        edit_started = time.perf_counter()
        for index in range(args.edits):
            layout = json.loads(json.dumps(LAYOUT))
            layout["regions"][1]["prompt"] = f"a blue square {index % 7}"
            layout["seed"] = 1
            client.put("/api/layout", json=layout).raise_for_status()
            if index % 10 == 9:
                timed_job(client, "/api/regenerate", {"regions": ["right"], "seed": index})
        edits_s = time.perf_counter() - edit_started
        history = len(client.get("/api/state").json()["history"])
        report = {
            "startup_to_first_page_s": round(startup, 2),
            "cold": {k: round(v, 3) for k, v in runs[0].items()},
            "warm_median": {
                key: round(statistics.median(r[key] for r in warm), 3)
                for key in ("first_preview_s", "final_image_s")
            },
            "edits": args.edits,
            "edits_s": round(edits_s, 1),
            "history_entries": history,
            "rss_mb": {"after_generations": rss_before, "after_edits": rss_mb(process.pid)},
            "cpu_count": os.cpu_count(),
        }
        print(json.dumps(report))
    finally:
        process.terminate()
        process.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
