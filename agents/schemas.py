"""What the planner, critic and refiner exchange: pydantic models validated at every boundary.

An LLM's answer is parsed into one of these models; a validator that fails (a region outside
the canvas, a task depending on an unknown task, a cycle) turns into an error message that
is sent back to the model for another try (see ``agents.structured``).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pakati_engine.layout import Layout

TaskType = Literal["generation", "inpainting", "refinement"]
ActionKind = Literal[
    "rephrase",
    "reseed",
    "guidance",
    "steps",
    "weight",
    "move",
    "resize",
    "zoom",
    "clear",
    "background",
]
RelationKind = Literal["left_of", "right_of", "above", "below"]
SizeWord = Literal["small", "large"]
COMPARATIVE: dict[str, str] = {"small": "smaller", "large": "larger"}
"""A size word's comparative, for messages."""
RegionProblem = Literal["missing", "wrong", "crowded", "touching", "misplaced", "mis-sized", "weak"]
BoxTuple = tuple[float, float, float, float]


LAYOUT_FIELDS = (
    "width",
    "height",
    "base_prompt",
    "negative_prompt",
    "steps",
    "guidance_scale",
    "seed",
    "regions",
)
"""Plan fields that are layout fields of the same name (``Plan.to_layout``)."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class RegionPlan(BaseModel):
    """One region of a plan: where it is (a box or a polygon) and what it shows."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Unique short name, e.g. 'red-circle'.")
    box: BoxTuple | None = Field(
        default=None, description="[x0, y0, x1, y1] in canvas pixels, x1 > x0 and y1 > y0."
    )
    polygon: list[tuple[float, float]] | None = Field(
        default=None, description="Polygon vertices [[x, y], ...] in canvas pixels (3 or more)."
    )
    prompt: str = Field(min_length=1, description="What this region should show.")
    negative_prompt: str = Field(default="", description="What this region should avoid.")
    weight: float = Field(default=1.0, ge=0.0, le=5.0, description="Prompt strength.")
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="Own noise seed.")
    model: str | None = Field(default=None, description="Optional model for this region.")
    size: SizeWord | None = Field(
        default=None,
        description="'small' or 'large' when the goal says so: the object must be smaller "
        "(larger) than the objects of regions without a size word.",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> RegionPlan:
        if (self.box is None) == (self.polygon is None):
            raise ValueError(f"region {self.name!r} needs exactly one of box or polygon")
        if self.box is not None and not (self.box[2] > self.box[0] and self.box[3] > self.box[1]):
            raise ValueError(f"region {self.name!r}: box {self.box} needs x1 > x0 and y1 > y0")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError(f"region {self.name!r}: a polygon needs 3 or more vertices")
        return self

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Integer bounding box (x0, y0, x1, y1) of the region, x1/y1 exclusive."""
        if self.box is not None:
            x0, y0, x1, y1 = self.box
        else:
            assert self.polygon is not None
            xs, ys = [p[0] for p in self.polygon], [p[1] for p in self.polygon]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        return (int(x0), int(y0), max(int(x0) + 1, round(x1)), max(int(y0) + 1, round(y1)))


class Task(BaseModel):
    """A unit of work on the canvas; tasks form a DAG through ``depends_on``.

    The product description's form is accepted too: ``Task(id=..., task_type=...,
    region=[(x, y), ...], prompt=..., model_name=..., parameters={"guidance_scale": 7.5,
    "steps": 50})``. A :class:`Plan` turns such a task into a region named after the task
    (see :func:`tasks_to_regions`), so the rest of Pakati sees one schema.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    task_type: TaskType = Field(description="generation (whole canvas), inpainting, refinement.")
    regions: list[str] = Field(default_factory=list, description="Regions the task changes.")
    depends_on: list[str] = Field(default_factory=list, description="Ids of earlier tasks.")
    parameters: dict[str, float] = Field(
        default_factory=dict, description="e.g. {'strength': 0.5} for a refinement."
    )
    region: list[tuple[float, float]] | None = Field(
        default=None, description="Polygon vertices of a region of the task's own (optional)."
    )
    prompt: str | None = Field(default=None, description="Prompt of that region.")
    model_name: str | None = Field(default=None, description="Model of that region.")


#: Parameters of a description-form task and where they go: the region's own fields, the
#: plan's (one pass draws every region, so tasks must agree), or the task (refinement).
REGION_PARAMETERS = ("seed", "weight")
PASS_PARAMETERS = ("steps", "guidance_scale")
TASK_PARAMETERS = ("strength",)


