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
    parser.add_argument(
        "--add-replicate",
        metavar="OWNER/NAME",
        help="read a Replicate model's published input schema (one request with your token), "
        "derive its card and add it to your card file; layouts then name it "
        "replicate:OWNER/NAME",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --add-replicate: replace a card of that id"
    )
    parser.set_defaults(run=models)


def models(args: argparse.Namespace) -> int:
    from pakati_engine.providers.registry import Registry

    registry = Registry(trust_env_file=args.trust_env_file, offline=True if args.offline else None)
    if args.add_replicate:
        return add_replicate(registry, args.add_replicate, overwrite=args.overwrite)
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


def add_replicate(registry: Any, name: str, *, overwrite: bool) -> int:
    """Derive the card of Replicate model ``name`` and add it to the user's card file."""
    import json

    from pakati_engine.errors import UsageError
    from pakati_engine.outputs import atomic_write_bytes
    from pakati_engine.providers.cards import user_cards_path
    from pakati_engine.providers.replicate_cards import PREFIX, fetch_card

    if registry.offline:
        raise UsageError("--add-replicate reads the model's schema from Replicate: not offline")
    card = fetch_card(registry.access("replicate"), name.removeprefix(PREFIX))
    path = user_cards_path()
    existing: list[Any] = []
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UsageError(f"model card file {str(path)!r} is not JSON ({error})") from error
        if not isinstance(existing, list):
            raise UsageError(f"model card file {str(path)!r} must hold a JSON list of cards")
    same = [c for c in existing if isinstance(c, dict) and c.get("id") == card.id]
    if same and not overwrite:
        raise UsageError(f"{path} already has a card {card.id!r}; pass --overwrite to replace it")
    kept = [c for c in existing if not (isinstance(c, dict) and c.get("id") == card.id)]
    entry = card.model_dump(mode="json", exclude={"source"})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps([*kept, entry], indent=2) + "\n").encode())
    print(f"added {card.id} ({', '.join(card.tasks)}) to {path}")
    print(f"  {card.note}")
    return 0


def _first_sentence(text: str) -> str:
    head = text.split(". Looked for")[0]
    return head if len(head) <= 160 else head[:157] + "..."
