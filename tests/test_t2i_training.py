"""Training the embedded text-to-image model: loss goes down, resume is exact, export loads."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pakati.canvas import PakatiCanvas
from pakati_engine.diffusion.schedulers import make_scheduler
from pakati_engine.models.loading import load_model
from pakati_engine.training.build import build_noise_scheduler, scheduler_config
from pakati_engine.training.config import TINY_MODEL, ModelConfig, TrainConfig
from pakati_engine.training.data import make_batch, small_object_weights
from pakati_engine.training.state import load_checkpoint, new_state, save_checkpoint
from pakati_engine.training.train_t2i import COOLDOWN_FLOOR, Trainer, build_state, main, parse_args
from pakati_engine.training.tune import main as tune_main
from pakati_engine.world.sampling import SMALL_SIZE

TINY = replace(TrainConfig(model=TINY_MODEL), batch_size=4, warmup_steps=1, seed=3)


def test_batches_follow_the_engine_layout() -> None:
    batch = make_batch(np.random.default_rng(0), 12, 32, caption_dropout=0.0)
    assert batch.pixels.shape == (12, 3, 32, 32)
    assert batch.visible.shape == (12, 4, 32, 32)
    assert torch.allclose(batch.visible.sum(1) + batch.background, torch.ones(12, 32, 32))
    for row, masks in zip(batch.prompts, batch.visible, strict=True):
        assert len(row) == 5
        for prompt, mask in zip(row[1:], masks, strict=True):
            if not bool(mask.any()):
                assert prompt == ""  # padded regions are empty
        if masks.any():
            assert row[0].endswith("background")  # regional: the base names the background


def test_default_batches_are_those_of_the_four_object_world() -> None:
    """Without the new options a batch draws what it drew before 5-6 objects and small ones,
    so a run resumed with its old configuration continues its old data stream."""
    batch = make_batch(np.random.default_rng(3), 16, 32)
    digest = hashlib.sha256((repr(batch.specs) + repr(batch.prompts)).encode()).hexdigest()
    assert digest == "a5975988387301a0b26bfaf518a99ad565e21165169b7a6e564354fc9aab0fc6"


def test_batches_of_five_and_six_objects_with_small_ones() -> None:
    batch = make_batch(
        np.random.default_rng(1),
        48,
        128,
        max_regions=6,
        min_regions=5,
        small_fraction=0.5,
        plain_fraction=0.25,
        caption_dropout=0.0,
        region_dropout=0.0,
    )
    assert batch.visible.shape == (48, 6, 128, 128)
    small = SMALL_SIZE[1] * 128 + 1e-6
    n_plain = 0
    for row, masks, spec in zip(batch.prompts, batch.visible, batch.specs, strict=True):
        assert len(row) == 7
        if not masks.any():  # plain: one whole-scene caption, 1-2 objects, none small
            n_plain += 1
            assert len(spec.objects) <= 2 and all(o.size > small for o in spec.objects)
            continue
        assert len(spec.objects) in (5, 6)
        assert [p != "" for p in row[1:]] == [k < len(spec.objects) for k in range(6)]
        for obj, mask in zip(spec.objects, masks[: len(spec.objects)], strict=True):
            x0, y0, x1, y1 = (round(v) for v in obj.cell)
            assert float(mask.sum()) == (x1 - x0) * (y1 - y0)  # the mask is the object's box
    assert 0 < n_plain < 48
    sizes = [o.size for spec in batch.specs for o in spec.objects]
    assert 0.3 < np.mean([s <= small for s in sizes]) < 0.7


def test_resume_from_can_change_the_data_and_warms_a_fresh_optimizer_up(tmp_path: Path) -> None:
    config = replace(TINY, warmup_steps=10)
    trainer = Trainer(new_state(config), tmp_path / "run")
    for _ in range(12):
        trainer.train_step()
    save_checkpoint(trainer.state, tmp_path / "full")
    save_checkpoint(trainer.state, tmp_path / "compact", compact=True)
    args = ["--out", str(tmp_path / "next"), "--minutes", "1"]
    flags = ["--max-regions", "6", "--small-fraction", "0.3"]
    state = build_state(parse_args([*args, "--resume-from", str(tmp_path / "compact"), *flags]))
    assert (state.config.max_regions, state.config.small_fraction) == (6, 0.3)
    assert state.config.min_regions == 1
    # Adam restarts without moments from a compact checkpoint: the rate warms up again.
    fresh = Trainer(state, tmp_path / "next")
    assert fresh.learning_rate() == pytest.approx(0.1 * config.learning_rate)
    fresh.train_step()
    assert fresh.next_batch().visible.shape[1] == 6
    full = Trainer(load_checkpoint(tmp_path / "full"), tmp_path / "other")
    assert full.learning_rate() == config.learning_rate  # its moments came with it
    # A fine-tune's own rate and batch are honoured on a resume (they were once ignored).
    tuned = build_state(
        parse_args([*args, "--resume-from", str(tmp_path / "full"), "--lr", "2e-4", "--batch", "4"])
    )
    assert (tuned.config.learning_rate, tuned.config.batch_size) == (2e-4, 4)
    assert Trainer(tuned, tmp_path / "tuned").learning_rate() == pytest.approx(2e-4)
    bad = [*args, "--resume-from", str(tmp_path / "compact"), "--max-regions", "7"]
    with pytest.raises(SystemExit, match="max-regions"):
        build_state(parse_args(bad))
    with pytest.raises(SystemExit, match="small-fraction"):
        build_state(parse_args([*args, "--tiny", "--small-fraction", "2"]))
    weighted = build_state(
        parse_args([*args, "--resume-from", str(tmp_path / "full"), "--small-loss-weight", "8"])
    )
    assert weighted.config.small_loss_weight == 8.0
    assert load_checkpoint(tmp_path / "full").config.small_loss_weight == 1.0
    with pytest.raises(SystemExit, match="small-loss-weight must be positive"):
        build_state(parse_args([*args, "--tiny", "--small-loss-weight", "0"]))


def test_small_objects_boxes_weigh_more_and_the_data_stream_is_unchanged() -> None:
    def draw(weight: float) -> Any:
        return make_batch(
            np.random.default_rng(5),
            24,
            128,
            max_regions=6,
            small_fraction=0.5,
            small_loss_weight=weight,
        )

    plain, weighted = draw(1.0), draw(8.0)
    assert plain.loss_weights is None
    assert repr(plain.specs) == repr(weighted.specs) and plain.prompts == weighted.prompts
    assert torch.equal(plain.pixels, weighted.pixels)
    weights = weighted.loss_weights
    assert weights is not None and weights.shape == (24, 128, 128)
    expected = torch.ones(24, 128, 128)
    n_small = 0
    for b, spec in enumerate(weighted.specs):
        for obj in spec.objects:
            x0, y0, x1, y1 = (round(v) for v in obj.cell)
            if obj.size <= SMALL_SIZE[1] * 128:
                n_small += 1
                expected[b, y0:y1, x0:x1] = 8.0
                assert bool((weights[b, y0:y1, x0:x1] == 8.0).all())
    assert n_small > 5
    assert torch.equal(weights, expected)  # 1 everywhere else, normal objects included
    assert np.array_equal(small_object_weights(weighted.specs, 128, 3.0) == 3.0, expected == 8.0)


def test_the_weighted_loss_scales_with_the_weights_and_logs_the_plain_error(
    tmp_path: Path,
) -> None:
    trainer = Trainer(new_state(TINY), tmp_path)
    batch = make_batch(np.random.default_rng(2), 4, TINY_MODEL.image_size)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn((4, 48, 8, 8), generator=generator)
    t = torch.randint(0, 1000, (4,), generator=generator)
    with torch.no_grad():
        loss, plain = trainer.batch_loss(batch, noise, t, 0.2)
        size = TINY_MODEL.image_size
        doubled = replace(batch, loss_weights=torch.full((4, size, size), 2.0))
        loss2, plain2 = trainer.batch_loss(doubled, noise, t, 0.2)
        # Weight only the left half: the loss lies strictly between the two.
        half = torch.ones(4, size, size)
        half[:, :, : size // 2] = 2.0
        loss_half, _ = trainer.batch_loss(replace(batch, loss_weights=half), noise, t, 0.2)
    assert float(loss2) == pytest.approx(2 * float(loss), rel=1e-5)
    assert torch.allclose(plain, plain2)  # the logged error is the plain mean
    assert float(loss) < float(loss_half) < float(loss2)


def test_a_few_steps_reduce_the_loss(tmp_path: Path) -> None:
    trainer = Trainer(new_state(replace(TINY, learning_rate=3e-3, batch_size=8)), tmp_path)
    batch = make_batch(np.random.default_rng(99), 8, TINY_MODEL.image_size)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn((8, 48, 8, 8), generator=generator)
    t = torch.randint(0, 1000, (8,), generator=generator)

    def held_out() -> float:
        with torch.no_grad():
            return float(trainer.batch_loss(batch, noise, t, 0.2)[1].mean())

    before = held_out()
    for _ in range(30):
        trainer.train_step()
    assert held_out() < 0.85 * before


@pytest.mark.parametrize(
    ("data", "extra"),
    [({}, set()), ({"max_regions": 6, "small_fraction": 0.5}, {"eval_extended", "eval_small"})],
)
def test_in_run_evaluations_log_their_figures(
    tmp_path: Path, data: dict[str, Any], extra: set[str]
) -> None:
    """A run without small objects once failed here: the eval's own ``small`` share was
    taken for the small-object layouts' figures."""
    config = replace(TINY, eval_layouts=1, eval_steps=2, **data)
    trainer = Trainer(new_state(config), tmp_path)
    trainer._evaluate_and_log()
    rows = [json.loads(line) for line in trainer.log_path.read_text().splitlines()]
    assert len(rows) == 1 and "eval_error" not in rows[0]
    assert 0.0 <= rows[0]["eval"]["accuracy_both"] <= 1.0
    assert {k for k in rows[0] if k.startswith("eval_")} == extra


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight = Trainer(new_state(TINY), tmp_path / "a")
    for _ in range(4):
        straight.train_step()

    first = Trainer(new_state(TINY), tmp_path / "b")
    for _ in range(2):
        first.train_step()
    save_checkpoint(first.state, tmp_path / "b" / "ckpt")
    resumed = Trainer(load_checkpoint(tmp_path / "b" / "ckpt"), tmp_path / "b")
    assert resumed.state.step == 2
    for _ in range(2):
        resumed.train_step()

    assert resumed.state.step == straight.state.step == 4
    assert resumed.state.rng.bit_generator.state == straight.state.rng.bit_generator.state
    pairs = zip(straight.state.trainable(), resumed.state.trainable(), strict=True)
    for (name, a), (_, b) in pairs:
        assert torch.equal(a, b), name
    emas = zip(straight.state.ema_parameters(), resumed.state.ema_parameters(), strict=True)
    for ema_a, ema_b in emas:
        assert torch.equal(ema_a, ema_b)


