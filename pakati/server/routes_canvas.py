"""Canvas routes: state, the draft layout, generate / regenerate / refine (queued jobs with
live progress), lock, undo / redo, jobs and the event stream."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from pakati.server.jobs import Job
from pakati.server.schemas import (
    Accepted,
    ActionResult,
    CanvasState,
    GenerateRequest,
    HistoryItem,
    JobInfo,
    LockRequest,
    RefineRequest,
    RegenerateRequest,
)
from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import Layout

router = APIRouter(prefix="/api", tags=["canvas"])
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
KEEPALIVE_S = 15.0


def server_of(request: Request) -> Any:
    return request.app.state.server


def checked_layout(layout: Layout) -> Layout:
    """Refuse what would let a request reach files outside the project folder."""
    for region in layout.regions:
        if region.mask is not None:
            raise InvalidInputError(
                f"region {region.name or '?'!r} names a mask file; the web API takes masks "
                "inline only (mask_png, base64 PNG) or as a polygon or box"
            )
        control = getattr(region, "control", None)
        if control is not None:
            if control.image is not None:
                raise InvalidInputError(
                    f"region {region.name or '?'!r}: its control names an image file; the web "
                    "API takes control maps inline only (control.image_png, base64 PNG)"
                )
            check_model_name(control.controlnet)
    if layout.loras or layout.embeddings:
        raise InvalidInputError(
            "the layout names LoRA or embedding files; the web API does not load files a "
            "request names: apply them in Python or with `pakati generate` instead"
        )
    for model in [layout.model, *(r.model for r in layout.regions if r.model)]:
        check_model_name(model)
    return layout


def check_model_name(model: str) -> str:
    """A model the server may load: a name or hub id, never a folder or file on disk."""
    if not MODEL_NAME.fullmatch(model) or ".." in model or ("/" in model and Path(model).exists()):
        raise InvalidInputError(
            f"model {model!r} is not a model name: the web API takes names such as "
            "pakati-shapes or a hub id (org/name), not paths"
        )
    return model


def job_info(server: Any, job: Job) -> JobInfo:
    return JobInfo(**job.summary(), position=server.worker.position(job))


def state_of(server: Any) -> CanvasState:
    snap = server.workspace.snapshot
    current = server.worker.current
    return CanvasState(
        layout=snap.layout,
        image_sha256=snap.image_sha256,
        image_url=f"/api/images/{snap.image_sha256}.png" if snap.image_sha256 else None,
        locked=snap.locked,
        head=snap.head,
        history=[HistoryItem(**e) for e in snap.entries],
        can_undo=snap.can_undo,
        can_redo=snap.can_redo,
        job=job_info(server, current) if current is not None else None,
        next_event=server.log.next_seq,
    )


def run_now(server: Any, kind: str, action: Callable[[], dict[str, Any]]) -> ActionResult:
    """Queue a quick action, wait for it, and answer with its message and the new state."""
    result = wait_for(server, kind, action)
    return ActionResult(message=result.get("message", kind), state=state_of(server))


def wait_for(server: Any, kind: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Queue a quick action on the worker, wait for it, and return its result."""
    job = server.worker.submit(kind, lambda job: action())
    if not job.finished.wait(server.config.action_timeout_s):
        server.worker.cancel(job.id)
        raise HTTPException(503, f"{kind} is still waiting behind other work; try again")
    if job.state == "failed":
        raise HTTPException(job.status, job.error or f"{kind} failed")
    if job.state == "cancelled":
        raise HTTPException(409, f"{kind} was cancelled")
    return job.result or {}


def _draft(server: Any, layout: Layout | None) -> None:
    if layout is not None:
        server.workspace.set_draft(checked_layout(layout))


@router.get("/state", response_model=CanvasState, summary="The canvas, its history and job")
def get_state(request: Request) -> CanvasState:
    return state_of(server_of(request))


