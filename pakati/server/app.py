"""The FastAPI application: configuration, security, error mapping, static page, routes.

``create_app(ServerConfig(...))`` builds everything (the worker starts with the app's
lifespan). Security, on by default:

- loopback only unless a token is given (``pakati.server.cli`` enforces it); with a token
  every ``/api`` request needs ``Authorization: Bearer TOKEN`` (or ``?token=`` for the
  event stream, which browsers open without headers);
- on loopback, requests must name a loopback host (a page elsewhere cannot reach the API
  through DNS rebinding);
- no CORS headers: other origins cannot read answers, and a state-changing request that
  carries another origin is refused (403);
- no request names a file path: files are addressed by plain names or content hashes
  inside the project folder; layouts may not point at mask files or model folders on disk;
- every failure is a JSON problem with a status and no traceback (``pakati.server.errors``).
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pakati.server.chat import ChatThreads
from pakati.server.errors import http_status, problem
from pakati.server.jobs import EventLog, Worker
from pakati.server.uploads import MAX_UPLOAD_BYTES
from pakati.version import __version__
from pakati_engine.errors import PakatiError

if TYPE_CHECKING:
    from pakati.server.workspace import Workspace

STATIC = Path(__file__).parent / "static"
#: Seconds a request waits for the canvas to be made at start-up.
WORKSPACE_WAIT_S = 300.0
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


@dataclass
class ServerConfig:
    """How one server runs. ``llm`` and ``scorer`` are injected by tests and embedders."""

    root: Path
    host: str = "127.0.0.1"
    token: str | None = None
    model: str | None = None
    provider: str | None = None
    max_passes: int = 3
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    action_timeout_s: float = 600.0
    """How long a quick action (lock, undo, ...) waits for the worker before a 503."""
    start_worker: bool = True
    """False: jobs queue but never run (the API fuzz tests only the HTTP boundary)."""
    llm: Any = None
    scorer: Any = None


class Server:
    """What the routes share: the workspace, the worker and its events, the chat threads.

    The workspace (the canvas, with torch and the engine behind it) is built on a thread at
    start-up, so the page is served at once; requests that need it wait until it is ready.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.log = EventLog()
        self.worker = Worker(self.log)
        self._workspace: Workspace | None = None
        self._failure: BaseException | None = None
        self._ready = threading.Event()
        for sub in ("projects", "uploads", "chat"):
            (config.root / sub).mkdir(parents=True, exist_ok=True)
        self.chat = ChatThreads(
            config.root,
            lambda: self.workspace,
            self.log,
            provider=config.provider,
            max_passes=config.max_passes,
            llm=config.llm,
            scorer=config.scorer,
        )

    def build_workspace(self) -> None:
        """Import the engine and make the canvas (on a thread: the page is already up)."""
        try:
            from pakati.server.workspace import Workspace

            self._workspace = Workspace(self.config.root, self.config.model)
        except BaseException as error:  # reported to every request that needs the canvas
            self._failure = error
            print(f"error: the canvas could not be made: {error}", file=sys.stderr, flush=True)
        finally:
            self._ready.set()

    @property
    def workspace(self) -> Workspace:
        if not self._ready.wait(WORKSPACE_WAIT_S):
            raise HTTPException(503, "the server is still starting (loading the engine); retry")
        if self._failure is not None:
            if isinstance(self._failure, PakatiError):
                raise self._failure
            raise HTTPException(503, f"the server could not make its canvas: {self._failure}")
        assert self._workspace is not None
        return self._workspace


def create_app(config: ServerConfig) -> FastAPI:
    from pakati.server import routes_canvas, routes_chat, routes_files

    config.root = config.root.resolve()
    config.root.mkdir(parents=True, exist_ok=True)
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        server.log.bind(asyncio.get_running_loop())
        threading.Thread(target=server.build_workspace, name="pakati-start", daemon=True).start()
        if config.start_worker:
            server.worker.start()
        try:
            yield
        finally:
            server.worker.stop()

    app = FastAPI(
        title="Pakati",
        version=__version__,
        description="Regional control for AI image generation: the web canvas and chat.",
        lifespan=lifespan,
        responses={400: {"model": _problem()}, 422: {"model": _problem()}},
    )
    app.state.server = server
    if config.token is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)
    _add_guards(app, config)
    _add_error_handlers(app)
    app.include_router(routes_canvas.router)
    app.include_router(routes_files.router)
    app.include_router(routes_chat.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    return app


def _problem() -> Any:
    from pakati.server.schemas import Problem

    return Problem


def _add_guards(app: FastAPI, config: ServerConfig) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if path.startswith("/api"):
            if config.token is not None and not _token_ok(request, config.token):
                return JSONResponse(
                    {"detail": "missing or wrong token: open the page with ?token=YOUR_TOKEN"},
                    status_code=401,
                )
            origin = request.headers.get("origin")
            if request.method not in ("GET", "HEAD") and origin is not None:
                host = request.headers.get("host", "")
                if origin.split("://", 1)[-1] != host:
                    return JSONResponse(
                        {"detail": f"requests from another site ({origin}) are refused"},
                        status_code=403,
                    )
        try:
            response = await call_next(request)
        except Exception as error:  # not handled below: one JSON problem, never a traceback
            status, detail = problem(error)
            response = JSONResponse({"detail": detail}, status_code=status)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response


def _token_ok(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    given = given or request.query_params.get("token", "")
    return secrets.compare_digest(given.encode(), token.encode())


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PakatiError)
    async def pakati_error(request: Request, error: PakatiError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=http_status(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        lines = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ())) or "(request)"
            lines.append(f"{where}: {item.get('msg', 'invalid')}")
        return JSONResponse(
            {"detail": "invalid request: " + "; ".join(lines)[:4000]}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(error.detail)}, status_code=error.status_code, headers=error.headers
        )
