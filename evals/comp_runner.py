"""Running ``pakati eval compositional``: local worker processes, resume, summary, merge.

A run folder holds ``config.json`` (what was asked: seed, n, tasks, arms, steps), and
``cases.jsonl``, one record per (case id, arm), appended as results arrive (in any order).
A run in a folder that already has records with the same config skips their (id, arm)
pairs (resume). :func:`summarize` depends only on the set of records, never on their order
or on timings, so 1 or N workers, shards merged, or a resumed run give the same summary.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pakati.evals.comp_arms import ArmRunner, Settings, controlnet_missing, remote_missing
from pakati.evals.comp_tasks import COMPOSITIONAL_TASKS, Case
from pakati_engine.errors import InvalidInputError

CONFIG_KEYS = (
    "seed", "n", "tasks", "arms", "steps", "agent_passes", "model", "size", "remote_model",
)  # fmt: skip
"""What must agree between a run and its resume, and between merged shards."""

Progress = Callable[[int, int, float], None]


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a proportion."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The records of a run folder (a torn last line, from a killed run, is dropped)."""
    path = folder / "cases.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def summarize(records: Iterable[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """Per arm and task: n, correct, accuracy, Wilson 95% interval; per arm: the mean of its
    task accuracies (GenEval's overall). Skipped pairs are counted with their reason."""
    unique = {(r["id"], r["arm"]): r for r in records}
    table: dict[str, dict[str, Any]] = {}
    for (_, arm), record in sorted(unique.items()):
        row = table.setdefault(arm, {"tasks": {}, "skipped": {}})
        if record.get("ok") is None:
            row["skipped"][record["task"]] = record.get("skipped", "")
            continue
        cell = row["tasks"].setdefault(record["task"], {"n": 0, "correct": 0})
        cell["n"] += 1
        cell["correct"] += int(bool(record["ok"]))
    for row in table.values():
        for cell in row["tasks"].values():
            low, high = wilson(cell["correct"], cell["n"])
            cell.update(
                accuracy=round(cell["correct"] / cell["n"], 4),
                ci95=[round(low, 4), round(high, 4)],
            )
        accuracies = [c["accuracy"] for c in row["tasks"].values()]
        row["overall"] = round(sum(accuracies) / len(accuracies), 4) if accuracies else None
        shared = [c["accuracy"] for t, c in row["tasks"].items() if t in COMPOSITIONAL_TASKS]
        # Every arm runs these, so this mean compares arms (the edit tasks need regions).
        row["overall_compositional"] = round(sum(shared) / len(shared), 4) if shared else None
    return {
        "config": {k: config.get(k) for k in CONFIG_KEYS},
        "n_records": len(unique),
        "arms": {arm: table[arm] for arm in sorted(table)},
    }


def prepare_folder(folder: Path, config: dict[str, Any]) -> set[tuple[str, str]]:
    """Create the run folder or resume it; the (id, arm) pairs already done.

    A folder with other files and no ``config.json`` is refused (nothing of the user's is
    overwritten); one whose config differs is refused with the differences named.
    """
    wanted = {k: config.get(k) for k in CONFIG_KEYS}
    config_path = folder / "config.json"
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"--report {folder} is a file, not a folder")
    if folder.exists() and any(folder.iterdir()) and not config_path.exists():
        raise InvalidInputError(
            f"--report folder {folder} is not empty and holds no eval run (no config.json); "
            "give a new folder so that nothing in it is overwritten"
        )
    if config_path.exists():
        found = json.loads(config_path.read_text())
        stored = {k: found.get(k) for k in CONFIG_KEYS}
        if stored != wanted:
            differences = ", ".join(
                f"{k}: {stored[k]!r} there, {wanted[k]!r} now"
                for k in CONFIG_KEYS
                if stored[k] != wanted[k]
            )
            raise InvalidInputError(
                f"--report folder {folder} holds a run with other settings ({differences}); "
                "resume it with the same settings or give a new folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=1, sort_keys=True))
    return {(r["id"], r["arm"]) for r in read_records(folder)}


# Worker processes ------------------------------------------------------------------------

_RUNNER: ArmRunner | None = None


def _init_worker(
    model: str | None, settings: Settings, image_dir: str | None, threads: int
) -> None:
    import torch

    global _RUNNER
    torch.set_num_threads(threads)
    _RUNNER = ArmRunner(model, settings, Path(image_dir) if image_dir else None)


def _run_one(job: tuple[Case, str]) -> dict[str, Any]:
    assert _RUNNER is not None
    return _RUNNER.run(*job)


def run_jobs(
    jobs: list[tuple[Case, str]],
    model: str | None,
    settings: Settings,
    image_dir: Path | None,
    workers: int = 1,
    threads: int = 1,
) -> Iterator[dict[str, Any]]:
    """Records of ``jobs`` as they finish: in this process with one worker, else in
    ``workers`` spawned processes that each load the model once."""
    if not jobs:
        return
    folder = str(image_dir) if image_dir is not None else None
    if workers <= 1:
        import torch

        before = torch.get_num_threads()  # this process's own setting, restored after:
        _init_worker(model, settings, folder, threads)  # pixels depend on the thread count
        try:
            for job in jobs:
                yield _run_one(job)
        finally:
            torch.set_num_threads(before)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _init_worker, (model, settings, folder, threads)) as pool:
        yield from pool.imap_unordered(_run_one, jobs, chunksize=1)


