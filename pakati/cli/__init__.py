"""The ``pakati`` command line: one module per command group.

- :mod:`pakati.cli.generate`: ``generate``, ``edit``, ``schema``
- :mod:`pakati.cli.analysis`: ``analyze``, ``template``
- :mod:`pakati.cli.agent`: ``agent``, ``chat``
- :mod:`pakati.cli.evaluate`: ``eval regional``
- :mod:`pakati.cli.models`: ``models`` (image models usable now, and why the rest are not)
- :mod:`pakati.cli.serve`: ``serve`` (the web canvas, :mod:`pakati.server`)
- :mod:`pakati.cli.common`: what they share (overwrite guard, summary, progress, argument types)
- :mod:`pakati.cli.boundary`: the one error boundary (messages, exit statuses, --debug)

Each subparser stores the function that runs it as ``args.run``.
"""

# The command modules are imported when the parser is built, not with this package, and
# they import torch, diffusers and LangChain only inside the commands that need them: that
# is what keeps `pakati --help` instant (tests/test_cli_startup.py checks no torch is loaded).

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

import pakati.version
from pakati.cli.boundary import EXIT_USAGE
from pakati.cli.common import add_debug_option, emit_json, run_guarded
from pakati_engine.env_file import apply_plain_settings


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is raised as :class:`_UsageStop` (so that
    ``--json`` can report it as JSON) after argparse has printed it as usual."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise _UsageStop(f"{self.prog}: {message}")


class _UsageStop(Exception):
    """A usage error argparse reported (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    from pakati.cli import agent, analysis, evaluate, generate, models, serve, understand

    parser = _Parser(prog="pakati", description="Regional control for AI image generation.")
    parser.add_argument(
        "--version", action="version", version=f"pakati {pakati.version.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate.add_commands(commands)
    analysis.add_commands(commands)
    understand.add_commands(commands)
    agent.add_commands(commands)
    evaluate.add_commands(commands)
    models.add_commands(commands)
    serve.add_commands(commands)
    add_debug_option(parser, top=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except _UsageStop as stop:  # printed by argparse; under --json, also as JSON on stdout
        if "--json" in arguments:
            emit_json({"error": str(stop), "status": EXIT_USAGE, "bug": False})
        return EXIT_USAGE
    except SystemExit as stop:  # argparse: --help or --version (0)
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    # .env's plain settings (HF_HUB_CACHE, PAKATI_HOME, ...; never keys or base URLs) apply
    # before any library reads them; the environment wins.
    apply_plain_settings(".env")
    warnings.simplefilter("default")
    # diffusers' schedulers turn torch tensors into numpy arrays the way numpy 2 deprecates;
    # nothing a user can act on, so it is not shown.
    warnings.filterwarnings(
        "ignore", message="__array__ implementation doesn't accept", category=DeprecationWarning
    )
    return run_guarded(args.run, args)


__all__ = ["build_parser", "main"]
