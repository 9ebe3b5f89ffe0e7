"""Cost of delta analysis (1024x1024 image vs one 1024x1024 reference) and of a 6-region layout.

Run: ``python benchmarks/delta_cost.py [--repeats N]``. Prints a short table, then one JSON
object on the last line: {"delta_1024_s": median seconds for all six aspects, ...,
"layout_6_regions_s": median seconds of the layout solve, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from pakati_engine.analysis import ASPECTS, analyze_deltas
from pakati_engine.analysis.analyzer import MEASURES
from pakati_engine.analysis.prepare import prepare_pair
from pakati_engine.solver import Relation, solve_layout


def _images(size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    base = gaussian_filter(rng.random((size, size, 3)), (3, 3, 0))
    base = (base - base.min()) / (base.max() - base.min())
    image = np.round(base * 255).astype(np.uint8)
    reference = np.roll(image, size // 5, axis=1)[:, :, ::-1].copy()
    return image, reference


def _layout_problem() -> tuple[dict[str, tuple[float, float, float, float]], list[Relation]]:
    boxes = {
        "sky": (0.0, 0.0, 1024.0, 420.0),
        "mountain": (0.0, 300.0, 1024.0, 768.0),
        "sun": (600.0, 40.0, 760.0, 200.0),
        "tree": (80.0, 380.0, 320.0, 700.0),
        "house": (260.0, 430.0, 520.0, 700.0),
        "lake": (480.0, 480.0, 1000.0, 760.0),
    }
    relations = [
        Relation("above", "sky", "mountain"),
        Relation("inside", "sun", "sky"),
        Relation("left_of", "tree", "house"),
        Relation("left_of", "house", "lake"),
        Relation("centred", "sun", axis="x"),
        Relation("relative_size", "lake", "house", ratio=2.0),
    ]
    return boxes, relations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    image, reference = _images()
    start = time.perf_counter()
    analyze_deltas(image, reference)
    first = time.perf_counter() - start
    totals = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        analyze_deltas(image, reference)
        totals.append(time.perf_counter() - start)

    start = time.perf_counter()
    pair = prepare_pair(image, reference)
    per_aspect = {"prepare": time.perf_counter() - start}
    for name in ASPECTS:
        start = time.perf_counter()
        MEASURES[name](pair.image, pair.reference)
        per_aspect[name] = time.perf_counter() - start

    boxes, relations = _layout_problem()
    allowed = [("tree", "mountain"), ("house", "mountain"), ("lake", "mountain")]
    layout_times = []
    result = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = solve_layout(boxes, (1024, 768), relations, margin=8, allow_overlap=allowed)
        layout_times.append(time.perf_counter() - start)
    assert result is not None

    print(
        "delta analysis 1024x1024 vs 1024x1024, all aspects: "
        f"median {statistics.median(totals):.3f} s"
        f" (first call {first:.3f} s, {args.repeats} repeats)"
    )
    for name, seconds in per_aspect.items():
        print(f"  {name:12s} {seconds * 1000:7.1f} ms")
    print(
        "layout, 6 regions, 6 relations + non-overlap: "
        f"median {statistics.median(layout_times):.3f} s"
        f" ({result.status}, {result.solves} solves)"
    )
    print(
        json.dumps(
            {
                "delta_1024_s": round(statistics.median(totals), 4),
                "delta_1024_first_s": round(first, 4),
                "delta_per_aspect_ms": {k: round(v * 1000, 1) for k, v in per_aspect.items()},
                "layout_6_regions_s": round(statistics.median(layout_times), 4),
                "layout_status": result.status,
                "layout_solves": result.solves,
                "repeats": args.repeats,
                "cpus": os.cpu_count(),
                "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
