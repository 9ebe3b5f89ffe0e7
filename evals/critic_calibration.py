"""Calibrating the critic against the analytic judge, which knows the truth.

Images come from the embedded model on the regional benchmark's 2-to-4-object layouts. Each
image is checked against its true plan and against plans made wrong on purpose, so that
both outcomes are well represented (the model gets about 98% of regions right):

- **true**: the plan that drew the image;
- **colour** / **shape**: one region asks for another colour / shape than was drawn;
- **missing**: one region's box is painted over with the background colour;
- **background**: the plan asks for another background colour.

For every case the judge, given the case's expectation, says right or wrong (per region and
for the background); the critic's raw evidence (foreground share, margins over the
background description and over the best rival caption, background margin) is recorded.
Two sources of images (``--source``):

- ``agent`` (the default): the agent eval's generated goals (1-6 objects, small and large
  ones, relations, rows), planned by the offline planner and drawn by the agent's first
  pass, so that boxes, object sizes and model are what the critic meets in the loop;
- ``world``: the regional benchmark's 2-to-4-object world layouts (cells, not planned boxes).

Thresholds are chosen on half of the layouts (alternate rounds of the six goal categories,
so both halves hold every category) to minimise false fails with at most ``MAX_FALSE_PASS``
false passes, and reported on the other half::

    python -m pakati.evals.critic_calibration --n 200 --seed 0 --json

The last line is a JSON object: the chosen thresholds and, for the held-out half, the
false-pass rate (share of wrong cases the critic passed) and the false-fail rate (share of
right cases it failed), per case kind too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pakati.agents.critic import CriticThresholds, critique_image
from pakati.agents.executor import draw_plan
from pakati.agents.offline import plan_from_goal
from pakati.agents.schemas import Plan, RegionPlan
from pakati.cli.common import int_at_least
from pakati.evals.agent_eval import CATEGORIES, sample_goals
from pakati.tools.session import CanvasSession, default_scorer
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import EMBEDDED_MODEL
from pakati_engine.models.loading import load_model
from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.regional_benchmark import (
    EvalLayout,
    EvalRegion,
    generate_layout,
    sample_layouts,
)
from pakati_engine.world.sampling import SHAPES

#: Thresholds that let everything through, so that the raw evidence is recorded.
PERMISSIVE = CriticThresholds(
    presence=0.0, background_margin=-9.0, rival_margin=-9.0, backdrop_margin=-9.0
)
PRESENCE_GRID = (0.02, 0.03, 0.05, 0.08, 0.12)
"""From 2%: an object must be there whatever CLIP says (a model-free floor)."""
MARGIN_GRID = tuple(round(v, 3) for v in np.linspace(-0.2, 0.4, 31))
MAX_FALSE_PASS = 0.02
"""Wanted false-pass rate on the fitting half: a false pass ends a run with a wrong image,
a false fail only costs another pass."""


@dataclass(frozen=True)
class RegionSample:
    """One region of one case: the critic's evidence and the judge's truth."""

    layout: int
    kind: str
    foreground: float
    margin_background: float
    margin_rival: float
    right: bool
    crowded: bool = False
    """A second sizeable object in the region (not a threshold of this calibration)."""


@dataclass(frozen=True)
class BackgroundSample:
    layout: int
    kind: str
    margin: float
    right: bool


def _plan(layout: EvalLayout, regions: Sequence[EvalRegion], background: str) -> Plan:
    base = EvalLayout(layout.size, background, tuple(regions), layout.seed).base_prompt
    return Plan(
        width=layout.size,
        height=layout.size,
        base_prompt=base,
        regions=[
            RegionPlan(name=f"object-{i + 1}", box=tuple(float(v) for v in r.box), prompt=r.prompt)
            for i, r in enumerate(regions)
        ],
    )


def _other(options: Sequence[str], *avoid: str, rng: np.random.Generator) -> str:
    return str(rng.choice([o for o in options if o not in avoid]))


def cases_for(
    index: int, layout: EvalLayout, image: Image.Image, rng: np.random.Generator
) -> list[tuple[str, Image.Image, list[EvalRegion], str, int | None]]:
    """(kind, image, expected regions, expected background, the changed region or None)."""
    regions = list(layout.regions)
    cases: list[tuple[str, Image.Image, list[EvalRegion], str, int | None]] = [
        ("true", image, regions, layout.background, None)
    ]
    k = int(rng.integers(len(regions)))
    colour = _other(COLOR_NAMES, regions[k].color, layout.background, rng=rng)
    swapped = [replace(r, color=colour) if i == k else r for i, r in enumerate(regions)]
    cases.append(("colour", image, swapped, layout.background, k))
    k = int(rng.integers(len(regions)))
    shape = _other(SHAPES, regions[k].shape, rng=rng)
    reshaped = [replace(r, shape=shape) if i == k else r for i, r in enumerate(regions)]
    cases.append(("shape", image, reshaped, layout.background, k))
    k = int(rng.integers(len(regions)))
    cases.append(("missing", _erase(image, regions[k].box), regions, layout.background, k))
    colours = {r.color for r in regions}
    background = _other(COLOR_NAMES, layout.background, *colours, rng=rng)
    cases.append(("background", image, regions, background, None))
    return cases


def _erase(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    array = np.asarray(image.convert("RGB")).copy()
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    x0, y0, x1, y1 = box
    array[y0:y1, x0:x1] = np.median(border, axis=0).astype(np.uint8)
    return Image.fromarray(array)


SOURCES = ("agent", "world")


def agent_images(
    n: int, seed: int, bundle: ModelBundle
) -> Iterator[tuple[EvalLayout, Image.Image]]:
    """The agent eval's goals, planned offline and drawn as the agent's first pass draws them.

    Each plan becomes an :class:`EvalLayout` (its boxes, and the colour and shape of each
    region's prompt) so that the cases below can be made and judged as for world layouts."""
    with tempfile.TemporaryDirectory(prefix="pakati-calibration-") as folder:
        session = CanvasSession(folder, model=bundle)
        for index, goal in enumerate(sample_goals(n, seed)):
            plan = plan_from_goal(goal.text)
            regions = []
            for region in plan.regions:
                color, shape = region.prompt.split()[-2:]
                regions.append(EvalRegion(region.bounds, shape, color))
            layout = EvalLayout(plan.width, goal.truth.background, tuple(regions), plan.seed)
            path = draw_plan(session, plan, f"goal-{index}.png")
            yield layout, Image.open(path).convert("RGB")


def world_images(
    n: int, seed: int, bundle: ModelBundle
) -> Iterator[tuple[EvalLayout, Image.Image]]:
    """The regional benchmark's 2-to-4-object world layouts, drawn in attention mode."""
    for layout in sample_layouts(n, seed):
        image, _ = generate_layout(layout, bundle, bundle.recommended)
        yield layout, image


def collect(
    n: int, seed: int, progress: bool = False, source: str = "agent"
) -> tuple[list[RegionSample], list[BackgroundSample], float]:
    """Generate ``n`` images from ``source`` and record evidence and truth for every case."""
    bundle = load_model(EMBEDDED_MODEL)
    scorer = default_scorer()
    rng = np.random.default_rng(seed + 1)
    regions: list[RegionSample] = []
    backgrounds: list[BackgroundSample] = []
    seconds = []
    images = agent_images if source == "agent" else world_images
    for index, (layout, image) in enumerate(images(n, seed, bundle)):
        for kind, picture, expected, background, changed in cases_for(index, layout, image, rng):
            truth = judge(
                picture,
                [ExpectedRegion(box=r.box, shape=r.shape, color=r.color) for r in expected],
                background,
            )
            started = time.perf_counter()
            review = critique_image(
                picture, _plan(layout, expected, background), scorer, -1.0, None, PERMISSIVE
            )
            seconds.append(time.perf_counter() - started)
            for i, verdict in enumerate(review.regions):
                if kind == "background" or (kind != "true" and i != changed):
                    continue  # regions the case did not change repeat the true case
                regions.append(
                    RegionSample(
                        index,
                        kind,
                        verdict.foreground,
                        verdict.margin_background,
                        verdict.margin_rival,
                        truth.regions[i].correct,
                        verdict.problem == "crowded",
                    )
                )
            if kind in ("true", "background") and review.background_margin is not None:
                right = bool(truth.background_correct)
                backgrounds.append(BackgroundSample(index, kind, review.background_margin, right))
        if progress and (index + 1) % 10 == 0:
            print(f"{index + 1}/{n} layouts", flush=True)
    return regions, backgrounds, float(np.mean(seconds))


def _region_passes(sample: RegionSample, t: CriticThresholds) -> bool:
    return (
        not sample.crowded
        and sample.foreground >= t.presence
        and sample.margin_background >= t.background_margin
        and sample.margin_rival >= t.rival_margin
    )


def rates(outcomes: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    """False-pass and false-fail rates of (critic passed, judge says right) pairs."""
    wrong = [passed for passed, right in outcomes if not right]
    right = [passed for passed, right_ in outcomes if right_]
    return {
        "false_pass": round(float(np.mean(wrong)), 4) if wrong else None,
        "false_fail": round(1.0 - float(np.mean(right)), 4) if right else None,
        "n_wrong": len(wrong),
        "n_right": len(right),
    }


def choose_region_thresholds(
    samples: Sequence[RegionSample], max_false_pass: float = MAX_FALSE_PASS
) -> CriticThresholds:
    """The thresholds with the fewest false fails among those whose false-pass rate is at
    most ``max_false_pass`` (else the lowest false-pass rate), on ``samples``."""
    best: tuple[tuple[float, float], CriticThresholds] | None = None
    for presence, margin_bg, margin_rival in product(PRESENCE_GRID, MARGIN_GRID, MARGIN_GRID):
        t = CriticThresholds(
            presence=presence, background_margin=margin_bg, rival_margin=margin_rival
        )
        found = rates([(_region_passes(s, t), s.right) for s in samples])
        false_pass, false_fail = found["false_pass"] or 0.0, found["false_fail"] or 0.0
        key = (max(0.0, false_pass - max_false_pass), false_fail + false_pass)
        if best is None or key < best[0]:
            best = (key, t)
    assert best is not None
    return best[1]


def choose_backdrop_margin(
    samples: Sequence[BackgroundSample], max_false_pass: float = MAX_FALSE_PASS
) -> float:
    def key(m: float) -> tuple[float, float]:
        found = rates([(s.margin >= m, s.right) for s in samples])
        false_pass, false_fail = found["false_pass"] or 0.0, found["false_fail"] or 0.0
        return (max(0.0, false_pass - max_false_pass), false_fail + false_pass)

    return min(MARGIN_GRID, key=key)


def held_out(layout: int) -> bool:
    """Whether a layout is in the held-out half: alternate rounds of ``len(CATEGORIES)``, so
    that both halves hold every category of the agent's goals (they take turns)."""
    return (layout // len(CATEGORIES)) % 2 == 1


def calibrate(
    n: int,
    seed: int,
    progress: bool = False,
    samples: str | None = None,
    source: str = "agent",
) -> dict[str, Any]:
    """Collect (or, with ``samples`` an existing file, reload) the evidence; choose and report.

    With ``samples`` a new path, the evidence is written there for later reruns."""
    if samples is not None and Path(samples).is_file():
        try:
            data = json.loads(Path(samples).read_text())
            regions = [RegionSample(**r) for r in data["regions"]]
            backgrounds = [BackgroundSample(**b) for b in data["backgrounds"]]
            seconds = float(data["seconds"])
            n, seed = int(data["n"]), int(data["seed"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise InvalidInputError(
                f"{samples} is not an evidence file this script wrote ({error!r}); give "
                "--samples a new path to collect the evidence again"
            ) from None
        source = str(data.get("source", "world"))
    else:
        if samples is not None and not Path(samples).parent.is_dir():
            raise InvalidInputError(f"--samples {samples}: its folder does not exist")
        regions, backgrounds, seconds = collect(n, seed, progress, source)
        if samples is not None:
            document = {
                "n": n,
                "seed": seed,
                "source": source,
                "seconds": seconds,
                "regions": [asdict(r) for r in regions],
                "backgrounds": [asdict(b) for b in backgrounds],
            }
            Path(samples).write_text(json.dumps(document))
    fit = [s for s in regions if not held_out(s.layout)]
    held = [s for s in regions if held_out(s.layout)]
    chosen = choose_region_thresholds(fit)
    backdrop = choose_backdrop_margin([s for s in backgrounds if not held_out(s.layout)])
    chosen = replace(chosen, backdrop_margin=backdrop)
    kinds = sorted({s.kind for s in regions})
    report: dict[str, Any] = {
        "thresholds": {
            "presence": chosen.presence,
            "background_margin": chosen.background_margin,
            "rival_margin": chosen.rival_margin,
            "backdrop_margin": chosen.backdrop_margin,
        },
        "held_out_regions": rates([(_region_passes(s, chosen), s.right) for s in held]),
        "fit_regions": rates([(_region_passes(s, chosen), s.right) for s in fit]),
        "held_out_by_kind": {
            kind: rates([(_region_passes(s, chosen), s.right) for s in held if s.kind == kind])
            for kind in kinds
        },
        "held_out_background": rates(
            [(s.margin >= backdrop, s.right) for s in backgrounds if held_out(s.layout)]
        ),
        "n_layouts": n,
        "seed": seed,
        "source": source,
        "critic_seconds_per_image": round(seconds, 4),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pakati.evals.critic_calibration")
    parser.add_argument("--n", type=int_at_least(1), default=150, help="layouts to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--source", choices=SOURCES, default="agent", help="agent goals or world layouts"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    parser.add_argument(
        "--samples", help="evidence file: written after collecting, reused when it exists"
    )
    args = parser.parse_args(argv)
    try:
        report = calibrate(
            args.n, args.seed, progress=not args.json, samples=args.samples, source=args.source
        )
    except InvalidInputError as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