def tasks_to_regions(data: dict[str, Any]) -> dict[str, Any]:
    """A plan's raw data with description-form tasks mapped onto regions (see :class:`Task`)."""
    tasks = data.get("tasks") or []
    regions = list(data.get("regions") or [])
    mapped: list[Any] = []
    pass_settings: dict[str, tuple[str, float]] = {}
    for raw in tasks:
        task = raw.model_dump() if isinstance(raw, Task) else raw
        if not isinstance(task, dict) or all(
            task.get(k) is None for k in ("region", "prompt", "model_name")
        ):
            mapped.append(raw)
            continue
        task = dict(task)
        ident = task.get("id")
        polygon, prompt = task.pop("region", None), task.pop("prompt", None)
        model = task.pop("model_name", None)
        if polygon is None or not prompt:
            raise ValueError(
                f"task {ident!r}: a task of its own region needs both region=[(x, y), ...] and "
                "prompt=...; or name existing regions with regions=[...]"
            )
        parameters = dict(task.get("parameters") or {})
        unknown = sorted(set(parameters) - {*REGION_PARAMETERS, *PASS_PARAMETERS, *TASK_PARAMETERS})
        if unknown:
            raise ValueError(
                f"task {ident!r}: unknown parameters {unknown}; use "
                f"{', '.join((*PASS_PARAMETERS, *REGION_PARAMETERS, *TASK_PARAMETERS))}"
            )
        region: dict[str, Any] = {"name": ident, "polygon": polygon, "prompt": prompt}
        if model is not None:
            region["model"] = model
        for key in REGION_PARAMETERS:
            if key in parameters:
                value = parameters.pop(key)
                region[key] = int(value) if key == "seed" else value
        for key in PASS_PARAMETERS:
            if key not in parameters:
                continue
            value = parameters.pop(key)
            earlier = pass_settings.setdefault(key, (str(ident), value))
            if earlier[1] != value:
                raise ValueError(
                    f"tasks {earlier[0]!r} and {ident!r} ask for {key} {earlier[1]:g} and "
                    f"{value:g}: Pakati draws every region in one pass, so tasks must agree "
                    f"(or set the plan's {key})"
                )
        regions.append(region)
        mapped.append(
            {**task, "regions": [ident, *task.get("regions", [])], "parameters": parameters}
        )
    out = {**data, "regions": regions, "tasks": mapped}
    for key, (ident, value) in pass_settings.items():
        if key in data and data[key] != value:
            raise ValueError(f"task {ident!r} asks for {key} {value:g}, the plan {data[key]}")
        out[key] = int(value) if key == "steps" else value
    return out


class PlanReference(BaseModel):
    """A reference image the critic compares the result with (delta analysis)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    aspect: str = Field(default="general", description="color, texture, lighting, ...")
    region: str | None = Field(default=None, description="Region it applies to (None: all).")
    description: str = ""


class PlanRelation(BaseModel):
    """A spatial relation the goal states between two regions' objects ("a above b")."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="Region whose object is placed (e.g. 'sun').")
    kind: RelationKind
    object: str = Field(description="Region it is placed relative to (e.g. 'lake').")


