"""The intuitive checker: how well an image matches its goal, overall and region by region.

Score conventions (all from an open_clip model, by default the shipped shapes-world CLIP):

- **cosine**: the cosine similarity of the L2-normalised image and text embeddings, in
  [-1, 1]. Unrelated pairs sit near 0; the shapes CLIP gives its own training scenes
  about 0.9 and pure noise about 0. Thresholds such as ``--target 0.30`` are cosines.
- **CLIPScore** = 100 * max(cosine, 0) (Hessel et al., 2021, without their w = 2.5
  rescaling), reported beside each cosine for readers used to that scale.
- **overall score** = (global cosine + mean region cosine) / 2, where the global cosine
  compares the whole image with the goal and a region cosine compares the region's crop
  (its bounding box, padded square with the image's border colour) with the region's
  prompt. Without regions it is the global cosine. Averaging the two makes the score
  move when a single region is fixed, which the global cosine alone barely does.

A region passes when its cosine reaches ``region_target`` (default: the overall target).
When the plan names reference images, the delta analyzer compares them too, and its
findings become suggestions; it does not change the score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pakati.agents.schemas import Critique, Plan, RegionPlan, RegionVerdict
from pakati_engine.analysis import analyze_deltas
from pakati_engine.clip.scoring import OBJECT_CAPTIONS, crop_region
from pakati_engine.errors import PakatiError

EMPTY_STD = 6.0
"""A crop whose pixel standard deviation is below this looks empty (background only)."""


def clip_score(cosine: float) -> float:
    """CLIPScore of a cosine: 100 * max(cos, 0)."""
    return 100.0 * max(cosine, 0.0)


def critique_image(
    image: Image.Image,
    plan: Plan,
    scorer: Any,
    target: float,
    region_target: float | None = None,
) -> Critique:
    """Score ``image`` against ``plan`` (goal and regions) and say what to change."""
    region_target = target if region_target is None else region_target
    goal = plan.goal or plan.base_prompt or " ".join(r.prompt for r in plan.regions)
    global_cos = float(scorer.similarity([image], [goal])[0][0])
    verdicts = [_region_verdict(image, region, scorer, region_target) for region in plan.regions]
    score = global_cos
    if verdicts:
        score = (global_cos + float(np.mean([v.score for v in verdicts]))) / 2
    suggestions = [s for v in verdicts for s in v.suggestions]
    deltas = _reference_deltas(image, plan, suggestions)
    if score < target and not suggestions:
        suggestions.append(
            f"overall score {score:.3f} < target {target:.3f}: try a new seed for the canvas"
        )
    return Critique(
        score=score,
        global_score=global_cos,
        clip_score=clip_score(global_cos),
        regions=verdicts,
        passed=score >= target,
        suggestions=suggestions,
        deltas=deltas,
    )


def _region_verdict(
    image: Image.Image, region: RegionPlan, scorer: Any, threshold: float
) -> RegionVerdict:
    box = region.bounds
    crop = crop_region(image, box)
    candidates = [region.prompt, *[c for c in OBJECT_CAPTIONS if c != region.prompt]]
    sims = scorer.similarity([crop], candidates)[0]
    cosine = float(sims[0])
    best = candidates[int(np.argmax(sims))] if region.prompt in OBJECT_CAPTIONS else None
    passed = cosine >= threshold
    suggestions: list[str] = []
    if not passed:
        inside = np.asarray(image.convert("RGB"))[box[1] : box[3], box[0] : box[2]]
        if inside.size and float(inside.std()) < EMPTY_STD:
            suggestions.append(
                f"region {region.name!r} looks empty: raise its weight and give it a new seed"
            )
        elif best is not None and best != region.prompt:
            suggestions.append(
                f"region {region.name!r} looks like {best!r}, not {region.prompt!r}: "
                "give it a new seed or restate the prompt"
            )
        else:
            suggestions.append(
                f"region {region.name!r} scores {cosine:.3f} < {threshold:.3f} for "
                f"{region.prompt!r}: give it a new seed"
            )
    return RegionVerdict(
        name=region.name,
        prompt=region.prompt,
        score=cosine,
        clip_score=clip_score(cosine),
        passed=passed,
        best_caption=best,
        suggestions=suggestions,
    )


def _reference_deltas(image: Image.Image, plan: Plan, suggestions: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for reference in plan.references:
        mask = None
        if reference.region is not None:
            x0, y0, x1, y1 = plan.region(reference.region).bounds
            mask = np.zeros((image.height, image.width), bool)
            mask[y0:y1, x0:x1] = True
        aspects = None if reference.aspect == "general" else [reference.aspect]
        try:
            report = analyze_deltas(image, Path(reference.path), aspects, mask=mask)
        except PakatiError as error:
            suggestions.append(f"reference {reference.path!r} could not be compared: {error}")
            continue
        for name, delta in report.aspects.items():
            found[f"{Path(reference.path).name}:{name}"] = float(delta.similarity)
            suggestions.extend(f"{name}: {a.reason}" for a in delta.adjustments[:2])
    return found
