"""Chat routes: send a message to an agent thread (a queued job), read a thread's
transcript (after a page reload), and its pass images."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from pakati.server.encoding import plain_name
from pakati.server.jobs import Job
from pakati.server.routes_canvas import job_info, server_of
from pakati.server.schemas import Accepted, ChatRequest, ChatThread

router = APIRouter(prefix="/api/chat", tags=["chat"])


@router.post("", response_model=Accepted, status_code=202, summary="Send a chat message")
def send(body: ChatRequest, request: Request) -> Accepted:
    server = server_of(request)
    thread = plain_name(body.thread, "thread id")
    if not body.message.strip():
        raise HTTPException(400, "the message is empty: say what the image should show")

    def run(job: Job) -> dict[str, Any]:
        def report(step: int, total: int, preview: str | None) -> None:
            server.worker.progress(job, step, total, preview)

        return server.chat.turn(thread, body.message.strip(), report)

    return Accepted(job=job_info(server, server.worker.submit("chat", run)))


@router.get("/{thread}", response_model=ChatThread, summary="A thread's transcript")
def transcript(thread: str, request: Request) -> ChatThread:
    chat = server_of(request).chat
    plain_name(thread, "thread id")
    return ChatThread(
        thread=thread,
        turns=chat.transcript(thread),
        running=thread in chat.running,
        unfinished=thread not in chat.running and chat.unfinished(thread),
    )


@router.get(
    "/{thread}/images/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
    summary="A pass image of a thread",
)
def image(thread: str, name: str, request: Request) -> FileResponse:
    path = server_of(request).chat.image_path(thread, name)
    if path.suffix != ".png" or not path.is_file():
        raise HTTPException(404, f"thread {thread!r} has no image {name!r}")
    return FileResponse(path, media_type="image/png")