class Plan(BaseModel):
    """A whole image plan: canvas, base prompt, regions and the task DAG."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("plan"), description="Assigned by Pakati.")
    goal: str = Field(default="", description="The goal this plan answers.")
    width: int = Field(ge=32, le=4096, description="Canvas width in pixels.")
    height: int = Field(ge=32, le=4096, description="Canvas height in pixels.")
    base_prompt: str = Field(default="", description="Seen everywhere, e.g. the background.")
    negative_prompt: str = Field(default="")
    steps: int = Field(default=20, ge=1, le=200)
    guidance_scale: float = Field(default=4.0, ge=0.0, le=30.0)
    seed: int = Field(default=0, ge=0, lt=2**63)
    regions: list[RegionPlan] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list, description="Empty: one generation task.")
    references: list[PlanReference] = Field(default_factory=list)
    relations: list[PlanRelation] = Field(
        default_factory=list, description="Relations between regions that the critic checks."
    )

    @model_validator(mode="before")
    @classmethod
    def _description_form_tasks(cls, data: Any) -> Any:
        return tasks_to_regions(data) if isinstance(data, dict) else data

    @field_validator("tasks")
    @classmethod
    def _unique_task_ids(cls, tasks: list[Task]) -> list[Task]:
        ids = [t.id for t in tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids must be unique")
        return tasks

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        names = [r.name for r in self.regions]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"region names must be unique; repeated: {', '.join(repeated)}")
        for region in self.regions:
            x0, y0, x1, y1 = _float_bounds(region)
            if x0 < 0 or y0 < 0 or x1 > self.width or y1 > self.height:
                raise ValueError(
                    f"region {region.name!r} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                    f"{self.width}x{self.height} canvas; keep 0 <= x <= {self.width} and "
                    f"0 <= y <= {self.height}"
                )
        for relation in self.relations:
            unknown = [n for n in (relation.subject, relation.object) if n not in names]
            if unknown:
                raise ValueError(f"relation {relation.kind} names unknown regions {unknown}")
        for reference in self.references:
            if reference.region is not None and reference.region not in names:
                raise ValueError(f"reference {reference.path!r} names unknown region")
        ids = {t.id for t in self.tasks}
        for task in self.tasks:
            unknown = [r for r in task.regions if r not in names]
            if unknown:
                raise ValueError(f"task {task.id!r} names unknown regions {unknown}")
            missing = [d for d in task.depends_on if d not in ids]
            if missing:
                raise ValueError(f"task {task.id!r} depends on unknown tasks {missing}")
            if task.task_type != "generation" and not task.regions:
                raise ValueError(f"{task.task_type} task {task.id!r} must name its regions")
        if not nx.is_directed_acyclic_graph(self.task_graph()):
            raise ValueError("task dependencies form a cycle")
        return self

    def task_graph(self) -> nx.DiGraph:
        graph: nx.DiGraph = nx.DiGraph()
        for task in self.tasks:
            graph.add_node(task.id)
            for dep in task.depends_on:
                graph.add_edge(dep, task.id)
        return graph

    def execution_order(self) -> list[Task]:
        """Tasks in dependency order (ties by listing order); one generation if none given."""
        if not self.tasks:
            return [Task(id="generate", task_type="generation")]
        position = {t.id: i for i, t in enumerate(self.tasks)}
        by_id = {t.id: t for t in self.tasks}
        order = nx.lexicographical_topological_sort(self.task_graph(), key=position.__getitem__)
        return [by_id[i] for i in order]

    def execution_batches(self) -> list[list[Task]]:
        """:meth:`execution_order` with independent work merged into one step: consecutive
        generation tasks draw the canvas once, and consecutive inpainting tasks that do not
        depend on each other and whose regions do not overlap are redrawn together (one
        pass; remote models in it are asked concurrently). Refinements run one by one."""
        graph = self.task_graph()
        batches: list[list[Task]] = []
        for task in self.execution_order():
            last = batches[-1] if batches else None
            if last is not None and self._joins(last, task, graph):
                last.append(task)
            else:
                batches.append([task])
        return batches

    def _joins(self, batch: list[Task], task: Task, graph: nx.DiGraph) -> bool:
        if task.task_type != batch[0].task_type or task.task_type == "refinement":
            return False
        if task.task_type == "generation":
            return True
        if any(graph.has_node(t.id) and nx.has_path(graph, t.id, task.id) for t in batch):
            return False
        taken = [self.region(name).bounds for t in batch for name in t.regions]
        return not any(
            _overlap(self.region(name).bounds, box) for name in task.regions for box in taken
        )

    def region(self, name: str) -> RegionPlan:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"no region {name!r} in plan (regions: {[r.name for r in self.regions]})")

    def to_layout(self, model: str) -> Layout:
        """The engine's layout for this plan, validated by the layout schema itself.

        The canvas fields and every region field share their names with the layout's, so
        the plan is dumped and validated as a layout rather than copied field by field; a
        region's ``size`` word is for the critic only (its box already says how big).
        """
        data = self.model_dump(
            mode="json",
            include=set(LAYOUT_FIELDS),
            exclude={"regions": {"__all__": {"size"}}},
        )
        return Layout.model_validate({**data, "model": model})

    def summary(self) -> str:
        lines = [f"plan {self.id}: {self.width}x{self.height}, base {self.base_prompt!r}"]
        for r in self.regions:
            where = r.box if r.box is not None else f"polygon {r.polygon}"
            model = f" by {r.model}" if r.model else ""
            lines.append(f"  - {r.name}: {r.prompt!r} at {where}{model}")
        return "\n".join(lines)


def _float_bounds(region: RegionPlan) -> BoxTuple:
    if region.box is not None:
        return region.box
    assert region.polygon is not None
    xs, ys = [p[0] for p in region.polygon], [p[1] for p in region.polygon]
    return (min(xs), min(ys), max(xs), max(ys))


class RegionVerdict(BaseModel):
    """The critic's view of one region (see ``agents.critic``)."""

    name: str
    prompt: str
    score: float = Field(description="Raw cosine of the region crop with its prompt, -1..1.")
    clip_score: float = Field(description="CLIPScore = 100 * max(cos, 0).")
    passed: bool
    best_caption: str | None = Field(
        default=None, description="What the crop looks like most: its prompt or a rival."
    )
    problem: RegionProblem | None = Field(
        default=None,
        description="missing: no object or background wins; wrong: a rival caption wins; "
        "crowded: a second object in the region; touching: its object and another region's "
        "are one connected piece; misplaced: a detector finds the prompt elsewhere; "
        "mis-sized: not smaller (larger) than the unsized regions' objects as its size word "
        "asks; weak: below the absolute floor.",
    )
    foreground: float = Field(default=1.0, description="Share of the box unlike the background.")
    margin_background: float = Field(
        default=0.0, description="Prompt cosine minus the background description's."
    )
    margin_rival: float = Field(default=0.0, description="Prompt cosine minus the best rival's.")
    suggestions: list[str] = Field(default_factory=list)


