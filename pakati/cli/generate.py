"""``pakati generate``, ``pakati edit`` and ``pakati schema``: making images from layouts."""

# The canvas (torch, diffusers) and the layout models are imported inside the commands, not
# here, so that building the parser and `pakati --help` never import torch.

from __future__ import annotations

import argparse
import json
import secrets
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.cli import understood
from pakati.cli.common import (
    StepProgress,
    claimed_output,
    emit_json,
    float_between,
    int_at_least,
    refuse_overwrite,
    report,
    written,
)
from pakati_engine.errors import UsageError

if TYPE_CHECKING:
    from pakati.canvas import PakatiCanvas
    from pakati_engine.layout import Layout


def add_commands(commands: Any) -> None:
    """Add ``generate``, ``edit`` and ``schema`` to the ``pakati`` subcommands."""
    generate_parser = commands.add_parser(
        "generate",
        help="generate an image from a layout file, or again from a Pakati PNG",
        description="Generate an image from a layout JSON file (see `pakati schema`), or "
        "reproduce one from the metadata of a PNG Pakati made (--from).",
    )
    add_generate_arguments(generate_parser)
    generate_parser.set_defaults(run=generate)

    edit_parser = commands.add_parser(
        "edit",
        help="change regions of an image, keeping the rest exactly",
        description="Regenerate (or refine, with --strength) regions of an image, keeping "
        "locked regions and everything outside the edited regions' feather band exactly. "
        "For a PNG Pakati made, name its regions (its metadata has them); for any other "
        "picture, give each region as NAME=x0,y0,x1,y1 (a box in pixels) with --prompt.",
    )
    add_edit_arguments(edit_parser)
    edit_parser.set_defaults(run=edit)

    schema_parser = commands.add_parser("schema", help="print the layout file's JSON schema")
    schema_parser.set_defaults(run=schema)


def add_generate_arguments(generate: argparse.ArgumentParser) -> None:
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("layout", nargs="?", type=Path, help="layout JSON file")
    source.add_argument(
        "--from",
        dest="from_image",
        type=Path,
        help="a PNG made by Pakati (or its .json sidecar): regenerate it from its metadata",
    )
    generate.add_argument("--out", type=Path, required=True, help="output PNG path")
    generate.add_argument("--seed", type=int_at_least(0), help="override the layout's seed")
    generate.add_argument("--steps", type=int_at_least(1), help="override the number of steps")
    generate.add_argument(
        "--guidance", type=float_between(0.0, 50.0), help="override the guidance scale"
    )
    generate.add_argument("--model", help="override the layout's model")
    generate.add_argument(
        "--detail",
        action="store_true",
        help="detail pass: redraw small regions zoomed in after the main pass (slower)",
    )
    generate.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    generate.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")
    generate.add_argument(
        "--count",
        type=int_at_least(1),
        default=1,
        help="make N images, seeds SEED, SEED+1, ...: OUT-1.png ... OUT-N.png (default 1)",
    )
    add_memory_arguments(generate)
    add_model_hub_arguments(generate)
    understood.add_arguments(generate)
    generate.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    generate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    generate.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last line"
    )


def add_edit_arguments(edit: argparse.ArgumentParser) -> None:
    edit.add_argument("image", type=Path, help="a PNG made by Pakati, or any picture")
    edit.add_argument(
        "--region",
        action="append",
        required=True,
        help="region to change: a name in the image's Pakati metadata, or NAME=x0,y0,x1,y1",
    )
    edit.add_argument(
        "--model",
        help="model for a picture Pakati did not make (default: the "
        "embedded model); a Pakati PNG uses its own",
    )
    edit.add_argument("--prompt", help="new prompt for the region(s)")
    edit.add_argument("--negative-prompt", help="new negative prompt for the region(s)")
    edit.add_argument("--lock", action="append", default=[], help="region to keep exactly")
    edit.add_argument("--seed", type=int_at_least(0), help="new seed of the edited region(s)")
    edit.add_argument(
        "--strength",
        type=float_between(0.0, 1.0, open_low=True),
        help="refine instead: re-noise this much (0-1]",
    )
    edit.add_argument("--feather", type=int_at_least(0), default=8, help="blend band in pixels")
    edit.add_argument("--no-crop", action="store_true", help="denoise the whole canvas")
    edit.add_argument("--out", type=Path, required=True, help="output PNG path")
    edit.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    edit.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")
    add_memory_arguments(edit)
    add_model_hub_arguments(edit)
    edit.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    edit.add_argument("--no-progress", action="store_true")
    edit.add_argument("--json", action="store_true", help="print a JSON summary last")


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """Switches for small GPUs (:mod:`pakati_engine.models.memory`)."""
    parser.add_argument(
        "--attention-slicing", action="store_true", help="attention in slices: less memory"
    )
    parser.add_argument("--vae-tiling", action="store_true", help="decode large images in tiles")
    parser.add_argument(
        "--cpu-offload",
        action="store_true",
        help="weights in RAM, each model on the GPU only while it runs (needs CUDA)",
    )


