"""``pakati eval compositional --backend ray``: the same summary as the local backend, also
when a worker is killed mid-run. One local Ray (2 CPUs) for the module; skipped without Ray."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pakati.evals.comp_arms import Settings
from pakati.evals.comp_ray import run_jobs_ray
from pakati.evals.comp_runner import execute
from pakati.evals.comp_tasks import sample_cases

ray = pytest.importorskip("ray")

TASKS = ("colors", "locked_identity", "two_objects")
CONFIG = {
    "seed": 7, "n": 2, "tasks": list(TASKS), "arms": ["attention"], "steps": 2,
    "agent_passes": 1, "model": None, "size": 128,
}  # fmt: skip


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _system_config={"worker_niceness": 0},
    )
    yield
    ray.shutdown()


def _cases() -> list[Any]:
    return sample_cases(2, 7, TASKS)


def test_ray_gives_the_local_summary_even_when_a_worker_dies(
    local_ray: None, tmp_path: Path
) -> None:
    local = execute(tmp_path / "local", _cases(), CONFIG, Settings(steps=2), progress=None)
    on_ray = execute(
        tmp_path / "ray", _cases(), CONFIG, Settings(steps=2), 2, progress=None, backend="ray"
    )
    assert on_ray == local

    killed: list[int] = []

    def kill_once(actors: list[Any], done: int) -> None:
        if not killed:  # a worker dies with a job in flight; Ray restarts it
            ray.kill(actors[0], no_restart=False)
            killed.append(done)

    jobs = [(case, "attention") for case in _cases()]
    records = list(run_jobs_ray(jobs, None, Settings(steps=2), None, 2, hook=kill_once))
    assert killed == [1]
    assert sorted((r["id"], r["ok"]) for r in records) == sorted(
        (r["id"], r["ok"]) for r in _records(tmp_path / "local")
    )


def _records(folder: Path) -> list[dict[str, Any]]:
    from pakati.evals.comp_runner import read_records

    return read_records(folder)