def test_compact_checkpoint_resumes(tmp_path: Path) -> None:
    trainer = Trainer(new_state(TINY), tmp_path)
    trainer.train_step()
    save_checkpoint(trainer.state, tmp_path / "compact", compact=True)
    state = load_checkpoint(tmp_path / "compact")
    assert state.step == 1
    assert state.rng.bit_generator.state == trainer.state.rng.bit_generator.state
    for (_, a), (_, b) in zip(trainer.state.trainable(), state.trainable(), strict=True):
        assert torch.equal(a, b)  # live weights stay fp32 in the compact form


def test_cli_trains_resumes_and_exports_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--out", str(out), "--minutes", "5", "--tiny", "--no-eval", "--threads", "2"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert (out / "log.jsonl").is_file()
    with pytest.raises(SystemExit):
        main([*args, "--max-steps", "3"])  # an existing run needs --resume
    assert main([*args, "--max-steps", "3", "--resume", "--snr-shift", "2"]) == 0
    state = load_checkpoint(out / "ckpt")
    assert state.step == 3
    assert state.config.model.snr_shift == 2.0  # switched on resume

    folder = out / "shapes-t2i"
    bundle = load_model(folder)
    assert bundle.unet.dtype == torch.float32  # fp16 storage, fp32 on the CPU
    assert bundle.vae_scale_factor == TINY_MODEL.patch_size
    assert bundle.tokenizer.model_max_length == TINY_MODEL.max_tokens
    # Every sampler a user may pick runs on the schedule the model was trained on.
    trained = build_noise_scheduler(state.config.model).alphas_cumprod
    for name in (None, "euler", "ddim"):
        scheduler = make_scheduler(bundle.scheduler, name)
        assert torch.allclose(scheduler.alphas_cumprod, trained, rtol=1e-4, atol=0)
    canvas = PakatiCanvas(32, 32, model=str(folder), base_prompt="a white background", steps=3)
    canvas.create_region(box=(0, 0, 16, 32), name="left")
    canvas.apply_to_region("left", "a red circle")
    canvas.create_region(box=(16, 0, 32, 32), name="right")
    canvas.apply_to_region("right", "a blue square")
    result = canvas.generate(seed=0)
    assert result.image.size == (32, 32)
    assert result.unet_calls == 3  # one pass per step, with guidance batched


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a CUDA-less host")
def test_asking_for_a_missing_gpu_is_a_clear_error(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "run"), "--minutes", "1", "--tiny", "--no-eval"]
    with pytest.raises(SystemExit, match="no CUDA device here; use --device cpu"):
        main([*args, "--device", "cuda"])


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_high_noise_steps_keep_their_loss_weight(tmp_path: Path, prediction_type: str) -> None:
    """Plain min-SNR weights nearly zero at high noise left the first sampling steps untrained."""
    model = replace(TINY_MODEL, prediction_type=prediction_type)
    trainer = Trainer(new_state(replace(TINY, model=model)), tmp_path)
    weights = trainer.loss_weight(torch.tensor([0, 500, 900, 999]))
    assert float(weights[2:].min()) >= 0.5


