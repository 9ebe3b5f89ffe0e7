"""Throughput of ``pakati eval compositional`` with 1 and with N local worker processes.

``python -m benchmarks.eval_workers --n 10 --workers 2`` runs the same cases (attention
arm; colours, two objects, leakage) with 1 worker of 1 thread and with N workers of 1 thread
each, and prints one JSON line per run: wall seconds (start-up included), start-up seconds
(until the first result) and steady images per second (results after the first, over the
time between the first and the last result), then the ratios. Each worker loads the model
once, so start-up is paid per run, not per image.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pakati.evals.comp_arms import Settings
from pakati.evals.comp_runner import run_jobs
from pakati.evals.comp_tasks import sample_cases


def measure(n: int, workers: int, steps: int | None) -> dict[str, float]:
    cases = sample_cases(n, 0, ("colors", "two_objects", "leakage"))
    jobs = [(case, "attention") for case in cases]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        finished = []
        for _ in run_jobs(jobs, None, Settings(steps=steps), Path(folder), workers, 1):
            finished.append(time.perf_counter() - started)
    steady = (len(finished) - workers) / (finished[-1] - finished[workers - 1])
    return {
        "workers": workers,
        "images": len(finished),
        "wall_s": round(finished[-1], 2),
        "startup_s": round(finished[0], 2),
        "steady_images_per_s": round(steady, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.eval_workers")
    parser.add_argument("--n", type=int, default=10, help="cases per task (3 tasks)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    one = measure(args.n, 1, args.steps)
    print(json.dumps(one), flush=True)
    many = measure(args.n, args.workers, args.steps)
    print(json.dumps(many), flush=True)
    ratios = {
        "wall_speedup": round(one["wall_s"] / many["wall_s"], 2),
        "steady_speedup": round(many["steady_images_per_s"] / one["steady_images_per_s"], 2),
    }
    print(json.dumps(ratios), flush=True)


if __name__ == "__main__":
    main()
