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
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.agents.providers import PROVIDERS
from pakati.cli.common import parse_size

if TYPE_CHECKING:
    from pakati.agents.schemas import Critique, Plan
    from pakati.orchestrator import Context


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="image model (default: the shapes model, else tiny-random)")
    parser.add_argument("--provider", choices=PROVIDERS, help="LLM provider (default: from env)")
    parser.add_argument("--llm-model", help="LLM model name (default: PAKATI_LLM_MODEL)")
    parser.add_argument("--size", default="128x128", help="canvas WIDTHxHEIGHT (default 128x128)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--target", type=float, default=0.30, help="score to reach (cosine)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")


def add_commands(commands: Any) -> None:
    """Add ``agent`` and ``chat`` to the ``pakati`` subcommands."""
    agent = commands.add_parser("agent", help="plan, generate, check and refine toward a goal")
    add_agent_arguments(agent)
    agent.set_defaults(run=run_agent)
    chat = commands.add_parser("chat", help="multi-turn editing, one instruction per stdin line")
    add_chat_arguments(chat)
    chat.set_defaults(run=run_chat)


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("goal", help="what the image should show, in plain language")
    _common(parser)
    parser.add_argument("--max-passes", type=int, default=5, help="most generation passes")
    parser.add_argument("--out", type=Path, required=True, help="output PNG path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--thread", help="checkpoint thread id (resumable run)")
    parser.add_argument("--checkpoint", type=Path, help="SQLite checkpoint file")


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--out-dir", type=Path, default=Path("pakati-chat"), help="images go here")


def _context(args: argparse.Namespace, goal: str, workdir: Path) -> Context:
    from pakati.orchestrator import Context

    width, height = parse_size(args.size)
    return Context(
        primary_goal=goal,
        width=width,
        height=height,
        model=args.model,
        target=args.target,
        max_passes=getattr(args, "max_passes", 1),
        provider=args.provider,
        llm_model=args.llm_model,
        workdir=str(workdir),
    )


def run_agent(args: argparse.Namespace, **inject: Any) -> int:
    """Run the agent loop; ``inject`` (llm=, model=, scorer=) is for tests and embedding."""
    from pakati.graphs import (
        build_graph,
        has_unfinished_run,
        initial_state,
        open_checkpointer,
        run_agent_graph,
        run_config,
    )
    from pakati.orchestrator import make_services

    out: Path = args.out
    if out.exists() and not args.overwrite:
        print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    thread = args.thread or "run"
    checkpoint = args.checkpoint or (out.with_suffix(".agent.sqlite") if args.thread else None)
    workdir = out.parent / f".{out.stem}.passes" / thread
    context = _context(args, args.goal, workdir)
    services = make_services(context, steps=args.steps, **inject)
    say = _printer(args.json)
    say(f"model: {services.session.model_name}; planner: {type(services.llm).__name__}")
    start = time.perf_counter()
    with open_checkpointer(checkpoint) as saver:
        graph = build_graph(services, saver)
        config = run_config(thread, context.max_passes)
        state = None
        if checkpoint is not None and has_unfinished_run(graph, config):
            say(f"resuming thread {thread!r} from {checkpoint}")
        elif checkpoint is not None and graph.get_state(config).values:
            say(f"thread {thread!r} already finished; use another --thread to run again")
            final = run_agent_graph(graph, None, config, None)
            return _finish(args, final, out, time.perf_counter() - start, say)
        else:
            state = initial_state(
                args.goal, context.target, context.max_passes, context.width, context.height
            )
        final = run_agent_graph(graph, state, config, lambda n, u: _progress(n, u, say))
    return _finish(args, final, out, time.perf_counter() - start, say)


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
        f"{v.name}={v.score:.3f}{' ok' if v.passed else ' FAIL'}" for v in review.regions
    )
    return (
        f"  score {review.score:.3f} (global {review.global_score:.3f}, "
        f"CLIPScore {review.clip_score:.1f}); regions: {regions or 'none'}"
    )


def _finish(args: Any, final: Any, out: Path, wall: float, say: Any) -> int:
    scores = [float(s) for s in final.get("scores", [])]
    if not scores:
        print("error: the run produced no image", file=sys.stderr)
        return 1
    best = max(range(len(scores)), key=scores.__getitem__)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(final["images"][best], out)
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
        print(json.dumps(report), flush=True)
    return 0


