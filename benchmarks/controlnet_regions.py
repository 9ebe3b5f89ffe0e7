"""Per-region ControlNet on the shapes world: efficacy, locality and cost.

    python benchmarks/controlnet_regions.py [--n 60] [--seed 0] [--controlnet NAME]
        [--parts efficacy,pair,locality,cost] [--sheet pair.png]

* efficacy: a target object described by its colour only ("a red object") gets its true
  outline through the ControlNet, inside its region only; shape accuracy (analytic judge)
  with the control and without it (chance: 1/3), and the other objects' accuracy.
* pair: region A gets a shape's outline and "a <colour> object", region B "a <colour>
  <other shape>" and no control: both shapes right? (``--sheet``: a contact sheet of them)
* locality: region A's control map changed, same seed. Fresh generations: mean pixel change
  inside A and outside it against the distance from A's box; locked edits (B locked, A regenerated):
  the largest change outside A's feathered band (0 is the guarantee).
* cost: seconds per denoising step with 0 (plain), 1, 2 and 4 controlled regions sharing
  one ControlNet (4 regions in all), interleaved, medians of 3; ControlNet calls per step.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from pakati import PakatiCanvas
from pakati.editing import DEFAULT_FEATHER
from pakati_engine.control.loading import load_controlnet
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import load_model
from pakati_engine.world.colors import COLOR_NAMES
from pakati_engine.world.control_eval import CONTROLNET, outline_in_box, run_control_eval
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.sampling import SHAPES
from pakati_engine.world.scene import color_only_prompt, object_caption

SIZE = 128
BOX_A = (8, 24, 60, 104)
BOX_B = (68, 24, 120, 104)


def pair_canvas(
    bundle: ModelBundle, controlnet: str, a_shape: str, b_shape: str, color: str, background: str
) -> PakatiCanvas:
    canvas = PakatiCanvas(SIZE, SIZE, model=bundle, base_prompt=f"a {background} background")
    canvas.create_region(box=BOX_A, name="a")
    canvas.create_region(box=BOX_B, name="b")
    canvas.apply_to_region(
        "a",
        color_only_prompt(color),
        controlnet=controlnet,
        controlnet_input=outline_in_box(a_shape, BOX_A, SIZE),
    )
    canvas.apply_to_region("b", object_caption(color, b_shape))
    return canvas


def run_pair(
    bundle: ModelBundle, controlnet: str, n: int, seed: int, sheet: Path | None = None
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    results = []
    images: list[Image.Image] = []
    for _ in range(n):
        a_shape, b_shape = (str(s) for s in rng.choice(SHAPES, size=2, replace=False))
        color, background = (str(c) for c in rng.choice(COLOR_NAMES, size=2, replace=False))
        canvas = pair_canvas(bundle, controlnet, a_shape, b_shape, color, background)
        image = canvas.generate(seed=int(rng.integers(2**31))).image
        images.append(image)
        verdict = judge(
            image,
            [ExpectedRegion(box=BOX_A, shape=a_shape), ExpectedRegion(box=BOX_B, shape=b_shape)],
        )
        a_ok, b_ok = (bool(r.shape_correct) for r in verdict.regions)
        results.append((a_ok, b_ok))
    if sheet is not None:
        columns = 10
        grid = Image.new("RGB", (columns * SIZE, -(-len(images) // columns) * SIZE), "black")
        for index, image in enumerate(images):
            grid.paste(image, ((index % columns) * SIZE, (index // columns) * SIZE))
        grid.save(sheet)
    return {
        "n": n,
        "a_shape_from_control": round(float(np.mean([a for a, _ in results])), 4),
        "b_shape_from_prompt": round(float(np.mean([b for _, b in results])), 4),
        "both": round(float(np.mean([a and b for a, b in results])), 4),
    }


def run_locality(bundle: ModelBundle, controlnet: str, n: int, seed: int) -> dict[str, Any]:
    outside = np.ones((SIZE, SIZE), bool)
    x0, y0, x1, y1 = BOX_A
    outside[y0:y1, x0:x1] = False
    distance = ndimage.distance_transform_edt(outside)  # (H, W) px from A's box
    bins = [(1, 8), (8, 16), (16, 32), (32, 999)]
    changes: dict[str, list[float]] = {"inside": [], **{f"{lo}-{hi}": [] for lo, hi in bins}}
    locked_max = 0
    rng = np.random.default_rng(seed)
    for _ in range(n):
        first, second = (str(s) for s in rng.choice(SHAPES, size=2, replace=False))
        color, background = (str(c) for c in rng.choice(COLOR_NAMES, size=2, replace=False))
        generation_seed = int(rng.integers(2**31))
        images = []
        for shape in (first, second):
            canvas = pair_canvas(bundle, controlnet, shape, "square", color, background)
            images.append(np.asarray(canvas.generate(seed=generation_seed).image, np.float64))
        delta = np.abs(images[0] - images[1]).mean(axis=2)  # (H, W)
        changes["inside"].append(float(delta[~outside].mean()))
        for lo, hi in bins:
            ring = (distance >= lo) & (distance < hi)
            changes[f"{lo}-{hi}"].append(float(delta[ring].mean()))
        canvas = pair_canvas(bundle, controlnet, first, "square", color, background)
        before = np.asarray(canvas.generate(seed=generation_seed).image, np.int16)
        canvas.lock("b")
        canvas.apply_to_region(
            "a",
            color_only_prompt(color),
            controlnet=controlnet,
            controlnet_input=outline_in_box(second, BOX_A, SIZE),
        )
        after = np.asarray(canvas.regenerate("a").image, np.int16)
        band = distance < DEFAULT_FEATHER + 0.5  # the engine's blend band (Euclidean)
        locked_max = max(locked_max, int(np.abs(after - before)[~band].max(initial=0)))
    return {
        "n": n,
        "fresh_mean_change_by_distance_px": {
            k: round(statistics.fmean(v), 3) for k, v in changes.items()
        },
        "locked_edit_max_change_outside_band": locked_max,
    }


def run_cost(bundle: ModelBundle, controlnet: str, steps: int = 20) -> dict[str, Any]:
    boxes = [(0, 32, 32, 96), (32, 32, 64, 96), (64, 32, 96, 96), (96, 32, 128, 96)]
    model = load_controlnet(controlnet, bundle)
    calls: list[int] = []
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(1))

    def canvas_with(controlled: int) -> PakatiCanvas:
        canvas = PakatiCanvas(SIZE, SIZE, model=bundle, base_prompt="a white background")
        canvas.steps = steps
        for index, box in enumerate(boxes):
            canvas.create_region(box=box, name=f"r{index}")
            if index < controlled:
                canvas.apply_to_region(
                    f"r{index}",
                    "a red object",
                    controlnet=controlnet,
                    controlnet_input=outline_in_box("triangle", box, SIZE, side=24),
                )
            else:
                canvas.apply_to_region(f"r{index}", "a red circle")
        return canvas

    counts = (0, 1, 2, 4)
    times: dict[int, list[float]] = {c: [] for c in counts}
    per_step_calls: dict[int, float] = {}
    try:
        canvas_with(1).generate(seed=0)  # warm-up
        for _ in range(3):
            for count in counts:
                canvas = canvas_with(count)
                calls.clear()
                started = time.perf_counter()
                canvas.generate(seed=0)
                times[count].append((time.perf_counter() - started) / steps)
                per_step_calls[count] = len(calls) / steps
    finally:
        hook.remove()
    plain = statistics.median(times[0])
    return {
        "steps": steps,
        "threads": torch.get_num_threads(),
        "seconds_per_step": {str(c): round(statistics.median(times[c]), 4) for c in counts},
        "ratio_to_plain": {
            str(c): round(statistics.median(times[c]) / plain, 3) for c in counts if c
        },
        "controlnet_calls_per_step": {str(c): per_step_calls[c] for c in counts},
    }


def _progress(part: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"{part}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="efficacy,pair,locality,cost")
    parser.add_argument("--controlnet", default=CONTROLNET)
    parser.add_argument("--model", default="pakati-shapes")
    parser.add_argument("--sheet", type=Path, help="save the pair images here (PNG)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"efficacy", "pair", "locality", "cost"}
    if unknown or args.n < 1:
        parser.error(f"unknown parts {sorted(unknown)}" if unknown else "--n must be at least 1")
    bundle = load_model(args.model)
    result: dict[str, Any] = {"controlnet": args.controlnet, "seed": args.seed}
    for part in parts:
        started = time.perf_counter()
        if part == "efficacy":
            result[part] = run_control_eval(
                bundle, args.n, args.seed, args.controlnet, progress=_progress(part)
            )
        elif part == "pair":
            result[part] = run_pair(bundle, args.controlnet, args.n, args.seed, args.sheet)
        elif part == "locality":
            result[part] = run_locality(bundle, args.controlnet, max(1, args.n // 4), args.seed)
        else:
            result[part] = run_cost(bundle, args.controlnet)
        print(f"{part}: {json.dumps(result[part])} ({time.perf_counter() - started:.0f} s)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
