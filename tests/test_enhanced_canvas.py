"""EnhancedPakatiCanvas: goal, references, delta analysis, templates; `analyze` and
`template` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati import EnhancedPakatiCanvas, InvalidInputError
from pakati.cli import main
from pakati.templates import load_template
from pakati_engine.models.bundle import ModelBundle


def _image(path: Path, colour: tuple[int, int, int], size=(64, 64)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def _canvas(tmp_path: Path, model: ModelBundle | str) -> EnhancedPakatiCanvas:
    canvas = EnhancedPakatiCanvas(64, 64, model, steps=2)
    canvas.set_goal("a mountain landscape at golden hour")
    canvas.add_reference_image(
        _image(tmp_path / "gold.png", (240, 180, 60)), "warm golden hour lighting", "lighting"
    )
    canvas.add_reference_image(
        _image(tmp_path / "rock.png", (90, 90, 100)), "grey rock colour", aspect="colour"
    )
    sky = canvas.create_region(box=(0, 0, 64, 24), name="sky")
    canvas.create_region(box=(0, 24, 64, 64), name="mountain")
    canvas.apply_to_region_with_references(
        sky, "dramatic sky", reference_descriptions=["warm golden hour"]
    )
    canvas.apply_to_region_with_references(
        "mountain", "rocky peaks", reference_descriptions=["grey rock colour"]
    )
    return canvas


def test_references_attach_to_regions_and_deltas_follow_their_aspect(tmp_path) -> None:
    canvas = _canvas(tmp_path, "tiny-random")
    assert [r.region for r in canvas.references] == ["sky", "mountain"]
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[:24] = (40, 40, 90)  # a dark blue sky: far darker and cooler than golden light
    picture[24:] = (95, 92, 100)  # a grey mountain close to the rock reference
    sky = canvas.analyze_deltas(picture, region="sky")
    assert {d.aspect for d in sky} == {"lighting"}
    assert sky[0].delta.similarity < 0.8
    assert any("bright" in t or "warm" in t for a in sky[0].delta.adjustments for t in a.terms)
    mountain = canvas.analyze_deltas(picture, region="mountain")
    assert {d.aspect for d in mountain} == {"color"}
    assert mountain[0].delta.similarity > sky[0].delta.similarity
    with pytest.raises(InvalidInputError, match="no reference described as 'snow'"):
        canvas.apply_to_region_with_references("sky", "x", reference_descriptions=["snow"])
    with pytest.raises(InvalidInputError, match="no references attached to the canvas"):
        canvas.analyze_deltas(picture)


def test_template_round_trip_and_refusals(tmp_path, sd_bundle: ModelBundle) -> None:
    canvas = _canvas(tmp_path, sd_bundle)
    path = canvas.save_template("Mountain Landscape", tmp_path / "templates" / "mountain.json")
    assert load_template(path).version == 2
    with pytest.raises(FileExistsError, match="overwrite=True"):
        canvas.save_template("Again", path)
    canvas.save_template("Again", path, overwrite=True)

    loaded = EnhancedPakatiCanvas.load_template(path, model=sd_bundle)
    assert loaded.goal == canvas.goal
    assert [r.name for r in loaded.regions] == ["sky", "mountain"]
    assert [(r.description, r.region) for r in loaded.references] == [
        (r.description, r.region) for r in canvas.references
    ]
    assert np.array_equal(
        np.asarray(loaded.generate(seed=3).image), np.asarray(canvas.generate(seed=3).image)
    )


def test_older_template_versions_migrate(tmp_path) -> None:
    old = {
        "format": "pakati-template", "version": 1, "name": "Old one",
        "width": 64, "height": 64, "base_prompt": "a field",
        "regions": [{"name": "sun", "box": [0, 0, 16, 16], "prompt": "a sun"}],
    }  # fmt: skip
    (tmp_path / "old.json").write_text(json.dumps(old))
    template = load_template(tmp_path / "old.json")
    assert template.version == 2 and template.layout.regions[0].name == "sun"
    assert template.layout.base_prompt == "a field" and template.references == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "not valid JSON"),
        (json.dumps({"some": "other file"}), "not a Pakati template"),
        (json.dumps({"format": "pakati-template", "version": 9, "name": "x"}), "version 9"),
        (json.dumps({"format": "pakati-template", "version": 2, "name": "x"}), "layout"),
    ],
)
def test_corrupt_or_foreign_templates_are_clear_errors(tmp_path, content, message) -> None:
    (tmp_path / "t.json").write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        load_template(tmp_path / "t.json")


def test_cli_analyze_prints_a_table_and_json(tmp_path, capsys) -> None:
    image = np.full((64, 64, 3), 200, np.uint8)
    image[:, 32:] = (30, 30, 30)
    Image.fromarray(image).save(tmp_path / "image.png")
    _image(tmp_path / "ref.png", (200, 200, 200))
    argv = ["analyze", str(tmp_path / "image.png"), "--reference", str(tmp_path / "ref.png")]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()  # under --json the table goes to stderr, JSON to stdout
    assert captured.err.splitlines()[0].split()[:3] == ["aspect", "similarity", "severity"]
    data = json.loads(captured.out)
    aspects = {"color", "texture", "lighting", "composition", "style", "general"}
    assert set(data["aspects"]) == aspects
    assert {"similarity", "findings", "adjustments"} <= set(data["aspects"]["color"])
    assert main([*argv, "--box", "0,0,32,64", "--json"]) == 0
    boxed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert boxed["aspects"]["lighting"]["similarity"] > data["aspects"]["lighting"]["similarity"]
    assert main([*argv, "--box", "0,0,99,64"]) == 2
    assert "outside" in capsys.readouterr().err
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    assert (
        main(["analyze", str(tmp_path / "bad.jpg"), "--reference", str(tmp_path / "ref.png")]) == 1
    )


def test_cli_template_list_show_apply(tmp_path, sd_folder, capsys) -> None:
    canvas = _canvas(tmp_path, str(sd_folder))
    folder = tmp_path / "templates"
    canvas.save_template("Mountain", folder / "mountain.json")
    (folder / "junk.json").write_text("{}")
    assert main(["template", "list", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "'Mountain'" in out and "junk.json  (not usable" in out
    assert main(["template", "show", str(folder / "mountain.json")]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Mountain"
    target = tmp_path / "from-template.png"
    argv = ["template", "apply", str(folder / "mountain.json"), "--out", str(target)]
    assert main([*argv, "--seed", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seed"] == 5
    assert target.is_file()


def test_references_and_goal_are_stored_with_the_project(tmp_path, sd_bundle) -> None:
    canvas = _canvas(tmp_path, sd_bundle)
    canvas.generate(seed=1)
    canvas.save_project(tmp_path / "project.json")
    reopened = EnhancedPakatiCanvas(64, 64, sd_bundle)
    reopened.load_project(tmp_path / "project.json")
    assert reopened.goal == canvas.goal
    assert [(r.description, r.aspect, r.region) for r in reopened.references] == [
        (r.description, r.aspect, r.region) for r in canvas.references
    ]
    assert np.array_equal(np.asarray(reopened.image), np.asarray(canvas.image))