def run_chat(args: argparse.Namespace, stdin: Any = None, **inject: Any) -> int:
    """Multi-turn editing from stdin lines; regions an edit leaves alone are kept exactly."""
    from pakati.agents import critic, executor, planner
    from pakati.graphs.nodes import impose_settings
    from pakati.orchestrator import make_services
    from pakati.tools.session import load_rgb

    lines = stdin if stdin is not None else sys.stdin
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    context = _context(args, "", out_dir)
    services = make_services(context, steps=args.steps, **inject)
    session = services.session
    plan: Plan | None = None
    image: Path | None = None
    turns: list[dict[str, Any]] = []
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        if text.lower() in ("quit", "exit", "q"):
            break
        width, height = context.width, context.height
        if plan is None:
            new = planner.make_plan(services.llm, text, width, height, method=services.method)
        else:
            new = planner.edit_plan(services.llm, plan, text, method=services.method)
        new = impose_settings(new, services)
        out = f"turn-{len(turns) + 1}.png"
        changed, vacated, full = _changed_regions(plan, new)
        if plan is None or image is None or full:
            image = executor.execute_plan(session, new, out)
        elif changed or vacated:
            image = executor.regenerate_failing(session, new, image, changed, out, vacated)
        review = critic.critique_image(load_rgb(image), new, session.scorer, context.target)
        plan = new
        kept = [r.name for r in new.regions if r.name not in changed]
        turns.append(
            {"turn": len(turns) + 1, "image": str(image), "score": round(review.score, 4),
             "changed": changed, "kept": [] if full else kept, "full": full}
        )  # fmt: skip
        print(f"> {text}")
        print(new.summary())
        what = "whole canvas" if full else (", ".join(changed) or "nothing")
        print(f"regenerated: {what}; kept exactly: {', '.join(turns[-1]['kept']) or 'none'}")
        print(_critique_line(review), flush=True)
    if args.json:
        print(json.dumps({"turns": turns}))
    return 0


def _changed_regions(
    old: Plan | None, new: Plan
) -> tuple[list[str], dict[str, tuple[float, float, float, float]], bool]:
    """What an edit needs redrawn: (regions to regenerate, vacated old boxes, full redraw).

    A full redraw is needed only on the first turn or when canvas settings change; a
    region that moved, grew, shrank or was removed has its old box redrawn as background,
    and every region the edit left alone keeps its pixels exactly.
    """
    if old is None:
        return [r.name for r in new.regions], {}, True
    canvas_keys = ("width", "height", "base_prompt", "negative_prompt", "steps", "guidance_scale")
    if any(getattr(old, k) != getattr(new, k) for k in canvas_keys):
        return [r.name for r in new.regions], {}, True
    before = {r.name: r for r in old.regions}
    after = {r.name: r for r in new.regions}
    fields = ("prompt", "negative_prompt", "weight", "seed")
    changed: list[str] = []
    vacated: dict[str, tuple[float, float, float, float]] = {}
    for name, region in after.items():
        previous = before.get(name)
        if previous is None or any(getattr(region, f) != getattr(previous, f) for f in fields):
            changed.append(name)
        if previous is not None and region.bounds != previous.bounds:
            changed.append(name)
            vacated[name] = tuple(float(v) for v in previous.bounds)  # type: ignore[assignment]
    for name in set(before) - set(after):
        vacated[name] = tuple(float(v) for v in before[name].bounds)  # type: ignore[assignment]
    return list(dict.fromkeys(changed)), vacated, False


def main(argv: list[str] | None = None) -> int:
    """``python -m pakati.cli.agent agent|chat ...`` (the same as ``pakati agent|chat``)."""
    parser = argparse.ArgumentParser(prog="python -m pakati.cli.agent")
    commands = parser.add_subparsers(dest="command", required=True)
    add_agent_arguments(commands.add_parser("agent", help="goal -> refined image"))
    add_chat_arguments(commands.add_parser("chat", help="multi-turn editing from stdin"))
    args = parser.parse_args(argv)
    return run_agent(args) if args.command == "agent" else run_chat(args)


if __name__ == "__main__":
    sys.exit(main())
