"""``pakati eval compositional`` and ``pakati eval merge``: the commands around the harness.

``pakati eval compositional --n 20 --seed 0 --arms plain,attention,latent --report DIR``
draws ``n`` cases of every task (:mod:`pakati.evals.comp_tasks`) with every arm
(:mod:`pakati.evals.comp_arms`), judges them (:mod:`pakati.evals.comp_verdicts`), and writes
``DIR/summary.json``, ``DIR/cases.jsonl`` and the reports (:mod:`pakati.evals.comp_report`).
``--shard i/N`` runs a deterministic slice; running again into the same DIR resumes;
``pakati eval merge DIR... --out DIR`` merges shards into the summary of an unsharded run.
Without ``--report`` the run goes to a temporary folder and only the summary is printed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from pakati.cli.common import emit_json
from pakati.evals.comp_arms import ARMS, Settings, check_remote_model
from pakati.evals.comp_runner import execute, merge, print_progress, read_records
from pakati.evals.comp_tasks import TASKS, parse_shard, sample_cases, shard_cases
from pakati_engine.errors import InvalidInputError


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise InvalidInputError(
            f"--{what}: unknown {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(known)}"
        )
    return names


def _command() -> str:
    return "pakati " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def main(args: argparse.Namespace) -> int:
    """Run (or resume) the eval; prints the summary as one JSON line last."""
    tasks = _names(args.tasks, TASKS, "tasks") if args.tasks else TASKS
    arms = _names(args.arms, ARMS, "arms")
    shard = parse_shard(args.shard) if args.shard else (0, 1)
    if "remote" in arms:
        check_remote_model(args.remote_model)
    if args.workers < 1 or args.threads < 1:
        raise InvalidInputError("--workers and --threads must be at least 1")
    config = {
        "seed": args.seed,
        "n": args.n,
        "tasks": list(tasks),
        "arms": list(arms),
        "steps": args.steps,
        "agent_passes": args.agent_passes,
        "model": args.model,
        "size": 128,
        "shard": f"{shard[0]}/{shard[1]}",
        "remote_model": args.remote_model if "remote" in arms else None,
    }
    cases = shard_cases(sample_cases(args.n, args.seed, tasks), *shard)
    settings = Settings(
        steps=args.steps, agent_passes=args.agent_passes, remote_model=args.remote_model
    )
    keep = args.report is not None
    folder = Path(args.report) if keep else Path(tempfile.mkdtemp(prefix="pakati-eval-"))
    progress = None if args.quiet else print_progress
    summary = execute(
        folder, cases, config, settings, args.workers, args.threads, progress, keep,
        backend=args.backend, address=args.address,
    )  # fmt: skip
    if keep:
        from pakati.evals.comp_report import table_markdown, write_report

        write_report(folder, summary, read_records(folder), _command())
        if not args.json:
            print(table_markdown(summary))
            print(f"report: {folder / 'report.html'}")
    emit_json(summary)
    return 0


def main_merge(args: argparse.Namespace) -> int:
    """Merge shard folders into ``--out`` and write its report."""
    from pakati.evals.comp_report import table_markdown, write_report

    out = Path(args.out)
    summary = merge([Path(f) for f in args.folders], out)
    write_report(out, summary, read_records(out), _command())
    if not args.json:
        print(table_markdown(summary))
    emit_json(summary)
    return 0
