"""The remote-provider arm of ``pakati eval compositional``: every region drawn by a remote
model through its official client (OpenAI's), here against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati.cli import main
from pakati.evals.comp_arms import case_layout, remote_missing
from pakati.evals.comp_runner import read_records
from pakati.evals.comp_tasks import make_case
from pakati_engine.world.scene import pixel_cell
from tests.provider_fakes import PAINT, FakeImageServer

SECRET = "sk-eval-SECRET-19"


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path / "home"))
    for name in ("OPENAI_API_KEY", "PAKATI_API_KEY_OPENAI", "OPENAI_BASE_URL", "PAKATI_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def test_remote_layout_gives_every_region_the_remote_model() -> None:
    case = make_case("two_objects", 0, 0)
    layout = case_layout(case, "pakati-shapes", "remote", 2, "gpt-image-1")
    assert [r.model for r in layout.regions] == ["gpt-image-1"] * len(case.spec.objects)
    assert layout.mode == "attention"
    assert all(r.model is None for r in case_layout(case, "m", "attention", 2, "x").regions)


def test_remote_arm_draws_regions_through_the_client_against_a_fake_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "run"
    with FakeImageServer() as fake:
        monkeypatch.setenv("PAKATI_API_KEY_OPENAI", SECRET)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        assert remote_missing("dall-e-2") is None
        status = main(
            ["eval", "compositional", "--n", "1", "--seed", "0", "--steps", "2",
             "--tasks", "two_objects,edit_locality", "--arms", "attention,remote",
             "--remote-model", "dall-e-2", "--report", str(folder), "--quiet", "--json"]
        )  # fmt: skip
        edits = fake.posts("/v1/images/edits")
    assert status == 0, capsys.readouterr().err
    records = {(r["task"], r["arm"]): r for r in read_records(folder)}
    drawn = records[("two_objects", "remote")]
    assert drawn["remote_models"] == ["dall-e-2"] and drawn["remote_calls"] == 2
    # Two regions for two_objects; the edit task draws its two regions, then redraws one.
    assert len(edits) == 2 + 2 + 1
    assert all(e.headers.get("authorization") == f"Bearer {SECRET}" for e in edits)
    case = make_case("two_objects", 0, 0)
    remote = np.asarray(Image.open(folder / drawn["image"]).convert("RGB"))
    local = np.asarray(Image.open(folder / records[("two_objects", "attention")]["image"]))
    background = np.ones(remote.shape[:2], dtype=bool)
    for obj in case.spec.objects:  # the fake paints the masked area: it reached the image
        x0, y0, x1, y1 = pixel_cell(obj)
        inside = remote[y0:y1, x0:x1].reshape(-1, 3)
        assert (inside == PAINT).all(axis=-1).mean() > 0.5
        background[max(0, y0 - 9) : y1 + 9, max(0, x0 - 9) : x1 + 9] = False
    assert background.sum() > 1000  # drawn by the local model alone: the same bytes
    assert np.array_equal(remote[background], local[background])
    assert drawn["ok"] is False  # the judge sees magenta paint, not the asked colours
    edit = records[("edit_locality", "remote")]
    assert edit["verdict"]["outside_pixels_changed"] == 0  # compose keeps the rest exactly
    assert edit["ok"] is False and edit["remote_calls"] == 3  # the redraw is paint too
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["config"]["remote_model"] == "dall-e-2"
    assert set(summary["arms"]) == {"attention", "remote"}
    for name in ("cases.jsonl", "summary.json", "config.json", "report.md", "report.html"):
        assert SECRET not in (folder / name).read_text()


def test_remote_arm_is_skipped_with_the_reason_when_the_model_is_not_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no key" in str(remote_missing("dall-e-2"))
    status = main(
        ["eval", "compositional", "--n", "1", "--tasks", "colors", "--arms", "remote",
         "--report", str(tmp_path / "run"), "--quiet", "--json"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "no key" in summary["arms"]["remote"]["skipped"]["colors"]
    status = main(
        ["eval", "compositional", "--arms", "remote", "--remote-model", "no-such-model",
         "--tasks", "colors", "--n", "1", "--report", str(tmp_path / "bad"), "--quiet"]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert status != 0 and "no-such-model" in error and "Traceback" not in error
    assert not (tmp_path / "bad").exists()
    status = main(
        ["eval", "compositional", "--arms", "remote", "--remote-model", "pakati-shapes",
         "--tasks", "colors", "--n", "1", "--report", str(tmp_path / "local"), "--quiet"]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert status != 0 and "local model" in error and "Traceback" not in error
