"""Helpers every ``pakati`` command shares: refusing to overwrite, the summary report, the
``WIDTHxHEIGHT`` parser, the denoising progress bar and the error wrapper."""

# Heavy modules (tqdm, the engine's metadata, the results) are imported inside the
# functions that use them, so that building the parser and `pakati --help` stay instant.

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pakati_engine.errors import PakatiError

if TYPE_CHECKING:
    from pakati.results import GenerationResult

#: What a subcommand runs: its parsed arguments in, the exit status out.
Command = Callable[[argparse.Namespace], int]


def run_guarded(command: Command, args: argparse.Namespace) -> int:
    """Run ``command``; Pakati's own errors and refused overwrites print ``error: ...`` and
    exit with status 2 instead of a traceback."""
    try:
        return command(args)
    except (PakatiError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def refuse_overwrite(out: Path, overwrite: bool) -> None:
    """Raise ``FileExistsError`` when ``out`` or its JSON sidecar exists, unless ``overwrite``."""
    from pakati_engine.metadata import sidecar_path

    taken = [str(p) for p in (out, sidecar_path(out)) if p.exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite"
        )


def report(result: GenerationResult, out: Path, *, as_json: bool) -> None:
    """One line on what was written; with ``as_json`` a JSON summary follows as the last line."""
    from pakati_engine.metadata import sidecar_path

    layout = result.layout
    seconds = result.timings.get("total", 0.0)
    print(
        f"wrote {out} and {sidecar_path(out)} (seed {result.seed}, "
        f"{layout.width}x{layout.height}, {len(layout.regions)} regions, {layout.steps} steps, "
        f"{seconds:.2f} s)"
    )
    if as_json:
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


def parse_size(text: str) -> tuple[int, int]:
    """``"128x96"`` -> ``(128, 96)``; anything else exits with a message naming ``--size``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"error: --size must look like 128x128, got {text!r}") from None
    return width, height


class StepProgress:
    """A tqdm bar of denoising steps; the object itself is the engine's step callback
    ``(step, total)``, so a bar opened with an unknown total learns it from the first step."""

    def __init__(self, total: int | None, disable: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="denoising", unit="step", disable=disable)

    def __call__(self, step: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(1)

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.close()
