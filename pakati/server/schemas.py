"""Request and response bodies of the web API (the layout schema itself is the wire format
of a canvas: ``pakati_engine.layout.Layout``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pakati_engine.layout import Layout


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """Every error: what is wrong and, where it helps, how to fix it."""

    detail: str


class HistoryItem(BaseModel):
    id: str
    action: str
    parent: str | None
    targets: list[str]
    image_sha256: str | None
    created: str


class JobInfo(BaseModel):
    id: str
    kind: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    step: int
    total: int
    position: int = Field(description="1: running or next; 0: no longer waiting")
    result: dict[str, Any] | None = None
    error: str | None = None
    status: int | None = Field(
        default=None,
        description="A failed job's HTTP status (4xx: fix the request; 5xx: server or provider)",
    )
    first_event: int = Field(description="Sequence number of the job's first event")


class CanvasState(BaseModel):
    layout: Layout
    image_sha256: str | None = Field(description="Hash of the current image (None: none yet)")
    image_url: str | None
    locked: list[str]
    head: str | None
    history: list[HistoryItem]
    can_undo: bool
    can_redo: bool
    job: JobInfo | None = Field(description="The job running now, if any")
    next_event: int = Field(description="Sequence number the next event will have")


class ActionResult(BaseModel):
    message: str
    state: CanvasState


class GenerateRequest(Strict):
    layout: Layout | None = Field(default=None, description="Apply this layout first")
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="None: the layout's seed")


class RegenerateRequest(Strict):
    layout: Layout | None = None
    regions: list[str] = Field(min_length=1, max_length=64)
    seed: int | None = Field(default=None, ge=0, lt=2**63)


class RefineRequest(Strict):
    layout: Layout | None = None
    region: str = Field(min_length=1, max_length=200)
    strength: float = Field(default=0.5, gt=0.0, le=1.0)


class LockRequest(Strict):
    region: str = Field(min_length=1, max_length=200)
    locked: bool = True


class ProjectRequest(Strict):
    name: str = Field(min_length=1, max_length=64, description="A plain name, no folders")
    overwrite: bool = False


class ProjectList(BaseModel):
    projects: list[str]


class ModelEntry(BaseModel):
    id: str
    provider: str
    available: bool = Field(description="Usable now (key, weights, network as needed)")
    reason: str = Field(description="Why it is or is not usable")


class ModelList(BaseModel):
    models: list[str] = Field(description="Names a canvas or region may use now")
    default: str
    cards: list[ModelEntry] = Field(description="Every model card of the registry")


class Accepted(BaseModel):
    job: JobInfo


class ChatRequest(Strict):
    thread: str = Field(min_length=1, max_length=64, description="Thread id (a plain name)")
    message: str = Field(min_length=1, max_length=2000)


class ChatThread(BaseModel):
    thread: str
    turns: list[dict[str, Any]] = Field(description="Messages and agent events, oldest first")
    running: bool
    unfinished: bool = Field(description="A run stopped part-way; sending resumes it")


class ReferenceInfo(BaseModel):
    name: str = Field(description="How requests name the upload (its content hash)")
    format: str
    width: int
    height: int


class AnalyzeRequest(Strict):
    reference: str = Field(min_length=1, max_length=80, description="An uploaded reference")
    region: str | None = Field(default=None, max_length=200, description="None: whole image")
    aspects: (
        list[Literal["color", "texture", "lighting", "composition", "style", "general"]] | None
    ) = Field(default=None, max_length=6, description="None: every aspect")


class AspectReport(BaseModel):
    similarity: float
    severity: str
    findings: list[str]
    suggestions: list[str] = Field(description="Prompt terms or parameter changes to try")


class AnalysisResult(BaseModel):
    message: str
    overall: float | None = None
    aspects: dict[str, AspectReport]
