"""``pakati agent`` (goal -> refined image, live progress) and ``pakati chat`` (multi-turn edits).

``pakati agent "a red circle on the left and a blue square on the right, white background"
--target 0.30 --max-passes 5 --out result.png`` prints the plan, each pass's overall and
per-region scores and what the refiner changed, then why it stopped. With ``--json`` the
last line is one JSON object (passes, scores, final_score, stop_reason, image, timings).
With ``--thread ID`` the run is checkpointed (``--checkpoint FILE``, default beside
``--out``); running the same command again after a crash resumes it.

``pakati chat`` reads one instruction per line from stdin: the first describes the image,
later ones edit it ("now make the circle green", "keep the square, enlarge the circle").

The agent's modules (LangChain, LangGraph, the engine) are imported when a command runs,
not when the parser is built, so other ``pakati`` commands start as fast as before.
"""

# LangChain, LangGraph and the engine are imported inside the commands, not here, so that
# building the parser and `pakati --help` import neither them nor torch.

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.agents.providers import PROVIDERS
from pakati.cli.common import (
    claimed_output,
    emit_json,
    float_between,
    int_at_least,
    parse_size,
    run_guarded,
)
from pakati_engine.errors import PakatiError

if TYPE_CHECKING:
    from pakati.agents.schemas import Critique, Plan
    from pakati.orchestrator import Context, PakatiOrchestrator


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="image model (default: the shapes model, else tiny-random)")
    parser.add_argument("--provider", choices=PROVIDERS, help="LLM provider (default: from env)")
    parser.add_argument("--llm-model", help="LLM model name (default: PAKATI_LLM_MODEL)")
    parser.add_argument(
        "--size", type=parse_size, default=(128, 128), help="canvas WIDTHxHEIGHT (default 128x128)"
    )
    parser.add_argument(
        "--steps", type=int_at_least(1), help="denoising steps (default: the model's)"
    )
    parser.add_argument(
        "--target", type=float_between(-1.0, 1.0), default=0.30, help="score to reach (cosine)"
    )
    parser.add_argument("--json", action="store_true", help="print only a JSON summary on stdout")
    parser.add_argument("--seed", type=int_at_least(0), help="canvas noise seed (default 0)")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    parser.add_argument("--dtype", default=None, help="auto (default), fp32, fp16, bf16")
    parser.add_argument(
        "--timeout",
        type=float_between(0.0, 3600.0, open_low=True),
        default=60.0,
        help="seconds an LLM request may take (default 60; one retry)",
    )
    parser.add_argument(
        "--trust-env-file",
        action="store_true",
        help="allow a base URL from ./.env to receive an API key from the environment",
    )


def add_commands(commands: Any) -> None:
    """Add ``agent`` and ``chat`` to the ``pakati`` subcommands."""
    agent = commands.add_parser("agent", help="plan, generate, check and refine toward a goal")
    add_agent_arguments(agent)
    agent.set_defaults(run=run_agent)
    chat = commands.add_parser("chat", help="multi-turn editing, one instruction per stdin line")
    add_chat_arguments(chat)
    chat.set_defaults(run=run_chat)


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "goal", type=goal_text, help="what the image should show, in plain language"
    )
    _common(parser)
    parser.add_argument(
        "--max-passes", type=int_at_least(1), default=5, help="most generation passes"
    )
    parser.add_argument(
        "--patience",
        type=int_at_least(1),
        default=2,
        help="stop after this many passes without improvement",
    )
    parser.add_argument("--out", type=Path, required=True, help="output PNG path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--thread", type=thread_name, help="checkpoint thread id, a plain name (resumable run)"
    )
    parser.add_argument("--checkpoint", type=Path, help="SQLite checkpoint file")


