"""LoRA and textual inversion on the canvas model, with tiny random weights made here."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pakati import InvalidInputError, PakatiCanvas
from pakati_engine.errors import ModelNotFoundError
from pakati_engine.layout import parse_layout
from pakati_engine.metadata import read_png_metadata
from pakati_engine.models.adapters import expand_embedding_tokens
from tests.conftest import make_bundle

peft = pytest.importorskip("peft")


@pytest.fixture(scope="module")
def bundle():
    """A model of its own: LoRAs are injected into its modules."""
    return make_bundle("sd", seed=3)


@pytest.fixture(scope="module")
def lora_file(bundle, tmp_path_factory):
    """A random rank-4 LoRA on the UNet's attention projections, saved as diffusers does."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(0)
    unet = copy.deepcopy(bundle.unet)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        init_lora_weights=False,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
    )
    unet.add_adapter(config)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionLoraLoaderMixin.save_lora_weights(folder, unet_lora_layers=layers)
    return folder / "pytorch_lora_weights.safetensors"


def _draw(canvas: PakatiCanvas) -> np.ndarray:
    return np.asarray(canvas.generate(seed=4).image, dtype=np.int16)


def _canvas(bundle) -> PakatiCanvas:
    canvas = PakatiCanvas(64, 64, model=bundle, steps=2, base_prompt="a red circle")
    canvas.apply_to_region(canvas.create_region(box=(0, 0, 32, 64)), "a blue square")
    return canvas


def test_lora_changes_only_the_canvases_that_use_it(bundle, lora_file, tmp_path) -> None:
    plain = _canvas(bundle)
    before = _draw(plain)
    styled = _canvas(bundle)
    name = styled.load_lora(lora_file, 1.0)
    assert styled.loras == {name: 1.0}
    with_lora = _draw(styled)
    assert np.abs(with_lora - before).mean() > 0.5  # the LoRA acts
    assert np.array_equal(_draw(plain), before)  # a canvas sharing the model is untouched
    styled.load_lora(lora_file, 0.0)  # same name: only the weight changes
    assert np.array_equal(_draw(styled), before)
    styled.load_lora(lora_file, 1.0)
    saved = styled.generate(seed=4).save(tmp_path / "lora.png")
    layout = parse_layout(read_png_metadata(saved)["layout"])
    assert [(e.name, e.weight) for e in layout.loras] == [(name, 1.0)]
    again = PakatiCanvas.from_layout(layout, model=bundle).generate(seed=4)
    assert np.array_equal(np.asarray(again.image, dtype=np.int16), with_lora)
    styled.remove_lora(name)
    assert np.array_equal(_draw(styled), before)


def test_lora_errors_are_clear(bundle, tmp_path) -> None:
    canvas = _canvas(bundle)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        canvas.load_lora(tmp_path / "nope.safetensors")
    with pytest.raises(InvalidInputError, match="no LoRA 'x'"):
        canvas.remove_lora("x")


def test_textual_inversion_token_acts_only_where_written(bundle, tmp_path) -> None:
    width = bundle.text_encoder.get_input_embeddings().weight.shape[1]
    torch.manual_seed(1)
    path = tmp_path / "style.safetensors"
    save_file({"emb_params": torch.randn(2, width) * 3}, str(path))  # A1111: two vectors
    canvas = _canvas(bundle)
    before = _draw(canvas)
    canvas.load_textual_inversion(path, "<style>")
    assert expand_embedding_tokens(bundle, "a <style> circle") == "a <style> <style>_1 circle"
    assert np.array_equal(_draw(canvas), before)  # prompts without the token: unchanged
    canvas.base_prompt = "a red circle <style>"
    assert np.abs(_draw(canvas) - before).mean() > 0.1
    assert json.loads(canvas.to_layout().model_dump_json())["embeddings"] == [
        {"path": str(path), "token": "<style>"}
    ]
    with pytest.raises(InvalidInputError, match="already has the embedding"):
        canvas.load_textual_inversion(tmp_path / "other.safetensors", "<style>")


