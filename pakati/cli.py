"""The ``pakati`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pakati_engine.errors import InvalidInputError, PakatiError

if TYPE_CHECKING:
    from pakati.results import GenerationResult
    from pakati_engine.layout import Layout


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pakati", description="Regional control for AI image generation."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser(
        "generate",
        help="generate an image from a layout file, or again from a Pakati PNG",
        description="Generate an image from a layout JSON file (see `pakati schema`), or "
        "reproduce one from the metadata of a PNG Pakati made (--from).",
    )
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("layout", nargs="?", type=Path, help="layout JSON file")
    source.add_argument(
        "--from",
        dest="from_image",
        type=Path,
        help="a PNG made by Pakati (or its .json sidecar): regenerate it from its metadata",
    )
    generate.add_argument("--out", type=Path, required=True, help="output PNG path")
    generate.add_argument("--seed", type=int, help="override the layout's seed")
    generate.add_argument("--steps", type=int, help="override the number of steps")
    generate.add_argument("--guidance", type=float, help="override the guidance scale")
    generate.add_argument("--model", help="override the layout's model")
    generate.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    generate.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")
    generate.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    generate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    generate.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last line"
    )

    edit = commands.add_parser(
        "edit",
        help="change regions of a Pakati PNG, keeping the rest exactly",
        description="Regenerate (or refine, with --strength) regions of an image Pakati made, "
        "working from its own metadata; locked regions and everything outside the edited "
        "regions' feather band keep their exact pixels.",
    )
    edit.add_argument("image", type=Path, help="a PNG made by Pakati")
    edit.add_argument("--region", action="append", required=True, help="region to change")
    edit.add_argument("--prompt", help="new prompt for the region(s)")
    edit.add_argument("--negative-prompt", help="new negative prompt for the region(s)")
    edit.add_argument("--lock", action="append", default=[], help="region to keep exactly")
    edit.add_argument("--seed", type=int, help="new seed of the edited region(s)")
    edit.add_argument("--strength", type=float, help="refine instead: re-noise this much (0-1]")
    edit.add_argument("--feather", type=int, default=8, help="blend band in pixels")
    edit.add_argument("--no-crop", action="store_true", help="denoise the whole canvas")
    edit.add_argument("--out", type=Path, required=True, help="output PNG path")
    edit.add_argument("--device", default=None)
    edit.add_argument("--dtype", default=None)
    edit.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    edit.add_argument("--no-progress", action="store_true")
    edit.add_argument("--json", action="store_true", help="print a JSON summary last")

    analyze = commands.add_parser(
        "analyze",
        help="compare an image (or a region of it) with a reference, aspect by aspect",
    )
    analyze.add_argument("image", type=Path)
    analyze.add_argument("--reference", type=Path, required=True, help="reference image")
    where = analyze.add_mutually_exclusive_group()
    where.add_argument("--region", help="a region named in the image's Pakati metadata")
    where.add_argument("--box", help="x0,y0,x1,y1 in pixels")
    analyze.add_argument(
        "--aspect", action="append", help="color, texture, lighting, composition, style, general"
    )
    analyze.add_argument("--json", action="store_true", help="print JSON as the last line")

    template = commands.add_parser("template", help="list, show or apply saved templates")
    actions = template.add_subparsers(dest="template_command", required=True)
    listing = actions.add_parser("list", help="templates in a folder")
    listing.add_argument("folder", type=Path, nargs="?", default=Path("templates"))
    show = actions.add_parser("show", help="print a template")
    show.add_argument("path", type=Path)
    apply = actions.add_parser("apply", help="generate an image from a template")
    apply.add_argument("path", type=Path)
    apply.add_argument("--out", type=Path, required=True)
    apply.add_argument("--seed", type=int)
    apply.add_argument("--model")
    apply.add_argument("--overwrite", action="store_true")
    apply.add_argument("--no-progress", action="store_true")
    apply.add_argument("--json", action="store_true")

    from pakati.cli_agent import add_agent_arguments, add_chat_arguments

    add_agent_arguments(
        commands.add_parser("agent", help="plan, generate, check and refine toward a goal")
    )
    add_chat_arguments(
        commands.add_parser("chat", help="multi-turn editing, one instruction per stdin line")
    )

    evaluate = commands.add_parser("eval", help="evaluation suites")
    suites = evaluate.add_subparsers(dest="suite", required=True)
    from pakati.evals.regional_eval import add_arguments as add_regional_eval_arguments

    add_regional_eval_arguments(
        suites.add_parser("regional", help="random 2-4 region layouts, judged analytically")
    )

    commands.add_parser("schema", help="print the layout file's JSON schema")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    # diffusers' schedulers turn torch tensors into numpy arrays the way numpy 2 deprecates;
    # nothing a user can act on, so it is not shown.
    warnings.filterwarnings(
        "ignore", message="__array__ implementation doesn't accept", category=DeprecationWarning
    )
    try:
        if args.command == "schema":
            from pakati_engine.layout import Layout

            print(json.dumps(Layout.model_json_schema(), indent=2))
            return 0
        if args.command == "edit":
            return _edit(args)
        if args.command == "eval":
            from pakati.evals.regional_eval import main as run_regional_eval

            return run_regional_eval(args)
        if args.command in ("agent", "chat"):
            from pakati.cli_agent import run_agent, run_chat

            return run_agent(args) if args.command == "agent" else run_chat(args)
        if args.command == "analyze":
            from pakati.cli_analysis import analyze

            return analyze(args)
        if args.command == "template":
            from pakati.cli_analysis import template

            return template(args)
        return _generate(args)
    except (PakatiError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pakati.canvas import PakatiCanvas
    from pakati_engine.layout import load_layout, parse_layout

    out: Path = args.out
    _refuse_overwrite(out, args.overwrite)
    steps: list = []
    if args.from_image is not None:
        layout, steps = _layout_from_output(args.from_image)
    else:
        layout = load_layout(args.layout)
    updates = {
        key: value
        for key, value in (
            ("seed", args.seed),
            ("steps", args.steps),
            ("guidance_scale", args.guidance),
            ("model", args.model),
        )
        if value is not None
    }
    if updates:
        layout = parse_layout({**layout.model_dump(), **updates}, source="layout")
    canvas = PakatiCanvas.from_layout(layout, device=args.device, dtype=args.dtype)
    print(f"loading model {canvas.model!r} ...", file=sys.stderr)
    canvas.load()
    bar = tqdm(total=canvas.steps, desc="denoising", unit="step", disable=args.no_progress)

    def advance(step: int, total: int) -> None:
        bar.update(1)

    with bar:
        if len(steps) > 1 and not updates:
            from pakati.editing import replay_steps

            bar.total = None
            result = replay_steps(canvas, steps)
        else:
            result = canvas.generate(seed=layout.seed, callback=advance)
    result.save(out, overwrite=args.overwrite)
    _report(args, result, out)
    return 0


def _edit(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pakati.canvas import PakatiCanvas

    _refuse_overwrite(args.out, args.overwrite)
    canvas = PakatiCanvas.from_image(args.image, device=args.device, dtype=args.dtype)
    for name in args.lock:
        canvas.lock(name)
    for name in args.region:
        current = canvas._prompting[canvas.region(name).id]
        canvas.apply_to_region(
            name,
            args.prompt if args.prompt is not None else current.prompt,
            args.negative_prompt if args.negative_prompt is not None else current.negative_prompt,
            weight=current.weight,
            model=current.model,
            seed=args.seed if args.seed is not None else current.seed,
            guidance_scale=current.guidance_scale,
            step_window=current.step_window,
        )
    print(f"loading model {canvas.model!r} ...", file=sys.stderr)
    canvas.load()
    bar = tqdm(total=None, desc="denoising", unit="step", disable=args.no_progress)

    def advance(step: int, total: int) -> None:
        bar.total = total
        bar.update(1)

    crop = not args.no_crop
    with bar:
        if args.strength is not None:
            if len(args.region) != 1:
                raise InvalidInputError("--strength refines one region at a time")
            result = canvas.refine(
                args.region[0], args.strength, feather=args.feather, crop=crop, callback=advance
            )
        else:
            result = canvas.regenerate(
                *args.region, feather=args.feather, crop=crop, callback=advance
            )
    result.save(args.out, overwrite=args.overwrite)
    _report(args, result, args.out)
    return 0


def _refuse_overwrite(out: Path, overwrite: bool) -> None:
    from pakati_engine.metadata import sidecar_path

    taken = [str(p) for p in (out, sidecar_path(out)) if p.exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite"
        )


def _report(args: argparse.Namespace, result: GenerationResult, out: Path) -> None:
    from pakati_engine.metadata import sidecar_path

    layout = result.layout
    seconds = result.timings.get("total", 0.0)
    print(
        f"wrote {out} and {sidecar_path(out)} (seed {result.seed}, "
        f"{layout.width}x{layout.height}, {len(layout.regions)} regions, {layout.steps} steps, "
        f"{seconds:.2f} s)"
    )
    if args.json:
        summary = {
            "image": str(out),
            "sidecar": str(sidecar_path(out)),
            "seed": result.seed,
            "regions": len(layout.regions),
            "unet_calls": result.unet_calls,
            "latent_size": list(result.latent_size),
            "timings": result.timings,
        }
        print(json.dumps(summary))


def _layout_from_output(path: Path) -> tuple[Layout, list]:
    """The layout (and recorded steps) stored with an earlier output: PNG or JSON sidecar."""
    from pakati_engine.errors import InvalidInputError
    from pakati_engine.layout import parse_layout
    from pakati_engine.metadata import read_png_metadata

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InvalidInputError(f"{str(path)!r} is not a readable sidecar ({error})") from error
    else:
        data = read_png_metadata(path)
    layout = parse_layout(data.get("layout"), source=f"metadata of {path}")
    return layout, list(data.get("steps", []))
