"""Helpers every ``pakati`` command shares: refusing to overwrite, the summary report, the
``WIDTHxHEIGHT`` parser, the denoising progress bar and the error wrapper."""

# Heavy modules (tqdm, the engine's metadata, the results) are imported inside the
# functions that use them, so that building the parser and `pakati --help` stay instant.

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from pakati.cli import boundary
from pakati_engine.errors import UsageError

if TYPE_CHECKING:
    from pakati.results import GenerationResult

#: What a subcommand runs: its parsed arguments in, the exit status out.
Command = Callable[[argparse.Namespace], int]


def run_guarded(command: Command, args: argparse.Namespace) -> int:
    """Run ``command`` inside the error boundary (:mod:`pakati.cli.boundary`): any exception
    becomes one ``error: ...`` message and an exit status, the traceback only with --debug.

    With ``--json`` stdout carries JSON only (:func:`json_stdout`), and an error is also
    reported there as ``{"error": ..., "status": ..., "bug": ...}``."""
    as_json = bool(getattr(args, "json", False))
    with json_stdout(as_json):
        try:
            return command(args)
        except (Exception, KeyboardInterrupt) as error:
            debug = boundary.debug_requested(getattr(args, "debug", False))
            status = boundary.report(error, debug=debug)
            if as_json:
                failure = boundary.classify(error)
                emit_json({"error": failure.message, "status": status, "bug": failure.bug})
            return status


#: Where :func:`emit_json` writes while :func:`json_stdout` holds stdout for JSON.
_json_stream: list[TextIO] = []


@contextmanager
def json_stdout(enabled: bool) -> Iterator[None]:
    """While ``enabled``, whatever a command prints goes to stderr and only :func:`emit_json`
    reaches stdout, so ``pakati ... --json | jq`` sees nothing but JSON."""
    if not enabled:
        yield
        return
    real = sys.stdout
    _json_stream.append(real)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        _json_stream.pop()
        real.flush()


def emit_json(value: object, *, indent: int | None = None) -> None:
    """Print ``value`` as one JSON document on stdout (the real one under ``--json``)."""
    stream = _json_stream[-1] if _json_stream else sys.stdout
    print(json.dumps(value, indent=indent), file=stream, flush=True)


def refuse_overwrite(out: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, an ``out`` that is not a PNG, whose PNG or JSON sidecar
    exists (unless ``overwrite``), or that would replace one of ``inputs`` (always)."""
    from pakati_engine.metadata import sidecar_path
    from pakati_engine.outputs import check_targets

    if out.suffix.lower() != ".png":
        raise UsageError(
            f"--out {out}: Pakati writes PNG (it carries the generation "
            "parameters); use a .png file name"
        )
    inputs = [
        p for path in inputs for p in (path, path.with_suffix(".json"), path.with_suffix(".png"))
    ]
    check_targets([out, sidecar_path(out)], overwrite=overwrite, inputs=inputs)


@contextmanager
def claimed_output(out: Path, overwrite: bool, inputs: Iterable[Path] = ()) -> Iterator[None]:
    """Check ``out`` (:func:`refuse_overwrite`) and hold its lock while the command runs, so
    that two runs writing the same output cannot both succeed."""
    from pakati_engine.outputs import output_lock

    refuse_overwrite(out, overwrite, inputs)
    with output_lock(out):
        yield


def report(result: GenerationResult, out: Path, *, as_json: bool) -> None:
    """One line on what was written; with ``as_json`` a JSON summary follows as the last line."""
    summary = written(result, out)
    if as_json:
        emit_json(summary)


def written(result: GenerationResult, out: Path) -> dict[str, object]:
    """Say what was written (one human line) and return its JSON summary."""
    from pakati_engine.metadata import sidecar_path

    layout = result.layout
    seconds = result.timings.get("total", 0.0)
    print(
        f"wrote {out} and {sidecar_path(out)} (seed {result.seed}, "
        f"{layout.width}x{layout.height}, {len(layout.regions)} regions, {layout.steps} steps, "
        f"{seconds:.2f} s)"
    )
    return {
        "image": str(out),
        "sidecar": str(sidecar_path(out)),
        "seed": result.seed,
        "regions": len(layout.regions),
        "unet_calls": result.unet_calls,
        "latent_size": list(result.latent_size),
        "timings": result.timings,
    }


def parse_size(text: str) -> tuple[int, int]:
    """``"128x96"`` -> ``(128, 96)``: the type of ``--size`` (argparse reports a bad one as
    a usage error naming the option)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 128x128, got {text!r}") from None
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise argparse.ArgumentTypeError(
            f"each side must be {MIN_SIDE} to {MAX_SIDE} pixels, got {text!r}"
        )
    return width, height


#: Canvas sides the agent commands accept (``Context`` states the same bounds).
MIN_SIDE, MAX_SIDE = 32, 4096


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``low`` (else a usage error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def float_between(low: float, high: float, *, open_low: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` if ``open_low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        below = value <= low if open_low else value < low
        if value != value or below or value > high:  # value != value: NaN
            bracket = "(" if open_low else "["
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low}, {high}], got {text}")
        return value

    parse.__name__ = "number"
    return parse


def add_debug_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--debug`` (show tracebacks) on ``parser`` and every subcommand below it, so that it
    works before or after the command name."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="on an error, show the full traceback",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                add_debug_option(sub)


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
