"""Bad inputs and faults, one table row each (issue 20).

Every CLI row runs ``pakati ...`` in-process on a workspace of the user's files and checks:
no traceback, the expected exit status (1: the run failed, 2: usage error), a message that
names the problem, and nothing in the workspace created, changed or removed. Rows need no
generation: each fails before the denoising loop (the point of checking early).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from pakati.cli import main
from pakati_engine.metadata import save_png_with_metadata

Prepare = Callable[[Path], None]


@dataclass(frozen=True)
class Row:
    """``argv`` with ``{w}`` for the workspace and ``{model}`` for the tiny model folder."""

    id: str
    argv: str
    status: int
    says: str
    prepare: Prepare | None = None


def _layout(model: str, **changes: object) -> dict:
    return {
        "width": 64,
        "height": 64,
        "model": model,
        "steps": 2,
        "seed": 7,
        "base_prompt": "a lake",
        "regions": [
            {"name": "sky", "box": [0, 0, 64, 24], "prompt": "sunset sky"},
            {"name": "hill", "box": [0, 24, 64, 64], "prompt": "green hill"},
        ],
        **changes,
    }


def _png_with_text(path: Path, text: str, size: tuple[int, int] = (64, 64)) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("pakati", text, zip=True)
    Image.new("RGB", size).save(path, pnginfo=info)


def _write(name: str, content: str | bytes) -> Prepare:
    def prepare(work: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (work / name).write_bytes(data)

    return prepare


def _layout_file(name: str = "bad.json", **changes: object) -> Prepare:
    def prepare(work: Path) -> None:
        model = json.loads((work / "layout.json").read_text())["model"]
        (work / name).write_text(json.dumps({**_layout(model), **changes}))

    return prepare


def _made_with(name: str, edit: Callable[[dict], object]) -> Prepare:
    """A Pakati PNG whose metadata ``edit`` changed (``edit`` returns the new metadata)."""

    def prepare(work: Path) -> None:
        metadata = json.loads((work / "made.json").read_text())
        _png_with_text(work / name, json.dumps(edit(metadata)))

    return prepare


def _with(metadata: dict, **changes: object) -> dict:
    return {**metadata, **changes}


def _bomb(name: str, side: int = 30000) -> Prepare:
    def prepare(work: Path) -> None:
        Image.new("1", (side, side)).save(work / name)  # ~100 KB on disk, 900 Mpx decoded

    return prepare


def _mask_layout(mask_name: str) -> Prepare:
    def prepare(work: Path) -> None:
        model = json.loads((work / "layout.json").read_text())["model"]
        regions = [{"name": "m", "mask": mask_name, "prompt": "a boat"}]
        (work / "masked.json").write_text(json.dumps(_layout(model, regions=regions)))

    return prepare


def _both(*steps: Prepare) -> Prepare:
    def prepare(work: Path) -> None:
        for step in steps:
            step(work)

    return prepare


def _checkpoint_truncated(work: Path) -> None:
    path = work / "ck.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("create table t (x)")
    connection.executemany("insert into t values (?)", [("x" * 500,)] * 200)
    connection.commit()
    connection.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _model_copy(**index_changes: object) -> Prepare:
    """A copy of the tiny model whose ``model_index.json`` (or, with ``recommend=``, its
    ``pakati.json``) was changed, and ``m.json``: a layout using it."""

    def prepare(work: Path) -> None:
        import shutil

        source = Path(json.loads((work / "layout.json").read_text())["model"])
        folder = work / "model"
        shutil.copytree(source, folder)
        recommend = index_changes.pop("recommend", None)
        if recommend is not None:
            (folder / "pakati.json").write_text(json.dumps(recommend))
        index = json.loads((folder / "model_index.json").read_text())
        (folder / "model_index.json").write_text(json.dumps({**index, **index_changes}))
        (work / "m.json").write_text(json.dumps(_layout(str(folder))))

    return prepare


G = "generate {w}/layout.json --out {w}/out.png --no-progress"
E = "edit {w}/made.png --out {w}/out.png --no-progress"
A = "agent 'a red circle' --out {w}/out.png"

ROWS = [
    # --- agent: arguments (usage errors, before any model or LLM is touched) -----------
    Row("agent-size-0x0", A + " --size 0x0", 2, "--size"),
    Row("agent-size-huge", A + " --size 100000x100000", 2, "--size"),
    Row("agent-size-words", A + " --size big", 2, "--size"),
    Row("agent-size-one-number", A + " --size 128", 2, "--size"),
    Row("agent-size-negative", A + " --size -64x64", 2, "--size"),
    Row("agent-max-passes-0", A + " --max-passes 0", 2, "--max-passes"),
    Row("agent-max-passes-text", A + " --max-passes many", 2, "--max-passes"),
    Row("agent-steps-negative", A + " --steps -5", 2, "--steps"),
    Row("agent-steps-0", A + " --steps 0", 2, "--steps"),
    Row("agent-steps-float", A + " --steps 2.5", 2, "--steps"),
    Row("agent-patience-0", A + " --patience 0", 2, "--patience"),
    Row("agent-target-nan", A + " --target nan", 2, "--target"),
    Row("agent-target-5", A + " --target 5", 2, "--target"),
    Row("agent-provider-unknown", A + " --provider skynet", 2, "--provider"),
    Row("agent-thread-path", A + " --thread ../../x", 2, "--thread"),
    Row("agent-thread-slash", A + " --thread a/b", 2, "--thread"),
    Row("agent-thread-empty", A + " --thread ''", 2, "--thread"),
    Row("agent-goal-empty", "agent '' --out {w}/out.png", 2, "goal is empty"),
    Row("agent-goal-spaces", "agent '   ' --out {w}/out.png", 2, "goal is empty"),
    Row("agent-thread-dotdot", A + " --thread a..b", 2, "--thread"),
    Row("agent-out-jpg", "agent 'a red circle' --out {w}/out.jpg", 2, ".png"),
    Row("agent-out-exists", "agent 'a red circle' --out {w}/made.png", 2, "--overwrite"),
    Row(
        "agent-checkpoint-is-the-sidecar",
        "agent 'a red circle' --out {w}/o.png --thread t --checkpoint {w}/o.json",
        2,
        "own inputs",
    ),
    # --- agent: checkpoint files -------------------------------------------------------
    Row(
        "checkpoint-garbage",
        A + " --thread t1 --checkpoint {w}/ck.sqlite",
        1,
        "not a checkpoint database",
        _write("ck.sqlite", os.urandom(4096)),
    ),
    Row(
        "checkpoint-text",
        A + " --thread t1 --checkpoint {w}/ck.sqlite",
        1,
        "not a checkpoint database",
        _write("ck.sqlite", "hello, this is a text file\n"),
    ),
    Row(
        "checkpoint-folder",
        A + " --thread t1 --checkpoint {w}",
        1,
        "is a folder",
    ),
    Row(
        "checkpoint-truncated",
        A + " --thread t1 --checkpoint {w}/ck.sqlite",
        1,
        "damaged or truncated",
        _checkpoint_truncated,
    ),
    Row(
        "checkpoint-header-only",
        A + " --thread t1 --checkpoint {w}/ck.sqlite",
        1,
        "damaged or truncated",
        _write("ck.sqlite", b"SQLite format 3\x00" + b"\x00" * 84),
    ),
    # --- generate: arguments -----------------------------------------------------------
    Row("generate-steps-0", G + " --steps 0", 2, "--steps"),
    Row("generate-steps-negative", G + " --steps -5", 2, "--steps"),
    Row("generate-seed-negative", G + " --seed -1", 2, "--seed"),
    Row("generate-seed-text", G + " --seed abc", 2, "--seed"),
    Row("generate-guidance-negative", G + " --guidance -1", 2, "--guidance"),
    Row("generate-guidance-nan", G + " --guidance nan", 2, "--guidance"),
    Row("generate-guidance-inf", G + " --guidance inf", 2, "--guidance"),
    Row("generate-no-out", "generate {w}/layout.json", 2, "--out"),
    Row("generate-two-sources", G + " --from {w}/made.png", 2, "--from"),
    Row("generate-out-jpg", "generate {w}/layout.json --out {w}/x.jpg", 2, ".png"),
    Row("generate-out-exists", "generate {w}/layout.json --out {w}/made.png", 2, "--overwrite"),
    Row(
        "generate-out-replaces-layout",
        "generate {w}/layout.json --out {w}/layout.png --overwrite",
        2,
        "own inputs",
    ),
    Row(
        "generate-from-replaces-itself",
        "generate --from {w}/made.png --out {w}/made.png --overwrite",
        2,
        "own inputs",
    ),
    Row(
        "generate-from-sidecar-replaces-png",
        "generate --from {w}/made.json --out {w}/made.png --overwrite",
        2,
        "own inputs",
    ),
    Row("generate-unknown-option", G + " --frobnicate", 2, "--frobnicate"),
    # --- generate: layout files --------------------------------------------------------
    Row("layout-missing", "generate {w}/nope.json --out {w}/o.png", 1, "does not exist"),
    Row("layout-folder", "generate {w} --out {w}/o.png", 1, "does not exist"),
    Row(
        "layout-not-json",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "not valid json",
        _write("bad.json", "{ nope"),
    ),
    Row(
        "layout-binary",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "not valid json",
        _write("bad.json", b"\xff\xfe\x00garbage"),
    ),
    Row(
        "layout-list",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "not a valid layout",
        _write("bad.json", "[1, 2]"),
    ),
    Row(
        "layout-deep",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "json",
        _write("bad.json", "[" * 100000 + "]" * 100000),
    ),
    Row(
        "layout-version-99",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "version 99",
        _layout_file(version=99),
    ),
    Row(
        "layout-steps-many",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "steps",
        _layout_file(steps="many"),
    ),
    Row(
        "layout-width-0",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "width",
        _layout_file(width=0),
    ),
    Row(
        "layout-width-huge",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "width",
        _layout_file(width=100000),
    ),
    Row(
        "layout-seed-negative",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "seed",
        _layout_file(seed=-3),
    ),
    Row(
        "layout-unknown-field",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "colour",
        _layout_file(colour="red"),
    ),
    Row(
        "layout-region-no-shape",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "exactly one of",
        _layout_file(regions=[{"name": "a", "prompt": "x"}]),
    ),
    Row(
        "layout-region-two-shapes",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "exactly one of",
        _layout_file(
            regions=[{"box": [0, 0, 9, 9], "polygon": [[0, 0], [1, 0], [0, 1]], "prompt": "x"}]
        ),
    ),
    Row(
        "layout-duplicate-names",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "unique",
        _layout_file(
            regions=[
                {"name": "a", "box": [0, 0, 9, 9], "prompt": "x"},
                {"name": "a", "box": [9, 9, 19, 19], "prompt": "y"},
            ]
        ),
    ),
    Row(
        "layout-prompt-null",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "prompt",
        _layout_file(regions=[{"name": "a", "box": [0, 0, 9, 9], "prompt": None}]),
    ),
    Row(
        "layout-weight-negative",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "weight",
        _layout_file(regions=[{"name": "a", "box": [0, 0, 9, 9], "prompt": "x", "weight": -1}]),
    ),
    Row(
        "layout-model-missing",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "not found",
        _layout_file(model="/no/such/model"),
    ),
    Row(
        "layout-mask-missing",
        "generate {w}/masked.json --out {w}/o.png",
        1,
        "does not exist",
        _mask_layout("nothing.png"),
    ),
    Row(
        "layout-mask-garbage",
        "generate {w}/masked.json --out {w}/o.png",
        1,
        "not a readable image",
        _both(_mask_layout("m.png"), _write("m.png", b"not a png")),
    ),
    Row(
        "layout-mask-bomb",
        "generate {w}/masked.json --out {w}/o.png",
        1,
        "too large",
        _both(_mask_layout("m.png"), _bomb("m.png")),
    ),
    Row(
        "layout-mask-png-bomb",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "too large",
        lambda work: _layout_file(
            regions=[{"name": "m", "mask_png": _b64(work / "b.png"), "prompt": "x"}]
        )(work),
    ),
    Row(
        "layout-mask-png-not-base64",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "base64",
        _layout_file(regions=[{"name": "m", "mask_png": "@@@", "prompt": "x"}]),
    ),
    # --- generate --from: metadata of earlier outputs ----------------------------------
    Row("from-missing", "generate --from {w}/nope.png --out {w}/o.png", 1, "does not exist"),
    Row(
        "from-not-an-image",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "not a readable image",
        _write("x.png", "plain text"),
    ),
    Row(
        "from-no-metadata",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "no pakati metadata",
        lambda work: Image.new("RGB", (8, 8)).save(work / "x.png"),
    ),
    Row(
        "from-bomb",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "too large",
        _bomb("x.png"),
    ),
    Row(
        "from-metadata-not-json",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "corrupt",
        lambda work: _png_with_text(work / "x.png", "{ nope"),
    ),
    Row(
        "from-metadata-deep",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "nested too deeply",
        lambda work: _png_with_text(work / "x.png", "[" * 100000 + "]" * 100000),
    ),
    Row(
        "from-metadata-deep-but-parseable",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "nested too deeply",
        lambda work: _png_with_text(
            work / "x.png", '{"layout": {}, "x": ' + "[" * 500 + "]" * 500 + "}"
        ),
    ),
    Row(
        "from-metadata-chunk-bomb",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "not a readable image",
        lambda work: _png_with_text(work / "x.png", json.dumps({"pad": "x" * (8 << 20)})),
    ),
    Row(
        "from-metadata-list",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "no layout",
        lambda work: _png_with_text(work / "x.png", "[1, 2, 3]"),
    ),
    Row(
        "from-metadata-no-layout",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "no layout",
        _made_with("x.png", lambda m: {"model": m["model"]}),
    ),
    Row(
        "from-metadata-layout-string",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "no layout",
        _made_with("x.png", lambda m: _with(m, layout="abc")),
    ),
    Row(
        "from-metadata-steps-abc",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "steps",
        _made_with("x.png", lambda m: _with(m, steps="abc")),
    ),
    Row(
        "from-metadata-steps-entry-bad",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "steps",
        _made_with("x.png", lambda m: _with(m, steps=[{"action": 3}])),
    ),
    Row(
        "from-metadata-layout-steps-abc",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "steps",
        _made_with("x.png", lambda m: _with(m, layout={**m["layout"], "steps": "abc"})),
    ),
    Row(
        "from-metadata-version-99",
        "generate --from {w}/x.png --out {w}/o.png",
        1,
        "version 99",
        _made_with("x.png", lambda m: _with(m, layout={**m["layout"], "version": 99})),
    ),
    Row(
        "from-sidecar-list",
        "generate --from {w}/x.json --out {w}/o.png",
        1,
        "no layout",
        _write("x.json", "[{}]"),
    ),
    Row(
        "from-sidecar-not-json",
        "generate --from {w}/x.json --out {w}/o.png",
        1,
        "corrupt",
        _write("x.json", "{{{"),
    ),
    Row(
        "from-sidecar-binary",
        "generate --from {w}/x.json --out {w}/o.png",
        1,
        "not a readable sidecar",
        _write("x.json", b"\xff\xfe\xfd"),
    ),
    Row(
        "from-sidecar-deep",
        "generate --from {w}/x.json --out {w}/o.png",
        1,
        "nested too deeply",
        _write("x.json", "[" * 100000 + "]" * 100000),
    ),
    Row("from-sidecar-missing", "generate --from {w}/nope.json --out {w}/o.png", 1, "nope.json"),
    # --- edit ----------------------------------------------------------------------------
    Row("edit-feather-negative", E + " --region sky --feather -5", 2, "--feather"),
    Row("edit-seed-negative", E + " --region sky --seed -1", 2, "--seed"),
    Row("edit-strength-0", E + " --region sky --strength 0", 2, "--strength"),
    Row("edit-strength-2", E + " --region sky --strength 2", 2, "--strength"),
    Row("edit-strength-nan", E + " --region sky --strength nan", 2, "--strength"),
    Row("edit-no-region", E, 2, "--region"),
    Row("edit-unknown-region", E + " --region nope", 2, "no region 'nope'"),
    Row("edit-unknown-lock", E + " --region sky --lock nope", 2, "no region 'nope'"),
    Row(
        "edit-strength-two-regions",
        E + " --region sky --region hill --strength 0.5",
        2,
        "one region",
    ),
    Row(
        "edit-replaces-itself",
        "edit {w}/made.png --region sky --out {w}/made.png --overwrite",
        2,
        "own inputs",
    ),
    Row("edit-out-exists", "edit {w}/made.png --region sky --out {w}/made.png", 2, "--overwrite"),
    Row(
        "edit-image-missing", "edit {w}/nope.png --region sky --out {w}/o.png", 1, "does not exist"
    ),
    Row(
        "edit-image-bomb",
        "edit {w}/x.png --region sky --out {w}/o.png",
        1,
        "too large",
        _bomb("x.png"),
    ),
    Row(
        "edit-image-no-metadata",
        "edit {w}/x.png --region sky --out {w}/o.png",
        2,
        "no pakati metadata",
        lambda work: Image.new("RGB", (64, 64)).save(work / "x.png"),
    ),
    Row(
        "edit-image-size-mismatch",
        "edit {w}/x.png --region sky --out {w}/o.png",
        1,
        "does not match",
        lambda work: _png_with_text(
            work / "x.png", (work / "made.json").read_text(), size=(32, 32)
        ),
    ),
    Row(
        "edit-image-steps-abc",
        "edit {w}/x.png --region sky --out {w}/o.png",
        1,
        "steps",
        _made_with("x.png", lambda m: _with(m, steps="abc")),
    ),
    # --- analyze and template ------------------------------------------------------------
    Row("analyze-box-words", "analyze {w}/made.png --reference {w}/made.png --box a,b", 2, "--box"),
    Row(
        "analyze-box-outside",
        "analyze {w}/made.png --reference {w}/made.png --box 0,0,999,64",
        2,
        "outside",
    ),
    Row("analyze-missing", "analyze {w}/nope.png --reference {w}/made.png", 1, "nope.png"),
    Row(
        "analyze-bomb",
        "analyze {w}/x.png --reference {w}/made.png",
        1,
        "pixels",
        _bomb("x.png"),
    ),
    Row("template-show-missing", "template show {w}/nope.json", 1, "nope.json"),
    Row(
        "template-show-garbage",
        "template show {w}/t.json",
        1,
        "t.json",
        _write("t.json", "nope"),
    ),
    Row("template-list-missing", "template list {w}/nothing", 1, "does not exist"),
    Row("template-apply-out-jpg", "template apply {w}/t.json --out {w}/o.jpg", 2, ".png"),
    Row(
        "template-apply-seed-negative",
        "template apply {w}/t.json --out {w}/o.png --seed -2",
        2,
        "--seed",
    ),
    # --- eval ----------------------------------------------------------------------------
    Row("eval-regional-n-0", "eval regional --n 0", 2, "--n"),
    Row("eval-regional-size-8", "eval regional --size 8", 2, "--size"),
    Row("eval-regional-steps-0", "eval regional --steps 0", 2, "--steps"),
    Row("eval-planner-n-negative", "eval planner --n -1", 2, "--n"),
    Row("eval-agent-n-0", "eval agent --n 0", 2, "--n"),
    Row("eval-agent-max-passes-0", "eval agent --max-passes 0", 2, "--max-passes"),
    Row("eval-agent-save-not-empty", "eval agent --n 1 --save {w}", 2, "not empty"),
    Row("eval-unknown-suite", "eval everything", 2, "invalid choice"),
    # --- model folders --------------------------------------------------------------------
    Row(
        "model-index-os-system",
        "generate {w}/m.json --out {w}/o.png",
        1,
        "known model classes",
        _model_copy(unet=["os", "system"]),
    ),
    Row(
        "model-index-subprocess",
        "generate {w}/m.json --out {w}/o.png",
        1,
        "known model classes",
        _model_copy(text_encoder=["subprocess", "Popen"]),
    ),
    Row(
        "model-index-list",
        "generate {w}/m.json --out {w}/o.png",
        1,
        "not a json object",
        lambda work: (_model_copy()(work), (work / "model" / "model_index.json").write_text("[]")),
    ),
    Row(
        "model-pakati-json-steps-many",
        "generate {w}/m.json --out {w}/o.png",
        1,
        "pakati.json",
        _model_copy(recommend={"steps": "many"}),
    ),
    Row(
        "model-pakati-json-list",
        "generate {w}/m.json --out {w}/o.png",
        1,
        "json object",
        _model_copy(recommend=[1, 2]),
    ),
    # --- more layouts, chat and agent options ------------------------------------------------
    Row(
        "layout-weight-infinity",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "weight",
        _write(
            "bad.json",
            '{"width": 64, "height": 64, "regions": '
            '[{"box": [0, 0, 9, 9], "prompt": "x", "weight": Infinity}]}',
        ),
    ),
    Row(
        "layout-window-reversed",
        "generate {w}/bad.json --out {w}/o.png",
        1,
        "step_window",
        _layout_file(regions=[{"box": [0, 0, 9, 9], "prompt": "x", "step_window": [0.9, 0.1]}]),
    ),
    Row("agent-timeout-0", A + " --timeout 0", 2, "--timeout"),
    Row("agent-timeout-negative", A + " --timeout -3", 2, "--timeout"),
    Row("chat-size-0x0", "chat --size 0x0", 2, "--size"),
    Row("chat-steps-0", "chat --steps 0", 2, "--steps"),
    # --- the command itself ----------------------------------------------------------------
    Row("no-command", "", 2, "required"),
    Row("unknown-command", "paint", 2, "invalid choice"),
]


def _b64(path: Path) -> str:
    import base64

    Image.new("1", (30000, 30000)).save(path)
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def workspace(tmp_path: Path, sd_folder: Path) -> Path:
    return make_workspace(tmp_path, sd_folder)


def make_workspace(tmp_path: Path, sd_folder: Path) -> Path:
    """The user's folder: a layout, a Pakati PNG with its sidecar (no generation needed)."""
    work = tmp_path / "work"
    work.mkdir()
    layout = _layout(str(sd_folder))
    (work / "layout.json").write_text(json.dumps(layout))
    metadata = {"pakati_version": "test", "layout": layout, "model": {"source": str(sd_folder)}}
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    save_png_with_metadata(picture, work / "made.png", metadata)
    return work


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _argv(row: Row, work: Path, model: Path) -> list[str]:
    import shlex

    return shlex.split(row.argv.format(w=work, model=model))


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault(row: Row, workspace: Path, sd_folder: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(workspace)  # a stray relative write would show in the snapshot
    monkeypatch.delenv("PAKATI_DEBUG", raising=False)
    if row.prepare is not None:
        row.prepare(workspace)
    before = snapshot(workspace)
    status, output = run_cli(_argv(row, workspace, sd_folder), capsys)
    assert "Traceback" not in output, output
    assert status == row.status, output
    assert row.says.lower() in output.lower(), output
    assert "this is a bug" not in output.lower(), output
    assert snapshot(workspace) == before


def test_the_table_is_large_and_its_ids_unique() -> None:
    assert len(ROWS) >= 100
    assert len({row.id for row in ROWS}) == len(ROWS)
