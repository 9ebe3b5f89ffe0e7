"""Regional-prompting benchmark: random 2-to-4-region layouts, generated and judged analytically.

Each layout comes from the shapes world's layout sampler: a background colour and 2 to 4
disjoint cells (by default; up to 6, and with small objects in small boxes, on request),
each with a shape and a colour. It becomes a
:class:`~pakati_engine.layout.Layout` with the base prompt "a <colour> background" and one
box region per cell (``object-1``, ...) with its object's caption ("a red circle"), which
:func:`pakati_engine.generation.generate_layout` draws in attention mode (one pass) or latent
mode (one UNet pass per region, blended); :mod:`pakati_engine.world.judge` then checks every
region's object colour and shape, the background and colour leakage between regions.

The application's ``pakati eval regional`` (:mod:`pakati.evals.regional_eval`) prints this
benchmark's summary; training and tuning call :func:`run_regional_eval` directly, so they
judge their own samples without importing anything above the engine.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.errors import InvalidInputError, OutputExistsError
from pakati_engine.generation import generate_layout as generate_from_layout
from pakati_engine.layout import Layout, RegionSpec
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import EMBEDDED_MODEL
from pakati_engine.models.loading import load_model
from pakati_engine.outputs import atomic_write_bytes, write_files
from pakati_engine.world.colors import article
from pakati_engine.world.judge import ExpectedRegion, Judgement, judge
from pakati_engine.world.sampling import MAX_OBJECTS, sample_scene_spec
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
    n: int,
    seed: int = 0,
    size: int = 128,
    min_regions: int = 2,
    max_regions: int = 4,
    small_fraction: float = 0.0,
) -> list[EvalLayout]:
    """``n`` seeded layouts from the world's layout sampler (same seed, same layouts).

    ``min_regions``-``max_regions`` objects each (1-6); each object small (10-20 px on 128,
    in a box of its own) with probability ``small_fraction``. The defaults give the layouts
    the benchmark has always had.
    """
    if not 1 <= min_regions <= max_regions <= MAX_OBJECTS:
        raise InvalidInputError(
            f"regions: need 1 <= min_regions ({min_regions}) <= max_regions ({max_regions}) "
            f"<= {MAX_OBJECTS}"
        )
    if not 0.0 <= small_fraction <= 1.0:
        raise InvalidInputError(f"small must be a fraction in [0, 1], got {small_fraction}")
    rng = np.random.default_rng(seed)
    layouts = []
    for _ in range(n):
        count = int(rng.integers(min_regions, max_regions + 1))
        spec = sample_scene_spec(rng, size, size, count, small_fraction=small_fraction)
        regions = tuple(EvalRegion(pixel_cell(o), o.shape, o.color) for o in spec.objects)
        layouts.append(EvalLayout(size, spec.background, regions, int(rng.integers(2**31))))
    return layouts


def generation_layout(
    layout: EvalLayout,
    model: str,
    settings: dict[str, Any],
    steps: int | None = None,
    mode: str = "attention",
) -> Layout:
    """The :class:`~pakati_engine.layout.Layout` that draws ``layout``: one box region per
    object (``object-1``, ...), the background as base prompt, ``settings`` (guidance_scale,
    base_ratio, scheduler, steps, detail) else the defaults the eval has always used."""
    return Layout(
        width=layout.size,
        height=layout.size,
        model=model,
        mode=mode,  # type: ignore[arg-type]  # checked against MODES by the caller
        steps=steps or int(settings.get("steps", 20)),
        guidance_scale=float(settings.get("guidance_scale", 3.0)),
        base_ratio=float(settings.get("base_ratio", 0.2)),
        scheduler=settings.get("scheduler"),
        detail=True if settings.get("detail") else None,
        seed=layout.seed,
        base_prompt=layout.base_prompt,
        regions=[
            RegionSpec(name=f"object-{index + 1}", box=region.box, prompt=region.prompt)
            for index, region in enumerate(layout.regions)
        ],
    )


def generate_layout(
    layout: EvalLayout,
    model: str | ModelBundle,
    settings: dict[str, Any],
    steps: int | None = None,
    mode: str = "attention",
) -> tuple[Image.Image, float]:
    """Generate one layout in ``mode`` through the engine's layout path; image and seconds."""
    bundle = model if isinstance(model, ModelBundle) else load_model(model)
    request = generation_layout(layout, bundle.source, settings, steps, mode)
    started = time.perf_counter()
    output = generate_from_layout(bundle, request)
    return output.image, time.perf_counter() - started


def judge_layout(layout: EvalLayout, image: Image.Image | NDArray[Any]) -> Judgement:
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
        raise OutputExistsError(
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
    min_regions: int = 2,
    max_regions: int = 4,
    small_fraction: float = 0.0,
) -> dict[str, Any]:
    """Generate and judge ``n`` layouts; returns the summary (see :func:`summarize`).

    Layouts have ``min_regions``-``max_regions`` objects, a ``small_fraction`` of them small
    (see :func:`sample_layouts`; the defaults are the benchmark's 2-4 normal-sized objects).

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
    layouts = sample_layouts(n, seed, size, min_regions, max_regions, small_fraction)
    for index, layout in enumerate(layouts):
        image, took = generate_layout(layout, model, chosen, steps, mode)
        judgement = judge_layout(layout, image)
        judgements.append(judgement)
        seconds.append(took)
        if folder is not None:  # the image and its verdicts, both or neither (full disk)
            record = json.dumps(verdict_record(layout, judgement), indent=1).encode()
            encoded = io.BytesIO()
            image.save(encoded, format="PNG")
            pair = {folder / f"{index:03d}.png": encoded.getvalue()}
            write_files({**pair, folder / f"{index:03d}.json": record})
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
            "min_regions": min_regions,
            "max_regions": max_regions,
            "small": small_fraction,
            "detail": bool(chosen.get("detail")),
        }
    )
    if folder is not None:
        atomic_write_bytes(folder / "summary.json", json.dumps(summary, indent=1).encode())
    return summary
