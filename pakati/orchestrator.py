"""``PakatiOrchestrator``: goal-directed planning, execution, checking and refinement.

The product description's interface, step by step::

    context = Context(primary_goal="a red circle on the left and a blue square on the right")
    orchestrator = PakatiOrchestrator(context)
    plan = orchestrator.create_plan("a red circle on the left and a blue square on the right")
    result = orchestrator.execute_plan(plan.id)
    alignment = orchestrator.check_alignment(result.image, "a red circle and a blue square")
    if alignment.score < 0.3:
        better = orchestrator.refine_plan(plan.id, alignment.suggestions)
        result = orchestrator.execute_plan(better.id)
    result.save("out.png")

or all at once with ``orchestrator.run()`` (the LangGraph loop of ``pakati.graphs``), which
``pakati agent`` uses; ``edit_plan`` is what ``pakati chat`` uses for each instruction. Every
pass, whichever way it is asked for, is drawn by ``pakati.agents.executor.run_pass``.
Scores are CLIP cosines (see ``pakati.agents.critic``): about 0.3 and above is a good match
for the shapes-world CLIP, so thresholds such as 0.8 from other scales are out of reach.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pakati.agents import critic, executor, planner, refiner
from pakati.agents.providers import (
    DEFAULT_TIMEOUT_S,
    ProviderConfig,
    make_chat_model,
    resolve_provider,
    structured_method,
)
from pakati.agents.schemas import Critique, Plan
from pakati.graphs import (
    AgentState,
    Services,
    build_graph,
    has_unfinished_run,
    initial_state,
    open_checkpointer,
    run_agent_graph,
    run_config,
)
from pakati.graphs.graph import UpdateCallback
from pakati.graphs.nodes import impose_settings
from pakati.threads import binding_mismatch, check_checkpoint_file, check_thread_id
from pakati.tools.session import CanvasSession, load_rgb
from pakati_engine.errors import InvalidInputError
from pakati_engine.metadata import sidecar_path
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import default_model_name
from pakati_engine.outputs import check_targets, write_files
from pakati_engine.solver import Solver


class Context(BaseModel):
    """What the orchestrator works toward and with which settings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    primary_goal: str = Field(description="The high-level goal every plan serves.")
    width: int = Field(default=128, ge=32, le=4096)
    height: int = Field(default=128, ge=32, le=4096)
    model: str | None = Field(default=None, description="None: shapes model, else tiny-random")
    target: float = Field(default=0.30, description="Overall score (cosine) to reach.")
    max_passes: int = Field(default=5, ge=1, le=50)
    patience: int = Field(
        default=2, ge=1, le=50, description="Stop after this many passes without improvement."
    )
    provider: str | None = Field(default=None, description="None: from env / .env")
    llm_model: str | None = None
    llm_timeout: float = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, le=3600, description="Seconds an LLM request may take."
    )
    trust_env_file: bool = Field(
        default=False,
        description="Use a base URL from .env with a key from the environment, for the LLM "
        "(see pakati.agents.providers) and for regions drawn by remote image models.",
    )
    workdir: str | None = Field(default=None, description="Where images go (None: a temp dir)")
    device: str | None = Field(default=None, description="auto (None), cpu, cuda, mps")
    dtype: str | None = Field(default=None, description="auto (None), fp32, fp16, bf16")
    seed: int | None = Field(
        default=None, ge=0, lt=2**63, description="Canvas noise seed of every plan (None: 0)"
    )
    history: list[str] = Field(default_factory=list, description="Plan ids, oldest first.")


@dataclass
class Alignment:
    """How well an image matches a text: ``score`` (cosine scale) and what to change."""

    score: float
    suggestions: list[str]
    critique: Critique