def plan_jobs(
    cases: list[Case],
    arms: tuple[str, ...],
    done: set[tuple[str, str]],
    remote_model: str | None = None,
) -> tuple[list[tuple[Case, str]], list[dict[str, Any]]]:
    """Jobs left to run, and the records of arms skipped as a whole (ControlNet not
    installed, the remote model not usable here)."""
    why: dict[str, str | None] = {
        "controlnet": controlnet_missing() if "controlnet" in arms else None,
        "remote": remote_missing(remote_model or "dall-e-2") if "remote" in arms else None,
    }
    jobs, skipped = [], []
    for case in cases:
        for arm in arms:
            if (case.id, arm) in done:
                continue
            missing = why.get(arm)
            if missing is not None:
                skipped.append(
                    {
                        "id": case.id,
                        "task": case.task,
                        "seed": case.seed,
                        "arm": arm,
                        "ok": None,
                        "skipped": missing,
                    }
                )
                continue
            jobs.append((case, arm))
    return jobs, skipped


def print_progress(done: int, total: int, elapsed: float) -> None:
    """``12/48 images, 6.1 s elapsed, ETA 18 s`` on stderr (about every 1% of the run)."""
    if done not in (1, total) and done % max(1, total // 100):
        return
    rate = elapsed / done if done else 0.0
    eta = rate * (total - done)
    print(
        f"{done}/{total} images, {elapsed:.1f} s elapsed, ETA {eta:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def execute(
    folder: Path,
    cases: list[Case],
    config: dict[str, Any],
    settings: Settings,
    workers: int = 1,
    threads: int = 1,
    progress: Progress | None = print_progress,
    keep_images: bool = True,
    backend: str = "local",
    address: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the cases in ``folder``; writes and returns ``summary.json``'s data."""
    done = prepare_folder(folder, config)
    jobs, skipped = plan_jobs(cases, tuple(config["arms"]), done, config.get("remote_model"))
    started = time.perf_counter()
    path = folder / "cases.jsonl"
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with path.open("a") as out:
        if torn:  # a killed run's half-written line stays alone on its line
            out.write("\n")
        for record in skipped:
            out.write(json.dumps(record, sort_keys=True) + "\n")
        image_dir = folder / "images" if keep_images else None
        if backend == "ray":
            from pakati.evals.comp_ray import run_jobs_ray

            results = run_jobs_ray(jobs, config.get("model"), settings, image_dir, workers, address)
        elif backend == "local":
            results = run_jobs(jobs, config.get("model"), settings, image_dir, workers, threads)
        else:
            raise InvalidInputError(f"unknown backend {backend!r}; choose local or ray")
        for count, record in enumerate(results, 1):
            out.write(json.dumps(record, sort_keys=True) + "\n")
            out.flush()
            if progress is not None:
                progress(count, len(jobs), time.perf_counter() - started)
    summary = summarize(read_records(folder), config)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def merge(folders: list[Path], out: Path) -> dict[str, Any]:
    """Merge shard folders (any order) into ``out``: records, images listed, summary."""
    if not folders:
        raise InvalidInputError("eval merge needs at least one run folder")
    configs = []
    for folder in folders:
        path = folder / "config.json"
        if not path.is_file():
            raise InvalidInputError(f"{folder} holds no eval run (no config.json)")
        found = json.loads(path.read_text())
        configs.append({k: found.get(k) for k in CONFIG_KEYS})
    if any(c != configs[0] for c in configs):
        raise InvalidInputError(
            "these runs had different settings (seed, n, tasks, arms, ...); "
            "only shards of one run merge"
        )
    if any(out.resolve() == f.resolve() for f in folders):
        raise InvalidInputError(f"--out {out} is one of the folders merged; give a new folder")
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in folders:
        for record in read_records(folder):
            if record.get("image"):
                record["image"] = str((folder / record["image"]).resolve())
            records.setdefault((record["id"], record["arm"]), record)
    config = {**configs[0], "merged_from": [str(f) for f in folders]}
    prepare_folder(out, config)
    with (out / "cases.jsonl").open("w") as handle:
        for key in sorted(records):
            handle.write(json.dumps(records[key], sort_keys=True) + "\n")
    summary = summarize(records.values(), config)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary
