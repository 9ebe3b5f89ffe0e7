"""LangChain tools over a ``CanvasSession``, each with a pydantic argument schema.

Errors (bad arguments, unknown regions, engine refusals) come back to the model as the
tool's text answer, starting with ``error:``, instead of raising: a model can read them and
correct its next call. ``run_tool_calls`` answers a message's tool calls the same way,
including calls to tools that do not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

from pakati.tools.session import CanvasSession, load_rgb
from pakati_engine.analysis import analyze_deltas
from pakati_engine.errors import PakatiError
from pakati_engine.layout import Layout, RegionSpec
from pakati_engine.solver import solve_layout

Box = tuple[float, float, float, float]


class CreateCanvasArgs(BaseModel):
    width: int = Field(ge=32, le=4096)
    height: int = Field(ge=32, le=4096)
    base_prompt: str = ""
    negative_prompt: str = ""
    steps: int = Field(default=20, ge=1, le=200)
    guidance_scale: float = Field(default=4.0, ge=0.0, le=30.0)


class RegionArgs(BaseModel):
    canvas_id: str
    name: str
    box: Box | None = Field(default=None, description="[x0, y0, x1, y1] in pixels")
    polygon: list[tuple[float, float]] | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    weight: float | None = Field(default=None, ge=0.0)
    seed: int | None = Field(default=None, ge=0)


class GenerateArgs(BaseModel):
    canvas_id: str
    seed: int | None = Field(default=None, ge=0)
    out: str = Field(description="PNG file name inside the session folder")


class RegenerateArgs(BaseModel):
    canvas_id: str
    regions: list[str] = Field(min_length=1)
    out: str
    seed: int | None = Field(default=None, ge=0)


class LockArgs(BaseModel):
    canvas_id: str
    regions: list[str] = Field(min_length=1)
    locked: bool = True


class ScoreArgs(BaseModel):
    image: str = Field(description="path of a PNG")
    text: str
    boxes: list[tuple[int, int, int, int]] = Field(default_factory=list)
    captions: list[str] = Field(default_factory=list)


class SolveLayoutArgs(BaseModel):
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    boxes: dict[str, Box]
    relations: list[str] = Field(default_factory=list, description="e.g. 'sun above lake'")
    margin: float = Field(default=0.0, ge=0.0)


class AnalyzeArgs(BaseModel):
    image: str
    reference: str
    aspects: list[str] | None = None
    box: tuple[int, int, int, int] | None = None


def make_tools(session: CanvasSession) -> list[BaseTool]:
    """The engine's tools bound to one session."""

    def create_canvas(**kw: Any) -> str:
        args = CreateCanvasArgs(**kw)
        layout = Layout(model=session.model_name, **args.model_dump())
        return json.dumps({"canvas_id": session.create_canvas(layout)})

    def set_region(**kw: Any) -> str:
        args = RegionArgs(**kw)
        canvas = session.canvas(args.canvas_id)
        layout = canvas.to_layout() if canvas.regions else _empty_layout(canvas)
        specs = {spec.name: spec for spec in layout.regions}
        old = specs.get(args.name)
        if old is None and args.prompt is None:
            raise ToolException(f"new region {args.name!r} needs a prompt")
        data: dict[str, Any] = old.model_dump() if old is not None else {"name": args.name}
        if args.box is not None or args.polygon is not None:
            for key in ("box", "polygon", "mask", "mask_png"):
                data[key] = None
            data["box"], data["polygon"] = args.box, args.polygon
        for key in ("prompt", "negative_prompt", "weight", "seed"):
            if getattr(args, key) is not None:
                data[key] = getattr(args, key)
        specs[args.name] = RegionSpec(**data)
        session.set_layout(
            args.canvas_id, layout.model_copy(update={"regions": list(specs.values())})
        )
        return json.dumps({"regions": [r.name for r in session.canvas(args.canvas_id).regions]})

    def generate(**kw: Any) -> str:
        args = GenerateArgs(**kw)
        return json.dumps({"image": str(session.generate(args.canvas_id, args.seed, args.out))})

    def regenerate_region(**kw: Any) -> str:
        args = RegenerateArgs(**kw)
        path = session.regenerate(args.canvas_id, args.regions, args.out, args.seed)
        return json.dumps({"image": str(path)})

    def lock_region(**kw: Any) -> str:
        args = LockArgs(**kw)
        return json.dumps({"locked": session.lock(args.canvas_id, args.regions, args.locked)})

    def score(**kw: Any) -> str:
        args = ScoreArgs(**kw)
        overall, regional = session.score(args.image, args.text, args.boxes, args.captions)
        return json.dumps({"cosine": overall, "regions": regional})

    def layout_tool(**kw: Any) -> str:
        args = SolveLayoutArgs(**kw)
        result = solve_layout(args.boxes, (args.width, args.height), args.relations, args.margin)
        return json.dumps(
            {"success": result.success, "boxes": result.solution, "relaxed": result.relaxed}
        )

    def deltas(**kw: Any) -> str:
        args = AnalyzeArgs(**kw)
        image = load_rgb(session.resolve(args.image))
        mask = None
        if args.box is not None:
            mask = np.zeros((image.height, image.width), bool)
            x0, y0, x1, y1 = args.box
            mask[y0:y1, x0:x1] = True
        reference = load_rgb(session.resolve(args.reference))
        report = analyze_deltas(image, reference, args.aspects, mask=mask)
        return json.dumps(
            {
                name: {"similarity": d.similarity, "findings": list(d.findings)}
                for name, d in report.aspects.items()
            }
        )

    specs: list[tuple[str, str, type[BaseModel], Callable[..., str]]] = [
        ("create_canvas", "Create a canvas; returns its id.", CreateCanvasArgs, create_canvas),
        ("set_region", "Add a region or update its box/prompt/seed.", RegionArgs, set_region),
        ("generate", "Generate the whole canvas; returns the PNG path.", GenerateArgs, generate),
        (
            "regenerate_region",
            "Regenerate regions, keeping all else exactly.",
            RegenerateArgs,
            regenerate_region,
        ),
        ("lock_region", "Lock (or unlock) regions.", LockArgs, lock_region),
        ("score", "CLIP cosine of an image and of box crops.", ScoreArgs, score),
        ("solve_layout", "Place boxes honouring relations.", SolveLayoutArgs, layout_tool),
        ("analyze_deltas", "Compare an image with a reference.", AnalyzeArgs, deltas),
    ]
    return [
        StructuredTool.from_function(
            func=_guarded(func),
            name=name,
            description=description,
            args_schema=schema,
            handle_tool_error=_error_text,
            handle_validation_error=_error_text,
        )
        for name, description, schema, func in specs
    ]


