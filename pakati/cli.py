"""The ``pakati`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pakati_engine.errors import PakatiError

if TYPE_CHECKING:
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

    commands.add_parser("schema", help="print the layout file's JSON schema")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    try:
        if args.command == "schema":
            from pakati_engine.layout import Layout

            print(json.dumps(Layout.model_json_schema(), indent=2))
            return 0
        return _generate(args)
    except (PakatiError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pakati.canvas import PakatiCanvas
    from pakati_engine.layout import load_layout, parse_layout
    from pakati_engine.metadata import sidecar_path

    out: Path = args.out
    taken = [str(p) for p in (out, sidecar_path(out)) if p.exists()]
    if taken and not args.overwrite:
        raise FileExistsError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite"
        )
    if args.from_image is not None:
        layout = _layout_from_output(args.from_image)
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
    bar = tqdm(total=layout.steps, desc="denoising", unit="step", disable=args.no_progress)

    def advance(step: int, total: int) -> None:
        bar.update(1)

    with bar:
        result = canvas.generate(seed=layout.seed, callback=advance)
    result.save(out, overwrite=args.overwrite)
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
            "timings": result.timings,
        }
        print(json.dumps(summary))
    return 0


def _layout_from_output(path: Path) -> Layout:
    """The layout stored with an earlier output: PNG text chunk or JSON sidecar."""
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
    return parse_layout(data.get("layout"), source=f"metadata of {path}")