def add_model_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """Settings for regions drawn by other models (``pakati models`` lists them)."""
    parser.add_argument(
        "--trust-env-file",
        action="store_true",
        help="let a provider base URL from ./.env receive an API key from your environment",
    )
    parser.add_argument(
        "--prefer",
        action="append",
        default=[],
        metavar="MODEL",
        help="models to choose first, in order, for a region whose model is 'auto' or "
        "cannot be used here (repeatable; default: the canvas model)",
    )


def apply_model_hub_settings(args: argparse.Namespace, canvas: PakatiCanvas) -> None:
    canvas.trust_env_file = bool(getattr(args, "trust_env_file", False))
    canvas.model_preference = tuple(getattr(args, "prefer", ()) or ())


def apply_memory_switches(args: argparse.Namespace, canvas: PakatiCanvas) -> None:
    if args.attention_slicing:
        canvas.enable_attention_slicing()
    if args.vae_tiling:
        canvas.enable_vae_tiling()
    if args.cpu_offload:
        canvas.enable_model_cpu_offload()


def schema(args: argparse.Namespace) -> int:
    from pakati_engine.layout import Layout

    print(json.dumps(Layout.model_json_schema(), indent=2))
    return 0


def generate(args: argparse.Namespace) -> int:
    from pakati_engine.layout import load_layout

    outs = batch_outputs(args.out, args.count)
    source = args.from_image if args.from_image is not None else args.layout
    for out in outs:
        refuse_overwrite(out, args.overwrite, [source])
    steps: list = []
    if args.from_image is not None:
        layout, steps = _layout_from_output(args.from_image)
    else:
        layout = load_layout(args.layout)
    if args.count > 1 and len(steps) > 1:
        raise UsageError(
            f"{source} records edits: it regenerates as one image; drop --count (or give "
            "--seed to draw new images from its layout)"
        )
    masks = [Path(r.mask) for r in layout.regions if r.mask is not None]
    with ExitStack() as claims:
        for out in outs:
            claims.enter_context(claimed_output(out, args.overwrite, [source, *masks]))
        return _generate(args, layout, steps, outs)


