"""``pakati eval regional``: the command around the engine's regional benchmark.

The benchmark itself (layouts, generation, judging, saving) is tested in
``test_regional_benchmark.py``; here the command's contract and the re-exported names.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

import pakati.evals.regional_eval as regional_eval
import pakati_engine.world.regional_benchmark as benchmark
from pakati.cli.evaluate import add_regional_arguments
from pakati_engine.training.config import TINY_MODEL, TrainConfig
from pakati_engine.training.state import new_state
from pakati_engine.training.train_t2i import Trainer

KEYS = {
    "accuracy_color",
    "accuracy_shape",
    "accuracy_both",
    "accuracy_background",
    "leakage",
    "seconds_per_image",
    "n_regions",
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model exported as the training script exports the real one."""
    out = tmp_path_factory.mktemp("t2i")
    trainer = Trainer(new_state(replace(TrainConfig(model=TINY_MODEL), seed=1)), out)
    return trainer.export(out / "model", settings={"steps": 3, "guidance_scale": 2.0})


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
