"""``pakati understand``: learn a reference by reconstruction and report how well.

Heavy imports (torch, the model) happen inside the command, so ``pakati --help`` stays
instant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pakati.cli.common import emit_json, int_at_least


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "understand",
        help="learn a reference by reconstructing it from partial views (understanding level)",
    )
    parser.add_argument("reference", type=Path)
    parser.add_argument(
        "--strategies",
        help="comma-separated masking strategies (default: all seven); every second is held out",
    )
    parser.add_argument("--max-attempts", type=int_at_least(1), default=15)
    parser.add_argument("--steps", type=int_at_least(1), help="denoising steps per reconstruction")
    parser.add_argument("--model", default="pakati-shapes")
    parser.add_argument("--size", type=int_at_least(8), default=128, help="working size (px)")
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    parser.add_argument("--out", type=Path, help="also write understanding.json to this folder")
    parser.add_argument(
        "--store",
        type=Path,
        help="store of understood references (default: $PAKATI_HOME/understood)",
    )
    parser.add_argument(
        "--token-steps",
        type=int_at_least(0),
        default=40,
        help="textual-inversion steps per attempt (0: learn no token)",
    )
    parser.add_argument("--token-vectors", type=int_at_least(1), default=2)
    parser.add_argument("--json", action="store_true", help="print JSON as the last line")
    parser.set_defaults(run=understand)


def understand(args: argparse.Namespace) -> int:
    from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
    from pakati_engine.models.loading import load_model
    from pakati_engine.understanding import MASKING_STRATEGIES, check_strategies
    from pakati_engine.understanding.inversion import InversionSettings

    strategies = (
        check_strategies([s.strip() for s in args.strategies.split(",") if s.strip()])
        if args.strategies
        else list(MASKING_STRATEGIES)
    )
    reference = ReferenceImage(args.reference)
    inversion = (
        InversionSettings(vectors=args.token_vectors, steps=args.token_steps, seed=args.seed)
        if args.token_steps
        else None
    )
    engine = ReferenceUnderstandingEngine(
        model=load_model(args.model),
        size=args.size,
        steps=args.steps,
        inversion=inversion,
        store=args.store,
    )
    result = engine.learn_reference(reference, strategies, args.max_attempts, seed=args.seed)
    record = result.to_dict()
    for note in result.notes:
        print(f"note: {note}")
    print(
        f"{result.reference_id}: understanding level {result.understanding_level:.3f} "
        f"(lower bound {result.level_lower_bound:.3f}), mastery "
        f"{'yes' if result.mastery_achieved else 'no'}, {len(result.attempts)} attempts"
    )
    for name, score in record["strategy_scores"].items():
        level = (
            "n/a (oracle no better than filling)"
            if score["level"] is None
            else f"{score['level']:.3f}"
        )
        print(f"  {name:<20} {'held out' if score['held_out'] else 'trained':<9} {level}")
    reproduction = result.pathway_reproduction
    print(
        "pathway reproduction (whole image): "
        + ", ".join(f"{k} {v:.3f}" for k, v in reproduction.items() if k != "seeds")
    )
    if result.token is not None:
        words = result.token_report.get("nearest_world_words", [])
        print(f"token {result.token} -> {result.embedding_path}; nearest words {words}")
    print(f"saved to {engine.store.folder(result.reference_id)}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "understanding.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.json:
        emit_json(
            {
                "reference_id": result.reference_id,
                "understanding_level": record["understanding_level"],
                "level_lower_bound": record["level_lower_bound"],
                "mastery_achieved": result.mastery_achieved,
                "strategy_scores": {k: v["level"] for k, v in record["strategy_scores"].items()},
                "attempts": len(result.attempts),
                "token": result.token,
                "embedding": result.embedding_path,
                "pathway_reproduction": reproduction,
            }
        )
    return 0
