"""The detail-head UNet: converting a trained UNet keeps its output, training moves the skip,
and the exported folder loads and generates through the engine's loader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from pakati.canvas import PakatiCanvas
from pakati_engine.models.detail_unet import DetailUNet2DConditionModel, skip_scale
from pakati_engine.models.loading import load_model
from pakati_engine.training.build import build_noise_scheduler
from pakati_engine.training.config import TINY_MODEL, TrainConfig
from pakati_engine.training.state import (
    add_detail_head,
    load_checkpoint,
    new_state,
    save_checkpoint,
)
from pakati_engine.training.train_t2i import Trainer, build_state, main, parse_args

TINY = replace(TrainConfig(model=TINY_MODEL), batch_size=4, warmup_steps=1, seed=5)


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn((batch, TINY_MODEL.latent_channels, 8, 8), generator=generator)
    text = torch.randn((batch, 12, TINY_MODEL.text_hidden), generator=generator)
    return latents, text


def test_skip_weight_is_about_one_at_low_noise_and_near_zero_at_high_noise() -> None:
    alphas = build_noise_scheduler(replace(TINY_MODEL, detail_head=True)).alphas_cumprod
    scale = skip_scale(alphas, 0.5)
    assert scale.shape == (1000,)
    assert 0.95 < float(scale[0]) <= 1.0
    assert float(scale[-1]) < 0.01
    assert bool((scale[1:] <= scale[:-1] + 1e-6).all())  # falls as noise rises


def test_conversion_keeps_every_output_and_training_moves_the_skip(tmp_path: Path) -> None:
    trainer = Trainer(new_state(TINY), tmp_path / "plain")
    for _ in range(2):
        trainer.train_step()
    plain = trainer.state.unet
    assert type(plain) is UNet2DConditionModel
    latents, text = _inputs()
    t = torch.tensor([3, 700])
    with torch.no_grad():
        before = plain(latents, t, text).sample
        ema_before = trainer.state.ema_unet(latents, t, text).sample
    state = add_detail_head(trainer.state)
    assert isinstance(state.unet, DetailUNet2DConditionModel)
    assert state.config.model.detail_head
    with torch.no_grad():
        assert torch.equal(state.unet(latents, t, text).sample, before)
        assert torch.equal(state.ema_unet(latents, t, text).sample, ema_before)
    names = [name for name, _ in state.trainable()]
    assert "unet.detail_head.2.weight" in names  # the optimizer trains the head

    converted = Trainer(state, tmp_path / "skip")
    for _ in range(3):
        converted.train_step()
    assert float(state.unet.detail_head[2].weight.detach().abs().sum()) > 0
    with torch.no_grad():
        assert not torch.equal(state.unet(latents, t, text).sample, before)
    # The schedule's weights are rebuilt, not trained: a checkpoint restores the same model.
    save_checkpoint(state, tmp_path / "ckpt", compact=True)
    restored = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(restored.unet, DetailUNet2DConditionModel)
    assert torch.equal(restored.unet.input_skip_scale, state.unet.input_skip_scale)
    with torch.no_grad():
        expected = state.unet(latents, t, text).sample
        assert torch.allclose(restored.unet(latents, t, text).sample, expected, atol=1e-6)


def test_the_head_sees_the_noisy_input_scaled_per_timestep_and_the_unet_features() -> None:
    unet = new_state(replace(TINY, model=replace(TINY_MODEL, detail_head=True))).unet.eval()
    latents, text = _inputs()
    seen: list[torch.Tensor] = []
    unet.detail_head.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        torch.nn.init.normal_(unet.detail_head[2].weight, std=0.05)
        with_head = unet(latents, torch.tensor([0, 999]), text).sample
        head = unet.detail_head(seen[-1])
        plain = UNet2DConditionModel.from_config(unet.config)
        plain.load_state_dict(unet.state_dict(), strict=False)
        without = plain.eval()(latents, torch.tensor([0, 999]), text).sample
    assert torch.allclose(with_head - without, head, atol=1e-5)
    scale = unet.input_skip_scale[[0, 999]].reshape(2, 1, 1, 1)
    channels = TINY_MODEL.latent_channels
    assert torch.allclose(seen[-1][:, :channels], scale * latents)
    assert seen[-1].shape[1] == channels + TINY_MODEL.block_out_channels[0]
    # A scalar timestep (as samplers pass it) applies to the whole batch.
    with torch.no_grad():
        scalar = unet(latents, torch.tensor(0), text, return_dict=False)[0]
    assert torch.allclose(scalar[0], with_head[0], atol=1e-5)
    assert not unet._features  # nothing kept between calls


def test_cli_converts_on_resume_and_exports_a_folder_the_engine_loads(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--out", str(out), "--minutes", "5", "--tiny", "--no-eval", "--threads", "2"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert main([*args, "--max-steps", "4", "--resume", "--detail-head"]) == 0
    state = load_checkpoint(out / "ckpt")
    assert state.step == 4 and state.config.model.detail_head
    # Resuming the converted run again (flag given or not) keeps it converted.
    again = build_state(parse_args([*args, "--resume", "--detail-head"]))
    assert isinstance(again.unet, DetailUNet2DConditionModel)

    folder = out / "shapes-t2i"
    bundle = load_model(folder)
    assert isinstance(bundle.unet, DetailUNet2DConditionModel)
    assert bundle.unet.dtype == torch.float32
    assert torch.allclose(
        bundle.unet.input_skip_scale, state.ema_unet.input_skip_scale, rtol=1e-3, atol=1e-4
    )
    canvas = PakatiCanvas(32, 32, model=str(folder), base_prompt="a white background", steps=3)
    canvas.create_region(box=(0, 0, 16, 32), name="left")
    canvas.apply_to_region("left", "a red circle")
    result = canvas.generate(seed=0)
    pixels = np.asarray(result.image)
    assert pixels.shape == (32, 32, 3) and np.isfinite(pixels).all()


def test_a_model_folder_naming_another_skip_class_is_refused(tmp_path: Path) -> None:
    from pakati_engine.models.loading import allowed_class

    assert allowed_class("unet", "pakati_engine.models.detail_unet", "DetailUNet2DConditionModel")
    assert not allowed_class("unet", "pakati_engine.models.detail_unet", "skip_scale")
    assert not allowed_class(
        "vae", "pakati_engine.models.detail_unet", "DetailUNet2DConditionModel"
    )


@pytest.mark.parametrize("sigma", [0.25, 1.0])
def test_skip_weight_follows_least_squares(sigma: float) -> None:
    alphas = torch.tensor([0.99, 0.5, 0.01])
    a, s2 = alphas.sqrt(), 1 - alphas
    expected = a * sigma**2 / (alphas * sigma**2 + s2)
    assert torch.allclose(skip_scale(alphas, sigma), expected, atol=1e-6)


def test_head_only_training_moves_the_head_and_nothing_else(tmp_path: Path) -> None:
    trainer = Trainer(new_state(TINY), tmp_path / "plain")
    trainer.train_step()
    save_checkpoint(trainer.state, tmp_path / "base", compact=True)
    args = ["--out", str(tmp_path / "head"), "--minutes", "1", "--resume-from"]
    flags = ["--detail-head", "--head-only", "--low-noise-fraction", "1", "--lr", "1e-2"]
    state = build_state(parse_args([*args, str(tmp_path / "base"), *flags]))
    assert state.config.train_only == ("detail_head",)
    assert state.config.low_noise_fraction == 1.0
    before = {name: p.detach().clone() for name, p in state.trainable()}
    head = Trainer(state, tmp_path / "head")
    assert all(int(t) < state.config.low_noise_below for t in head.sample_timesteps())
    for _ in range(3):
        head.train_step()
    for name, param in state.trainable():
        moved = not torch.equal(param, before[name])
        assert moved == name.startswith("unet.detail_head."), name
    # A checkpoint keeps head-only training; resuming without the flag trains everything.
    save_checkpoint(state, tmp_path / "head" / "ckpt")
    resumed = build_state(parse_args([*args, str(tmp_path / "head" / "ckpt"), "--head-only"]))
    assert resumed.config.train_only == ("detail_head",) and resumed.config.model.detail_head
    everything = build_state(parse_args([*args, str(tmp_path / "head" / "ckpt")]))
    assert everything.config.train_only == ()
    assert len(everything.optimized()) == len(everything.trainable())


def test_train_only_moves_the_named_modules_and_nothing_else(tmp_path: Path) -> None:
    save_checkpoint(new_state(TINY), tmp_path / "base", compact=True)
    args = ["--out", str(tmp_path / "part"), "--minutes", "1", "--resume-from"]
    flags = ["--detail-head", "--head-only", "--train-only", "up_blocks.1", "conv_out"]
    state = build_state(parse_args([*args, str(tmp_path / "base"), *flags, "--lr", "1e-2"]))
    trained = ("detail_head", "up_blocks.1", "conv_out")
    assert state.config.train_only == trained
    before = {name: p.detach().clone() for name, p in state.trainable()}
    part = Trainer(state, tmp_path / "part")
    for _ in range(3):
        part.train_step()
    for name, param in state.trainable():
        moved = not torch.equal(param, before[name])
        assert moved == any(name.startswith(f"unet.{m}.") for m in trained), name
    # The choice is kept by the checkpoint, as head-only training is.
    save_checkpoint(state, tmp_path / "part" / "ckpt")
    resumed = build_state(parse_args([*args, str(tmp_path / "part" / "ckpt"), *flags[1:]]))
    assert resumed.config.train_only == trained
    with pytest.raises(SystemExit, match=r"no UNet module up_blocks\.7 to train; the UNet's"):
        build_state(parse_args([*args, str(tmp_path / "base"), "--train-only", "up_blocks.7"]))
    new = ["--out", str(tmp_path / "new"), "--minutes", "1", "--tiny", "--train-only", "nope"]
    with pytest.raises(SystemExit, match="no UNet module nope to train"):
        build_state(parse_args(new))
    with pytest.raises(SystemExit, match="--train-only: name UNet modules"):
        build_state(parse_args([*new[:-1], "."]))


def test_checkpoints_that_say_head_only_train_the_head() -> None:
    values = TINY.to_dict()
    del values["train_only"]
    values["head_only"] = True
    assert TrainConfig.from_dict(values).train_only == ("detail_head",)
    values["head_only"] = False
    assert TrainConfig.from_dict(values).train_only == ()


def test_uniform_timesteps_by_default_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    trainer = Trainer(new_state(replace(TINY, batch_size=256)), tmp_path)
    t = trainer.sample_timesteps()
    assert int(t.max()) > 500 and int(t.min()) < 500
    args = ["--out", str(tmp_path / "x"), "--minutes", "1", "--tiny"]
    with pytest.raises(SystemExit, match="add --detail-head"):
        build_state(parse_args([*args, "--head-only"]))
    with pytest.raises(SystemExit, match="low-noise-fraction must be in"):
        build_state(parse_args([*args, "--low-noise-fraction", "2"]))
    with pytest.raises(SystemExit, match="low-noise-below must be in"):
        build_state(parse_args([*args, "--low-noise-below", "0"]))
    save_checkpoint(new_state(TINY), tmp_path / "plain")
    with pytest.raises(SystemExit, match="add --detail-head"):
        build_state(parse_args([*args, "--resume-from", str(tmp_path / "plain"), "--head-only"]))