def _empty_layout(canvas: Any) -> Layout:
    return Layout(
        width=canvas.width,
        height=canvas.height,
        base_prompt=canvas.base_prompt,
        negative_prompt=canvas.negative_prompt,
        steps=canvas.steps,
        guidance_scale=canvas.guidance_scale,
    )


def _guarded(func: Callable[..., str]) -> Callable[..., str]:
    """Engine and validation errors become ``ToolException`` (answered as text)."""

    def call(**kwargs: Any) -> str:
        try:
            return func(**kwargs)
        except (PakatiError, ValidationError, ValueError, KeyError, OSError) as error:
            raise ToolException(str(error)) from error

    call.__name__ = func.__name__
    call.__doc__ = func.__doc__
    return call


def _error_text(error: Exception) -> str:
    return f"error: {error}"


def run_tool_calls(message: AIMessage, tools: Sequence[BaseTool]) -> list[ToolMessage]:
    """Answer every tool call of ``message``; unknown tools get an error answer too."""
    by_name = {t.name: t for t in tools}
    answers = []
    for call in message.tool_calls:
        call_id = call.get("id") or call["name"]
        tool = by_name.get(call["name"])
        if tool is None:
            text = f"error: unknown tool {call['name']!r}; tools: {', '.join(by_name)}"
            answers.append(ToolMessage(content=text, tool_call_id=call_id, status="error"))
            continue
        content = tool.invoke(call.get("args", {}))
        status = "error" if str(content).startswith("error:") else "success"
        answers.append(ToolMessage(content=str(content), tool_call_id=call_id, status=status))
    return answers
