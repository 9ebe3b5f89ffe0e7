"""The outline ControlNet's training script: seeded, resumable, exports a loadable ControlNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pakati_engine.control.loading import load_controlnet, read_card
from pakati_engine.models.loading import load_model
from pakati_engine.training.controlnet_data import control_batch
from pakati_engine.training.train_controlnet import base_unet_hash, main


def test_a_batch_controls_one_object_by_its_outline_inside_its_cell_only() -> None:
    batch = control_batch(np.random.default_rng(0), 6, 128)
    for b, spec in enumerate(batch.base.specs):
        k = batch.controlled[b]
        prompt = batch.base.prompts[b][1 + k]
        assert prompt in (
            "",
            f"a {spec.objects[k].color} object",
            f"an {spec.objects[k].color} object",
        )
        mask = batch.mask[b, 0].numpy() > 0
        control = batch.control[b].numpy().max(axis=0) > 0
        assert control.any() and not control[~mask].any()  # lines only inside the cell
        others = [p for i, p in enumerate(batch.base.prompts[b][1:]) if i != k and p]
        assert all("object" not in p for p in others)  # the others keep their shapes


def run(out: Path, *extra: str) -> None:
    assert main(["--out", str(out), "--minutes", "5", "--batch", "2", *extra]) == 0


def test_training_is_seeded_resumable_and_exports_a_controlnet_for_the_shipped_unet(
    tmp_path: Path,
) -> None:
    run(tmp_path / "a", "--max-steps", "2")
    run(tmp_path / "b", "--max-steps", "1")
    run(tmp_path / "b", "--resume", "--max-steps", "2")
    first = load_file(str(tmp_path / "a" / "ckpt" / "tensors.safetensors"))
    resumed = load_file(str(tmp_path / "b" / "ckpt" / "tensors.safetensors"))
    for name in [k for k in first if k.startswith("model/")][:20]:
        assert torch.equal(first[name], resumed[name]), name
    state = json.loads((tmp_path / "b" / "ckpt" / "state.json").read_text())
    assert state["step"] == 2
    export = tmp_path / "a" / "export"
    card = read_card(export)
    assert card["base_unet_sha256"] == base_unet_hash("pakati-shapes")
    controlnet = load_controlnet(str(export), load_model("pakati-shapes"))
    assert list(controlnet.config.conditioning_embedding_out_channels) == [16, 32, 64, 128]


def test_a_run_folder_in_use_is_not_overwritten(tmp_path: Path) -> None:
    run(tmp_path / "a", "--max-steps", "1")
    with pytest.raises(SystemExit, match="pass --resume"):
        run(tmp_path / "a", "--max-steps", "1")


def test_a_run_continues_from_exported_weights(tmp_path: Path) -> None:
    run(tmp_path / "a", "--max-steps", "1")
    run(tmp_path / "b", "--init", str(tmp_path / "a" / "export"), "--max-steps", "2")
    state = json.loads((tmp_path / "b" / "ckpt" / "state.json").read_text())
    assert state["step"] == 2  # one step from the export's step 1
    with pytest.raises(SystemExit, match="not an exported ControlNet"):
        run(tmp_path / "c", "--init", str(tmp_path / "nowhere"))
