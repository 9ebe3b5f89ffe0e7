"""File routes: history images, the PNG download (with metadata), opening a Pakati PNG,
projects, and the models a region may name. Every file is addressed by a content hash or a
plain name inside the project folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from pakati.server.encoding import png_bytes
from pakati.server.routes_canvas import checked_layout, run_now, server_of, wait_for
from pakati.server.schemas import (
    ActionResult,
    AnalysisResult,
    AnalyzeRequest,
    AspectReport,
    ModelEntry,
    ModelList,
    ProjectList,
    ProjectRequest,
    ReferenceInfo,
)
from pakati.server.uploads import IMAGE_FORMATS, checked_image, read_body, store

router = APIRouter(prefix="/api", tags=["files"])
SHA = re.compile(r"[0-9a-f]{64}")
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}


@router.get(
    "/images/{sha}.png",
    response_class=Response,
    responses=PNG_RESPONSE,
    summary="An image of the history, by the hash of its pixels",
)
def history_image(sha: str, request: Request) -> Response:
    if not SHA.fullmatch(sha):
        raise HTTPException(400, "an image is named by its 64-character SHA-256 (hex)")
    workspace = server_of(request).workspace
    image = workspace.snapshot.images.get(sha)
    data = png_bytes(image) if image is not None else workspace.history_png(sha)
    if data is None:
        raise HTTPException(404, f"no image {sha} in this canvas's history")
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "max-age=86400, immutable"},
    )


@router.get(
    "/download.png",
    response_class=Response,
    responses=PNG_RESPONSE,
    summary="The current image as a Pakati PNG (its metadata restores every region)",
)
def download(request: Request) -> Response:
    snap = server_of(request).workspace.snapshot
    if snap.image_sha256 is None or snap.metadata is None:
        raise HTTPException(404, "no image yet: generate one first")
    data = png_bytes(snap.images[snap.image_sha256], snap.metadata)
    name = f"pakati-{snap.image_sha256[:12]}.png"
    return Response(
        data,
        media_type="image/png",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/import/png",
    response_model=ActionResult,
    summary="Open a PNG Pakati made (the request body is the file)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_png(request: Request) -> ActionResult:
    server = server_of(request)
    data = await read_body(request, server.config.max_upload_bytes)
    kind = checked_image(data, "the uploaded image")
    if kind != "PNG":
        raise HTTPException(415, f"the upload is {kind}; only a PNG can carry Pakati metadata")
    path = store(server.config.root / "uploads", data, ".png")
    from starlette.concurrency import run_in_threadpool

    # The metadata is the upload's: it may name no mask file or model folder on the server.
    await run_in_threadpool(_checked_metadata, path)

    return await run_in_threadpool(
        run_now, server, "open png", lambda: server.workspace.open_png(path, UPLOADED_PNG)
    )


@router.get("/projects", response_model=ProjectList, summary="Saved projects")
def projects(request: Request) -> ProjectList:
    return ProjectList(projects=server_of(request).workspace.projects())


@router.post("/projects", response_model=ActionResult, summary="Save the canvas as a project")
def save_project(body: ProjectRequest, request: Request) -> ActionResult:
    server = server_of(request)
    server.workspace.project_path(body.name)  # a bad name is refused before queueing
    return run_now(server, "save", lambda: server.workspace.save_project(body.name, body.overwrite))


@router.post("/projects/open", response_model=ActionResult, summary="Open a saved project")
def open_project(body: ProjectRequest, request: Request) -> ActionResult:
    server = server_of(request)
    server.workspace.project_path(body.name)
    return run_now(server, "open", lambda: server.workspace.open_project(body.name))


@router.get("/models", response_model=ModelList, summary="Models a canvas or region may use")
def models(request: Request) -> ModelList:
    """The model registry's cards (no key, path or secret is sent), usable ones first."""
    from pakati_engine.models.catalog import default_model_name
    from pakati_engine.providers.registry import Registry

    cards = [
        ModelEntry(
            id=status.card.id,
            provider=status.card.provider,
            available=status.available,
            reason=status.reason.split(". Looked for")[0],
        )
        for status in Registry().list()
    ]
    usable = [c.id for c in cards if c.available]
    default = server_of(request).workspace.draft.model
    if default not in usable:
        usable.insert(0, default)
    return ModelList(models=usable, default=default_model_name(), cards=cards)


@router.post(
    "/references",
    response_model=ReferenceInfo,
    summary="Upload a reference image (PNG, JPEG or WebP; the request body is the file)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_reference(request: Request) -> ReferenceInfo:
    server = server_of(request)
    data = await read_body(request, server.config.max_upload_bytes)
    kind = checked_image(data, "the reference")
    path = store(server.config.root / "uploads", data, IMAGE_FORMATS[kind])
    from pakati_engine.images import open_header

    with open_header(data, "the reference") as image:
        width, height = image.size
    return ReferenceInfo(name=path.name, format=kind, width=width, height=height)


@router.post(
    "/analyze",
    response_model=AnalysisResult,
    summary="Delta analysis of the image (or a region) against an uploaded reference",
)
def analyze(body: AnalyzeRequest, request: Request) -> AnalysisResult:
    server = server_of(request)
    result = wait_for(
        server,
        "analyze",
        lambda: server.workspace.analyze(body.reference, body.region, body.aspects),
    )
    aspects = {
        name: AspectReport(
            similarity=delta["similarity"],
            severity=delta["severity"],
            findings=list(delta.get("findings", [])),
            suggestions=[_suggestion(a) for a in delta.get("adjustments", [])],
        )
        for name, delta in result.get("aspects", {}).items()
    }
    return AnalysisResult(
        message=result.get("message", "analysed"),
        overall=result.get("overall_similarity"),
        aspects=aspects,
    )


#: What messages call a PNG sent to ``/api/import``.
UPLOADED_PNG = "the uploaded PNG"


def _checked_metadata(path: Path) -> None:
    from pakati_engine.layout import parse_layout
    from pakati_engine.metadata import read_png_metadata

    metadata = read_png_metadata(path, name=UPLOADED_PNG)  # not the server's path
    checked_layout(parse_layout(metadata.get("layout"), source="the PNG's metadata"))


def _suggestion(adjustment: dict[str, Any]) -> str:
    kind = adjustment.get("kind", "")
    if adjustment.get("terms"):
        where = "negative prompt" if "negative" in kind else "prompt"
        return f"add to the {where}: {', '.join(adjustment['terms'])}"
    changes = adjustment.get("changes") or {}
    moves = ", ".join(f"{k} {v:+g}" for k, v in changes.items())
    return f"{moves} ({adjustment.get('reason', '')})" if moves else adjustment.get("reason", "")
