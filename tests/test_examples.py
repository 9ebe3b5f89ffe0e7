"""The example layouts that README points to are valid, and the shapes example draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pakati.cli import main
from pakati_engine.layout import load_layout
from pakati_engine.models.catalog import embedded_model_available

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.json"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"layout.json", "shapes.json"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_layouts_validate(path: Path) -> None:
    layout = load_layout(path)
    assert layout.regions


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_shapes_example_generates_with_the_embedded_model(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "shapes.png"
    assert main(["generate", str(EXAMPLES[[p.name for p in EXAMPLES].index("shapes.json")]),
                 "--out", str(out)]) == 0  # fmt: skip
    image = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    assert image.shape == (128, 128, 3)
    # The background prompt is white: most of the canvas is light, and not all of it is.
    light = image.mean(axis=2) > 200
    assert 0.3 < light.mean() < 0.98


@pytest.mark.skipif(not embedded_model_available(), reason="the embedded model is not shipped")
def test_tool_agent_example_drives_the_tools(tmp_path: Path, capsys) -> None:
    import importlib.util

    from PIL import Image

    path = Path(__file__).resolve().parent.parent / "examples" / "tool_agent.py"
    spec = importlib.util.spec_from_file_location("tool_agent_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "error:" not in printed and '"cosine"' in printed
    first, second = (np.asarray(Image.open(tmp_path / n)) for n in ("first.png", "second.png"))
    # The circle was locked before the square was regenerated: its pixels are kept exactly.
    assert np.array_equal(first[:, :56], second[:, :56])
    assert not np.array_equal(first[:, 76:], second[:, 76:])
