"""Does understanding a reference transfer? Three arms on the shapes world, analytic judge.

    python benchmarks/understanding_transfer.py [--references 6] [--seeds 2] [--attempts 5]

Each reference (a shapes-world scene, 1-3 objects) is learned with
``ReferenceUnderstandingEngine.learn_reference`` (all seven strategies, held-out
difficulty 0.5). The target adds one object ("a green triangle") in the 3x3-grid cell the
reference leaves most empty; every arm draws that object as a region in that cell:

* unguided: the target region only (empty base prompt);
* naive: the target region, the reference's caption as base prompt (the model reads 24
  tokens, so long captions are cut: that is the naive arm's real weakness here);
* understood: ``use_understood_reference(..., ["color_harmony", "composition"])`` (the
  pathway's regions and background) plus the target region.

Judged per image: ``kept`` = mean of [background right] and, per reference object, [an
object of its colour and shape whose centre lies in its box]; ``changed`` = [an object of
the target's colour and shape in the target cell]. The last line is one JSON object:
per-arm means, ``gain_ci_low`` (lower 95% bootstrap bound of understood minus unguided on
kept), ``changed_attribute_drop`` (unguided minus understood on changed, percentage
points), and the correlation between understanding level and the gain.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pakati.enhanced import EnhancedPakatiCanvas
from pakati.transfer import apply_guidance
from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
from pakati_engine.models.loading import load_model
from pakati_engine.understanding import describe_scene
from pakati_engine.understanding.transfer_cells import free_cell
from pakati_engine.world import SHAPES, make_scene
from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.goal_judge import find_objects
from pakati_engine.world.scene import object_caption

ARMS = ("unguided", "naive", "understood")


def judged(
    image: Image.Image, truth: Any, target: tuple[str, str, tuple[int, ...]]
) -> tuple[float, float]:
    background, found = find_objects(image)
    checks = [background == truth.background]
    for obj in truth.objects:
        x0, y0, x1, y1 = obj.box
        checks.append(
            any(
                f.color == obj.color
                and f.shape == obj.shape
                and x0 <= f.centroid[0] <= x1
                and y0 <= f.centroid[1] <= y1
                for f in found
            )
        )
    colour, shape, (x0, y0, x1, y1) = target
    changed = any(
        f.color == colour
        and f.shape == shape
        and x0 <= f.centroid[0] <= x1
        and y0 <= f.centroid[1] <= y1
        for f in found
    )
    return float(np.mean(checks)), float(changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--references", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--attempts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bundle = load_model("pakati-shapes")
    engine = ReferenceUnderstandingEngine(
        model=bundle, difficulties=(0.5,), eval_seeds=(0, 1), progress=None
    )
    rng = np.random.default_rng(args.seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.references):
            scene = make_scene(args.seed + 100 + index, n_objects=1 + index % 3)
            truth = describe_scene(scene)
            path = Path(tmp) / f"ref{index}.png"
            Image.fromarray(scene.image).save(path)
            reference = ReferenceImage(path, metadata={"scene": truth.to_dict()})
            understanding = engine.learn_reference(reference, max_attempts=args.attempts)
            colour = str(rng.choice([c for c in COLOR_NAMES if c != truth.background]))
            shape = str(rng.choice(SHAPES))
            cell = free_cell(truth, 128, 128)
            target_prompt = object_caption(colour, shape)
            for seed in range(args.seeds):
                row: dict[str, Any] = {
                    "reference": index,
                    "seed": seed,
                    "level": understanding.understanding_level,
                }
                for arm in ARMS:
                    canvas = EnhancedPakatiCanvas(128, 128, model=bundle)
                    if arm == "naive":
                        canvas.base_prompt = scene.caption
                    elif arm == "understood":
                        guidance = engine.use_understood_reference(
                            understanding.reference_id, "", ["color_harmony", "composition"]
                        )
                        apply_guidance(canvas, guidance)
                    canvas.create_region(box=cell, name="target")
                    canvas.apply_to_region("target", target_prompt)
                    image = canvas.generate(seed=1000 * index + seed).image
                    row[arm] = judged(image, truth, (colour, shape, cell))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    summary: dict[str, Any] = {"cases": len(rows)}
    for arm in ARMS:
        summary[arm] = {
            "kept": round(float(np.mean([r[arm][0] for r in rows])), 3),
            "changed": round(float(np.mean([r[arm][1] for r in rows])), 3),
        }
    gains = np.array([r["understood"][0] - r["unguided"][0] for r in rows])
    boot = np.random.default_rng(0).choice(gains, size=(2000, len(gains))).mean(axis=1)
    summary["gain_mean"] = round(float(gains.mean()), 3)
    summary["gain_ci_low"] = round(float(np.percentile(boot, 2.5)), 3)
    summary["changed_attribute_drop"] = round(
        100 * (summary["unguided"]["changed"] - summary["understood"]["changed"]), 1
    )
    levels = np.array([r["level"] for r in rows])
    summary["level_gain_correlation"] = (
        None
        if levels.std() == 0 or gains.std() == 0
        else round(float(np.corrcoef(levels, gains)[0, 1]), 3)
    )
    summary["level_mean"] = round(float(levels.mean()), 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
