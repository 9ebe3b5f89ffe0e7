"""The agent eval: generated goals, run through the whole agent offline, judged analytically.

Each goal is drawn from a seed in one category, written in plain language, run through
``PakatiOrchestrator.run`` (offline planner, the embedded model, the shipped CLIP critic, at
most ``--max-passes`` passes) and both its first pass and the image the run delivers are
judged by :func:`pakati_engine.world.goal_judge.judge_goal` against the goal's truth (every
object in its place with its colour, shape and size, relations, nothing extra, the
background). Categories:

- ``places_2_4`` / ``places_5_6``: 2-4 / 5-6 objects in named places;
- ``relations``: two objects, one left of / right of / above / below the other;
- ``sizes``: two or three objects in named places, one of them small or large;
- ``rows``: three objects in a row, left to right;
- ``phrasings``: 2-4 placed objects, written as imperatives, lists or with the background
  in its own sentence.

``pakati eval agent --n 60 --seed 0 --json`` prints one JSON object last:
``accuracy_pass1``, ``accuracy_final`` (share of goals fully right), ``repaired`` (share of
pass-1 failures the delivered image got right), ``false_pass`` (share of the goals the
critic accepted that the judge says are wrong), ``passes_mean``, ``seconds_per_goal`` (and
its median) and per-category final accuracies.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from pakati.cli.common import emit_json
from pakati.graphs import delivered_pass
from pakati.orchestrator import Context, PakatiOrchestrator
from pakati.tools.session import default_scorer
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import EMBEDDED_MODEL
from pakati_engine.models.loading import load_model
from pakati_engine.world.colors import COLOR_NAMES, article
from pakati_engine.world.goal_judge import GoalObject, GoalRelation, GoalTruth, judge_goal
from pakati_engine.world.regional_benchmark import prepare_save_dir
from pakati_engine.world.sampling import SHAPES, spatial_phrase

CATEGORIES = ("places_2_4", "places_5_6", "relations", "sizes", "rows", "phrasings")
PLACES = (
    "top left", "top", "top right", "left", "centre", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip
RELATION_WORDS = {"left_of": "left of", "right_of": "right of", "above": "above", "below": "below"}


@dataclass(frozen=True)
class EvalGoal:
    id: str
    category: str
    text: str
    truth: GoalTruth


def _objects(rng: random.Random, n: int, background: str) -> list[tuple[str, str]]:
    """``n`` distinct (colour, shape) pairs, none in the background's colour."""
    pairs = [(c, s) for c in COLOR_NAMES if c != background for s in SHAPES]
    return rng.sample(pairs, n)


def _noun(color: str, shape: str, size: str | None = None) -> str:
    words = " ".join(w for w in (size, color, shape) if w)
    return f"{article(words)} {words}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _placed(
    rng: random.Random, n: int, background: str, sizes: bool = False
) -> tuple[list[GoalObject], list[str]]:
    places = rng.sample(PLACES, n)
    objects, parts = [], []
    sized = rng.randrange(n) if sizes else -1
    for i, ((color, shape), place) in enumerate(
        zip(_objects(rng, n, background), places, strict=True)
    ):
        size = rng.choice(("small", "large")) if i == sized else None
        objects.append(GoalObject(color, shape, place, size))
        parts.append(f"{_noun(color, shape, size)} {spatial_phrase(place)}")
    return objects, parts


def make_goal(category: str, index: int, seed: int) -> EvalGoal:
    """One goal of ``category``; the same (category, index, seed) gives the same goal."""
    rng = random.Random(f"{seed}:{category}:{index}")
    background = rng.choice(COLOR_NAMES)
    relations: tuple[GoalRelation, ...] = ()
    ending = f", on {article(background)} {background} background"
    if category in ("places_2_4", "places_5_6", "sizes"):
        n = rng.randint(2, 4) if category == "places_2_4" else rng.randint(5, 6)
        if category == "sizes":
            n = rng.randint(2, 3)
        objects, parts = _placed(rng, n, background, sizes=category == "sizes")
        text = _join(parts) + ending
    elif category == "relations":
        (c1, s1), (c2, s2) = _objects(rng, 2, background)
        kind = rng.choice(tuple(RELATION_WORDS))
        objects = [GoalObject(c1, s1), GoalObject(c2, s2)]
        relations = (GoalRelation(0, kind, 1),)  # type: ignore[arg-type]
        text = f"{_noun(c1, s1)} {RELATION_WORDS[kind]} {_noun(c2, s2)}" + ending
    elif category == "rows":
        pairs = _objects(rng, 3, background)
        objects = [
            GoalObject(c, s, p)
            for (c, s), p in zip(pairs, ("left", "centre", "right"), strict=True)
        ]
        nouns = _join([_noun(c, s) for c, s in pairs])
        text = f"a row of three shapes from left to right: {nouns}" + ending
    elif category == "phrasings":
        objects, parts = _placed(rng, rng.randint(2, 4), background)
        style = rng.randrange(3)
        if style == 0:
            text = f"Draw {_join(parts)}. The background is {background}."
        elif style == 1:
            text = f"On {article(background)} {background} background, please make {_join(parts)}."
        else:
            text = "; ".join(parts) + f". Background: {background}."
    else:
        raise InvalidInputError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    truth = GoalTruth(background, tuple(objects), relations)
    return EvalGoal(f"{category}-{seed}-{index}", category, text, truth)