class RelationVerdict(BaseModel):
    """Whether a relation of the plan holds in the image."""

    relation: PlanRelation
    holds: bool
    detail: str = ""


class Critique(BaseModel):
    """The intuitive checker's report on one image."""

    score: float = Field(description="Overall score (raw cosine scale), see agents.critic.")
    global_score: float = Field(description="Cosine of the whole image with the goal.")
    clip_score: float = Field(description="CLIPScore of the whole image with the goal.")
    regions: list[RegionVerdict] = Field(default_factory=list)
    passed: bool = Field(description="Every check passed and score >= target.")
    suggestions: list[str] = Field(default_factory=list)
    deltas: dict[str, float] = Field(
        default_factory=dict, description="Reference similarity (0..1) per 'reference:aspect'."
    )
    background_ok: bool | None = Field(
        default=None, description="The background matches the plan's (None: not checked)."
    )
    background_margin: float | None = Field(
        default=None, description="Background description's cosine minus the best rival's."
    )
    extras: list[tuple[int, int, int, int]] = Field(
        default_factory=list, description="Boxes of objects outside every region."
    )
    relations: list[RelationVerdict] = Field(default_factory=list)

    @property
    def failing(self) -> list[str]:
        return [r.name for r in self.regions if not r.passed]


class RefinementAction(BaseModel):
    """One change to the plan. Only the fields the ``kind`` needs are read."""

    model_config = ConfigDict(extra="forbid")

    kind: ActionKind
    region: str | None = Field(default=None, description="Region changed (None: the canvas).")
    prompt: str | None = Field(default=None, description="rephrase: the new prompt.")
    seed: int | None = Field(default=None, ge=0, lt=2**63, description="reseed: new seed.")
    value: float | None = Field(
        default=None, description="guidance: new scale; steps: new count; weight: new weight."
    )
    box: BoxTuple | None = Field(
        default=None, description="move / resize: the new box; clear: the box to redraw."
    )
    reason: str = Field(default="", description="Why, in a few words.")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> RefinementAction:
        needs: dict[str, tuple[str, ...]] = {
            "rephrase": ("region", "prompt"),
            "reseed": ("region",),
            "guidance": ("value",),
            "steps": ("value",),
            "weight": ("region", "value"),
            "move": ("region", "box"),
            "resize": ("region", "box"),
            "zoom": ("region",),
            "clear": ("box",),
            "background": (),
        }
        missing = [f for f in needs[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} action needs {', '.join(missing)}")
        return self

    def describe(self) -> str:
        target = self.region or "canvas"
        detail: dict[str, Any] = {
            "rephrase": f"prompt -> {self.prompt!r}",
            "reseed": f"seed -> {self.seed}",
            "guidance": f"guidance -> {self.value}",
            "steps": f"steps -> {self.value}",
            "weight": f"weight -> {self.value}",
            "move": f"box -> {self.box}",
            "resize": f"box -> {self.box}",
            "zoom": "redraw zoomed in (at the model's working size)",
            "clear": f"redraw {self.box} as background",
            "background": "redraw the background, objects locked",
        }
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.kind} {target}: {detail[self.kind]}{why}"


class RefinementActions(BaseModel):
    """The refiner's answer: the changes to make before the next pass."""

    model_config = ConfigDict(extra="forbid")

    actions: list[RefinementAction] = Field(default_factory=list)
    note: str = Field(default="", description="One line on the strategy.")


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes (x0, y0, x1, y1; x1/y1 exclusive) share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
