"""Measure sampling settings of an exported model and record the best in its ``pakati.json``.

``python -m pakati_engine.training.tune --model DIR --guidance 1.5 2 3 4 --n 24`` judges the
same regional layouts at each guidance scale (attention mode, the model's sampler; add
``--schedulers dpmpp_2m ddim`` to try samplers too) and writes the candidate with the
highest ``accuracy_both`` to ``DIR/pakati.json``, with the figures measured for every
candidate under ``"tuning"`` (keys ``sampler@scale``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from pakati_engine.diffusion.schedulers import SCHEDULERS
from pakati_engine.models.catalog import RECOMMENDATIONS_FILE
from pakati_engine.models.loading import load_model
from pakati_engine.world.regional_benchmark import run_regional_eval


def tune_sampling(
    folder: Path,
    scales: list[float],
    n: int,
    seed: int,
    steps: int | None = None,
    schedulers: list[str] | None = None,
) -> dict[str, Any]:
    """Judge ``n`` layouts per (sampler, guidance scale); summaries by ``sampler@scale``
    and the best candidate as ``{"scheduler": ..., "guidance_scale": ...}``."""
    bundle = load_model(str(folder))
    settings = bundle.recommended
    names: list[str | None] = [*schedulers] if schedulers else [settings.get("scheduler")]
    results: dict[str, dict[str, Any]] = {}
    candidates: dict[str, dict[str, Any]] = {}
    for name in names:
        for scale in scales:
            key = f"{name or 'model'}@{scale}"
            candidates[key] = {"scheduler": name, "guidance_scale": scale}
            results[key] = run_regional_eval(
                bundle,
                n=n,
                seed=seed,
                size=int(settings.get("width", 128)),
                steps=steps,
                settings={**settings, **candidates[key]},
            )
            print(json.dumps({"candidate": key, **results[key]}), flush=True)
    best = max(results, key=lambda key: results[key]["accuracy_both"])
    return {"best": candidates[best], "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pakati_engine.training.tune")
    parser.add_argument("--model", type=Path, required=True, help="exported model folder")
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0, 3.0, 4.0])
    parser.add_argument(
        "--schedulers", nargs="+", help="samplers to try (default: the model's own)"
    )
    parser.add_argument("--n", type=int, default=24, help="layouts per candidate")
    parser.add_argument("--seed", type=int, default=7, help="layout seed (not the eval's 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="do not write pakati.json")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.schedulers or ()) - set(SCHEDULERS))
    if unknown:
        parser.error(
            f"unknown sampler(s) {', '.join(unknown)}; choose from {', '.join(SCHEDULERS)}"
        )
    torch.set_num_threads(args.threads)
    tuned = tune_sampling(args.model, args.guidance, args.n, args.seed, schedulers=args.schedulers)
    if not args.dry_run:
        path = args.model / RECOMMENDATIONS_FILE
        settings = json.loads(path.read_text()) if path.is_file() else {}  # with provenance
        settings["guidance_scale"] = tuned["best"]["guidance_scale"]
        if tuned["best"]["scheduler"]:
            settings["scheduler"] = tuned["best"]["scheduler"]
        settings["tuning"] = {
            "layouts": args.n,
            "seed": args.seed,
            "accuracy_both": {k: v["accuracy_both"] for k, v in tuned["results"].items()},
        }
        path.write_text(json.dumps(settings, indent=2))
    print(json.dumps({"best": tuned["best"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
