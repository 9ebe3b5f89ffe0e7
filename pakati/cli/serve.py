"""``pakati serve``: the web canvas and chat (the same as ``python -m pakati.server``)."""

# pakati.server.cli imports only the standard library; FastAPI and the engine are imported
# when the command runs.

from __future__ import annotations

from typing import Any

from pakati.server.cli import add_serve_arguments, serve


def add_commands(commands: Any) -> None:
    """Add ``serve`` to the ``pakati`` subcommands."""
    parser = commands.add_parser(
        "serve",
        help="start the web canvas and chat (http://localhost:8000)",
        description="Start the web canvas: draw regions, generate with live progress, edit, "
        "and chat with the agent. Listens on 127.0.0.1 unless --host (which needs --token).",
    )
    add_serve_arguments(parser)
    parser.set_defaults(run=serve)
