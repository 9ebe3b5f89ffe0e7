"""Measure sampling settings of an exported model and record the best in its ``pakati.json``.

``python -m pakati_engine.training.tune --model DIR --guidance 1.5 2 3 4 --n 24`` judges the
same regional layouts at each guidance scale (attention mode, the model's sampler) and
writes the scale with the highest ``accuracy_both`` to ``DIR/pakati.json``, with the figures
measured for every candidate under ``"tuning"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from pakati_engine.models import RECOMMENDATIONS_FILE, load_model


def tune_guidance(
    folder: Path, scales: list[float], n: int, seed: int, steps: int | None = None
) -> dict[str, Any]:
    """Judge ``n`` layouts per guidance scale; returns per-scale summaries and the best."""
    from pakati.evals.regional_eval import run_regional_eval

    bundle = load_model(str(folder))
    settings = bundle.recommended
    results = {}
    for scale in scales:
        summary = run_regional_eval(
            bundle,
            n=n,
            seed=seed,
            size=int(settings.get("width", 128)),
            steps=steps,
            settings={**settings, "guidance_scale": scale},
        )
        results[str(scale)] = summary
        print(json.dumps({"guidance_scale": scale, **summary}), flush=True)
    best = max(scales, key=lambda s: results[str(s)]["accuracy_both"])
    return {"best": best, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pakati_engine.training.tune")
    parser.add_argument("--model", type=Path, required=True, help="exported model folder")
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0, 3.0, 4.0])
    parser.add_argument("--n", type=int, default=24, help="layouts per candidate")
    parser.add_argument("--seed", type=int, default=7, help="layout seed (not the eval's 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="do not write pakati.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tuned = tune_guidance(args.model, args.guidance, args.n, args.seed)
    if not args.dry_run:
        path = args.model / RECOMMENDATIONS_FILE
        settings = json.loads(path.read_text()) if path.is_file() else {}  # with provenance
        settings["guidance_scale"] = tuned["best"]
        settings["tuning"] = {
            "layouts": args.n,
            "seed": args.seed,
            "accuracy_both": {k: v["accuracy_both"] for k, v in tuned["results"].items()},
        }
        path.write_text(json.dumps(settings, indent=2))
    print(json.dumps({"best_guidance_scale": tuned["best"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
