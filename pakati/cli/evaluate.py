"""``pakati eval regional``, ``eval planner`` and ``eval agent``: the arguments of the
evaluation suites; the suites themselves live in :mod:`pakati.evals`."""

# The suites (numpy, the engine, torch) are imported when one runs, not here, so that
# building the parser and `pakati --help` stay instant.

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pakati.cli.common import float_between, int_at_least

#: The regional modes the eval can run: the layout's ``mode`` values (a test checks that
#: they match ``pakati.evals.regional_eval.MODES``).
REGIONAL_MODES = ("attention", "latent")


def add_commands(commands: Any) -> None:
    """Add ``eval`` (with its suites as subcommands) to the ``pakati`` subcommands."""
    evaluate = commands.add_parser("eval", help="evaluation suites")
    suites = evaluate.add_subparsers(dest="suite", required=True)
    regional = suites.add_parser(
        "regional", help="random layouts (2-4 regions; up to 6, small objects), judged analytically"
    )
    add_regional_arguments(regional)
    regional.set_defaults(run=run_regional)
    planner = suites.add_parser(
        "planner", help="generated phrasings of known goals, parsed by the offline planner"
    )
    add_planner_arguments(planner)
    planner.set_defaults(run=run_planner)
    agent = suites.add_parser(
        "agent", help="generated goals run through the whole agent, judged analytically"
    )
    add_agent_arguments(agent)
    agent.set_defaults(run=run_agent)
    compositional = suites.add_parser(
        "compositional",
        help="GenEval/LMD-style tasks and regional tasks, arm by arm, with a report",
    )
    add_compositional_arguments(compositional)
    compositional.set_defaults(run=run_compositional)
    merge = suites.add_parser("merge", help="merge shards of `eval compositional` into one report")
    merge.add_argument("folders", nargs="+", metavar="DIR", help="--report folders of the shards")
    merge.add_argument("--out", required=True, metavar="DIR", help="new folder for the merge")
    merge.add_argument("--json", action="store_true", help="print only the JSON summary")
    merge.set_defaults(run=run_merge)


def add_regional_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pakati eval regional`` (and ``python -m pakati.evals.regional_eval``)."""
    parser.add_argument(
        "--n", type=int_at_least(1), default=200, help="number of layouts (default 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="layout seed (default 0)")
    parser.add_argument("--mode", choices=REGIONAL_MODES, default="attention", help="regional mode")
    parser.add_argument("--size", type=int_at_least(32), default=128, help="canvas side in pixels")
    parser.add_argument(
        "--steps", type=int_at_least(1), default=None, help="override the model's steps"
    )
    parser.add_argument(
        "--guidance", type=float_between(0.0, 50.0), default=None, help="override guidance"
    )
    parser.add_argument("--model", default=None, help="model (default: the embedded model)")
    add_device_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument(
        "--save",
        metavar="DIR",
        default=None,
        help="keep every image (NNN.png) with its layout and verdicts (NNN.json) in DIR "
        "(new or empty)",
    )
    parser.add_argument(
        "--min-regions", type=int, default=2, help="fewest objects per layout (default 2)"
    )
    parser.add_argument(
        "--max-regions", type=int, default=4, help="most objects per layout (default 4, up to 6)"
    )
    parser.add_argument(
        "--small",
        type=float,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="FRACTION",
        help="small objects (10-20 px on 128, each in a small box): every object with "
        "--small alone, else this share of them (default none)",
    )
    parser.add_argument(
        "--detail",
        action="store_true",
        help="detail pass: redraw small regions zoomed in after the main pass (slower)",
    )


def run_regional(args: argparse.Namespace) -> int:
    from pakati.evals.regional_eval import main

    with _saving(args.save):
        return main(args)


@contextmanager
def _saving(folder: str | None) -> Iterator[None]:
    """Hold the ``--save`` folder's lock while an eval writes into it, so that a second eval
    saving to the same folder fails at once instead of mixing its files in."""
    if folder is None:
        yield
        return
    from pakati_engine.outputs import output_lock

    with output_lock(Path(folder)):
        yield


def add_planner_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pakati eval planner`` (and ``python -m pakati.evals.planner_eval``)."""
    parser.add_argument(
        "--n", type=int_at_least(1), default=300, help="number of goals (default 300)"
    )
    parser.add_argument("--seed", type=int, default=0, help="goal seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument(
        "--failures",
        type=int,
        default=3,
        metavar="K",
        help="without --json, show up to K misread phrasings per style (default 3)",
    )


