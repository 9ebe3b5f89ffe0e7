"""``pakati models``: which image models can draw a region here, and why the rest cannot."""

# The registry is imported inside the command: building the parser stays instant.

from __future__ import annotations

import argparse
from typing import Any

from pakati.cli.common import emit_json


def add_commands(commands: Any) -> None:
    """Add ``models`` to the ``pakati`` subcommands."""
    parser = commands.add_parser(
        "models",
        help="list image models (local and remote) and whether each can be used now",
        description="Model cards: built-in, local model folders, and your own "
        "(PAKATI_MODEL_CARDS). A region's model= may name any of them; keys come from the "
        "environment or .env (PAKATI_API_KEY_OPENAI/_REPLICATE/_HUGGINGFACE, OPENAI_API_KEY, "
        "REPLICATE_API_TOKEN, HF_TOKEN).",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    parser.add_argument(
        "--offline", action="store_true", help="as if offline: remote models are not usable"
    )
    parser.add_argument(
        "--trust-env-file",
        action="store_true",
        help="let a base URL from .env receive a key from your environment",
    )
    parser.set_defaults(run=models)


def models(args: argparse.Namespace) -> int:
    from pakati_engine.providers.registry import Registry

    registry = Registry(trust_env_file=args.trust_env_file, offline=True if args.offline else None)
    rows: list[dict[str, Any]] = []
    for status in registry.list():
        card = status.card
        rows.append(
            {
                "id": card.id,
                "aliases": card.aliases,
                "provider": card.provider,
                "kind": card.kind,
                "available": status.available,
                "reason": status.reason,
                "tasks": card.tasks,
                "mask": card.mask,
                "sizes": [f"{w}x{h}" for w, h in card.sizes],
                "seed": card.seed,
                "deterministic": card.deterministic,
                "offline": card.offline,
                "cost_usd": card.cost_usd,
                "latency_s": card.latency_s,
                "quality": card.quality,
                "key_env": card.key_env,
                "source": card.source,
            }
        )
    if args.json:
        emit_json(rows, indent=2)
        return 0
    width = max(len(row["id"]) for row in rows)
    for row in rows:
        mark = "yes" if row["available"] else "no "
        tasks = ", ".join(row["tasks"]) or "-"
        print(f"{row['id']:<{width}}  {mark}  {row['provider']:<11}  {tasks}")
        print(f"{'':<{width}}       {_first_sentence(row['reason'])}")
    usable = sum(row["available"] for row in rows)
    print(f"{usable} of {len(rows)} models usable now")
    return 0


def _first_sentence(text: str) -> str:
    head = text.split(". Looked for")[0]
    return head if len(head) <= 160 else head[:157] + "..."
