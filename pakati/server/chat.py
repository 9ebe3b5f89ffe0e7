"""Chat with the agent beside the canvas: a goal becomes a plan, passes, verdicts and fixes;
follow-up messages edit the plan and redraw only what changed.

A thread's first message (or a message to a thread whose run stopped part-way) runs the
LangGraph agent (``PakatiOrchestrator.run``), checkpointed in ``chat/agent.sqlite`` under
the thread id, so a run the server lost resumes from its last finished node. Every node
update becomes a transcript item (the plan with its layout, each pass's image, the critic's
per-region verdicts, the refiner's changes), appended to ``chat/THREAD.jsonl`` and
published as a ``chat`` event as it happens: a page that reloads reads the transcript and
follows the events. Later messages edit the last plan (``planner.edit_plan``) and run one
pass that redraws only the regions whose prompt, box or seed changed
(``executor.diff_plans``), everything else locked. The last image becomes the canvas.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati.cli.boundary import classify
from pakati.server.encoding import plain_name, previewer
from pakati.server.jobs import Cancelled, EventLog
from pakati_engine.diffusion.preview import observe_latents

if TYPE_CHECKING:
    from pakati.server.workspace import Workspace

TRANSCRIPT_LIMIT = 2000  # items read back per thread


class ChatThreads:
    """Agent threads of one server; their turns run on the worker thread."""

    def __init__(
        self,
        root: Path,
        workspace: Callable[[], Workspace],
        log: EventLog,
        *,
        provider: str | None = None,
        max_passes: int = 3,
        llm: Any = None,
        scorer: Any = None,
    ) -> None:
        self._workspace = workspace
        self.log = log
        self.root = root / "chat"
        self.checkpoint = self.root / "agent.sqlite"
        self.provider = provider
        self.max_passes = max_passes
        self._llm = llm
        self._scorer = scorer
        self._lock = threading.Lock()
        self.running: set[str] = set()
        self._counts: dict[str, int] = {}

    @property
    def workspace(self) -> Workspace:
        """The server's canvas (built in the background at start-up)."""
        return self._workspace()

    # Transcript -----------------------------------------------------------------------

    def transcript_path(self, thread: str) -> Path:
        return self.root / f"{plain_name(thread, 'thread id')}.jsonl"

    def transcript(self, thread: str) -> list[dict[str, Any]]:
        path = self.transcript_path(thread)
        if not path.is_file():
            return []
        items = []
        for line in path.read_text(encoding="utf-8").splitlines()[-TRANSCRIPT_LIMIT:]:
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        return items

    def record(self, thread: str, item: dict[str, Any]) -> None:
        """Append ``item`` (numbered ``n`` within its thread) and publish it."""
        path = self.transcript_path(thread)
        with self._lock:
            if thread not in self._counts:
                exists = path.is_file()
                self._counts[thread] = len(path.read_bytes().splitlines()) if exists else 0
            item = {**item, "n": self._counts[thread]}
            self._counts[thread] += 1
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(item) + "\n")
        self.log.publish("chat", thread=thread, item=item)

    def image_path(self, thread: str, name: str) -> Path:
        """A pass image of ``thread`` (plain names only: nothing outside the thread folder)."""
        folder = self.root / plain_name(thread, "thread id")
        return folder / plain_name(name, "image name")

    def _url(self, thread: str, path: str | Path) -> str:
        return f"/api/chat/{thread}/images/{Path(path).name}"

    # Turns (worker thread) --------------------------------------------------------------

    def state_path(self, thread: str) -> Path:
        return self.root / plain_name(thread, "thread id") / "chat-state.json"

    def unfinished(self, thread: str) -> bool:
        """A run of ``thread`` that stopped part-way (sending a message resumes it)."""
        items = self.transcript(thread)
        return bool(items) and not self.state_path(thread).is_file()

    def turn(
        self, thread: str, message: str, on_step: Callable[[int, int, str | None], None]
    ) -> dict[str, Any]:
        plain_name(thread, "thread id")
        self.running.add(thread)
        try:
            self.record(thread, {"role": "user", "text": message})
            with observe_latents(previewer(on_step)):
                if self.state_path(thread).is_file():
                    image = self._edit(thread, message)
                else:
                    image = self._run(thread, message)
        except Cancelled:
            text = "cancelled; send a message to go on (a stopped run resumes where it was)"
            self.record(thread, {"role": "agent", "kind": "error", "text": text})
            raise
        except Exception as error:
            self.record(thread, {"role": "agent", "kind": "error", "text": classify(error).message})
            raise
        finally:
            self.running.discard(thread)
        return self.workspace.adopt_image(image, f"the agent's image of thread {thread!r}")

    def _services(self, thread: str, goal: str, size: tuple[int, int]) -> Any:
        from pakati.orchestrator import Context, PakatiOrchestrator

        workdir = self.root / thread
        context = Context(
            primary_goal=goal,
            width=size[0],
            height=size[1],
            max_passes=self.max_passes,
            provider=self.provider,
            workdir=str(workdir),
        )
        model = self.workspace.bundle(self.workspace.draft.model)
        orchestrator = PakatiOrchestrator(context, llm=self._llm, model=model, scorer=self._scorer)
        if self._scorer is None:
            self._scorer = orchestrator.session.scorer  # loaded once, kept for later turns
        return orchestrator

    def _run(self, thread: str, goal: str) -> Path:
        """The whole agent loop, checkpointed under ``thread`` (resumed if it stopped)."""
        from pakati.agents.schemas import Critique, Plan

        saved = self._saved(thread)
        goal = saved.get("goal", goal)
        size = tuple(saved.get("size") or _size(self.workspace))
        self._save(thread, {"goal": goal, "size": list(size)}, final=False)
        orchestrator = self._services(thread, goal, (int(size[0]), int(size[1])))
        model = orchestrator.session.model_name

        def on_update(node: str, update: dict[str, Any]) -> None:
            if node == "planner":
                plan = Plan.model_validate(update["plan"])
                self.record(thread, _plan_item(plan, model, "plan"))
            elif node == "executor":
                image = update["images"][0]
                self.record(
                    thread,
                    {
                        "role": "agent",
                        "kind": "pass",
                        "pass": update["pass_number"],
                        "image": self._url(thread, image),
                    },
                )
            elif node == "critic":
                review = Critique.model_validate(update["critiques"][0])
                self.record(thread, _critique_item(review, update.get("stop_reason")))
            elif node == "refiner":
                pending = update.get("pending", {})
                self.record(
                    thread,
                    {
                        "role": "agent",
                        "kind": "refine",
                        "changes": update.get("changes", [[]])[0],
                        "regenerate": pending.get("regenerate", []),
                        "full": bool(pending.get("full")),
                    },
                )
                self.record(thread, _plan_item(Plan.model_validate(update["plan"]), model, "plan"))

        final = orchestrator.run(
            goal, thread_id=thread, checkpoint=self.checkpoint, on_update=on_update
        )
        if not final.get("images"):
            raise RuntimeError("the agent finished without an image")
        image = Path(final["images"][-1])
        self._save(
            thread,
            {
                "goal": goal,
                "size": list(size),
                "plan": final["plan"],
                "image": str(image),
                "edits": 0,
            },
            final=True,
        )
        self.record(
            thread,
            {
                "role": "agent",
                "kind": "done",
                "text": f"stopped: {final.get('stop_reason')}",
                "image": self._url(thread, image),
            },
        )
        return image

    def _edit(self, thread: str, instruction: str) -> Path:
        """One follow-up: edit the last plan and redraw only what changed."""
        from pakati.agents import executor, planner
        from pakati.agents.schemas import Plan
        from pakati.graphs.nodes import impose_settings
        from pakati.tools.session import load_rgb

        saved = self._saved(thread)
        size = saved["size"]
        orchestrator = self._services(thread, saved["goal"], (int(size[0]), int(size[1])))
        services = orchestrator.services
        plan = Plan.model_validate(saved["plan"])
        new = planner.edit_plan(services.llm, plan, instruction, method=services.method)
        new = impose_settings(new, services)
        redraw = executor.diff_plans(plan, new)
        changed = [r.name for r in new.regions] if redraw.full else list(redraw.regenerate)
        kept = [] if redraw.full else [r.name for r in new.regions if r.name not in changed]
        self.record(thread, _plan_item(new, orchestrator.session.model_name, "edit"))
        self.record(
            thread,
            {
                "role": "agent",
                "kind": "redraw",
                "full": redraw.full,
                "regenerated": changed,
                "kept": kept,
            },
        )
        number = int(saved.get("edits", 0)) + 1
        path = executor.run_pass(
            orchestrator.session, new, redraw, saved["image"], f"edit-{number}.png"
        )
        self.record(
            thread,
            {
                "role": "agent",
                "kind": "pass",
                "pass": f"edit {number}",
                "image": self._url(thread, path),
            },
        )
        review = services.critic(
            load_rgb(path), new, orchestrator.session.scorer, orchestrator.context.target, None
        )
        self.record(thread, _critique_item(review, None))
        self._save(
            thread,
            {**saved, "plan": new.model_dump(mode="json"), "image": str(path), "edits": number},
            final=True,
        )
        return Path(path)

    def _saved(self, thread: str) -> dict[str, Any]:
        for path in (self.state_path(thread), self._pending_path(thread)):
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    return data
        return {}

    def _pending_path(self, thread: str) -> Path:
        return self.state_path(thread).with_name("chat-start.json")

    def _save(self, thread: str, data: dict[str, Any], final: bool) -> None:
        path = self.state_path(thread) if final else self._pending_path(thread)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")


def _size(workspace: Workspace) -> tuple[int, int]:
    layout = workspace.draft
    return max(32, min(4096, layout.width)), max(32, min(4096, layout.height))


def _plan_item(plan: Any, model: str, kind: str) -> dict[str, Any]:
    layout = plan.to_layout(model).model_dump(mode="json", exclude_none=True)
    return {"role": "agent", "kind": kind, "summary": plan.summary(), "layout": layout}


def _critique_item(review: Any, stop_reason: str | None) -> dict[str, Any]:
    return {
        "role": "agent",
        "kind": "critique",
        "score": round(float(review.score), 4),
        "passed": bool(review.passed),
        "regions": [
            {
                "name": v.name,
                "score": round(float(v.score), 4),
                "passed": v.passed,
                "problem": v.problem,
            }
            for v in review.regions
        ],
        "suggestions": list(review.suggestions),
        "stop_reason": stop_reason,
    }
