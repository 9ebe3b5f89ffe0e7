"""``python -m pakati.server`` and ``pakati serve``: options, safety checks, start uvicorn.

Standard library only at module level: ``pakati --help`` builds this parser without
importing FastAPI, torch or the engine.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; any other needs --token)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8000)")
    parser.add_argument(
        "--token",
        default=os.environ.get("PAKATI_SERVER_TOKEN"),
        help="require this token on every API request (default: $PAKATI_SERVER_TOKEN)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=Path("pakati-project"),
        help="the folder the server may read and write (default ./pakati-project)",
    )
    parser.add_argument("--model", help="canvas model (default: pakati-shapes when installed)")
    parser.add_argument(
        "--provider", help="LLM provider of the chat (default: from the environment; offline)"
    )
    parser.add_argument("--max-passes", type=int, default=3, help="agent passes per goal")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_args(args: argparse.Namespace) -> str | None:
    """Why these options are refused (None: they are fine)."""
    if not 0 < args.port < 65536:
        return f"--port must be 1-65535, got {args.port}"
    if not is_loopback(args.host) and not args.token:
        return (
            f"--host {args.host} would expose the canvas beyond this machine; give --token "
            "SECRET (or set PAKATI_SERVER_TOKEN) so only people with the token can use it"
        )
    if args.token is not None and len(args.token) < 8:
        return "--token must be at least 8 characters"
    if args.max_passes < 1:
        return "--max-passes must be at least 1"
    return None


def url_of(args: argparse.Namespace) -> str:
    host = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    base = f"http://{host}:{args.port}/"
    return base + (f"?token={args.token}" if args.token else "")


def serve(args: argparse.Namespace) -> int:
    problem = check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import uvicorn

    from pakati.server.app import ServerConfig, create_app

    config = ServerConfig(
        root=args.project,
        host=args.host,
        token=args.token,
        model=args.model,
        provider=args.provider,
        max_passes=args.max_passes,
    )
    app = create_app(config)
    print(f"Pakati web canvas: {url_of(args)}  (project folder {config.root})", flush=True)
    options: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": "warning"}
    uvicorn.run(app, **options)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pakati.server", description="The Pakati web canvas and chat."
    )
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    from pakati_engine.env_file import apply_plain_settings

    apply_plain_settings(".env")  # as `pakati serve` does: plain settings only, env wins
    return serve(args)
