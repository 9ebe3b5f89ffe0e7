"""The Ray backend of ``pakati eval compositional`` (``--backend ray``; extra ``pakati[ray]``).

Ray actors, one per worker, each loading the model once (:class:`~pakati.evals.comp_arms.
ArmRunner`); every actor has one job in flight, and the next job goes to whichever actor
finishes first, so results arrive in any order and are keyed by (case id, arm) as the local
backend's are. An actor asks for a GPU when the cluster has one, else one CPU. Actors are
restarted when they die (``max_restarts``), and a job whose actor died is queued again, so
a killed worker costs time, not results. ``--address`` joins an existing cluster; without
it a local Ray with ``workers`` CPUs is started (and stopped at the end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pakati.evals.comp_arms import ArmRunner, Settings
from pakati.evals.comp_tasks import Case
from pakati_engine.errors import InvalidInputError

MAX_RESTARTS = 3
"""How often one actor may die and be restarted before the run fails."""
Hook = Callable[[list[Any], int], None]
"""Called with the actors and the number of results so far, after each result (tests)."""


class _Worker:
    """The actor's class: one model per actor, one job at a time."""

    def __init__(self, model: str | None, settings: Settings, image_dir: str | None) -> None:
        import torch

        torch.set_num_threads(1)
        self.runner = ArmRunner(model, settings, Path(image_dir) if image_dir else None)

    def run(self, case: Case, arm: str) -> dict[str, Any]:
        return self.runner.run(case, arm)

    def ready(self) -> bool:
        return True


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidInputError(
            "--backend ray needs Ray: pip install 'pakati[ray]' (or pip install ray)"
        ) from None
    return ray


def run_jobs_ray(
    jobs: list[tuple[Case, str]],
    model: str | None,
    settings: Settings,
    image_dir: Path | None,
    workers: int = 2,
    address: str | None = None,
    hook: Hook | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of ``jobs`` as Ray actors finish them (any order; every job exactly once)."""
    ray = _ray()
    if not jobs:
        return
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:  # a local Ray; its workers at normal priority (Ray's default
            # niceness, 15, starves them on a busy machine)
            options.update(num_cpus=workers, _system_config={"worker_niceness": 0})
        ray.init(address=address, **options)
    actors: list[Any] = []
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= workers else 0
        actor_class = ray.remote(
            num_cpus=0 if gpus else 1, num_gpus=gpus, max_restarts=MAX_RESTARTS
        )(_Worker)
        folder = str(image_dir) if image_dir is not None else None
        actors = [actor_class.remote(model, settings, folder) for _ in range(workers)]
        queue = list(reversed(jobs))
        running: dict[Any, tuple[Any, tuple[Case, str]]] = {}

        def submit(actor: Any) -> None:
            if queue:
                job = queue.pop()
                running[actor.run.remote(*job)] = (actor, job)

        for actor in actors:
            submit(actor)
        done = 0
        while running:
            finished, _ = ray.wait(list(running), num_returns=1)
            actor, job = running.pop(finished[0])
            try:
                record = ray.get(finished[0])
            except ray.exceptions.RayActorError:
                queue.append(job)  # the actor died (it is being restarted): redo its job
                submit(actor)
                continue
            done += 1
            yield record
            submit(actor)
            if hook is not None:
                hook(actors, done)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