def sample_goals(n: int, seed: int, categories: tuple[str, ...] = CATEGORIES) -> list[EvalGoal]:
    """``n`` goals, the categories taking turns."""
    return [
        make_goal(categories[i % len(categories)], i // len(categories), seed) for i in range(n)
    ]


def run_agent_eval(
    n: int,
    seed: int = 0,
    max_passes: int = 3,
    categories: tuple[str, ...] = CATEGORIES,
    workdir: str | Path | None = None,
    progress: bool = False,
    device: str | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Run ``n`` generated goals through the agent; the summary (see the module docstring)."""
    if n < 1 or max_passes < 1:
        raise InvalidInputError(f"--n and --max-passes must be at least 1 (got {n}, {max_passes})")
    # A --save folder must be new or empty, so that no earlier run is mixed in or overwritten.
    folder = prepare_save_dir(workdir) if workdir else Path(tempfile.mkdtemp(prefix="pakati-"))
    bundle = load_model(EMBEDDED_MODEL, device=device, dtype=dtype)
    scorer = default_scorer()
    records = []
    for goal in sample_goals(n, seed, categories):
        context = Context(
            primary_goal=goal.text,
            max_passes=max_passes,
            provider="offline",
            workdir=str(folder / goal.id),
        )
        orchestrator = PakatiOrchestrator(context, model=bundle, scorer=scorer)
        started = time.perf_counter()
        state = orchestrator.run(goal.text, thread_id=goal.id)
        seconds = time.perf_counter() - started
        images = [Image.open(p).convert("RGB") for p in state["images"]]
        delivered = delivered_pass(state)
        first = judge_goal(images[0], goal.truth)
        final = judge_goal(images[delivered], goal.truth)
        records.append(
            {
                "id": goal.id,
                "category": goal.category,
                "goal": goal.text,
                "passes": int(state.get("pass_number", len(images))),
                "stop_reason": state.get("stop_reason"),
                "critic_accepted": bool(state["critiques"][delivered].get("passed")),
                "pass1_right": first.correct,
                "final_right": final.correct,
                "seconds": round(seconds, 3),
                "image": str(state["images"][delivered]),
            }
        )
        if progress:
            print(json.dumps(records[-1]), flush=True)
    return summarize(records)


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    def share(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    failed_first = [r for r in records if not r["pass1_right"]]
    accepted = [r for r in records if r["critic_accepted"]]
    categories = sorted({r["category"] for r in records})
    seconds = [r["seconds"] for r in records]
    return {
        "accuracy_pass1": share([r["pass1_right"] for r in records]),
        "accuracy_final": share([r["final_right"] for r in records]),
        "repaired": share([r["final_right"] for r in failed_first]),
        "false_pass": share([not r["final_right"] for r in accepted]),
        "passes_mean": round(statistics.mean(r["passes"] for r in records), 3),
        "seconds_per_goal": round(statistics.mean(seconds), 3),
        "seconds_per_goal_median": round(statistics.median(seconds), 3),
        "categories": {
            c: share([r["final_right"] for r in records if r["category"] == c]) for c in categories
        },
        "categories_pass1": {
            c: share([r["pass1_right"] for r in records if r["category"] == c]) for c in categories
        },
        "n": len(records),
        "n_pass1_failures": len(failed_first),
        "n_accepted": len(accepted),
    }


def main(args: argparse.Namespace) -> int:
    summary = run_agent_eval(
        args.n,
        args.seed,
        args.max_passes,
        workdir=args.save,
        progress=not args.json,
        device=getattr(args, "device", None),
        dtype=getattr(args, "dtype", None),
    )
    emit_json(summary)
    return 0
