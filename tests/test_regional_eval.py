"""``pakati eval regional``: the command around the engine's regional benchmark.

The benchmark itself (layouts, generation, judging, saving) is tested in
``test_regional_benchmark.py``; here the command's contract and the re-exported names.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import pakati.evals.regional_eval as regional_eval
import pakati_engine.world.regional_benchmark as benchmark
from pakati.cli.evaluate import add_regional_arguments
from tests.test_regional_benchmark import KEYS, tiny_folder

# The key set and the tiny exported model (a fixture) are the engine benchmark tests' own.
__all__ = ["KEYS", "tiny_folder"]


def test_the_eval_module_re_exports_the_engine_benchmark() -> None:
    """Callers of ``pakati.evals.regional_eval`` keep working: same objects, not copies."""
    for name in regional_eval.__all__:
        if name != "main":
            assert getattr(regional_eval, name) is getattr(benchmark, name), name


def test_cli_prints_the_summary_as_the_last_line(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_regional_arguments(parser)
    args = parser.parse_args(["--n", "1", "--size", "32", "--json", "--model", str(tiny_folder)])
    assert regional_eval.main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert set(json.loads(last)) >= KEYS


def test_cli_reports_progress_and_saves_without_json(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_regional_arguments(parser)
    folder = tmp_path / "saved"
    args = parser.parse_args(
        ["--n", "2", "--size", "32", "--model", str(tiny_folder), "--save", str(folder)]
    )
    assert regional_eval.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "2/2 images"
    assert json.loads(lines[-1]) == json.loads((folder / "summary.json").read_text())


def test_cli_options_for_five_to_six_regions_and_small_objects(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_regional_arguments(parser)
    base = ["--n", "2", "--size", "32", "--json", "--model", str(tiny_folder)]
    defaults = parser.parse_args(base)
    assert (defaults.min_regions, defaults.max_regions, defaults.small) == (2, 4, 0.0)
    assert parser.parse_args([*base, "--small"]).small == 1.0
    assert parser.parse_args([*base, "--small", "0.3"]).small == 0.3
    args = parser.parse_args([*base, "--min-regions", "5", "--max-regions", "6", "--small"])
    assert regional_eval.main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["min_regions"], summary["max_regions"], summary["small"]) == (5, 6, 1.0)
    assert summary["n_regions"] >= 10