@router.get("/layout", response_model=Layout, summary="Export the layout (the draft)")
def get_layout(request: Request) -> Layout:
    return server_of(request).workspace.draft


@router.put("/layout", response_model=CanvasState, summary="Replace the draft layout")
def put_layout(layout: Layout, request: Request) -> CanvasState:
    server = server_of(request)
    _draft(server, layout)
    return state_of(server)


@router.post("/generate", response_model=Accepted, status_code=202, summary="Generate")
def generate(body: GenerateRequest, request: Request) -> Accepted:
    server = server_of(request)
    _draft(server, body.layout)
    seed = body.seed if body.seed is not None else server.workspace.draft.seed

    def run(job: Job) -> dict[str, Any]:
        return server.workspace.generate(seed, _reporter(server, job))

    return Accepted(job=job_info(server, server.worker.submit("generate", run)))


@router.post("/regenerate", response_model=Accepted, status_code=202, summary="Redraw regions")
def regenerate(body: RegenerateRequest, request: Request) -> Accepted:
    server = server_of(request)
    _draft(server, body.layout)

    def run(job: Job) -> dict[str, Any]:
        return server.workspace.regenerate(body.regions, body.seed, _reporter(server, job))

    return Accepted(job=job_info(server, server.worker.submit("regenerate", run)))


@router.post("/refine", response_model=Accepted, status_code=202, summary="Refine a region")
def refine(body: RefineRequest, request: Request) -> Accepted:
    server = server_of(request)
    _draft(server, body.layout)

    def run(job: Job) -> dict[str, Any]:
        return server.workspace.refine(body.region, body.strength, _reporter(server, job))

    return Accepted(job=job_info(server, server.worker.submit("refine", run)))


@router.post("/lock", response_model=ActionResult, summary="Lock or unlock a region")
def lock(body: LockRequest, request: Request) -> ActionResult:
    server = server_of(request)
    return run_now(server, "lock", lambda: server.workspace.set_lock(body.region, body.locked))


@router.post("/undo", response_model=ActionResult, summary="Go back one step")
def undo(request: Request) -> ActionResult:
    server = server_of(request)
    return run_now(server, "undo", server.workspace.undo)


@router.post("/redo", response_model=ActionResult, summary="Go forward one step")
def redo(request: Request) -> ActionResult:
    server = server_of(request)
    return run_now(server, "redo", server.workspace.redo)


@router.get("/jobs/{job_id}", response_model=JobInfo, summary="A job's state")
def get_job(job_id: str, request: Request) -> JobInfo:
    server = server_of(request)
    job = server.worker.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} (finished jobs are forgotten after a while)")
    return job_info(server, job)


@router.post("/jobs/{job_id}/cancel", response_model=JobInfo, summary="Cancel a job")
def cancel_job(job_id: str, request: Request) -> JobInfo:
    server = server_of(request)
    job = server.worker.cancel(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job_info(server, job)


@router.get(
    "/events",
    summary="Server-Sent Events: queued, started, step (with preview), done, failed, chat",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    since: int = Query(default=0, ge=0, le=2**62, description="First sequence number wanted"),
    once: bool = Query(default=False, description="Send what is there and close"),
) -> StreamingResponse:
    server = server_of(request)
    last = request.headers.get("last-event-id", "")
    start = since or (int(last) + 1 if last.isdigit() else server.log.next_seq)

    async def stream() -> AsyncIterator[str]:
        seq = start
        yield "retry: 1000\n\n"
        while True:
            batch = await server.log.wait(seq, 0.0 if once else KEEPALIVE_S)
            for event in batch:
                seq = event["seq"] + 1
                yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
            if once:
                return
            if not batch:
                if await request.is_disconnected():
                    return
                yield ": keepalive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


def _reporter(server: Any, job: Job) -> Callable[[int, int, str | None], None]:
    def report(step: int, total: int, preview: str | None) -> None:
        server.worker.progress(job, step, total, preview)

    return report
