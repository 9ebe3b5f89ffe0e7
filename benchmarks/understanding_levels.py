"""Reference understanding and reference-guided refinement, measured on the shapes world.

    python benchmarks/understanding_levels.py [--references 3] [--attempts 15]
        [--layouts 6] [--passes 3] [--parts understanding,refinement] [--seed 0]

* understanding: shapes-world scenes (2-4 objects) saved as references with their true
  description (``metadata["scene"]``) are learned with all seven masking strategies (three
  held out: progressive_reveal, edge_in, frequency_bands), held-out difficulties 0.5 and
  0.75. Reported: understanding level per strategy (mean over references, at the kept
  attempt), its lower bound, mastery rate, the learning curve (mean level per attempt) and
  the mean oracle and trivial scores per strategy (what "0" and "1" stand for).
* refinement: regional layouts whose regions are prompted with a wrong colour ("a blue
  circle" where the truth is red) and carry a colour reference of the true colour; each
  strategy refines for up to ``--passes`` passes (target 0.9, goal = the analytic judge's
  fraction of regions with the right colour and shape, weight 0.3). Reported per strategy:
  quality and judged colour accuracy at pass 0 and at the kept pass.

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
from PIL import Image

from pakati.enhanced import EnhancedPakatiCanvas
from pakati.refinement import RefinementStrategy
from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
from pakati_engine.models.loading import load_model
from pakati_engine.understanding import MASKING_STRATEGIES, describe_scene
from pakati_engine.world import make_scene
from pakati_engine.world.colors import COLOR_NAMES, COLORS
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.regional_benchmark import sample_layouts


def understanding_part(
    bundle: Any, references: int, attempts: int, seed: int, folder: Path
) -> dict[str, Any]:
    engine = ReferenceUnderstandingEngine(
        model=bundle, difficulties=(0.5, 0.75), eval_seeds=(0,), progress=None
    )
    runs = []
    for index in range(references):
        scene = make_scene(seed + index, n_objects=2 + index % 3)
        path = folder / f"reference-{index}.png"
        Image.fromarray(scene.image).save(path)
        reference = ReferenceImage(path, metadata={"scene": describe_scene(scene).to_dict()})
        started = time.perf_counter()
        result = engine.learn_reference(reference, MASKING_STRATEGIES, max_attempts=attempts)
        record = result.to_dict()
        record["seconds"] = round(time.perf_counter() - started, 1)
        runs.append(record)
        print(
            f"reference {index + 1}/{references}: level {result.understanding_level:.3f}, "
            f"bound {result.level_lower_bound:.3f}, mastery {result.mastery_achieved}, "
            f"{len(result.attempts)} attempts, {record['seconds']} s",
            file=sys.stderr,
        )
    per_strategy: dict[str, Any] = {}
    for strategy in MASKING_STRATEGIES:
        scores = [r["strategy_scores"][strategy] for r in runs]
        levels = [s["level"] for s in scores if s["level"] is not None]
        cells = [c for s in scores for c in s["by_difficulty"].values()]
        per_strategy[strategy] = {
            "held_out": scores[0]["held_out"],
            "level": round(float(np.mean(levels)), 3) if levels else None,
            "informative": f"{len(levels)}/{len(scores)}",
            "oracle": round(float(np.mean([c["oracle"] for c in cells])), 3),
            "trivial": round(float(np.mean([c["trivial"] for c in cells])), 3),
            "learner": round(float(np.mean([c["learner"] for c in cells])), 3),
        }
    longest = max(len(r["attempts"]) for r in runs)
    curve = [
        round(
            float(np.mean([r["attempts"][min(i, len(r["attempts"]) - 1)]["level"] for r in runs])),
            3,
        )
        for i in range(longest)
    ]
    return {
        "references": references,
        "level_mean": round(float(np.mean([r["understanding_level"] for r in runs])), 3),
        "lower_bound_mean": round(float(np.mean([r["level_lower_bound"] for r in runs])), 3),
        "mastery_rate": round(float(np.mean([r["mastery_achieved"] for r in runs])), 3),
        "attempts_mean": round(float(np.mean([len(r["attempts"]) for r in runs])), 2),
        "learning_curve": curve,
        "per_strategy": per_strategy,
        "seconds_per_reference": round(float(np.mean([r["seconds"] for r in runs])), 1),
    }


def colour_reference(background: str, colour: str, path: Path) -> Path:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = COLORS[background]
    image[16:48, 16:48] = COLORS[colour]
    Image.fromarray(image).save(path)
    return path


def refinement_part(
    bundle: Any, layouts: int, passes: int, seed: int, folder: Path
) -> dict[str, Any]:
    cases = sample_layouts(layouts, seed=seed, min_regions=2, max_regions=3)
    out: dict[str, Any] = {}
    for strategy in RefinementStrategy:
        rows = []
        for number, case in enumerate(cases):
            expected = [
                ExpectedRegion(box=r.box, shape=r.shape, color=r.color) for r in case.regions
            ]

            def goal(image: Image.Image, expected: list[ExpectedRegion] = expected) -> float:
                return float(judge(image, expected).accuracy_both)

            canvas = EnhancedPakatiCanvas(case.size, case.size, model=bundle)
            canvas.base_prompt = case.base_prompt
            for index, region in enumerate(case.regions):
                name = f"object-{index + 1}"
                wrong = [c for c in COLOR_NAMES if c not in (region.color, case.background)]
                canvas.create_region(box=region.box, name=name)
                path = colour_reference(
                    case.background, region.color, folder / f"c{number}-{index}.png"
                )
                canvas.add_reference_image(path, region.color, aspect="color")
                canvas.apply_to_region_with_references(
                    name, f"a {wrong[(number + index) % len(wrong)]} {region.shape}", [region.color]
                )
            started = time.perf_counter()
            result = canvas.generate_with_refinement(
                max_passes=passes,
                target_quality=0.9,
                strategy=strategy,
                seed=case.seed,
                goal_scorer=goal,
                goal_weight=0.3,
            )
            first, kept = result.passes[0], result.passes[result.best_pass]
            first_image = canvas.history.entries["e1"].image
            assert first_image is not None
            colour_first = judge(first_image, expected).accuracy_color
            rows.append(
                {
                    "quality_first": first.quality,
                    "quality_kept": kept.quality,
                    "similarity_first": first.reference_similarity,
                    "similarity_kept": kept.reference_similarity,
                    "colour_first": colour_first,
                    "colour_kept": judge(result.image, expected).accuracy_color,
                    "passes": len(result.passes) - 1,
                    "seconds": time.perf_counter() - started,
                }
            )
        summary = {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}
        out[strategy.value] = summary
        print(f"{strategy.value}: {summary}", file=sys.stderr)
    return {"layouts": layouts, "max_passes": passes, "per_strategy": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--references", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=15)
    parser.add_argument("--layouts", type=int, default=6)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--parts", default="understanding,refinement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bundle = load_model("pakati-shapes")
    figures: dict[str, Any] = {"model": "pakati-shapes", "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "understanding" in args.parts:
            figures["understanding"] = understanding_part(
                bundle, args.references, args.attempts, args.seed, folder
            )
        if "refinement" in args.parts:
            figures["refinement"] = refinement_part(
                bundle, args.layouts, args.passes, args.seed, folder
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
