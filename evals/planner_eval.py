"""``pakati eval planner``: parse accuracy of the offline planner on generated phrasings.

Goals with a known truth are sampled on the shapes world and written in every phrasing
style of :mod:`pakati.evals.phrasings`; each text goes through the offline planner's
:func:`pakati.agents.spatial.parse_goal` and is compared with the truth: the same objects
(colour and shape, as a multiset, counts expanded), the same named positions, the same
relations (kind and the object named, resolved as the layout resolves it), the same sizes
and the same background prompt. A phrasing is right when all five agree.
``pakati eval planner --n 300 --seed 0 --json`` prints the summary as its last line:
``accuracy`` over all phrasings, ``n`` goals, ``phrasings``, ``held_out`` (the styles the
planner was not tuned on), ``handwritten`` (hand-written goals), and accuracies per style, per
aspect and per goal category.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from pakati.agents.spatial import ParsedGoal, parse_goal, relation_target
from pakati.cli.common import emit_json
from pakati.evals.handwritten_goals import (
    HANDWRITTEN,
    HANDWRITTEN_HELD_OUT,
    HANDWRITTEN_MORE,
    HANDWRITTEN_ROUND4,
)
from pakati.evals.phrasing_styles import ALL_STYLES, HELD_OUT_STYLES, render
from pakati.evals.phrasings import TruthGoal, sample_goal
from pakati_engine.world.colors import article

Key = tuple[Any, ...]
"""(colour, shape, position, relation, size) of one object; relation is
(kind, colour, shape of the other object) or None."""

ASPECTS = ("objects", "positions", "relations", "sizes", "background")
_SIZE_OF_SCALE = {0.55: "tiny", 0.7: "small", 1.3: "large", 1.5: "huge"}


@dataclass(frozen=True)
class Case:
    """One phrasing of one goal and how it was read."""

    goal_index: int
    style: str
    text: str
    checks: dict[str, bool]

    @property
    def right(self) -> bool:
        return all(self.checks.values())


def truth_keys(goal: TruthGoal) -> list[Key]:
    keys = []
    for item in goal.items:
        relation = None
        if item.relation is not None:
            other = goal.items[item.relation[1]]
            relation = (item.relation[0], other.color, other.shape)
        keys += [(item.color, item.shape, item.position, relation, item.size)] * item.count
    return keys


def parsed_keys(parsed: ParsedGoal) -> list[Key]:
    keys = []
    for obj in parsed.objects:
        relation = None
        if obj.relation is not None:
            other = relation_target(parsed.objects, obj)
            relation = (obj.relation[0], other and other.color, other and other.shape)
        size = next((v for s, v in _SIZE_OF_SCALE.items() if abs(obj.scale - s) < 1e-6), None)
        keys.append((obj.color, obj.shape, obj.position, relation, size))
    return keys


def check(goal: TruthGoal, parsed: ParsedGoal) -> dict[str, bool]:
    """Per aspect, whether ``parsed`` agrees with ``goal`` (each aspect on the objects'
    colour and shape plus that aspect, so a missing object fails every aspect)."""
    truth, got = truth_keys(goal), parsed_keys(parsed)
    fields = {"objects": (), "positions": (2,), "relations": (3,), "sizes": (4,)}
    checks = {
        aspect: Counter(k[:2] + tuple(k[f] for f in extra) for k in truth)
        == Counter(k[:2] + tuple(k[f] for f in extra) for k in got)
        for aspect, extra in fields.items()
    }
    c = goal.background
    checks["background"] = parsed.base_prompt == f"{article(c)} {c} background"
    return checks


def evaluate(n: int, seed: int) -> list[Case]:
    """Sample ``n`` goals from ``seed``; write each in every style; parse and check each."""
    cases = []
    for index in range(n):
        goal = sample_goal(random.Random(f"{seed}:{index}"))
        for style in ALL_STYLES:
            text = render(goal, style, random.Random(f"{seed}:{index}:{style}"))
            cases.append(Case(index, style, text, check(goal, parse_goal(text))))
    return cases


def summarize(cases: list[Case], goals: list[TruthGoal], seed: int) -> dict[str, Any]:
    def rate(selected: list[Case]) -> float:
        return round(sum(c.right for c in selected) / len(selected), 4) if selected else 0.0

    by_style: dict[str, list[Case]] = defaultdict(list)
    by_tag: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_style[case.style].append(case)
        for tag in goals[case.goal_index].tags:
            by_tag[tag].append(case)
    aspects = {
        a: round(sum(c.checks[a] for c in cases) / len(cases), 4) if cases else 0.0 for a in ASPECTS
    }
    return {
        "accuracy": rate(cases),
        "n": len(goals),
        "phrasings": len(cases),
        "seed": seed,
        "held_out": rate([c for c in cases if c.style in HELD_OUT_STYLES]),
        "handwritten": handwritten_accuracy(HANDWRITTEN + HANDWRITTEN_MORE + HANDWRITTEN_ROUND4),
        "handwritten_held_out": handwritten_accuracy(HANDWRITTEN_HELD_OUT),
        "styles": {s: rate(by_style[s]) for s in ALL_STYLES},
        "aspects": aspects,
        "categories": {t: rate(by_tag[t]) for t in sorted(by_tag)},
    }


def check_keys(keys: list[Key], background: str, parsed: ParsedGoal) -> bool:
    """Whether ``parsed`` has exactly the objects ``keys`` and the background colour."""
    return (
        Counter(parsed_keys(parsed)) == Counter(keys)
        and parsed.base_prompt == f"{article(background)} {background} background"
    )


def handwritten_accuracy(goals: list[tuple[str, str, list[Key]]]) -> float:
    """Fraction of hand-written ``(text, background, keys)`` goals read exactly."""
    right = sum(check_keys(keys, bg, parse_goal(text)) for text, bg, keys in goals)
    return round(right / len(goals), 4)


def run_planner_eval(n: int, seed: int) -> tuple[dict[str, Any], list[Case]]:
    """The summary and every case (for reports of failures)."""
    goals = [sample_goal(random.Random(f"{seed}:{i}")) for i in range(n)]
    cases = evaluate(n, seed)
    return summarize(cases, goals, seed), cases


def main(args: argparse.Namespace) -> int:
    """Run the eval; the last printed line is the JSON summary."""
    summary, cases = run_planner_eval(args.n, args.seed)
    if not args.json:
        for style in ALL_STYLES:
            wrong = [c for c in cases if c.style == style and not c.right]
            held = " (held out)" if style in HELD_OUT_STYLES else ""
            print(f"{style:20s} {summary['styles'][style]:.3f}{held}")
            for case in wrong[: args.failures]:
                failed = ",".join(a for a, ok in case.checks.items() if not ok)
                print(f"    [{failed}] {case.text!r}")
    emit_json(summary)
    return 0


if __name__ == "__main__":
    from pakati.cli.evaluate import add_planner_arguments

    cli = argparse.ArgumentParser(prog="python -m pakati.evals.planner_eval")
    add_planner_arguments(cli)  # the CLI owns the arguments
    raise SystemExit(main(cli.parse_args()))
