"""Cards derived from a Replicate model's openapi_schema (the real client, a fake server)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pakati import PakatiCanvas
from pakati_engine.errors import InvalidInputError, PakatiError
from pakati_engine.providers.registry import Registry
from pakati_engine.providers.replicate_cards import card_from_openapi
from tests.provider_fakes import FakeImageServer

TOKEN = "r8-schema-SECRET-3"


def schema(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.2",
        "components": {
            "schemas": {
                "Input": {"type": "object", "required": ["prompt"], "properties": properties},
                "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
                **extra,
            }
        },
    }


# Shaped like Cog's output for an SDXL inpainting model: enums as allOf + $ref.
PAINTER = schema(
    {
        "prompt": {"type": "string", "x-order": 0},
        "negative_prompt": {"type": "string", "default": ""},
        "image": {"type": "string", "format": "uri"},
        "mask": {"type": "string", "format": "uri"},
        "width": {"allOf": [{"$ref": "#/components/schemas/width"}], "default": 1024},
        "height": {"allOf": [{"$ref": "#/components/schemas/height"}], "default": 1024},
        "seed": {"type": "integer"},
        "prompt_strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
    },
    width={"type": "integer", "enum": [512, 768, 1024]},
    height={"type": "integer", "enum": [512, 1024]},
)


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PAKATI_MODEL_CARDS", raising=False)


@pytest.mark.parametrize(
    ("properties", "tasks", "inputs", "limits"),
    [
        (
            PAINTER["components"]["schemas"]["Input"]["properties"],
            ["text-to-image", "edit", "image-to-image"],
            {"image": "image", "mask": "mask", "seed": "seed", "strength": "prompt_strength"},
            {"sizes": [(512, 512), (512, 1024), (768, 512)], "max_side": 1024, "seed": True},
        ),
        (
            {
                "prompt": {"type": "string"},
                "input_image": {"type": "string", "format": "uri"},
                "strength": {"type": "number"},
                "width": {"type": "integer", "maximum": 1440, "multipleOf": 16, "default": 768},
                "height": {"type": "integer", "maximum": 1440, "multipleOf": 16},
            },
            ["text-to-image", "image-to-image"],
            {"image": "input_image", "strength": "strength"},
            {"max_side": 1440, "size_multiple": 16, "native_side": 768, "seed": False},
        ),
        (
            {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string"}},
            ["text-to-image"],
            {"prompt": "prompt"},
            {"sizes": [], "mask": "none"},
        ),
    ],
)
def test_card_from_openapi_schema(
    properties: dict[str, Any], tasks: list[str], inputs: dict[str, str], limits: dict[str, Any]
) -> None:
    extra = {k: v for k, v in PAINTER["components"]["schemas"].items() if k in ("width", "height")}
    card = card_from_openapi("someone/model", schema(properties, **extra), version="abcdef0123456")
    assert card.id == "replicate:someone/model" and card.remote_id == "someone/model"
    assert card.tasks == tasks and card.provider == "replicate"
    assert inputs.items() <= card.inputs.items()
    for key, value in limits.items():
        if key == "sizes":
            assert set(value) <= set(card.sizes) and (bool(value) == bool(card.sizes))
        else:
            assert getattr(card, key) == value
    assert card.output_lifetime_s == 3600 and "REPLICATE_API_TOKEN" in card.key_env


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"openapi": "3.0.2"}, "no Input properties"),
        (schema({"image": {"type": "string"}}), "takes no prompt"),
    ],
)
def test_a_schema_pakati_cannot_use_is_a_clear_error(bad: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        card_from_openapi("someone/model", bad)


def test_a_region_on_a_replicate_model_named_by_its_id_uses_the_derived_card() -> None:
    with FakeImageServer() as fake:
        fake.schemas["fake/painter"] = PAINTER
        env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": fake.url}
        registry = Registry(env=env, dotenv=None, user_cards=False)
        canvas = PakatiCanvas(128, 128, "pakati-shapes", base_prompt="a grey background")
        canvas.create_region(box=(68, 30, 124, 90), name="square")
        canvas.apply_to_region("square", "a blue square", model="replicate:fake/painter")
        canvas.model_registry = registry
        result = canvas.generate(seed=3)
        reads = [s for s in fake.seen if s.method == "GET" and s.path == "/v1/models/fake/painter"]
        (create,) = fake.posts("/predictions")
    assert len(reads) == 1  # the schema is read once, then remembered
    assert reads[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert create.path == "/v1/models/fake/painter/predictions"
    sent = create.json["input"]
    assert {"prompt", "image", "mask", "seed", "width", "height"} <= set(sent)
    assert sent["width"] in (512, 768, 1024) and sent["height"] in (512, 1024)  # its enums
    (record,) = result.models
    assert record["model"] == "replicate:fake/painter" and record["task"] == "edit"
    inside = canvas.region("square").rasterize() > 0
    assert (np.asarray(result.image)[inside] == (250, 20, 200)).all(axis=-1).mean() > 0.5


def test_without_a_token_the_region_falls_back_and_an_unknown_model_is_an_error() -> None:
    canvas = PakatiCanvas(64, 64, "pakati-shapes")
    canvas.create_region(box=(8, 8, 40, 40), name="a")
    canvas.apply_to_region("a", "a red circle", model="replicate:fake/painter")
    canvas.model_registry = Registry(env={}, dotenv=None, user_cards=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = canvas.generate(seed=1)
    assert any("no key" in str(w.message) for w in caught)
    assert result.models[0]["fallback"] is True
    with FakeImageServer() as fake:
        env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": fake.url}
        canvas.model_registry = Registry(env=env, dotenv=None, user_cards=False)
        with pytest.raises(PakatiError, match="fake/painter: Replicate answered 404"):
            canvas.generate(seed=1)


def test_pakati_models_add_replicate_saves_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pakati.cli import main

    monkeypatch.chdir(tmp_path)
    cards = tmp_path / "cards.json"
    cards.write_text(json.dumps([{"id": "mine", "provider": "local"}]))
    monkeypatch.setenv("PAKATI_MODEL_CARDS", str(cards))
    with FakeImageServer() as fake:
        fake.schemas["fake/painter"] = PAINTER
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.url)
        assert main(["models", "--add-replicate", "fake/painter"]) == 0
        assert main(["models", "--add-replicate", "fake/painter"]) == 2  # exists: refused
        assert main(["models", "--add-replicate", "fake/painter", "--overwrite"]) == 0
    saved = json.loads(cards.read_text())
    assert [c["id"] for c in saved] == ["mine", "replicate:fake/painter"]  # the user's kept
    output = capsys.readouterr()
    assert "added replicate:fake/painter" in output.out and TOKEN not in output.out + output.err
    # Offline now, the saved card still says what the model does.
    assert main(["models", "--json", "--offline"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    row = rows["replicate:fake/painter"]
    assert row["source"] == "user" and row["tasks"] == ["text-to-image", "edit", "image-to-image"]
    assert "offline" in row["reason"]


def test_a_preferred_replicate_model_stands_in_for_an_unusable_one() -> None:
    with FakeImageServer() as fake:
        fake.schemas["fake/painter"] = PAINTER
        env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": fake.url}
        canvas = PakatiCanvas(64, 64, "pakati-shapes")
        canvas.create_region(box=(8, 8, 40, 40), name="a")
        canvas.apply_to_region("a", "a red circle", model="dall-e-3")  # no OpenAI key
        canvas.model_registry = Registry(env=env, dotenv=None, user_cards=False)
        canvas.model_preference = ("replicate:fake/painter",)
        with pytest.warns(UserWarning, match="replicate:fake/painter stands in"):
            result = canvas.generate(seed=1)
        assert len(fake.posts("/v1/models/fake/painter/predictions")) == 1
    (record,) = result.models
    assert record["model"] == "replicate:fake/painter" and "preference #1" in record["reason"]