def _snr(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    alphas = alphas_cumprod.double()
    return alphas / (1.0 - alphas)


def test_shifted_schedule_divides_every_snr_by_the_shift_squared() -> None:
    plain = _snr(build_noise_scheduler(replace(TINY_MODEL, snr_shift=1.0)).alphas_cumprod)
    shifted = _snr(build_noise_scheduler(replace(TINY_MODEL, snr_shift=4.0)).alphas_cumprod)
    t = torch.tensor([0, 10, 250, 500, 750, 900, 990])
    assert torch.allclose(
        shifted[t] / plain[t], torch.full((7,), 1 / 16, dtype=torch.float64), rtol=1e-3
    )


def test_checkpoints_from_before_the_shift_keep_the_plain_schedule() -> None:
    values = ModelConfig().to_dict()
    del values["snr_shift"], values["attention_from_level"]
    old = ModelConfig.from_dict(values)
    assert old.snr_shift == 1.0
    assert "trained_betas" not in scheduler_config(old)
    assert ModelConfig().snr_shift == 8.0  # the current recipe


def test_cooldown_decays_the_learning_rate_to_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a simulated clock: a wall-clock run of a few seconds logged too few steps on a
    # loaded machine (one step took 12 s while a training run shared the cores).
    config = replace(TINY, warmup_steps=1)
    trainer = Trainer(new_state(config), tmp_path)
    clock = {"now": 1000.0, "tick": 0.001}

    def perf_counter() -> float:  # advances a little on every reading, like a clock
        clock["now"] += clock["tick"]
        return clock["now"]

    monkeypatch.setattr("pakati_engine.training.train_t2i.time.perf_counter", perf_counter)
    trainer.run(minutes=1.0, max_steps=1, evaluate=False, cooldown_minutes=0.5)
    started = trainer._cooldown[0] - 30.0 if trainer._cooldown else 0.0
    clock["tick"] = 0.0
    rates = []
    for offset in (0.0, 29.0, 31.0, 45.0, 59.0, 61.0, 200.0):
        clock["now"] = started + offset
        rates.append(trainer.learning_rate())
    assert rates[0] == rates[1] == config.learning_rate  # before the last half minute
    assert all(b <= a for a, b in itertools.pairwise(rates))  # never back up
    assert rates[2] > rates[3] > rates[4] > COOLDOWN_FLOOR * config.learning_rate
    assert rates[-1] == pytest.approx(COOLDOWN_FLOOR * config.learning_rate)  # the floor
    assert Trainer(new_state(config), tmp_path / "plain").learning_rate() == config.learning_rate


def test_tuning_records_the_best_sampler_and_scale(tmp_path: Path) -> None:
    trainer = Trainer(new_state(TINY), tmp_path / "run")
    trainer.train_step()
    folder = trainer.export(tmp_path / "model")
    args = ["--model", str(folder), "--guidance", "1", "2", "--n", "1", "--threads", "2"]
    assert tune_main([*args, "--schedulers", "ddim", "euler"]) == 0
    settings = json.loads((folder / "pakati.json").read_text())
    tried = settings["tuning"]["accuracy_both"]
    assert sorted(tried) == ["ddim@1.0", "ddim@2.0", "euler@1.0", "euler@2.0"]
    best = max(tried, key=lambda key: tried[key])
    assert f"{settings['scheduler']}@{settings['guidance_scale']}" == best
    with pytest.raises(SystemExit):
        tune_main([*args, "--schedulers", "no-such-sampler"])