def goal_text(text: str) -> str:
    """The type of the goal: some words (an empty goal is refused before any model loads)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the goal is empty: say what the image should show")
    return text


def thread_name(text: str) -> str:
    """The type of ``--thread``: a plain name (it names the run's pass folder)."""
    from pakati.threads import check_thread_id

    try:
        return check_thread_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--out-dir", type=Path, default=Path("pakati-chat"), help="images go here")


def _context(args: argparse.Namespace, goal: str, workdir: Path) -> Context:
    from pakati.orchestrator import Context

    width, height = args.size
    return Context(
        primary_goal=goal,
        width=width,
        height=height,
        model=args.model,
        target=args.target,
        max_passes=getattr(args, "max_passes", 1),
        patience=getattr(args, "patience", 2),
        provider=args.provider,
        llm_model=args.llm_model,
        llm_timeout=args.timeout,
        trust_env_file=args.trust_env_file,
        workdir=str(workdir),
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
    )


def run_agent(args: argparse.Namespace, **inject: Any) -> int:
    """Run the agent loop through ``PakatiOrchestrator.run``; ``inject`` (llm=, model=,
    scorer=) is for tests and embedding."""
    from pakati.threads import check_checkpoint_file

    out: Path = args.out
    checkpoint = args.checkpoint or (out.with_suffix(".agent.sqlite") if args.thread else None)
    if checkpoint is not None:
        check_checkpoint_file(checkpoint)
    with claimed_output(out, args.overwrite, [checkpoint] if checkpoint else []):
        return _run_agent(args, out, checkpoint, inject)


def _run_agent(
    args: argparse.Namespace, out: Path, checkpoint: Path | None, inject: dict[str, Any]
) -> int:
    from pakati.orchestrator import PakatiOrchestrator

    # A resumable thread keeps its pass folder; any other run gets a folder of its own.
    thread = args.thread or "run"
    # Time and process id name it; a random tail keeps two runs of one process in the same
    # second apart.
    stamp = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    run_name = args.thread or stamp
    workdir = out.parent / f".{out.stem}.passes" / run_name
    context = _context(args, args.goal, workdir)
    _announce_provider(context, inject)
    orchestrator = PakatiOrchestrator(context, steps=args.steps, **inject)
    say = _printer(args.json)
    services = orchestrator.services
    say(f"model: {services.session.model_name}; planner: {type(services.llm).__name__}")
    start = time.perf_counter()
    status = orchestrator.thread_status(thread, checkpoint, args.goal)
    if status == "unfinished":
        say(f"resuming thread {thread!r} from {checkpoint}")
    elif status == "finished":
        say(
            f"thread {thread!r} already finished: its result is delivered again "
            "(another --thread runs anew)"
        )
    final = orchestrator.run(
        args.goal,
        thread_id=thread,
        checkpoint=checkpoint,
        on_update=lambda node, update: _progress(node, update, say),
    )
    return _finish(args, final, out, time.perf_counter() - start, say)


def _announce_provider(context: Context, inject: dict[str, Any]) -> None:
    """Say which LLM plans and, before any request carries a key, where requests go when
    that is not the provider's official API (stderr, so --json output stays clean)."""
    from pakati.orchestrator import provider_config

    if inject.get("llm") is not None:
        return
    config = provider_config(context)
    print(f"LLM: {config.describe()}", file=sys.stderr)
    notice = config.notice()
    if notice:
        print(f"note: {notice}", file=sys.stderr, flush=True)


def _printer(quiet_json: bool) -> Any:
    def say(text: str) -> None:
        print(text, flush=True)

    return say


def _progress(node: str, update: dict[str, Any], say: Any) -> None:
    from pakati.agents.schemas import Critique, Plan

    if node == "planner":
        say(Plan.model_validate(update["plan"]).summary())
    elif node == "executor":
        seconds = update.get("timings", {}).get("generating", 0.0)
        say(f"pass {update['pass_number']}: generated {update['images'][0]} in {seconds:.1f}s")
    elif node == "critic":
        review = Critique.model_validate(update["critiques"][0])
        say(_critique_line(review))
        if update.get("stop_reason"):
            say(f"stopping: {update['stop_reason']}")
    elif node == "refiner":
        for change in update.get("changes", [[]])[0]:
            say(f"  refiner: {change}")
        pending = update.get("pending", {})
        what = "whole canvas" if pending.get("full") else ", ".join(pending.get("regenerate", []))
        say(f"  next pass regenerates: {what}")


def _critique_line(review: Critique) -> str:
    regions = "  ".join(
        f"{v.name}={v.score:.3f}" + (" ok" if v.passed else f" FAIL({v.problem or 'check'})")
        for v in review.regions
    )
    extra = []
    if review.extras:
        extra.append(f"{len(review.extras)} object(s) outside every region")
    if review.background_ok is False:
        extra.append("background wrong")
    extra += [f"{r.detail}" for r in review.relations if not r.holds]
    more = f"; {'; '.join(extra)}" if extra else ""
    return (
        f"  score {review.score:.3f} (global {review.global_score:.3f}, "
        f"CLIPScore {review.clip_score:.1f}); regions: {regions or 'none'}{more}"
    )


def _finish(args: Any, final: Any, out: Path, wall: float, say: Any) -> int:
    scores = [float(s) for s in final.get("scores", [])]
    if not scores:
        print("error: the run produced no image", file=sys.stderr)
        return 1
    from pakati.graphs import delivered_pass
    from pakati.orchestrator import copy_output

    best = delivered_pass(final)
    copy_output(Path(final["images"][best]), out, overwrite=args.overwrite)
    timings = {k: round(float(v), 3) for k, v in final.get("timings", {}).items()}
    for key in ("planning", "generating", "scoring"):
        timings.setdefault(key, 0.0)
    timings["total"] = round(wall, 3)
    work = timings["planning"] + timings["generating"] + timings["scoring"]
    timings["overhead"] = round(max(0.0, wall - work), 3)
    report = {
        "passes": int(final.get("pass_number", len(scores))),
        "scores": [round(s, 4) for s in scores],
        "first_score": round(scores[0], 4),
        "final_score": round(scores[best], 4),
        "best_pass": best + 1,
        "stop_reason": final.get("stop_reason"),
        "image": str(out),
        "timings": timings,
    }
    say(
        f"done: {report['stop_reason']} after {report['passes']} pass(es); "
        f"score {scores[0]:.3f} -> {scores[best]:.3f} (best pass {best + 1}); wrote {out}"
    )
    say(
        "time: planning {planning:.2f}s, generating {generating:.2f}s, scoring {scoring:.2f}s, "
        "total {total:.2f}s (agent overhead {overhead:.2f}s)".format(**timings)
    )
    if args.json:
        emit_json(report)
    return 0


def run_chat(args: argparse.Namespace, stdin: Any = None, **inject: Any) -> int:
    """Multi-turn editing from stdin lines through ``PakatiOrchestrator``: the first line is
    planned, later ones edit the plan, and regions an edit leaves alone are kept exactly."""
    from pakati.cli.boundary import classify
    from pakati.orchestrator import PakatiOrchestrator

    lines = stdin if stdin is not None else sys.stdin
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    context = _context(args, "", out_dir)
    _announce_provider(context, inject)
    orchestrator = PakatiOrchestrator(context, steps=args.steps, **inject)
    plan: Plan | None = None
    turns: list[dict[str, Any]] = []
    failed = 0
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        if text.lower() in ("quit", "exit", "q"):
            break
        print(f"> {text}")
        try:
            plan, turn = _chat_turn(orchestrator, plan, text, len(turns) + 1)
        except (PakatiError, OSError) as error:
            # One bad instruction, or a full or read-only disk, does not end the session:
            # the last image and plan stay (an image is written with its sidecar or not at
            # all).
            print(f"error: {classify(error).message} (the previous image is kept; try again)")
            failed += 1
            continue
        turns.append(turn)
    if args.json:
        emit_json({"turns": turns})
    return 1 if failed else 0


def _chat_turn(
    orchestrator: PakatiOrchestrator, plan: Plan | None, text: str, number: int
) -> tuple[Plan, dict[str, Any]]:
    """Plan (first turn) or edit the plan as ``text`` says, draw it, check it, report it."""
    plan = orchestrator.create_plan(text) if plan is None else orchestrator.edit_plan(plan.id, text)
    redraw = orchestrator.redraw_of(plan.id)
    result = orchestrator.execute_plan(plan.id)
    review = orchestrator.check_alignment(result.image, plan.goal or text, plan.id).critique
    changed = [r.name for r in plan.regions] if redraw.full else redraw.regenerate
    kept = [] if redraw.full else [r.name for r in plan.regions if r.name not in changed]
    print(plan.summary())
    what = "whole canvas" if redraw.full else (", ".join(changed) or "nothing")
    print(f"regenerated: {what}; kept exactly: {', '.join(kept) or 'none'}")
    print(_critique_line(review), flush=True)
    turn = {"turn": number, "image": str(result.path), "score": round(review.score, 4),
            "changed": changed, "kept": kept, "full": redraw.full}  # fmt: skip
    return plan, turn


def main(argv: list[str] | None = None) -> int:
    """``python -m pakati.cli.agent agent|chat ...`` (the same as ``pakati agent|chat``)."""
    parser = argparse.ArgumentParser(prog="python -m pakati.cli.agent")
    commands = parser.add_subparsers(dest="command", required=True)
    add_agent_arguments(commands.add_parser("agent", help="goal -> refined image"))
    add_chat_arguments(commands.add_parser("chat", help="multi-turn editing from stdin"))
    args = parser.parse_args(argv)
    return run_guarded(run_agent if args.command == "agent" else run_chat, args)


if __name__ == "__main__":
    sys.exit(main())
