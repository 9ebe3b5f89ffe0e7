"""Regional-prompting eval: random 2-to-4-region layouts, generated and judged analytically.

Each layout comes from the shapes world's layout sampler: a background colour and 2 to 4
disjoint cells, each with a shape and a colour. The canvas gets the base prompt "a <colour>
background" and one box region per cell with its object's caption ("a red circle"); the
image is generated in attention mode (one pass) or latent mode (one UNet pass per region,
blended), and :mod:`pakati_engine.world.judge` checks every region's object colour and shape, the
background and colour leakage between regions.

``pakati eval regional --n 200 --seed 0 --json`` prints the summary as its last line;
``--save DIR`` also keeps every image with its layout and verdicts, for looking at failures.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import EMBEDDED_MODEL
from pakati_engine.models.loading import load_model
from pakati_engine.world.colors import article
from pakati_engine.world.judge import ExpectedRegion, Judgement, judge
from pakati_engine.world.sampling import sample_scene_spec
from pakati_engine.world.scene import object_caption, pixel_cell

MODES = ("attention", "latent")
#: Called after each image with (images done, images in all).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EvalRegion:
    box: tuple[int, int, int, int]
    """(x0, y0, x1, y1) pixels, exclusive ends."""
    shape: str
    color: str

    @property
    def prompt(self) -> str:
        return object_caption(self.color, self.shape)


@dataclass(frozen=True)
class EvalLayout:
    size: int
    background: str
    regions: tuple[EvalRegion, ...]
    seed: int
    """Generation seed of this layout."""

    @property
    def base_prompt(self) -> str:
        return f"{article(self.background)} {self.background} background"


def sample_layouts(
    n: int, seed: int = 0, size: int = 128, min_regions: int = 2, max_regions: int = 4
) -> list[EvalLayout]:
    """``n`` seeded layouts from the world's layout sampler (same seed, same layouts)."""
    rng = np.random.default_rng(seed)
    layouts = []
    for _ in range(n):
        count = int(rng.integers(min_regions, max_regions + 1))
        spec = sample_scene_spec(rng, size, size, count)
        regions = tuple(EvalRegion(pixel_cell(o), o.shape, o.color) for o in spec.objects)
        layouts.append(EvalLayout(size, spec.background, regions, int(rng.integers(2**31))))
    return layouts


def generate_layout(
    layout: EvalLayout,
    model: str | ModelBundle,
    settings: dict[str, Any],
    steps: int | None = None,
    mode: str = "attention",
) -> tuple[Any, float]:
    """Generate one layout through ``PakatiCanvas`` in ``mode``; image and seconds."""
    from pakati.canvas import PakatiCanvas

    canvas = PakatiCanvas(
        layout.size,
        layout.size,
        model=model,
        base_prompt=layout.base_prompt,
        steps=steps or int(settings.get("steps", 20)),
        guidance_scale=float(settings.get("guidance_scale", 3.0)),
        base_ratio=float(settings.get("base_ratio", 0.2)),
        scheduler=settings.get("scheduler"),
        mode=mode,
    )
    for index, region in enumerate(layout.regions):
        canvas.create_region(box=region.box, name=f"object-{index + 1}")
        canvas.apply_to_region(f"object-{index + 1}", region.prompt)
    canvas.load()
    started = time.perf_counter()
    result = canvas.generate(seed=layout.seed)
    return result.image, time.perf_counter() - started


def judge_layout(layout: EvalLayout, image: Any) -> Judgement:
    expected = [ExpectedRegion(box=r.box, shape=r.shape, color=r.color) for r in layout.regions]
    return judge(image, expected, layout.background)


def verdict_record(layout: EvalLayout, judgement: Judgement) -> dict[str, Any]:
    """A JSON-ready record of one layout and what the judge found in its image."""
    regions = []
    for region, verdict in zip(layout.regions, judgement.regions, strict=True):
        features = verdict.features
        regions.append(
            {
                "box": list(region.box),
                "prompt": region.prompt,
                "present": verdict.present,
                "color": verdict.color,
                "shape": verdict.shape,
                "color_correct": verdict.color_correct,
                "shape_correct": verdict.shape_correct,
                "leakage": round(verdict.leakage, 4),
                "template_iou": (
                    {k: round(v, 3) for k, v in features.template_iou.items()}
                    if features is not None
                    else None
                ),
            }
        )
    return {
        "seed": layout.seed,
        "base_prompt": layout.base_prompt,
        "background": judgement.background,
        "background_correct": judgement.background_correct,
        "regions": regions,
    }


