"""Command-line conventions: --version, JSON-only stdout under --json (errors included),
--device/--dtype/--seed on every generating command, editing a picture Pakati did not make,
and the warning for a canvas far from the model's size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pakati import PakatiCanvas
from pakati.cli import build_parser, main
from pakati.graphs.nodes import Services, impose_settings
from pakati.version import __version__
from pakati_engine.resources import native_size, native_size_warning


def _layout(tmp_path, model) -> str:
    layout = {
        "width": 64,
        "height": 64,
        "model": str(model),
        "steps": 2,
        "seed": 3,
        "regions": [{"name": "a", "box": [0, 0, 32, 64], "prompt": "sky, clouds"}],
    }
    path = tmp_path / "layout.json"
    path.write_text(json.dumps(layout))
    return str(path)


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pakati {__version__}"


def test_json_stdout_holds_only_json(sd_folder, tmp_path, capsys) -> None:
    out = tmp_path / "o.png"
    argv = ["generate", _layout(tmp_path, sd_folder), "--out", str(out), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert summary["seed"] == 3 and summary["image"] == str(out)
    assert "wrote" in captured.err and "wrote" not in captured.out


def test_errors_under_json_are_json(tmp_path, capsys) -> None:
    missing = tmp_path / "missing.json"
    assert main(["generate", str(missing), "--out", str(tmp_path / "o.png"), "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["status"] == 1 and "does not exist" in error["error"] and not error["bug"]
    assert "error:" in captured.err  # the human message still goes to stderr

    assert main(["generate", str(missing), "--out", "o.png", "--steps", "0", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["status"] == 2 and "--steps" in error["error"]
    # Without --json nothing is printed on stdout for an error.
    assert main(["generate", str(missing), "--out", str(tmp_path / "o.png")]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["agent", "a red circle", "--out", "x.png"],
        ["chat"],
        ["eval", "regional"],
        ["eval", "agent"],
        ["template", "apply", "t.json", "--out", "x.png"],
        ["generate", "l.json", "--out", "x.png"],
        ["edit", "x.png", "--region", "a", "--out", "y.png"],
    ],
)
def test_generating_commands_take_device_dtype_and_seed(argv: list[str]) -> None:
    args = build_parser().parse_args([*argv, "--device", "cpu", "--dtype", "fp32", "--seed", "4"])
    assert (args.device, args.dtype, args.seed) == ("cpu", "fp32", 4)


def test_agent_seed_reaches_every_plan() -> None:
    from pakati.agents.schemas import Plan

    services = Services(llm=None, session=None, seed=11)  # type: ignore[arg-type]
    assert impose_settings(Plan(width=64, height=64), services).seed == 11
    assert impose_settings(Plan(width=64, height=64), Services(None, None)).seed == 0  # type: ignore[arg-type]


def test_edit_a_picture_pakati_did_not_make(tmp_path, sd_folder, capsys) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    out = tmp_path / "edited.png"
    argv = ["edit", str(tmp_path / "photo.png"), "--region", "sky=0,0,48,32", "--prompt",
            "a red sky", "--model", str(sd_folder), "--out", str(out), "--seed", "1",
            "--feather", "4", "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["regions"] == 1
    edited = np.asarray(Image.open(out).convert("RGB"))
    changed = np.abs(edited.astype(int) - pixels.astype(int)).sum(-1) > 0
    assert changed[:32, :48].mean() > 0.5  # the region was redrawn
    assert not changed[:, 48 + 4 :].any() and not changed[32 + 4 :, :].any()  # the rest kept

    # A region of such a picture must be a box; a bare name says so (usage error, 2).
    argv[3] = "sky"
    argv[argv.index(str(out))] = str(tmp_path / "other.png")
    assert main(argv) == 2
    assert "NAME=x0,y0,x1,y1" in json.loads(capsys.readouterr().out)["error"]


def test_warning_when_the_canvas_is_far_from_the_models_size(sd_bundle) -> None:
    width, height = native_size(sd_bundle)
    assert native_size_warning(sd_bundle, width, height) is None
    message = native_size_warning(sd_bundle, width * 4, height)
    assert message is not None and f"{width}x{height}" in message
    canvas = PakatiCanvas(width // 4, height // 4, model=sd_bundle, steps=1)
    with pytest.warns(UserWarning, match=f"draws at {width}x{height}"):
        canvas.generate(seed=0)


def test_count_makes_a_batch_with_consecutive_seeds(sd_folder, tmp_path, capsys) -> None:
    layout = _layout(tmp_path, sd_folder)
    out = tmp_path / "b.png"
    assert main(["generate", layout, "--out", str(out), "--count", "3", "--json"]) == 0
    images = json.loads(capsys.readouterr().out)["images"]
    assert [i["seed"] for i in images] == [3, 4, 5]
    paths = [tmp_path / f"b-{n}.png" for n in (1, 2, 3)]
    assert [i["image"] for i in images] == [str(p) for p in paths]
    pixels = [np.asarray(Image.open(p)) for p in paths]
    assert not np.array_equal(pixels[0], pixels[1])
    # The second image equals a single run with its seed.
    single = tmp_path / "single.png"
    assert main(["generate", layout, "--out", str(single), "--seed", "4"]) == 0
    assert np.array_equal(np.asarray(Image.open(single)), pixels[1])
    # An existing member of the batch stops the run before any work.
    before = paths[1].read_bytes()
    other = tmp_path / "c.png"
    (tmp_path / "c-2.png").write_bytes(before)
    assert main(["generate", layout, "--out", str(other), "--count", "2"]) == 2
    assert not (tmp_path / "c-1.png").exists()


def test_memory_switches_on_the_command_line(sd_folder, tmp_path, capsys) -> None:
    layout = _layout(tmp_path, sd_folder)
    plain, sliced = tmp_path / "plain.png", tmp_path / "sliced.png"
    assert main(["generate", layout, "--out", str(plain)]) == 0
    argv = ["generate", layout, "--out", str(sliced), "--attention-slicing", "--vae-tiling"]
    assert main(argv) == 0
    a = np.asarray(Image.open(plain), dtype=np.int16)
    b = np.asarray(Image.open(sliced), dtype=np.int16)
    assert np.abs(a - b).max() <= 2
    if not torch.cuda.is_available():
        argv = ["generate", layout, "--out", str(tmp_path / "o.png"), "--cpu-offload"]
        assert main(argv) == 1
        assert "needs a CUDA GPU" in capsys.readouterr().err
