"""The PNG ``parameters`` text in A1111's infotext format: written, and read back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from PIL import Image

from pakati import PakatiCanvas
from pakati_engine.infotext import format_infotext, parse_infotext, quote
from pakati_engine.metadata import read_png_metadata
from pakati_engine.models.hashing import model_hash

TRICKY = [
    "dramatic sky, orange clouds",
    "a sign reading: OPEN",
    'a "quoted" word, and a back\\slash',
    "two\nlines",
]


def _metadata(**layout: object) -> dict:
    base = {
        "width": 64,
        "height": 48,
        "model": "/models/dreamshaper_8.safetensors",
        "steps": 20,
        "guidance_scale": 7.5,
        "seed": 123,
        "scheduler": "euler_a",
        "base_prompt": "a landscape",
        "mode": "attention",
        "base_ratio": 0.2,
        "regions": [
            {"name": f"r{i}", "box": [0, 0, 8, 8], "prompt": text} for i, text in enumerate(TRICKY)
        ],
    }
    model = {"source": "x", "hash": "0123456789", "schedule": "Karras"}
    return {"pakati_version": "0.1.0", "layout": {**base, **layout}, "model": model}


def test_quoting_follows_the_web_ui_rule() -> None:
    assert quote("Euler a") == "Euler a"
    assert quote("a, b") == '"a, b"'
    assert quote("k: v") == '"k: v"'
    assert json.loads(quote("x\ny")) == "x\ny"


def test_settings_line_round_trips_with_commas_colons_and_quotes_in_regions() -> None:
    text = format_infotext(_metadata())
    assert "Negative prompt:" not in text  # no empty negative line
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "a landscape"
    assert parsed["Negative prompt"] == ""
    assert parsed["Steps"] == "20"
    assert parsed["Sampler"] == "Euler a"
    assert parsed["Schedule type"] == "Karras"
    assert parsed["CFG scale"] == "7.5"
    assert parsed["Seed"] == "123"
    assert parsed["Size"] == "64x48"
    assert parsed["Model hash"] == "0123456789"
    assert parsed["Model"] == "dreamshaper_8"
    assert parsed["Regional mode"] == "attention"
    regions = json.loads(parsed["Regions"])
    assert [r["prompt"] for r in regions] == TRICKY
    assert regions[0]["box"] == [0, 0, 8, 8]
    # Nothing spurious: a region prompt's "reading: OPEN" did not become a key.
    assert set(parsed) == {
        "Prompt",
        "Negative prompt",
        "Steps",
        "Sampler",
        "Schedule type",
        "CFG scale",
        "Seed",
        "Size",
        "Model hash",
        "Model",
        "Regional mode",
        "Base ratio",
        "Regions",
        "Version",
    }
    # The settings are one line, whatever the prompts hold.
    assert len(text.split("\n")) == 2


def test_multiline_prompt_and_negative_prompt() -> None:
    metadata = _metadata(
        base_prompt="line one\nline two", negative_prompt="blurry\nugly", regions=[]
    )
    parsed = parse_infotext(format_infotext(metadata))
    assert parsed["Prompt"] == "line one\nline two"
    assert parsed["Negative prompt"] == "blurry\nugly"
    assert "Regions" not in parsed and "Regional mode" not in parsed


def test_parser_reads_a_web_ui_style_text() -> None:
    text = (
        "masterpiece, a cat\nNegative prompt: lowres\n"
        "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 9, "
        'Size: 512x768, Model hash: abcdef0123, Model: sd15, Lora hashes: "x: 1a2b, y: 3c4d", '
        "Version: v1.9.4"
    )
    parsed = parse_infotext(text)
    assert parsed["Prompt"] == "masterpiece, a cat"
    assert parsed["Negative prompt"] == "lowres"
    assert parsed["Lora hashes"] == "x: 1a2b, y: 3c4d"
    assert parsed["Version"] == "v1.9.4"
    # A last line that is not settings belongs to the prompt.
    assert parse_infotext("a cat, sitting")["Prompt"] == "a cat, sitting"


def test_saved_png_carries_both_chunks_and_a_real_model_hash(sd_folder, tmp_path) -> None:
    canvas = PakatiCanvas(64, 64, model=str(sd_folder), steps=2, negative_prompt="blurry")
    canvas.apply_to_region(canvas.create_region(box=(0, 0, 32, 64)), "sky, with: clouds")
    saved = canvas.generate(seed=5).save(tmp_path / "out.png")
    with Image.open(saved) as image:
        parsed = parse_infotext(image.text["parameters"])
    metadata = read_png_metadata(saved)  # Pakati's full JSON chunk is still there
    assert metadata["layout"]["regions"][0]["prompt"] == "sky, with: clouds"
    assert parsed["Negative prompt"] == "blurry"
    assert json.loads(parsed["Regions"])[0]["prompt"] == "sky, with: clouds"
    assert parsed["Seed"] == "5" and parsed["Steps"] == "2" and parsed["Size"] == "64x64"
    assert parsed["Sampler"]  # the model's own scheduler, named
    unet = sorted((sd_folder / "unet").glob("*.safetensors"))
    expected = hashlib.sha256(b"".join(p.read_bytes() for p in unet)).hexdigest()[:10]
    assert parsed["Model hash"] == expected == model_hash(str(sd_folder))


def test_single_file_hash_is_the_web_ui_hash(tmp_path) -> None:
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(b"not really weights, but hashed the same way")
    assert model_hash(str(checkpoint)) == hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    assert model_hash(str(tmp_path / "missing.safetensors")) is None


def test_images_without_adapters_stay_readable_by_older_versions(sd_folder, tmp_path) -> None:
    """Pakati before LoRA support forbade unknown layout keys: empty lists are left out."""
    from pydantic import ConfigDict, create_model

    from pakati_engine.layout import Layout

    older_fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in Layout.model_fields.items()
        if name not in ("loras", "embeddings")
    }
    older = create_model("OlderLayout", __config__=ConfigDict(extra="forbid"), **older_fields)
    canvas = PakatiCanvas(64, 64, model=str(sd_folder), steps=1)
    canvas.apply_to_region(canvas.create_region(box=(0, 0, 32, 64)), "sky")
    saved = canvas.generate(seed=1).save(tmp_path / "out.png")
    for layout in (
        read_png_metadata(saved)["layout"],
        json.loads(saved.with_suffix(".json").read_text(encoding="utf-8"))["layout"],
    ):
        assert "loras" not in layout and "embeddings" not in layout
        older.model_validate(layout)
    with pytest.raises(ValueError, match="loras"):
        older.model_validate({**read_png_metadata(saved)["layout"], "loras": [{"path": "x"}]})
    # With adapters the fields are written (and this version reads them back).
    full = Layout.model_validate({"width": 64, "height": 64, "loras": [{"path": "s.safetensors"}]})
    assert full.model_dump(mode="json", exclude_none=True)["loras"] == [
        {"path": "s.safetensors", "weight": 1.0}
    ]