def run_planner(args: argparse.Namespace) -> int:
    from pakati.evals.planner_eval import main

    return main(args)


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pakati eval agent``."""
    parser.add_argument(
        "--n", type=int_at_least(1), default=60, help="number of goals (default 60)"
    )
    parser.add_argument("--seed", type=int, default=0, help="goal seed (default 0)")
    parser.add_argument(
        "--max-passes", type=int_at_least(1), default=3, help="passes per goal (default 3)"
    )
    parser.add_argument("--save", metavar="DIR", default=None, help="keep each goal's passes")
    add_device_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype``: where and how the image model runs."""
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    parser.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")


def run_agent(args: argparse.Namespace) -> int:
    from pakati.evals.agent_eval import main

    with _saving(args.save):
        return main(args)


#: Arms and tasks of ``eval compositional`` (a test checks they match ``pakati.evals``).
COMPOSITIONAL_ARMS = ("plain", "attention", "latent", "agent", "controlnet", "remote")
COMPOSITIONAL_TASKS = (
    "single_object", "two_objects", "counting", "colors", "position", "color_attribution",
    "spatial_relation", "sizes", "negation", "leakage", "locked_identity", "edit_locality",
)  # fmt: skip


def add_compositional_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pakati eval compositional``."""
    parser.add_argument("--n", type=int_at_least(1), default=20, help="cases per task (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="case seed (default 0)")
    parser.add_argument(
        "--tasks",
        default=None,
        help=f"comma-separated tasks (default all: {', '.join(COMPOSITIONAL_TASKS)})",
    )
    parser.add_argument(
        "--arms",
        default="plain,attention,latent",
        help=f"comma-separated arms of {', '.join(COMPOSITIONAL_ARMS)} "
        "(default plain,attention,latent)",
    )
    parser.add_argument(
        "--agent-passes", type=int_at_least(1), default=2, help="agent arm: passes (default 2)"
    )
    parser.add_argument(
        "--remote-model",
        default="dall-e-2",
        help="remote arm: the provider model every region is drawn with (default dall-e-2; "
        "its key and base URL come from the environment or .env)",
    )
    parser.add_argument(
        "--steps", type=int_at_least(1), default=None, help="override the model's steps"
    )
    parser.add_argument("--model", default=None, help="model (default: the embedded model)")
    parser.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help="write summary.json, cases.jsonl, report.md/.html, plots and images to DIR "
        "(new, or an earlier run of the same settings, which is resumed)",
    )
    parser.add_argument("--shard", default=None, metavar="i/N", help="run slice i of N (0-based)")
    parser.add_argument(
        "--workers", type=int_at_least(1), default=1, help="local worker processes (default 1)"
    )
    parser.add_argument(
        "--threads",
        type=int_at_least(1),
        default=1,
        help="torch threads per worker (default 1: pixels depend on the thread count, so 1 "
        "keeps the verdicts the same whatever --workers; use --workers for the other cores)",
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local worker processes (default) or Ray actors (pip install 'pakati[ray]')",
    )
    parser.add_argument(
        "--address", default=None, help="--backend ray: the Ray cluster to join (default: local)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")


def run_compositional(args: argparse.Namespace) -> int:
    from pakati.evals.compositional import main

    with _saving(args.report):
        return main(args)


def run_merge(args: argparse.Namespace) -> int:
    from pakati.evals.compositional import main_merge

    with _saving(args.out):
        return main_merge(args)