def batch_outputs(out: Path, count: int) -> list[Path]:
    """Where ``--count`` images go: ``out`` itself for one, else ``<stem>-1.png`` ..."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{index}{out.suffix}") for index in range(1, count + 1)]


def _generate(args: argparse.Namespace, layout: Layout, steps: list, outs: list[Path]) -> int:
    from pakati.canvas import PakatiCanvas
    from pakati_engine.layout import parse_layout

    updates = {
        key: value
        for key, value in (
            ("seed", args.seed),
            ("steps", args.steps),
            ("guidance_scale", args.guidance),
            ("model", args.model),
            ("detail", True if args.detail else None),
        )
        if value is not None
    }
    if updates:
        layout = parse_layout({**layout.model_dump(), **updates}, source="layout")
    layout, understanding = understood.guided_layout(args, layout)
    if getattr(args, "refine", None) is not None:
        if len(outs) > 1 or len(steps) > 1:
            raise UsageError("--refine makes one image from a layout: drop --count / --from")
        result, passes = understood.refine(args, layout, understanding)
        result.save(outs[0], overwrite=args.overwrite)
        summary = written(result, outs[0])
        if args.json:
            emit_json({**summary, "refinement": passes})
        return 0
    canvas = PakatiCanvas.from_layout(layout, device=args.device, dtype=args.dtype)
    apply_model_hub_settings(args, canvas)
    print(f"loading model {canvas.model!r} ...", file=sys.stderr)
    canvas.load()
    apply_memory_switches(args, canvas)
    if len(outs) == 1:
        with StepProgress(canvas.steps, args.no_progress) as progress:
            if len(steps) > 1 and not updates:
                progress.bar.total = None
                result = canvas.replay(steps)
            else:
                if layout.detail:  # the detail pass's redraws add steps of their own
                    progress.bar.total = None
                result = canvas.generate(seed=layout.seed, callback=progress)
        result.save(outs[0], overwrite=args.overwrite)
        report(result, outs[0], as_json=args.json)
        return 0
    # One model load, then one image per seed (one after another, not one batched call).
    first = layout.seed if layout.seed is not None else secrets.randbelow(2**32)
    summaries = []
    for index, out in enumerate(outs):
        with StepProgress(canvas.steps, args.no_progress) as progress:
            if layout.detail:
                progress.bar.total = None
            result = canvas.generate(seed=(first + index) % 2**63, callback=progress)
        result.save(out, overwrite=args.overwrite)
        summaries.append(written(result, out))
    if args.json:
        emit_json({"images": summaries})
    return 0


def edit(args: argparse.Namespace) -> int:
    with claimed_output(args.out, args.overwrite, [args.image]):
        return _edit(args)


def _edit(args: argparse.Namespace) -> int:
    from pakati.canvas import PakatiCanvas

    if not _has_pakati_metadata(args.image):
        return _edit_picture(args)
    if any("=" in region for region in args.region):
        raise UsageError(
            f"{args.image} was made by Pakati: name its regions (NAME, not NAME=x0,y0,x1,y1)"
        )
    canvas = PakatiCanvas.from_image(args.image, device=args.device, dtype=args.dtype)
    names = {r.name or r.id for r in canvas.regions}
    unknown = [n for n in [*args.region, *args.lock] if n not in names]
    if unknown:
        raise UsageError(
            f"no region {unknown[0]!r} in {args.image} (regions: {', '.join(sorted(names))})"
        )
    for name in args.lock:
        canvas.lock(name)
    for name in args.region:
        current = canvas.region_spec(name)  # the region's prompt and settings as they are
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
    return _run_edit(args, canvas)


def _run_edit(args: argparse.Namespace, canvas: PakatiCanvas) -> int:
    apply_model_hub_settings(args, canvas)
    print(f"loading model {canvas.model!r} ...", file=sys.stderr)
    canvas.load()
    apply_memory_switches(args, canvas)
    crop = not args.no_crop
    with StepProgress(None, args.no_progress) as progress:
        if args.strength is not None:
            if len(args.region) != 1:
                raise UsageError("--strength refines one region at a time")
            result = canvas.refine(
                args.region[0], args.strength, feather=args.feather, crop=crop, callback=progress
            )
        else:
            result = canvas.regenerate(
                *args.region, feather=args.feather, crop=crop, callback=progress
            )
    result.save(args.out, overwrite=args.overwrite)
    report(result, args.out, as_json=args.json)
    return 0


def _has_pakati_metadata(path: Path) -> bool:
    from pakati_engine.images import open_header
    from pakati_engine.metadata import TEXT_KEY

    with open_header(path, f"image {str(path)!r}") as image:
        return isinstance(image.info.get(TEXT_KEY), str)


def _edit_picture(args: argparse.Namespace) -> int:
    """``pakati edit`` on a picture Pakati did not make: it becomes the kept canvas and the
    user's boxes its regions (the base prompt is empty: only the regions change)."""
    from pakati.canvas import PakatiCanvas
    from pakati_engine.images import open_image

    if args.prompt is None:
        raise UsageError(
            f"{args.image} has no Pakati metadata, so its regions have no prompts: give "
            "--prompt (and each region as NAME=x0,y0,x1,y1)"
        )
    if args.lock:
        raise UsageError(
            "--lock names regions of a Pakati PNG; on another picture everything outside "
            "the --region boxes is kept anyway"
        )
    picture = open_image(args.image, f"image {str(args.image)!r}").convert("RGB")
    canvas = PakatiCanvas(
        picture.width, picture.height, args.model, device=args.device, dtype=args.dtype
    )
    boxes = [_named_box(text, args.image) for text in args.region]
    for name, box in boxes:
        canvas.create_region(box=box, name=name)
        canvas.apply_to_region(name, args.prompt, args.negative_prompt or "", seed=args.seed)
    canvas.use_image(picture)
    args.region = [name for name, _box in boxes]
    return _run_edit(args, canvas)


def _named_box(text: str, image: Path) -> tuple[str, tuple[float, ...]]:
    """``NAME=x0,y0,x1,y1`` -> (NAME, box); a usage error saying the form otherwise."""
    name, _, numbers = text.partition("=")
    try:
        box = tuple(float(v) for v in numbers.split(","))
    except ValueError:
        box = ()
    if not name or len(box) != 4:
        raise UsageError(
            f"--region {text!r}: {image} has no Pakati metadata, so give each region as "
            "NAME=x0,y0,x1,y1 (a box in pixels, e.g. sky=0,0,512,200)"
        )
    return name, box


def _layout_from_output(path: Path) -> tuple[Layout, list]:
    """The layout (and recorded steps) stored with an earlier output: PNG or JSON sidecar."""
    from pakati_engine.layout import parse_layout
    from pakati_engine.metadata import read_metadata_file

    data = read_metadata_file(path)
    layout = parse_layout(data["layout"], source=f"metadata of {path}")
    return layout, list(data.get("steps", []))