@dataclass
class OrchestratorResult:
    """An executed plan's image (``image``, ``path``) and the plan it came from."""

    image: Image.Image
    path: Path
    plan_id: str
    state: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Copy the PNG (its metadata included) and its JSON sidecar to ``path``: both or
        neither, an existing PNG or sidecar replaced only with ``overwrite``."""
        return copy_output(self.path, Path(path), overwrite=overwrite)


def copy_output(source: Path, target: Path, *, overwrite: bool = False) -> Path:
    """Copy a Pakati PNG and its sidecar (if it has one) as a pair, never over themselves."""
    if target.suffix.lower() != ".png":
        raise InvalidInputError(f"{str(target)!r}: Pakati writes PNG; use a .png file name")
    targets = [target, sidecar_path(target)]
    check_targets(targets, overwrite=overwrite, inputs=[source, sidecar_path(source)])
    payloads = {target: source.read_bytes()}
    if sidecar_path(source).is_file():
        payloads[sidecar_path(target)] = sidecar_path(source).read_bytes()
    write_files(payloads, overwrite=overwrite)
    return target


def provider_config(context: Context) -> ProviderConfig:
    """The LLM provider ``context`` asks for (environment and .env; no request is made)."""
    return resolve_provider(
        context.provider,
        context.llm_model,
        trust_env_file=context.trust_env_file,
        timeout_s=context.llm_timeout,
    )


def make_services(
    context: Context,
    llm: BaseChatModel | None = None,
    model: str | ModelBundle | None = None,
    scorer: Any = None,
    steps: int | None = None,
    critic_fn: critic.CriticFn | None = None,
) -> Services:
    """The chat model, canvas session and settings for ``context``."""
    method = None
    if llm is None:
        config = provider_config(context)
        llm, method = make_chat_model(config), structured_method(config)
    chosen = model if model is not None else (context.model or default_model_name())
    workdir = context.workdir or tempfile.mkdtemp(prefix="pakati-agent-")
    session = CanvasSession(
        workdir,
        model=chosen,
        scorer=scorer,
        device=context.device,
        dtype=context.dtype,
        trust_env_file=context.trust_env_file,
    )
    settings = session.settings
    return Services(
        llm=llm,
        session=session,
        method=method,
        patience=context.patience,
        steps=steps if steps is not None else settings.get("steps"),
        guidance_scale=settings.get("guidance_scale"),
        critic=critic_fn or critic.critique_image,
        seed=context.seed,
    )


class PakatiOrchestrator:
    """Plans, executes, checks and refines images toward ``context.primary_goal``."""

    def __init__(
        self,
        context: Context,
        *,
        llm: BaseChatModel | None = None,
        model: str | ModelBundle | None = None,
        scorer: Any = None,
        steps: int | None = None,
        critic_fn: critic.CriticFn | None = None,
    ) -> None:
        self.context = context
        self.services = make_services(context, llm, model, scorer, steps, critic_fn)
        #: The classical solver, as the product description's interface offers it
        #: (``orchestrator.solver.solve(problem_type="nonlinear", ...)``).
        self.solver = Solver()
        self.plans: dict[str, Plan] = {}
        self._images: dict[str, Path] = {}
        self._pending: dict[str, executor.Redraw] = {}
        self._parents: dict[str, str] = {}
        self._critiques: dict[str, Critique] = {}

    @property
    def session(self) -> CanvasSession:
        return self.services.session

    def create_plan(self, text: str | None = None) -> Plan:
        """Plan ``text`` (default: the context's goal) with the configured chat model."""
        goal = text or self.context.primary_goal
        plan = planner.make_plan(
            self.services.llm,
            goal,
            self.context.width,
            self.context.height,
            method=self.services.method,
            retries=self.services.retries,
        )
        return self._remember(impose_settings(plan, self.services))

    def plan(self, plan_id: str) -> Plan:
        if plan_id not in self.plans:
            raise InvalidInputError(f"no plan {plan_id!r} (plans: {', '.join(self.plans)})")
        return self.plans[plan_id]

    def execute_plan(self, plan_id: str) -> OrchestratorResult:
        """Generate a plan; a refined or edited plan redraws only what changed."""
        plan = self.plan(plan_id)
        redraw = self._pending.get(plan_id, executor.Redraw())
        parent_image = self._images.get(self._parents.get(plan_id, ""))
        path = executor.run_pass(self.session, plan, redraw, parent_image, f"{plan.id}.png")
        self._images[plan_id] = path
        return OrchestratorResult(load_rgb(path), path, plan_id)

    def edit_plan(self, plan_id: str, instruction: str) -> Plan:
        """A new plan: ``plan_id`` changed as ``instruction`` says ("make the circle green").

        Executing it redraws only the regions the edit changed (``executor.diff_plans``).
        """
        plan = self.plan(plan_id)
        new = planner.edit_plan(
            self.services.llm,
            plan,
            instruction,
            method=self.services.method,
            retries=self.services.retries,
        )
        return self._derive(plan_id, impose_settings(new, self.services), None)

    def check_alignment(
        self, image: Image.Image | str | Path, text: str, plan_id: str | None = None
    ) -> Alignment:
        """Score ``image`` against ``text`` and, when a plan made it, against its regions."""
        picture = load_rgb(image)
        chosen = self.plans.get(plan_id or "") or self._latest_plan_of_size(picture.size)
        base = chosen or Plan(width=picture.width, height=picture.height)
        probe = base.model_copy(update={"goal": text})
        review = self.services.critic(
            picture, probe, self.session.scorer, self.context.target, self.services.region_target
        )
        if chosen is not None:
            self._critiques[chosen.id] = review
        return Alignment(review.score, review.suggestions, review)

    def refine_plan(self, plan_id: str, suggestions: list[str] | None = None) -> Plan:
        """A new plan that addresses the last check of ``plan_id`` (and ``suggestions``)."""
        plan = self.plan(plan_id)
        review = self._critiques.get(plan_id)
        if review is None:
            if plan_id not in self._images:
                raise InvalidInputError(f"plan {plan_id!r} has not been executed yet")
            review = self.check_alignment(self._images[plan_id], plan.goal, plan_id).critique
        if suggestions:
            review = review.model_copy(update={"suggestions": list(suggestions)})
        number = len([p for p in self._parents if self._root(p) == self._root(plan_id)]) + 1
        actions = refiner.propose(
            self.services.llm, plan, review, number, method=self.services.method
        )
        decided = refiner.apply_actions(plan, review, actions)
        return self._derive(plan_id, decided.plan, decided.redraw)

    def redraw_of(self, plan_id: str) -> executor.Redraw:
        """What executing ``plan_id`` redraws (everything, for a plan with no parent)."""
        self.plan(plan_id)
        return self._pending.get(plan_id, executor.Redraw())

    def thread_status(
        self, thread_id: str, checkpoint: str | Path | None, goal: str | None = None
    ) -> str:
        """ "new", "unfinished" (``run`` resumes it) or "finished" (``run`` returns it).

        The thread id must be a plain name and the checkpoint a sound database; a thread
        started for another goal, size or target is an error (``goal`` None: the context's).
        """
        check_thread_id(thread_id)
        if checkpoint is None:
            return "new"
        if not check_checkpoint_file(checkpoint).is_file():
            return "new"
        with open_checkpointer(checkpoint) as saver:
            graph = build_graph(self.services, saver)
            config = run_config(thread_id, self.context.max_passes)
            values = graph.get_state(config).values
            if not values:
                return "new"
            mismatch = binding_mismatch(values, self._requested(goal))
            if mismatch:
                raise InvalidInputError(
                    f"thread {thread_id!r} in {checkpoint} was started with {mismatch}; a "
                    "thread continues only its own goal: use another thread id (--thread) for "
                    "this one"
                )
            # Before the stop reason: a kill after the last critic's writes were saved leaves
            # them to be committed (and shown) by the resumed run.
            return "unfinished" if has_unfinished_run(graph, config) else "finished"

    def _requested(self, goal: str | None) -> dict[str, Any]:
        context = self.context
        return {
            "goal": goal or context.primary_goal,
            "width": context.width,
            "height": context.height,
            "target": context.target,
        }

    def run(
        self,
        goal: str | None = None,
        *,
        thread_id: str = "orchestrator",
        checkpoint: str | Path | None = None,
        on_update: UpdateCallback | None = None,
    ) -> AgentState:
        """The whole loop (plan, execute, check, refine) as a LangGraph run.

        With a ``checkpoint`` file, a thread that stopped part-way resumes where it stopped
        (finished passes are not redone) and a finished thread returns its final state.
        """
        status = self.thread_status(thread_id, checkpoint, goal)
        if status == "new" and not (goal or self.context.primary_goal).strip():
            raise InvalidInputError("the goal is empty: say what the image should show")
        with open_checkpointer(checkpoint) as saver:
            graph = build_graph(self.services, saver)
            config = run_config(thread_id, self.context.max_passes)
            state = None
            if status == "new":
                state = initial_state(
                    goal or self.context.primary_goal,
                    self.context.target,
                    self.context.max_passes,
                    self.context.width,
                    self.context.height,
                )
            return run_agent_graph(graph, state, config, on_update)

    def _derive(self, parent_id: str, plan: Plan, redraw: executor.Redraw | None) -> Plan:
        """Remember ``plan`` as a child of ``parent_id`` and what executing it redraws."""
        new = self._remember(plan)
        self._pending[new.id] = redraw or executor.diff_plans(self.plan(parent_id), new)
        self._parents[new.id] = parent_id
        return new

    def _remember(self, plan: Plan) -> Plan:
        self.plans[plan.id] = plan
        self.context.history.append(plan.id)
        return plan

    def _root(self, plan_id: str) -> str:
        while plan_id in self._parents:
            plan_id = self._parents[plan_id]
        return plan_id

    def _latest_plan_of_size(self, size: tuple[int, int]) -> Plan | None:
        for plan_id in reversed(self.context.history):
            plan = self.plans[plan_id]
            if (plan.width, plan.height) == size and plan_id in self._images:
                return plan
        return None