def test_a_layout_file_names_its_lora_relative_to_itself(lora_file, sd_folder, tmp_path) -> None:
    from pakati.cli import main

    local = tmp_path / "style.safetensors"
    local.write_bytes(lora_file.read_bytes())
    layout = {"width": 64, "height": 64, "model": str(sd_folder), "steps": 2, "seed": 1,
              "base_prompt": "a red circle"}  # fmt: skip
    (tmp_path / "plain.json").write_text(json.dumps(layout))
    (tmp_path / "lora.json").write_text(json.dumps({**layout, "loras": [{"path": local.name}]}))
    assert main(["generate", str(tmp_path / "plain.json"), "--out", str(tmp_path / "a.png")]) == 0
    assert main(["generate", str(tmp_path / "lora.json"), "--out", str(tmp_path / "b.png")]) == 0
    a = np.asarray(Image.open(tmp_path / "a.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "b.png"), dtype=np.int16)
    assert np.abs(a - b).mean() > 0.5
    recorded = read_png_metadata(tmp_path / "b.png")["layout"]["loras"]
    assert recorded == [{"path": str(local), "weight": 1.0}]


def test_sdxl_lora(tmp_path) -> None:
    from diffusers.loaders import StableDiffusionXLLoraLoaderMixin
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    xl = make_bundle("sdxl", seed=2)
    torch.manual_seed(0)
    unet = copy.deepcopy(xl.unet)
    unet.add_adapter(LoraConfig(r=4, init_lora_weights=False, target_modules=["to_q", "to_v"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionXLLoraLoaderMixin.save_lora_weights(tmp_path, unet_lora_layers=layers)
    plain = _canvas(xl)
    before = _draw(plain)
    styled = _canvas(xl)
    styled.load_lora(tmp_path)  # the folder: pytorch_lora_weights.safetensors inside
    assert np.abs(_draw(styled) - before).mean() > 0.5
    assert np.array_equal(_draw(plain), before)


def test_the_web_api_refuses_layouts_that_name_adapter_files() -> None:
    from pakati.server.routes_canvas import checked_layout

    base = {"width": 64, "height": 64, "model": "tiny-random"}
    checked_layout(parse_layout(base))
    for extra in ({"loras": [{"path": "/etc/passwd"}]},
                  {"embeddings": [{"path": "/etc/passwd", "token": "<x>"}]}):  # fmt: skip
        with pytest.raises(InvalidInputError, match="does not load files"):
            checked_layout(parse_layout({**base, **extra}))


def test_infotext_names_loras_and_embeddings_as_the_web_ui_does(
    bundle, lora_file, tmp_path
) -> None:
    import hashlib

    from pakati_engine.infotext import parse_infotext

    width = bundle.text_encoder.get_input_embeddings().weight.shape[1]
    embedding = tmp_path / "style.safetensors"
    save_file({"emb_params": torch.randn(1, width)}, str(embedding))
    canvas = _canvas(bundle)
    name = canvas.load_lora(lora_file, 0.75)
    canvas.load_textual_inversion(embedding, "<ti-style>")
    saved = canvas.generate(seed=4).save(tmp_path / "out.png")
    with Image.open(saved) as image:
        parsed = parse_infotext(image.text["parameters"])
    assert parsed["Prompt"] == f"a red circle <lora:{name}:0.75>"
    lora_sha = hashlib.sha256(lora_file.read_bytes()).hexdigest()[:12]
    ti_sha = hashlib.sha256(embedding.read_bytes()).hexdigest()[:12]
    assert parsed["Lora hashes"] == f"{name}: {lora_sha}"
    assert parsed["TI hashes"] == f"<ti-style>: {ti_sha}"
    assert parsed["Seed"] == "4"  # the pairs after the quoted hashes still parse
