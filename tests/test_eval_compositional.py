"""``pakati eval compositional``: cases, verdicts, summary, shards, workers, resume, merge,
reports and errors. The end-to-end tests run the real embedded model at 2 steps."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pakati.evals.comp_arms import ARMS, Settings, controlnet_missing
from pakati.evals.comp_report import write_report
from pakati.evals.comp_runner import execute, merge, read_records, summarize, wilson
from pakati.evals.comp_tasks import (
    COMPOSITIONAL_TASKS,
    TASKS,
    make_case,
    parse_shard,
    sample_cases,
    shard_cases,
)
from pakati.evals.comp_verdicts import detect, task_verdict
from pakati_engine.errors import InvalidInputError
from pakati_engine.world.render import render


def test_cases_are_deterministic_stable_and_sharded_without_overlap() -> None:
    small, large = sample_cases(2, seed=3), sample_cases(5, seed=3)
    assert [c.id for c in small[:2]] == ["single_object-0000", "single_object-0001"]
    for case in small:  # case i of a task does not depend on n
        twin = next(c for c in large if c.id == case.id)
        assert twin == case
    assert sample_cases(2, seed=4)[0].seed != small[0].seed
    shards = [shard_cases(large, i, 3) for i in range(3)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.id for c in large) and len(set(ids)) == len(ids)
    counting = [make_case("counting", i, 0) for i in range(30)]
    assert {len(c.spec.objects) for c in counting} <= set(range(2, 7))
    assert all(len({o.shape for o in c.spec.objects}) == 1 for c in counting)
    negation = make_case("negation", 0, 0)
    assert negation.negated not in {o.color for o in negation.spec.objects}
    assert negation.caption.endswith(f"no {negation.negated} objects")


@pytest.mark.parametrize("text", ["3", "2/2", "-1/2", "a/b", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_shard(text)


def test_wilson_interval() -> None:
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(10, 10)[1] == 1.0 and wilson(10, 10)[0] > 0.69


@pytest.mark.parametrize("task", (*COMPOSITIONAL_TASKS, "leakage"))
def test_ground_truth_images_pass_and_altered_ones_fail(task: str) -> None:
    """The world's own rendering of a case passes its verdict; a blank canvas fails it."""
    for index in range(3):
        case = make_case(task, index, seed=1)
        image = render([case.spec])[0][0]
        assert task_verdict(case, image)["ok"], (case.id, task_verdict(case, image))
        if task != "leakage":
            blank = np.zeros_like(image) + image[0, 0]
            assert not task_verdict(case, blank)["ok"]


def test_negation_fails_when_the_banned_colour_is_drawn() -> None:
    case = make_case("negation", 0, seed=1)
    first = case.spec.objects[0]
    painted = dataclasses.replace(first, color=case.negated)
    spec = dataclasses.replace(case.spec, objects=(painted, *case.spec.objects[1:]))
    verdict = task_verdict(case, render([spec])[0][0])
    assert verdict["negated_found"] and not verdict["ok"]


def test_detector_counts_objects_and_reads_colours() -> None:
    case = make_case("counting", 4, seed=2)
    found = detect(render([case.spec])[0][0])
    assert len(found) == len(case.spec.objects)
    assert sorted(d.color or "" for d in found) == sorted(o.color for o in case.spec.objects)


def test_summary_is_order_free_and_counts_skips() -> None:
    records = [
        {"id": f"colors-{i:04d}", "task": "colors", "seed": i, "arm": "plain", "ok": i % 2 == 0}
        for i in range(6)
    ] + [
        {"id": "edit_locality-0000", "task": "edit_locality", "arm": "plain", "ok": None,
         "skipped": "no regions"},
    ]  # fmt: skip
    config = {"seed": 0, "n": 6}
    first = summarize(records, config)
    assert first == summarize(list(reversed(records)) + records[:2], config)
    cell = first["arms"]["plain"]["tasks"]["colors"]
    assert (cell["n"], cell["correct"], cell["accuracy"]) == (6, 3, 0.5)
    assert first["arms"]["plain"]["skipped"] == {"edit_locality": "no regions"}


TASKS_E2E = "colors,spatial_relation,locked_identity"
ARMS_E2E = ["plain", "attention"]


def _config(**changes: object) -> dict[str, object]:
    base = {
        "seed": 5, "n": 2, "tasks": TASKS_E2E.split(","), "arms": ARMS_E2E, "steps": 2,
        "agent_passes": 1, "model": None, "size": 128,
    }  # fmt: skip
    return {**base, **changes}


