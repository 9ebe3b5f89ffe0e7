"""PNG metadata round trip, reproduction from an image, the layout file, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati import InvalidInputError, PakatiCanvas
from pakati.cli import main
from pakati_engine.layout import load_layout, parse_layout
from pakati_engine.metadata import read_png_metadata


def _write_layout(folder: Path, model: Path, **changes) -> Path:
    mask = np.zeros((64, 64), np.uint8)
    mask[40:60, 10:50] = 255
    Image.fromarray(mask).save(folder / "boat.png")
    layout = {
        "width": 64,
        "height": 64,
        "model": str(model),
        "steps": 3,
        "seed": 7,
        "base_prompt": "a lake",
        "regions": [
            {"name": "sky", "box": [0, 0, 64, 24], "prompt": "sunset sky"},
            {
                "name": "hill",
                "polygon": [[0, 24], [64, 30], [64, 64], [0, 64]],
                "prompt": "green hill",
                "negative_prompt": "snow",
            },
            {"name": "boat", "mask": "boat.png", "prompt": "a red boat", "z": 1},
        ],
        **changes,
    }
    path = folder / "layout.json"
    path.write_text(json.dumps(layout))
    return path


def test_png_carries_parameters_and_regenerates_identically(sd_folder, tmp_path) -> None:
    layout = load_layout(_write_layout(tmp_path, sd_folder))
    result = PakatiCanvas.from_layout(layout).generate(seed=layout.seed)
    saved = result.save(tmp_path / "out.png")
    metadata = read_png_metadata(saved)
    assert metadata["layout"]["seed"] == 7
    assert metadata["layout"]["regions"][2]["mask_png"]  # the mask travels inside the PNG
    assert json.loads((tmp_path / "out.json").read_text()) == metadata
    with Image.open(saved) as image:
        assert "Seed: 7" in image.text["parameters"]

    again = PakatiCanvas.from_layout(parse_layout(metadata["layout"])).generate(
        seed=metadata["layout"]["seed"]
    )
    assert np.array_equal(np.asarray(again.image), np.asarray(Image.open(saved).convert("RGB")))


def test_save_refuses_to_overwrite_unless_asked(sd_bundle, tmp_path) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=1)
    result = canvas.generate(seed=0)
    result.save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.save(tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes() == before
    result.save(tmp_path / "a.png", overwrite=True)
    with pytest.raises(InvalidInputError, match=r"use a \.png file name"):
        result.save(tmp_path / "a.jpg")


def test_reading_metadata_from_foreign_or_broken_files(tmp_path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    with pytest.raises(InvalidInputError, match="carries no Pakati metadata"):
        read_png_metadata(tmp_path / "plain.png")
    (tmp_path / "broken.png").write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match="not a readable image"):
        read_png_metadata(tmp_path / "broken.png")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"width": 64}, "height: Field required"),
        ({"width": 64, "height": 64, "regions": [{"prompt": "x"}]}, "needs exactly one of"),
        ({"width": 64, "height": 64, "regions": [{"box": [0, 0, 1, 1]}]}, "prompt: Field"),
        ({"width": 64, "height": 64, "stepz": 3}, "stepz: Extra inputs"),
        (
            {
                "width": 64,
                "height": 64,
                "regions": [
                    {"name": "a", "box": [0, 0, 1, 1], "prompt": "x"},
                    {"name": "a", "box": [0, 0, 1, 1], "prompt": "y"},
                ],
            },
            "repeated: a",
        ),
        ({"width": -3, "height": 64}, "width: Input should be greater than 0"),
    ],
)
def test_malformed_layouts_get_readable_errors(data: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_layout(data)


def test_layout_file_errors(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_layout(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_layout(tmp_path / "bad.json")


def test_cli_generate_then_reproduce_from_png(sd_folder, tmp_path, capsys) -> None:
    layout = _write_layout(tmp_path, sd_folder)
    out = tmp_path / "out" / "image.png"
    assert main(["generate", str(layout), "--out", str(out), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["image"] == str(out) and summary["seed"] == 7 and summary["unet_calls"] == 3

    copy = tmp_path / "copy.png"
    assert main(["generate", "--from", str(out), "--out", str(copy), "--no-progress"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(copy)))
    from_sidecar = tmp_path / "copy2.png"
    sidecar = str(out.with_suffix(".json"))
    assert main(["generate", "--from", sidecar, "--out", str(from_sidecar), "--no-progress"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(from_sidecar)))


def test_cli_errors_exit_with_a_message(sd_folder, tmp_path, capsys) -> None:
    """A refused overwrite is a usage error (2); a run that fails on its input exits 1."""
    layout = _write_layout(tmp_path, sd_folder)
    out = tmp_path / "x.png"
    out.write_bytes(b"precious")
    assert main(["generate", str(layout), "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"

    missing = _write_layout(tmp_path, tmp_path / "no-such-model")
    assert main(["generate", str(missing), "--out", str(tmp_path / "y.png")]) == 1
    assert "not found" in capsys.readouterr().err

    regions = [{"box": [0, 0, 10, 10], "prompt": "a dot"}]
    bad = _write_layout(tmp_path, sd_folder, width=60, regions=regions)
    assert main(["generate", str(bad), "--out", str(tmp_path / "z.png")]) == 1
    assert "multiple of 8" in capsys.readouterr().err


def test_cli_schema_prints_the_layout_schema(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"width", "height", "regions", "seed", "base_prompt"} <= set(schema["properties"])


def test_saved_files_get_the_usual_permissions(sd_bundle, tmp_path) -> None:
    import os
    import stat

    result = PakatiCanvas(64, 64, model=sd_bundle, steps=1).generate(seed=0)
    path = result.save(tmp_path / "perm.png")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