def prepare_save_dir(path: str | Path) -> Path:
    """The folder ``--save`` writes to: new or empty, so no earlier run is overwritten."""
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInputError(
            f"--save folder {folder} already exists and is not empty; "
            "give a new folder (or remove this one) so no earlier eval is overwritten"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def summarize(judgements: list[Judgement], seconds: list[float]) -> dict[str, Any]:
    """Region-level accuracies (every region counts once), background and leakage."""
    verdicts = [v for j in judgements for v in j.regions]

    def mean(values: list[float] | list[bool]) -> float:
        return round(float(np.mean(values)), 4) if values else 0.0

    return {
        "accuracy_color": mean([v.color_correct for v in verdicts]),
        "accuracy_shape": mean([v.shape_correct for v in verdicts]),
        "accuracy_both": mean([v.correct for v in verdicts]),
        "accuracy_present": mean([v.present for v in verdicts]),
        "accuracy_background": mean([bool(j.background_correct) for j in judgements]),
        "accuracy_image": mean([all(v.correct for v in j.regions) for j in judgements]),
        "leakage": mean([v.leakage for v in verdicts]),
        "leakage_out": mean([v.leakage_out for v in verdicts]),
        "seconds_per_image": round(float(np.mean(seconds)), 4) if seconds else 0.0,
        "n_images": len(judgements),
        "n_regions": len(verdicts),
    }


def run_regional_eval(
    model: str | Path | ModelBundle | None = None,
    n: int = 200,
    seed: int = 0,
    mode: str = "attention",
    size: int = 128,
    steps: int | None = None,
    progress: Progress | None = None,
    settings: dict[str, Any] | None = None,
    save_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Generate and judge ``n`` layouts; returns the summary (see :func:`summarize`).

    ``model`` defaults to the shipped shapes-world model; ``settings`` (guidance_scale,
    base_ratio, scheduler, steps) default to the model folder's ``pakati.json``. With
    ``save_dir`` (new or empty), image ``i`` is written as ``NNN.png`` with ``NNN.json``
    (layout and verdicts) beside it, and the summary as ``summary.json``.
    """
    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if n < 1:
        raise InvalidInputError(f"n must be at least 1, got {n}")
    if model is None:
        model = EMBEDDED_MODEL  # load_model explains how to get it when it is missing
    folder = prepare_save_dir(save_dir) if save_dir is not None else None
    if not isinstance(model, ModelBundle):
        model = load_model(str(model))
    chosen = {**model.recommended, **(settings or {})}
    judgements, seconds = [], []
    layouts = sample_layouts(n, seed, size)
    for index, layout in enumerate(layouts):
        image, took = generate_layout(layout, model, chosen, steps, mode)
        judgement = judge_layout(layout, image)
        judgements.append(judgement)
        seconds.append(took)
        if folder is not None:
            image.save(folder / f"{index:03d}.png")
            record = verdict_record(layout, judgement)
            (folder / f"{index:03d}.json").write_text(json.dumps(record, indent=1))
        if progress is not None:
            progress(index + 1, len(layouts))
    summary = summarize(judgements, seconds)
    summary.update(
        {
            "mode": mode,
            "seed": seed,
            "size": size,
            "steps": steps or int(chosen.get("steps", 20)),
            "guidance_scale": float(chosen.get("guidance_scale", 3.0)),
            "model": model.source,
        }
    )
    if folder is not None:
        (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(args: argparse.Namespace) -> int:
    """Run the eval; the last printed line is the JSON summary."""
    settings = {} if args.guidance is None else {"guidance_scale": args.guidance}

    def report(done: int, total: int) -> None:
        if not args.json and (done == total or done % 10 == 0):
            print(f"{done}/{total} images", flush=True)

    summary = run_regional_eval(
        model=args.model,
        n=args.n,
        seed=args.seed,
        mode=args.mode,
        size=args.size,
        steps=args.steps,
        progress=report,
        settings=settings,
        save_dir=args.save,
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    from pakati.cli.evaluate import add_regional_arguments

    cli = argparse.ArgumentParser(prog="python -m pakati.evals.regional_eval")
    add_regional_arguments(cli)  # the CLI owns the arguments
    raise SystemExit(main(cli.parse_args()))