def _run(folder: Path, workers: int = 1, shard: tuple[int, int] = (0, 1)) -> dict[str, object]:
    cases = shard_cases(sample_cases(2, 5, tuple(TASKS_E2E.split(","))), *shard)
    return execute(folder, cases, _config(), Settings(steps=2), workers, 1, None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compositional")
    _run(root / "one")
    _run(root / "two", workers=2)
    _run(root / "shard0", shard=(0, 2))
    _run(root / "shard1", shard=(1, 2))
    merge([root / "shard1", root / "shard0"], root / "merged")
    return {p.name: p for p in root.iterdir()}


def test_same_summary_with_one_and_two_workers_and_merged_shards(runs: dict[str, Path]) -> None:
    one = (runs["one"] / "summary.json").read_text()
    assert one == (runs["two"] / "summary.json").read_text()
    assert one == (runs["merged"] / "summary.json").read_text()
    summary = json.loads(one)
    assert summary["n_records"] == 12
    assert summary["arms"]["plain"]["skipped"]["locked_identity"]
    assert summary["arms"]["attention"]["tasks"]["locked_identity"]["accuracy"] == 1.0
    records = read_records(runs["one"])
    assert {(r["arm"], r["id"]) for r in records if r.get("seconds")}
    assert all((runs["one"] / r["image"]).is_file() for r in records if r.get("ok") is not None)


def test_resume_skips_finished_cases(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "partial"
    shutil.copytree(runs["shard0"], folder)
    with (folder / "config.json").open() as handle:
        assert json.load(handle)["seed"] == 5
    before = len(read_records(folder))
    _run(folder)  # the whole run into the shard's folder: only shard 1's cases are added
    records = read_records(folder)
    assert len(records) == 12 and before == 6
    assert (folder / "summary.json").read_text() == (runs["one"] / "summary.json").read_text()
    _run(folder)
    assert len(read_records(folder)) == 12


def test_refuses_foreign_folders_and_other_settings(runs: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="not empty"):
        execute(tmp_path, [], _config(), Settings(), progress=None)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(InvalidInputError, match="seed: 5 there, 6 now"):
        execute(runs["one"], [], _config(seed=6), Settings(), progress=None)
    with pytest.raises(InvalidInputError, match="different settings"):
        other = tmp_path / "other"
        other.mkdir()
        (other / "config.json").write_text(json.dumps(_config(n=3)))
        merge([runs["shard0"], other], tmp_path / "out")


def test_report_files_are_written_and_the_html_stands_alone(runs: dict[str, Path]) -> None:
    folder = runs["merged"]
    summary = json.loads((folder / "summary.json").read_text())
    written = write_report(folder, summary, read_records(folder), "pakati eval compositional")
    assert {"report.md", "report.html", "accuracy.png", "time.png"} <= set(written)
    page = (folder / "report.html").read_text()
    assert "data:image/png;base64," in page and "locked_identity" in page
    assert Image.open(folder / "accuracy.png").size[0] > 400
    markdown = (folder / "report.md").read_text()
    assert "| task | plain | attention |" in markdown


def test_controlnet_arm_is_skipped_with_its_reason_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pakati.evals.comp_runner as runner

    monkeypatch.setattr(runner, "controlnet_missing", lambda: "ControlNet x is not installed")
    cases = sample_cases(1, 0, ("colors",))
    config = _config(tasks=["colors"], arms=["controlnet"], n=1)
    summary = execute(tmp_path / "cn", cases, config, Settings(steps=2), progress=None)
    assert "not installed" in summary["arms"]["controlnet"]["skipped"]["colors"]


def test_controlnet_arm_runs_when_the_controlnet_is_installed(tmp_path: Path) -> None:
    assert controlnet_missing() is None  # pakati-shapes-outline ships with Pakati
    cases = sample_cases(1, 0, ("colors",))
    config = _config(tasks=["colors"], arms=["controlnet", "attention"], n=1)
    threads = torch.get_num_threads()
    execute(tmp_path, cases, config, Settings(steps=2), progress=None)
    assert torch.get_num_threads() == threads  # pixels depend on it: the caller's is kept
    records = {r["arm"]: r for r in read_records(tmp_path)}
    assert records["controlnet"]["ok"] is not None
    with_control = Image.open(tmp_path / records["controlnet"]["image"])
    without = Image.open(tmp_path / records["attention"]["image"])
    assert np.asarray(with_control).tobytes() != np.asarray(without).tobytes()


def test_cli_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pakati.cli import main
    from pakati.cli.evaluate import COMPOSITIONAL_ARMS, COMPOSITIONAL_TASKS

    assert COMPOSITIONAL_ARMS == ARMS and COMPOSITIONAL_TASKS == TASKS
    status = main(["eval", "compositional", "--arms", "plain,dalle", "--report", str(tmp_path)])
    error = capsys.readouterr().err
    assert status != 0 and "dalle" in error and "Traceback" not in error
    status = main(["eval", "compositional", "--shard", "3/2", "--report", str(tmp_path / "x")])
    error = capsys.readouterr().err
    assert status != 0 and "--shard" in error and "Traceback" not in error
    status = main(["eval", "merge", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")])
    assert status != 0 and "no config.json" in capsys.readouterr().err


def test_agent_arm_runs_the_agent_and_keeps_the_critic_score(tmp_path: Path) -> None:
    cases = sample_cases(1, 0, ("colors", "locked_identity"))
    config = _config(tasks=["colors", "locked_identity"], arms=["agent"], n=1, seed=0)
    summary = execute(tmp_path, cases, config, Settings(steps=2, agent_passes=1), progress=None)
    record = next(r for r in read_records(tmp_path) if r["task"] == "colors")
    assert record["passes"] == 1 and 0.0 < record["critic_score"] <= 1.0
    assert record["budget_ok"] == [record["ok"]]  # one pass: delivered image = pass 1's
    assert "agent arm has none" in summary["arms"]["agent"]["skipped"]["locked_identity"]
    written = write_report(tmp_path, summary, read_records(tmp_path), "pakati eval compositional")
    assert {"calibration.png", "agent_passes.png"} <= set(written)


def test_controlnet_arm_gives_every_region_its_outline() -> None:
    from pakati.evals.comp_arms import case_layout

    case = make_case("two_objects", 0, 0)
    layout = case_layout(case, "pakati-shapes", "controlnet", 2)
    assert all(r.control is not None for r in layout.regions)
    assert all(r.control is None for r in case_layout(case, "m", "attention", 2).regions)
    assert case_layout(case, "m", "plain", 2).base_prompt == case.caption
