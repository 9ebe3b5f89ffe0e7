"""Does the learned token (textual inversion) reproduce a reference better than the
inferred description alone? Measured on the shapes world with the embedded model.

    python benchmarks/understanding_token.py [--references 4] [--attempts 4]
        [--token-steps 40] [--variants plain,warm] [--seed 0]

Each reference (a shapes-world scene with 2-4 objects; ``warm``: the same scene under a warm
light, a red-yellow gradient no colour word describes) is learned with all seven masking
strategies (``learn_reference``, token on). Reported per variant, mean over references:

* ``held_out``: hidden-pixel score of the held-out reconstructions drawn with the pathway
  (the inferred description) alone and with the pathway plus the token;
* ``reproduction``: whole-image score of the pathway generated from noise (two seeds),
  without and with the token, and of the token alone (base prompt = the token only);
* ``token_gain_ci_low``: lower 95% bootstrap bound of (with token - without) on the
  reproduction score; seconds per reference (learning included) and token steps.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
from pakati_engine.models.loading import load_model
from pakati_engine.understanding import MASKING_STRATEGIES, describe_scene
from pakati_engine.understanding.inversion import InversionSettings
from pakati_engine.world import make_scene


def warm(image: np.ndarray) -> np.ndarray:
    """A warm light from the top left: red up, blue down, stronger near the light."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    light = 1.0 - 0.5 * (xs / w + ys / h)  # (H, W) 1 at the top left, 0 at the bottom right
    out = image.astype(np.float64)
    out[..., 0] *= 1.0 + 0.25 * light
    out[..., 1] *= 1.0 + 0.10 * light
    out[..., 2] *= 1.0 - 0.35 * light
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def ci_low(values: list[float], seed: int = 0, rounds: int = 2000) -> float:
    rng = np.random.default_rng(seed)
    data = np.asarray(values)
    means = [rng.choice(data, len(data)).mean() for _ in range(rounds)]
    return float(np.percentile(means, 2.5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, default=4)
    parser.add_argument("--attempts", type=int, default=4)
    parser.add_argument("--token-steps", type=int, default=40)
    parser.add_argument("--variants", default="plain,warm")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    bundle = load_model("pakati-shapes")
    folder = Path(tempfile.mkdtemp(prefix="understanding-token-"))
    engine = ReferenceUnderstandingEngine(
        model=bundle,
        difficulties=(0.5, 0.75),
        progress=None,
        inversion=InversionSettings(steps=args.token_steps, seed=args.seed),
        store=folder / "store",
    )
    figures: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    for variant in [v for v in args.variants.split(",") if v]:
        rows = []
        for index in range(args.references):
            scene = make_scene(args.seed + index, n_objects=2 + index % 3)
            image = warm(scene.image) if variant == "warm" else scene.image
            path = folder / f"{variant}-{index}.png"
            Image.fromarray(image).save(path)
            reference = ReferenceImage(path, metadata={"scene": describe_scene(scene).to_dict()})
            started = time.perf_counter()
            result = engine.learn_reference(reference, MASKING_STRATEGIES, args.attempts)
            seconds = time.perf_counter() - started
            report, repro = result.token_report, result.pathway_reproduction
            row = {
                "level": result.understanding_level,
                "held_out_pathway": report["held_out_score_pathway"],
                "held_out_with_token": report["held_out_score_pathway_with_token"],
                "reproduction_pathway": repro["pathway"],
                "reproduction_with_token": repro["pathway_with_token"],
                "reproduction_token_only": repro["token_only"],
                "token_steps": report["steps"],
                "nearest_world_words": report["nearest_world_words"],
                "seconds": round(seconds, 1),
            }
            rows.append(row)
            print(f"{variant} {index + 1}/{args.references}: {json.dumps(row)}", file=sys.stderr)
        gains = [r["reproduction_with_token"] - r["reproduction_pathway"] for r in rows]
        held = [r["held_out_with_token"] - r["held_out_pathway"] for r in rows]
        figures[variant] = {
            **{
                key: round(float(np.mean([r[key] for r in rows])), 4)
                for key in (
                    "level",
                    "held_out_pathway",
                    "held_out_with_token",
                    "reproduction_pathway",
                    "reproduction_with_token",
                    "reproduction_token_only",
                    "token_steps",
                    "seconds",
                )
            },
            "held_out_gain": round(float(np.mean(held)), 4),
            "token_gain": round(float(np.mean(gains)), 4),
            "token_gain_ci_low": round(ci_low(gains, args.seed), 4),
            "token_better_in": f"{sum(g > 0 for g in gains)}/{len(gains)}",
            "nearest_world_words": [r["nearest_world_words"] for r in rows],
        }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
