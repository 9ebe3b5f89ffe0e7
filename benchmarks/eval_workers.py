"""Throughput of ``pakati eval compositional`` with 1 and with N local worker processes.

``python -m benchmarks.eval_workers --n 10 --workers 2 --rounds 3`` runs the same cases
(attention arm; colours, two objects, leakage) with 1 worker of 1 thread and with N workers
of 1 thread each, interleaved (the order alternates between rounds), and prints one JSON
line per run: wall seconds (start-up included), start-up seconds (until the first result),
steady images per second (results after the first, over the time between the first and the
last result) and the machine's 1-minute load average before the run (other programs share
the cores: a load above the core count means the workers did not have them to themselves);
then the median ratios over the rounds. Each worker loads the model once, so start-up is
paid per run, not per image.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from pakati.evals.comp_arms import Settings
from pakati.evals.comp_runner import run_jobs
from pakati.evals.comp_tasks import sample_cases


def measure(n: int, workers: int, steps: int | None) -> dict[str, float]:
    """One run of ``3 n`` attention images with ``workers`` workers of one thread each."""
    cases = sample_cases(n, 0, ("colors", "two_objects", "leakage"))
    jobs = [(case, "attention") for case in cases]
    load = os.getloadavg()[0]
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
        "load_average_1min_before": round(load, 2),
        "cores": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.eval_workers")
    parser.add_argument("--n", type=int, default=10, help="cases per task (3 tasks)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    wall, steady = [], []
    for round_ in range(args.rounds):
        order = (1, args.workers) if round_ % 2 == 0 else (args.workers, 1)
        runs = {}
        for workers in order:
            runs[workers] = measure(args.n, workers, args.steps)
            print(json.dumps({"round": round_, **runs[workers]}), flush=True)
        one, many = runs[1], runs[args.workers]
        wall.append(one["wall_s"] / many["wall_s"])
        steady.append(many["steady_images_per_s"] / one["steady_images_per_s"])
    ratios = {
        "rounds": args.rounds,
        "wall_speedup_median": round(statistics.median(wall), 2),
        "steady_speedup_median": round(statistics.median(steady), 2),
        "wall_speedups": [round(v, 2) for v in wall],
        "steady_speedups": [round(v, 2) for v in steady],
    }
    print(json.dumps(ratios), flush=True)


if __name__ == "__main__":
    main()
