"""Model loading from folders and the hub cache; clear errors; device and dtype choice."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from pakati import ModelNotFoundError, PakatiCanvas
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import resolve_model
from pakati_engine.models.devices import select_device, select_dtype
from pakati_engine.models.loading import load_model
from pakati_engine.models.tiny_models import save_tiny_model
from tests.conftest import TOKENIZER_DIR


def test_diffusers_folder_loads_as_sd(sd_folder) -> None:
    bundle = load_model(sd_folder)
    assert bundle.kind == "sd" and bundle.vae_scale_factor == 8
    assert bundle.device.type == "cpu" and bundle.dtype == torch.float32
    assert not any(p.requires_grad for p in bundle.unet.parameters())


def test_sdxl_folder_loads_as_sdxl(tmp_path) -> None:
    folder = save_tiny_model(tmp_path / "xl", kind="sdxl", tokenizer_dir=TOKENIZER_DIR)
    bundle = load_model(folder, dtype="bf16")
    assert bundle.kind == "sdxl" and bundle.text_encoder_2 is not None
    assert bundle.unet.dtype == torch.bfloat16


def test_hub_id_is_found_in_the_local_cache(sd_folder, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-sd" / "snapshots" / "abc123"
    shutil.copytree(sd_folder, snapshot)
    (cache / "models--someone--tiny-sd" / "refs").mkdir()
    (cache / "models--someone--tiny-sd" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert resolve_model("someone/tiny-sd") == snapshot
    canvas = PakatiCanvas(64, 64, model="someone/tiny-sd", steps=2)
    from_cache = np.asarray(canvas.generate(seed=3).image)
    from_folder = np.asarray(
        PakatiCanvas(64, 64, model=str(sd_folder), steps=2).generate(seed=3).image
    )
    assert np.array_equal(from_cache, from_folder)


def test_missing_model_names_every_place_it_looked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotFoundError) as caught:
        load_model("stable-diffusion-xl")
    message = str(caught.value)
    assert "stabilityai/stable-diffusion-xl-base-1.0" in message
    assert str(tmp_path / "empty-cache") in message
    assert "never downloads" in message and "hf download stabilityai/" in message
    with pytest.raises(ModelNotFoundError, match="local folder or file"):
        load_model(str(tmp_path / "nothing-here"))


def test_folders_and_files_that_are_not_models(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no model_index\.json"):
        load_model(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelNotFoundError, match="not a model checkpoint"):
        load_model(tmp_path / "notes.txt")
    (tmp_path / "broken.safetensors").write_bytes(b"nonsense")
    with pytest.raises(InvalidInputError, match="not a readable safetensors"):
        load_model(tmp_path / "broken.safetensors")


def test_single_file_without_local_config_explains_what_is_needed(tmp_path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}, str(path))
    with pytest.raises(ModelNotFoundError, match="pass config="):
        load_model(path)


def test_api_only_models_are_explained() -> None:
    with pytest.raises(ModelNotFoundError, match="image service"):
        load_model("dalle-3")


def test_folder_missing_a_component_is_reported(sd_folder, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sd_folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelNotFoundError, match="could not load component 'unet'"):
        load_model(broken)


def test_device_and_dtype_selection() -> None:
    cpu = torch.device("cpu")
    assert select_device("cpu") == cpu
    assert select_dtype(cpu) == torch.float32
    assert select_dtype(cpu, "bf16") == torch.bfloat16
    with pytest.raises(InvalidInputError, match="unknown dtype"):
        select_dtype(cpu, "fp8")
    with pytest.raises(InvalidInputError, match="unknown device"):
        select_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA GPU"):
            select_device("cuda")


def test_builtin_tiny_model_is_built_locally_once(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path / "home"))
    folder = resolve_model("tiny-random")
    assert (folder / "model_index.json").is_file()
    stamp = (folder / "unet" / "config.json").stat().st_mtime_ns
    assert resolve_model("tiny-random") == folder
    assert (folder / "unet" / "config.json").stat().st_mtime_ns == stamp


def test_model_recommendations_fill_unset_settings(sd_folder, tmp_path) -> None:
    folder = tmp_path / "recommending"
    shutil.copytree(sd_folder, folder)
    (folder / "pakati.json").write_text(
        '{"width": 96, "height": 64, "steps": 3, "guidance_scale": 2.5, "scheduler": "euler",'
        ' "base_ratio": 0.1, "unknown": 1}'
    )
    canvas = PakatiCanvas(model=str(folder))
    assert (canvas.width, canvas.height, canvas.steps) == (96, 64, 3)
    assert (canvas.guidance_scale, canvas.scheduler, canvas.base_ratio) == (2.5, "euler", 0.1)
    explicit = PakatiCanvas(64, 64, model=str(folder), steps=5, guidance_scale=7.0)
    assert (explicit.steps, explicit.guidance_scale) == (5, 7.0)
    result = canvas.generate(seed=0)
    assert result.layout.steps == 3 and result.unet_calls == 3
    assert load_model(folder).recommended["guidance_scale"] == 2.5
    plain = PakatiCanvas(64, 64, model=str(sd_folder))
    assert (plain.steps, plain.guidance_scale, plain.base_ratio) == (30, 7.5, 0.2)


def test_embedded_model_name_explains_when_it_is_missing(monkeypatch, tmp_path) -> None:
    import pakati_engine.models.catalog as models

    monkeypatch.setattr(models, "EMBEDDED_FOLDER", tmp_path / "absent")
    assert models.default_model_name() == "tiny-random"
    with pytest.raises(ModelNotFoundError, match="embedded model is not in this installation"):
        resolve_model("pakati-shapes")
