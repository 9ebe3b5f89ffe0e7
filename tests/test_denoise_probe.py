"""The denoising probe: judged one-step clean-image estimates by noise level."""

from __future__ import annotations

import pytest
import torch

from pakati_engine.models.catalog import EMBEDDED_MODEL, embedded_model_available
from pakati_engine.training.build import build_noise_scheduler
from pakati_engine.training.config import TINY_MODEL
from pakati_engine.training.data import background_prompt
from pakati_engine.training.denoise_probe import _x0, main, probe_batch, run_probe
from pakati_engine.world.sampling import SMALL_SIZE


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_clean_estimate_inverts_every_prediction_type(kind: str) -> None:
    scheduler = build_noise_scheduler(TINY_MODEL)
    scheduler.register_to_config(prediction_type=kind)
    clean, noise = torch.randn(3, 48, 8, 8), torch.randn(3, 48, 8, 8)
    t = torch.tensor([10, 400, 900])
    noisy = scheduler.add_noise(clean, noise, t)
    target = {
        "epsilon": noise,
        "v_prediction": scheduler.get_velocity(clean, noise, t),
        "sample": clean,
    }[kind]
    assert torch.allclose(_x0(scheduler, target, noisy, t), clean, atol=1e-3)


def test_probe_batches_carry_their_ground_truth() -> None:
    batch = probe_batch(6, 64, seed=1)
    assert len(batch.specs) == 6
    for spec, prompts, masks in zip(batch.specs, batch.prompts, batch.visible, strict=True):
        assert prompts[0] == background_prompt(spec.background)
        for k, obj in enumerate(spec.objects):
            assert prompts[1 + k].endswith(f"{obj.color} {obj.shape}")
            assert bool(masks[k].any())


def test_probe_batches_can_hold_the_small_object_layouts_of_the_eval() -> None:
    small = SMALL_SIZE[1] * 128 + 1e-6
    batch = probe_batch(8, 128, seed=2, min_regions=5, max_regions=6, small_fraction=1.0)
    assert all(len(spec.objects) in (5, 6) for spec in batch.specs)
    assert all(o.size <= small for spec in batch.specs for o in spec.objects)
    plain = probe_batch(8, 128, seed=2)
    assert all(o.size > small for spec in plain.specs for o in spec.objects)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--small", "1.5"], "--small is a share of the objects"),
        (["--min-regions", "4", "--max-regions", "3"], "--min-regions <= --max-regions"),
        (["--max-regions", "7"], "--max-regions <= 6"),
        (["--n", "0"], "--n is the number of scenes"),
    ],
)
def test_probe_refuses_impossible_layouts_before_loading_a_model(
    flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--model", "no-such-folder", *flags])
    assert stop.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not installed")
def test_shipped_model_denoises_shapes_from_little_noise_better_than_from_much() -> None:
    little, much = run_probe(EMBEDDED_MODEL, timesteps=(20, 950), n=6, seed=3)
    assert little["snr"] > much["snr"]
    assert little["accuracy_color"] >= 0.9
    assert little["accuracy_both"] >= 0.6
    assert little["accuracy_both"] > much["accuracy_both"]


def test_probe_names_a_missing_model_without_a_traceback() -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--model", "no-such-folder"])
    assert "denoise_probe: model 'no-such-folder' not found" in str(stop.value.code)


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not installed")
@pytest.mark.parametrize("timestep", [-3, 1000])
def test_probe_refuses_timesteps_outside_the_schedule(timestep: int) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--model", EMBEDDED_MODEL, "--timesteps", str(timestep), "--n", "1"])
    assert "outside the model's schedule: use 0 to 999" in str(stop.value.code)
