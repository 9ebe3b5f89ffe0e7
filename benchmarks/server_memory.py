"""Server memory over a long editing session, with and without the history's memory cap.

Run: ``python benchmarks/server_memory.py [--edits 300] [--size 256] [--steps 4]``. For each
setting of ``pakati.server.workspace.HISTORY_IN_MEMORY`` (the cap, and "no cap": larger
than the number of edits) it starts the real server on a free port in a fresh project
folder, generates once, then makes ``--edits`` edits that each add a history entry with new
pixels (a region regenerated with a new seed, the worst case for memory), and records the
server's resident memory (VmRSS) every 50 edits. It then undoes back 40 steps (into the
spilled entries) and checks each image against the hash its entry recorded. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SERVER = (
    "import sys; from pakati.server import workspace, cli; "
    "workspace.HISTORY_IN_MEMORY = int(sys.argv[1]); sys.exit(cli.main(sys.argv[2:]))"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run_job(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    job = client.post(path, json=body).json()["job"]
    while True:
        state = client.get(f"/api/jobs/{job['id']}").json()
        if state["state"] in ("done", "failed", "cancelled"):
            if state["state"] != "done":
                raise RuntimeError(f"{path}: {state}")
            return
        time.sleep(0.02)


def session(cap: int, edits: int, size: int, steps: int) -> dict[str, Any]:
    port = free_port()
    project = Path(tempfile.mkdtemp(prefix="pakati-bench-memory-"))
    args = ["--port", str(port), "--project", str(project), "--provider", "offline"]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(cap), *args],
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
            time.sleep(0.05)
        client = httpx.Client(base_url=base, timeout=600)
        half = size // 2
        layout = {
            "width": size,
            "height": size,
            "model": "pakati-shapes",
            "steps": steps,
            "seed": 1,
            "base_prompt": "a white background",
            "regions": [
                {"name": "left", "box": [0, 0, half, size], "prompt": "a red circle"},
                {"name": "right", "box": [half, 0, size, size], "prompt": "a blue square"},
            ],
        }
        run_job(client, "/api/generate", {"layout": layout})
        rss = {"0": rss_mb(process.pid)}
        started = time.perf_counter()
        for index in range(1, edits + 1):
            run_job(client, "/api/regenerate", {"regions": ["right"], "seed": 100 + index})
            if index % 50 == 0:
                rss[str(index)] = rss_mb(process.pid)
        seconds = time.perf_counter() - started
        history = client.get("/api/state").json()["history"]
        expected = {e["id"]: e["image_sha256"] for e in history}
        restored = 0
        for _ in range(40):
            state = client.post("/api/undo").json()["state"]
            if state["image_sha256"] != expected[state["head"]]:
                raise RuntimeError(f"undo to {state['head']} gave another image")
            restored += 1
        spilled_mb = sum(p.stat().st_size for p in (project / "history").glob("*")) / 2**20
        return {
            "history_in_memory": cap,
            "history_entries": len(history),
            "edits_s": round(seconds, 1),
            "rss_mb_by_edits": rss,
            "rss_growth_mb": round(rss[str(edits - edits % 50)] - rss["0"], 1),
            "undone_and_checked": restored,
            "spilled_to_disk_mb": round(spilled_mb, 1),
        }
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=300, help="regenerations (history entries)")
    parser.add_argument("--size", type=int, default=256, help="canvas side in pixels")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per edit")
    parser.add_argument("--cap", type=int, default=12, help="entries whose pixels stay in memory")
    args = parser.parse_args()
    runs = [session(cap, args.edits, args.size, args.steps) for cap in (args.edits + 10, args.cap)]
    report = {
        "size": args.size,
        "steps": args.steps,
        "edits": args.edits,
        "no_cap": runs[0],
        "cap": runs[1],
        "cpu_count": os.cpu_count(),
        "torch_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
