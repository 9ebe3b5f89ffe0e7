"""The small CLIP: open_clip registration and loading, scoring, training and resuming."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import pytest
import torch

from pakati_engine.clip import (
    DEFAULT_WEIGHTS,
    MODEL_NAME,
    ClipScorer,
    create_untrained,
    crop_region,
    export_weights,
    load_clip,
    register,
)
from pakati_engine.clip.evaluate import held_out_scenes, retrieval_top1, roc_auc
from pakati_engine.clip.generated import GeneratedCrops, generated_batch, judged_caption
from pakati_engine.clip.scoring import to_pil
from pakati_engine.clip.train import CHECKPOINT, LOG, train
from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.world import COLORS, make_scene


def test_config_registers_and_pretrained_path_loads(tmp_path: Path) -> None:
    register()
    assert MODEL_NAME in open_clip.list_models()
    model, _, _ = create_untrained(seed=3)
    path = tmp_path / "w.safetensors"
    export_weights(model, path)
    loaded, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, pretrained=str(path))
    original = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, original[key].half().float()), key
    tokens = open_clip.get_tokenizer(MODEL_NAME)(["a red circle"])
    assert tokens.shape == (1, 40)
    image = preprocess(to_pil(crop_region(make_scene(0).image, (0, 0, 128, 128))))
    assert image.shape == (3, 64, 64)
    assert path.stat().st_size < 10_000_000


def test_missing_weights_name_what_was_looked_for(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.safetensors"
    with pytest.raises(ModelNotFoundError, match=re.escape(str(missing))):
        load_clip(missing)
    with pytest.raises(ModelNotFoundError, match=re.escape(str(tmp_path))):
        load_clip(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape("python -m pakati_engine.clip.train")):
        load_clip(missing)


def test_load_clip_from_folder_and_score(tmp_path: Path) -> None:
    model, _, _ = create_untrained(seed=1)
    export_weights(model, tmp_path / f"{MODEL_NAME}.safetensors")
    loaded, preprocess, tokenizer = load_clip(tmp_path)
    assert not loaded.training
    scorer = ClipScorer(loaded, preprocess, tokenizer)
    scene = make_scene(2)
    sims = scorer.similarity([scene.image, scene.image], ["a red circle", scene.caption, "x"])
    assert sims.shape == (2, 3) and np.all(np.abs(sims) <= 1.0 + 1e-5)
    assert np.allclose(sims[0], sims[1])
    boxes = [r.box for r in scene.region_layout]
    prompts = [r.prompt for r in scene.region_layout]
    assert scorer.region_similarity(scene.image, boxes, prompts).shape == (len(boxes),)
    probs = scorer.region_probability(scene.image, boxes, prompts)
    assert np.all((probs > 0) & (probs < 1))


def test_crop_region_pads_to_square_with_background() -> None:
    scene = make_scene(4, 128)
    obj = scene.objects[0]
    x0, y0, x1, y1 = obj.region
    crop = crop_region(scene.image, obj.region, COLORS[scene.background])
    side = max(x1 - x0, y1 - y0)
    assert crop.shape == (side, side, 3)
    assert tuple(crop[0, 0]) == COLORS[scene.background]
    assert (crop == np.array(COLORS[obj.color], dtype=np.uint8)).all(axis=-1).sum() == (
        (scene.image[y0:y1, x0:x1] == np.array(COLORS[obj.color], dtype=np.uint8))
        .all(axis=-1)
        .sum()
    )
    # Without a fill colour the border colour (the background here) is used.
    assert np.array_equal(crop_region(scene.image, obj.region), crop)


def test_roc_auc() -> None:
    assert roc_auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / LOG).read_text().splitlines()]


def _args(out: Path, *extra: str) -> list[str]:
    return [
        "--out", str(out), "--steps", "16", "--scenes", "12", "--crops", "12",
        "--lr", "2e-3", "--warmup", "2", "--log-every", "2", "--eval-every", "1000",
        "--eval-scenes", "8", "--checkpoint-every", "5",
        "--threads", "1", *extra,
    ]  # fmt: skip


@pytest.fixture
def _restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("_restore_threads")
def test_training_reduces_loss_and_resumes(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    train(_args(straight))
    losses = [r["loss"] for r in _rows(straight) if "loss" in r]
    assert len(losses) == 8
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3
    assert (straight / f"{MODEL_NAME}.safetensors").is_file()
    evals = [r for r in _rows(straight) if "eval" in r]
    assert evals and 0.0 <= evals[-1]["eval"]["retrieval_top1"] <= 1.0

    # Stop halfway, then resume: the result is the same model as the uninterrupted run.
    split = tmp_path / "split"
    train(_args(split, "--until", "8"))
    assert torch.load(split / CHECKPOINT, weights_only=False)["step"] == 8
    with pytest.raises(SystemExit):
        train(_args(split))  # refuses to overwrite without --resume
    train(_args(split, "--resume"))
    steps = [r["step"] for r in _rows(split) if "loss" in r]
    assert steps == list(range(2, 17, 2))
    a = torch.load(straight / CHECKPOINT, weights_only=False)["model"]
    b = torch.load(split / CHECKPOINT, weights_only=False)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="shipped CLIP weights not built yet")
def test_shipped_weights_rank_captions() -> None:
    model, preprocess, tokenizer = load_clip()
    scorer = ClipScorer(model, preprocess, tokenizer)
    scenes = held_out_scenes(50)
    assert retrieval_top1(scorer, scenes, group=50) >= 0.9
    scene = scenes[0]
    boxes = [r.box for r in scene.region_layout]
    right = scorer.region_probability(scene.image, boxes, [r.prompt for r in scene.region_layout])
    assert np.mean(right) > 0.5


def test_judged_captions_say_what_the_judge_saw() -> None:
    assert judged_caption("red", "circle", True, "white") == "a red circle"
    assert judged_caption(None, None, False, "white") == "a plain white background"
    # An "object" in the background's own colour is a shading of the background.
    assert judged_caption("white", "square", True, "white") == "a plain white background"


@pytest.mark.usefixtures("_restore_threads")
def test_fine_tuning_from_weights_on_generated_crops(tmp_path: Path) -> None:
    start = tmp_path / "start"
    train(_args(start, "--until", "2"))
    crops = np.zeros((6, 64, 64, 3), dtype=np.uint8)
    crops[:3, 16:48, 16:48] = (220, 30, 30)  # three red squares on black
    captions = ["a red square"] * 3 + ["a plain black background"] * 3
    GeneratedCrops(crops, captions).save(tmp_path / "crops.npz")
    loaded = GeneratedCrops.load(tmp_path / "crops.npz")
    assert loaded.captions == captions and np.array_equal(loaded.crops, crops)
    batch = generated_batch(loaded, 8, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert batch.images.shape == (8, 3, 64, 64) and len(batch.captions) == 8
    assert not set(batch.captions) & set(batch.negatives)

    tuned = tmp_path / "tuned"
    weights = start / f"{MODEL_NAME}.safetensors"
    generated = ["--init", str(weights), "--generated", str(tmp_path / "crops.npz")]
    train(_args(tuned, "--until", "1", "--lr", "0", "--warmup", "1", *generated))
    # A zero learning rate keeps the initial weights: the run started from --init.
    first = torch.load(start / CHECKPOINT, weights_only=False)["model"]
    second = torch.load(tuned / CHECKPOINT, weights_only=False)["model"]
    assert all(torch.allclose(first[k].half().float(), second[k], atol=1e-3) for k in first)


def test_a_file_that_is_not_a_crops_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_text("not numpy")
    for path in (junk, tmp_path / "missing.npz"):
        with pytest.raises(InvalidInputError, match="is not a crops file"):
            GeneratedCrops.load(path)
    with pytest.raises(SystemExit, match="is not a crops file"):
        train(_args(tmp_path / "run", "--generated", str(junk)))
