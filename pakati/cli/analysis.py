"""``pakati analyze`` and ``pakati template``: the measuring half of the command line."""

# numpy, PIL, the analysers and the canvas are imported inside the commands, not here, so
# that building the parser and `pakati --help` stay instant.

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.cli.common import claimed_output, emit_json, int_at_least, report
from pakati_engine.errors import InvalidInputError, UsageError

if TYPE_CHECKING:
    import numpy as np


def add_commands(commands: Any) -> None:
    """Add ``analyze`` and ``template`` to the ``pakati`` subcommands."""
    analyze_parser = commands.add_parser(
        "analyze",
        help="compare an image (or a region of it) with a reference, aspect by aspect",
    )
    analyze_parser.add_argument("image", type=Path)
    analyze_parser.add_argument("--reference", type=Path, required=True, help="reference image")
    where = analyze_parser.add_mutually_exclusive_group()
    where.add_argument("--region", help="a region named in the image's Pakati metadata")
    where.add_argument("--box", help="x0,y0,x1,y1 in pixels")
    analyze_parser.add_argument(
        "--aspect", action="append", help="color, texture, lighting, composition, style, general"
    )
    analyze_parser.add_argument("--json", action="store_true", help="print JSON as the last line")
    analyze_parser.set_defaults(run=analyze)

    template_parser = commands.add_parser("template", help="list, show or apply saved templates")
    actions = template_parser.add_subparsers(dest="template_command", required=True)
    listing = actions.add_parser("list", help="templates in a folder")
    listing.add_argument("folder", type=Path, nargs="?", default=Path("templates"))
    show = actions.add_parser("show", help="print a template")
    show.add_argument("path", type=Path)
    apply = actions.add_parser("apply", help="generate an image from a template")
    apply.add_argument("path", type=Path)
    apply.add_argument("--out", type=Path, required=True)
    apply.add_argument("--seed", type=int_at_least(0))
    apply.add_argument("--model")
    apply.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    apply.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")
    apply.add_argument("--overwrite", action="store_true")
    apply.add_argument("--no-progress", action="store_true")
    apply.add_argument("--json", action="store_true")
    template_parser.set_defaults(run=template)


def analyze(args: argparse.Namespace) -> int:
    from PIL import Image

    from pakati_engine.analysis import analyze_deltas
    from pakati_engine.analysis.references import ReferenceImage

    image = ReferenceImage(args.image)  # the same validation as references get
    reference = ReferenceImage(args.reference)
    picture = image.to_array()
    mask = None
    if args.region:
        mask = _region_mask(args, picture.shape[1], picture.shape[0])
    elif args.box:
        mask = _box_mask(args.box, picture.shape[1], picture.shape[0])
    report = analyze_deltas(Image.fromarray(picture), reference, aspects=args.aspect, mask=mask)
    print(f"{'aspect':<12} {'similarity':>10}  {'severity':<8} finding / suggestion")
    for name, delta in report.aspects.items():
        finding = delta.findings[0] if delta.findings else "-"
        terms = [t for a in delta.adjustments for t in a.terms]
        print(f"{name:<12} {delta.similarity:>10.3f}  {delta.severity.value:<8} {finding}")
        if terms:
            print(f"{'':<33} try: {', '.join(terms)}")
    if args.json:
        emit_json(report.to_dict())
    return 0


def _region_mask(args: argparse.Namespace, width: int, height: int) -> np.ndarray:
    from pakati.canvas import PakatiCanvas
    from pakati_engine.layout import parse_layout
    from pakati_engine.metadata import read_png_metadata

    layout = parse_layout(read_png_metadata(args.image)["layout"], source=str(args.image))
    canvas = PakatiCanvas(layout.width, layout.height)
    canvas.set_layout(layout)
    if (width, height) != (layout.width, layout.height):
        raise InvalidInputError(f"{args.image}: image size does not match its metadata")
    return canvas.region(args.region).rasterize() > 0


def _box_mask(text: str, width: int, height: int) -> np.ndarray:
    from pakati_engine.regions.region import make_box_region

    try:
        box = [float(v) for v in text.split(",")]
    except ValueError as error:
        raise UsageError(f"--box takes x0,y0,x1,y1 numbers, got {text!r}") from error
    try:
        return make_box_region(box, width, height, region_id="--box").rasterize() > 0
    except InvalidInputError as error:
        raise UsageError(str(error)) from error


def template(args: argparse.Namespace) -> int:
    from pakati.templates import list_templates, load_template

    if args.template_command == "list":
        if not args.folder.is_dir():
            raise InvalidInputError(f"template folder {str(args.folder)!r} does not exist")
        for path, found in list_templates(args.folder):
            if isinstance(found, str):
                print(f"{path}  (not usable: {found})")
            else:
                layout = found.layout
                print(
                    f"{path}  {found.name!r}  {layout.width}x{layout.height}, "
                    f"{len(layout.regions)} regions, goal: {found.goal or '-'}"
                )
        return 0
    if args.template_command == "show":
        print(load_template(args.path).model_dump_json(indent=2, exclude_none=True))
        return 0
    return _apply(args)


def _apply(args: argparse.Namespace) -> int:
    from pakati.enhanced import EnhancedPakatiCanvas

    with claimed_output(args.out, args.overwrite, [args.path]):
        canvas = EnhancedPakatiCanvas.load_template(
            args.path, model=args.model, device=args.device, dtype=args.dtype
        )
        print(f"loading model {canvas.model!r} ...", file=sys.stderr)
        canvas.load()
        result = canvas.generate(seed=args.seed)
        result.save(args.out, overwrite=args.overwrite)
        report(result, args.out, as_json=args.json)
        return 0
