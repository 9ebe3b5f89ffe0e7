"""History.spill: the pixels of older entries go to disk and come back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pakati.history import History, HistoryEntry, image_sha256
from pakati_engine.errors import InvalidInputError


def _history(count: int) -> History:
    history = History()
    for index in range(count):
        image = Image.fromarray(np.full((8, 8, 3), index * 20, np.uint8))
        history.add(
            HistoryEntry(
                id=history.new_id(),
                action="generate" if index == 0 else "regenerate",
                parent=history.head,
                layout={"width": 8, "height": 8},
                locked=[],
                image_sha256=image_sha256(image),
                image=image,
                latents=torch.full((1, 4, 1, 1), float(index), dtype=torch.float16),
            )
        )
    return history


def test_spill_keeps_the_recent_entries_and_brings_old_ones_back_exactly(tmp_path: Path) -> None:
    history = _history(5)
    originals = {e.id: (e.image_sha256, e.latents.clone()) for e in history}
    assert history.spill(tmp_path / "spill", keep=2) == 2
    in_memory = [e.id for e in history if e.image is not None]
    assert in_memory == ["e4", "e5"]
    assert all(e.latents is None and e.spilled is not None for e in history if e.id < "e4")
    assert len(list((tmp_path / "spill").glob("*.png"))) == 3
    # Undo to the first entry: each entry that becomes current gets its own pixels back.
    while (entry := history.undo()) is not None:
        sha, latents = originals[entry.id]
        assert entry.image is not None and image_sha256(entry.image) == sha
        assert entry.latents.dtype == torch.float16 and torch.equal(entry.latents, latents)
    assert history.head == "e1"
    # The entries just visited are now the recent ones: spilling again keeps them.
    assert history.spill(tmp_path / "spill", keep=2) == 2
    assert [e.id for e in history if e.image is not None] == ["e1", "e2"]


def test_a_spilled_history_saves_and_loads_whole(tmp_path: Path) -> None:
    history = _history(4)
    shas = [e.image_sha256 for e in history]
    history.spill(tmp_path / "spill", keep=1)
    project = history.save(tmp_path / "p.json")
    loaded = History.load(project)
    assert [e.image_sha256 for e in loaded] == shas
    assert all(e.image is not None and image_sha256(e.image) == e.image_sha256 for e in loaded)
    assert "spilled" not in json.loads(project.read_text())["entries"][0]


def test_a_damaged_spill_file_is_a_clear_error(tmp_path: Path) -> None:
    history = _history(2)
    history.spill(tmp_path / "spill", keep=0)  # only the head stays
    [png] = [p for p in (tmp_path / "spill").glob("*.png")]
    Image.new("RGB", (8, 8), (1, 2, 3)).save(png)
    with pytest.raises(InvalidInputError, match="does not match its recorded hash"):
        history.undo()
    assert history.head == "e2"  # nothing moved
