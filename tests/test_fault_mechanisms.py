"""The mechanisms behind issue 20's faults, each with the fault that showed it was missing:
outputs written as a pair or not at all, one writer per output, keys only where meant, LLM
servers that fail, threads bound to their goal. Companion of the table in test_faults.py."""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pakati.cli import main
from pakati.cli.agent import add_agent_arguments, run_agent
from pakati.cli.common import run_guarded
from pakati_engine import outputs
from pakati_engine.errors import InvalidInputError, OutputExistsError
from pakati_engine.metadata import save_png_with_metadata
from pakati_engine.outputs import output_lock
from tests.agent_fakes import ScriptedScorer, cosine_critic
from tests.test_faults import make_workspace, snapshot

GOAL = "a red circle on the left and a blue square on the right, white background"


def _picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))


def _fail_on_call(number: int, error: OSError) -> Callable[..., Any]:
    """A stand-in for an ``os`` function that fails on its ``number``-th call."""
    calls = {"n": 0}

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == number:
                raise error
            return real(*args, **kwargs)

        return call

    return wrap


# Outputs: both or neither ---------------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new", "overwrite"])
def test_a_full_disk_while_writing_the_sidecar_leaves_the_pair_as_it_was(
    tmp_path, monkeypatch, existing
) -> None:
    out = tmp_path / "out.png"
    if existing:
        save_png_with_metadata(_picture(0), out, {"layout": {"old": True}})
    before = snapshot(tmp_path)
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(outputs.os, "fsync", _fail_on_call(2, full)(os.fsync))  # the sidecar
    with pytest.raises(OSError, match="No space"):
        save_png_with_metadata(_picture(1), out, {"layout": {"new": True}}, overwrite=existing)
    assert snapshot(tmp_path) == before  # no half pair, no temporary files


def test_a_failed_rename_puts_the_old_pair_back(tmp_path, monkeypatch) -> None:
    out = tmp_path / "out.png"
    save_png_with_metadata(_picture(0), out, {"layout": {"old": True}})
    before = snapshot(tmp_path)
    broken = OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(outputs.os, "replace", _fail_on_call(2, broken)(os.replace))
    with pytest.raises(OSError, match="Input/output"):
        save_png_with_metadata(_picture(1), out, {"layout": {"new": True}}, overwrite=True)
    assert snapshot(tmp_path) == before


def test_orchestrator_result_save_never_overwrites_the_sidecar(tmp_path) -> None:
    from pakati.orchestrator import OrchestratorResult

    made = tmp_path / "pass.png"
    save_png_with_metadata(_picture(0), made, {"layout": {}})
    (tmp_path / "result.json").write_text("the user's notes")
    result = OrchestratorResult(_picture(0), made, "plan-1")
    with pytest.raises(OutputExistsError, match=r"result\.json"):
        result.save(tmp_path / "result.png")
    assert (tmp_path / "result.json").read_text() == "the user's notes"
    assert not (tmp_path / "result.png").exists()
    with pytest.raises(OutputExistsError, match="own inputs"):
        result.save(made, overwrite=True)


def test_cli_full_disk_at_the_end_of_a_generation_is_a_clear_error(
    tmp_path, sd_folder, monkeypatch, capsys
) -> None:
    layout = {"width": 64, "height": 64, "model": str(sd_folder), "steps": 2, "seed": 1}
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    before = snapshot(tmp_path)
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(outputs.os, "fsync", _fail_on_call(2, full)(os.fsync))
    argv = ["generate", str(tmp_path / "layout.json"), "--out", str(tmp_path / "o.png")]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before  # a rerun is not refused by a lone PNG
    monkeypatch.undo()
    assert main([*argv, "--no-progress"]) == 0


READ_ONLY_COMMANDS = {
    "generate": "generate {w}/layout.json --out {w}/ro/o.png",
    "generate-from": "generate --from {w}/made.png --out {w}/ro/o.png",
    "edit": "edit {w}/made.png --region sky --out {w}/ro/o.png",
    "template-apply": "template apply {w}/t.json --out {w}/ro/o.png",
    "agent": "agent 'a red circle' --out {w}/ro/o.png",
    "agent-thread": "agent 'a red circle' --out {w}/ro/o.png --thread t1",
}


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS.values(), ids=READ_ONLY_COMMANDS.keys())
def test_read_only_output_folder_fails_before_any_work(
    command, tmp_path, sd_folder, monkeypatch, capsys
) -> None:
    import shlex

    workspace = make_workspace(tmp_path, sd_folder)
    real_open = os.open
    read_only_folder = workspace / "ro"

    def read_only(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(read_only_folder)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "open", read_only)
    read_only_folder.mkdir()
    before = snapshot(workspace)
    start = time.perf_counter()
    assert main(shlex.split(command.format(w=workspace))) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err and "loading model" not in err
    assert time.perf_counter() - start < 10
    assert snapshot(workspace) == before


# One writer per output ------------------------------------------------------------------


@contextmanager
def held_elsewhere(path: Path) -> Iterator[None]:
    """``path``'s output lock held by another holder (a thread standing in for another run;
    the thread that holds a lock may take it again, as a run saving its own result does)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with output_lock(path):
            taken.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def test_a_second_writer_of_the_same_output_gets_a_lock_error(tmp_path, capsys) -> None:
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({"width": 64, "height": 64, "model": "/no/such/model"}))
    out = tmp_path / "o.png"
    with held_elsewhere(out):  # another run is writing o.png
        assert main(["generate", str(layout), "--out", str(out)]) == 2
        assert "another Pakati run is writing" in capsys.readouterr().err
        # Two agent runs with one --out: the second is refused, not a silent replacement.
        assert main(["agent", "a red circle", "--out", str(out), "--provider", "offline"]) == 2
        assert "another Pakati run is writing" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout.json"]  # lock file gone


@pytest.mark.parametrize("suite", ["regional", "agent"])
def test_two_evals_saving_to_one_folder_cannot_mix(suite, tmp_path, capsys) -> None:
    folder = tmp_path / "eval-run"
    with held_elsewhere(folder):  # another eval is saving there
        assert main(["eval", suite, "--n", "1", "--save", str(folder)]) == 2
    assert "another Pakati run is writing" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_locks_exclude_across_processes(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "o.png"
    code = (
        "import sys, time\n"
        "from pakati_engine.outputs import output_lock\n"
        f"with output_lock({str(out)!r}):\n"
        "    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputExistsError, match="another Pakati run"), output_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # free again once the holder is gone
        pass


# Keys only where meant --------------------------------------------------------------------


@contextmanager
def http_server(behaviour: str) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server on 127.0.0.1 that records request headers and fails as ``behaviour`` says:
    "500" answers an error, "hang" never answers in time."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if behaviour == "hang":
                time.sleep(5)
                return
            body = b'{"error": {"message": "boom", "type": "server_error"}}'
            self.send_response(500)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _agent_argv(tmp_path: Path, model: Path, *more: str) -> list[str]:
    out = str(tmp_path / "out.png")
    return ["agent", "a red circle", "--out", out, "--model", str(model), "--size", "64x64", *more]


def _llm_env(monkeypatch, tmp_path: Path, **values: str) -> None:
    for key in ("PAKATI_API_KEY_OPENAI", "PAKATI_API_KEY_ANTHROPIC", "PAKATI_OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


def test_a_base_url_from_dotenv_never_receives_the_environments_key(
    tmp_path, sd_folder, monkeypatch, capsys
) -> None:
    with http_server("500") as (url, seen):
        (tmp_path / ".env").write_text(f"PAKATI_OPENAI_BASE_URL={url}\n")
        _llm_env(monkeypatch, tmp_path, PAKATI_API_KEY_OPENAI="sk-real-secret")
        assert main(_agent_argv(tmp_path, sd_folder, "--timeout", "2")) == 1
        err = capsys.readouterr().err
        assert "--trust-env-file" in err and ".env" in err and "Traceback" not in err
        assert seen == []  # no request at all, so no key went anywhere
        assert "sk-real-secret" not in err

        # Confirmed: the destination is named before the request that carries the key.
        assert main(_agent_argv(tmp_path, sd_folder, "--timeout", "2", "--trust-env-file")) == 1
        err = capsys.readouterr().err
        assert f"your API key) go to {url}" in err and "LLM provider failed" in err
        assert seen and seen[0]["authorization"] == "Bearer sk-real-secret"
        assert "sk-real-secret" not in err


def test_a_base_url_set_in_the_environment_is_named_before_requests(
    tmp_path, sd_folder, monkeypatch, capsys
) -> None:
    with http_server("500") as (url, seen):
        _llm_env(monkeypatch, tmp_path, PAKATI_OPENAI_BASE_URL=url, PAKATI_API_KEY_OPENAI="sk-1")
        assert main(_agent_argv(tmp_path, sd_folder, "--timeout", "2")) == 1
    err = capsys.readouterr().err
    assert f"go to {url}" in err and err.index(f"go to {url}") < err.index("LLM provider failed")
    assert "sk-1" not in err and seen


@pytest.mark.parametrize("behaviour", ["500", "refused", "hang"])
def test_a_failing_llm_server_is_a_clear_error_within_the_timeout(
    behaviour, tmp_path, sd_folder, monkeypatch, capsys
) -> None:
    @contextmanager
    def refused() -> Iterator[tuple[str, list[dict[str, str]]]]:
        yield f"http://127.0.0.1:{_closed_port()}/v1", []

    server = refused() if behaviour == "refused" else http_server(behaviour)
    with server as (url, _):
        _llm_env(monkeypatch, tmp_path, PAKATI_OPENAI_BASE_URL=url)
        before = snapshot(tmp_path)
        start = time.perf_counter()
        assert main(_agent_argv(tmp_path, sd_folder, "--timeout", "1")) == 1
        seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert "LLM provider failed" in err and "Traceback" not in err
    assert seconds < 30  # one try and one retry of 1 s each, plus loading the model
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith(".out.passes")} == before


# Threads and pass folders -------------------------------------------------------------------


def _parse(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    add_agent_arguments(parser)
    return parser.parse_args(argv)


def _run(argv: list[str], sd_bundle: Any, scores: list[float], goal: str = GOAL) -> int:
    args = _parse([goal, *argv])
    scorer = ScriptedScorer({goal: scores})

    def command(parsed: Any) -> int:
        return run_agent(parsed, model=sd_bundle, scorer=scorer, critic_fn=cosine_critic)

    return run_guarded(command, args)


def test_a_thread_continues_only_its_own_goal(tmp_path, sd_bundle, capsys) -> None:
    out = tmp_path / "r.png"
    base = ["--max-passes", "1", "--size", "64x64", "--steps", "2", "--provider", "offline"]
    argv = [*base, "--thread", "t1", "--out", str(out)]
    assert _run(argv, sd_bundle, [0.5]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    other = "a green triangle in the middle"
    again = [*base, "--thread", "t1", "--checkpoint", str(out.with_suffix(".agent.sqlite"))]
    again += ["--out", str(tmp_path / "r2.png")]
    assert _run(again, sd_bundle, [0.5], goal=other) == 1
    err = capsys.readouterr().err
    assert "was started with goal" in err and "--thread" in err
    assert snapshot(tmp_path) == before  # the old goal's image is not delivered as r2.png


def test_orchestrator_run_refuses_another_goal_on_the_same_thread(tmp_path, sd_bundle) -> None:
    from pakati.orchestrator import Context, PakatiOrchestrator
    from tests.agent_fakes import ScriptedChatModel

    checkpoint = tmp_path / "c.sqlite"
    context = Context(primary_goal=GOAL, width=64, height=64, max_passes=1, workdir=str(tmp_path))
    orchestrator = PakatiOrchestrator(
        context,
        model=sd_bundle,
        scorer=ScriptedScorer({GOAL: [0.5]}),
        steps=2,
        critic_fn=cosine_critic,
    )
    first = orchestrator.run(GOAL, thread_id="same", checkpoint=checkpoint)
    assert first["scores"]
    with pytest.raises(InvalidInputError, match="was started with goal"):
        orchestrator.run("a yellow star", thread_id="same", checkpoint=checkpoint)
    assert (
        orchestrator.run(GOAL, thread_id="same", checkpoint=checkpoint)["scores"] == first["scores"]
    )
    with pytest.raises(InvalidInputError, match="plain name"):
        orchestrator.run(GOAL, thread_id="../../x", checkpoint=checkpoint)
    assert ScriptedChatModel  # the offline planner ran; no scripted answers were needed


def test_each_agent_run_has_its_own_pass_folder(tmp_path, sd_bundle, capsys) -> None:
    out = tmp_path / "r.png"
    argv = ["--max-passes", "1", "--size", "64x64", "--steps", "2", "--out", str(out)]
    argv += ["--provider", "offline"]
    assert _run(argv, sd_bundle, [0.5]) == 0
    first = out.read_bytes()
    assert _run(argv, sd_bundle, [0.5]) == 2  # the same --out again: refused, kept
    assert out.read_bytes() == first
    assert "--overwrite" in capsys.readouterr().err
    assert _run([*argv, "--overwrite"], sd_bundle, [0.5]) == 0
    runs = sorted((tmp_path / ".r.passes").iterdir())
    assert len(runs) == 2 and all((run / "pass-1.png").is_file() for run in runs)
    assert json.loads(out.with_suffix(".json").read_text())["layout"]


@pytest.mark.parametrize(
    ("dotenv", "env", "refused", "notice"),
    [
        ({"PAKATI_OPENAI_BASE_URL": "http://evil:1/v1"}, {"PAKATI_API_KEY_OPENAI": "k"}, True, ""),
        (
            {"PAKATI_ANTHROPIC_BASE_URL": "http://evil:1"},
            {"PAKATI_API_KEY_ANTHROPIC": "k"},
            True,
            "",
        ),
        (
            {"PAKATI_OPENAI_BASE_URL": "http://evil:1/v1", "PAKATI_API_KEY_OPENAI": "k"},
            {},
            False,
            "your API key) go to http://evil:1/v1",
        ),
        ({"PAKATI_OPENAI_BASE_URL": "http://local:1/v1"}, {}, False, "no API key) go to"),
        (
            {},
            {"PAKATI_OPENAI_BASE_URL": "http://x:1/v1", "PAKATI_API_KEY_OPENAI": "k"},
            False,
            "go to",
        ),
        ({}, {"PAKATI_API_KEY_OPENAI": "k"}, False, None),
        ({}, {"PAKATI_OPENAI_BASE_URL": "https://api.openai.com/v1/"}, False, "no API key"),
    ],
    ids=[
        "env-key-dotenv-url",
        "anthropic",
        "both-in-dotenv",
        "keyless",
        "both-in-env",
        "official",
        "compat-official-url",
    ],
)
def test_keys_go_only_where_the_user_meant(tmp_path, dotenv, env, refused, notice) -> None:
    from pakati.agents.providers import resolve_provider

    file = tmp_path / ".env"
    file.write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    if refused:
        with pytest.raises(InvalidInputError, match="--trust-env-file"):
            resolve_provider(env=env, dotenv=file)
        trusted = resolve_provider(env=env, dotenv=file, trust_env_file=True)
        assert "your API key" in (trusted.notice() or "")
        return
    config = resolve_provider(env=env, dotenv=file)
    if notice is None:
        assert config.notice() is None
    else:
        assert notice in (config.notice() or "")


# Validate before mutating (the Python API) ---------------------------------------------------


def _nan() -> float:
    return float("nan")


def _apply(**settings: Any) -> Callable[[Any], Any]:
    return lambda canvas: canvas.apply_to_region("a", "x", **settings)


API_ROWS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("generate-steps-0", lambda c: c.generate(seed=1, steps=0), "steps"),
    ("generate-steps-negative", lambda c: c.generate(seed=1, steps=-1), "steps"),
    ("generate-guidance-nan", lambda c: c.generate(seed=1, guidance_scale=_nan()), "guidance"),
    ("generate-base-ratio-2", lambda c: c.generate(seed=1, base_ratio=2.0), "base_ratio"),
    ("generate-seed-negative", lambda c: c.generate(seed=-1), "seed"),
    ("apply-prompt-none", lambda c: c.apply_to_region("a", None), "prompt"),
    ("apply-weight-nan", _apply(weight=_nan()), "weight"),
    ("apply-weight-inf", _apply(weight=float("inf")), "weight"),
    ("apply-weight-negative", _apply(weight=-1), "weight"),
    ("apply-seed-negative", _apply(seed=-1), "seed"),
    ("apply-guidance-negative", _apply(guidance_scale=-3), "guidance"),
    ("apply-window-reversed", _apply(step_window=(0.8, 0.2)), "step_window"),
    ("apply-window-text", _apply(step_window="ab"), "step_window"),
    ("apply-unknown-region", lambda c: c.apply_to_region("zz", "x"), "no region 'zz'"),
    ("create-box-nan", lambda c: c.create_region(box=(0, 0, _nan(), 5)), "nan"),
    ("create-box-outside", lambda c: c.create_region(box=(0, 0, 500, 5)), "outside"),
    ("create-no-shape", lambda c: c.create_region(), "exactly one"),
    ("create-duplicate-name", lambda c: c.create_region(box=(0, 0, 9, 9), name="a"), "exists"),
    ("create-mask-3d", lambda c: c.create_region(mask=np.zeros((2, 2, 2))), "2-D"),
    ("set-steps-many", lambda c: setattr(c, "steps", "many"), "steps"),
    ("set-mode-unknown", lambda c: setattr(c, "mode", "sideways"), "mode"),
    ("set-guidance-99", lambda c: setattr(c, "guidance_scale", 99), "guidance"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "says"), API_ROWS, ids=[r[0] for r in API_ROWS])
def test_a_rejected_argument_leaves_the_canvas_as_it_was(name, call, says, sd_bundle) -> None:
    from pakati.canvas import PakatiCanvas

    canvas = PakatiCanvas(64, 64, sd_bundle, steps=2)
    canvas.create_region(box=(0, 0, 32, 32), name="a")
    canvas.apply_to_region("a", "a red circle")
    before = canvas.to_layout().model_dump_json()
    with pytest.raises(InvalidInputError) as caught:
        call(canvas)
    assert says.lower() in str(caught.value).lower()
    assert canvas.to_layout().model_dump_json() == before
    assert len(canvas.regions) == 1


def test_a_canvas_too_large_for_memory_is_refused_before_any_work(sd_bundle, monkeypatch) -> None:
    from pakati.canvas import PakatiCanvas
    from pakati_engine import resources
    from pakati_engine.errors import ResourceLimitError

    monkeypatch.setattr(resources, "available_bytes", lambda device: 2 * resources.GIB)
    canvas = PakatiCanvas(8192, 8192, sd_bundle, steps=2)
    before = canvas.to_layout().model_dump_json()
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError, match=r"8192x8192 canvas needs about .* GiB"):
        canvas.generate(seed=3)
    assert time.perf_counter() - start < 5  # refused, not attempted
    assert canvas.to_layout().model_dump_json() == before  # the seed was not stored
    small = PakatiCanvas(64, 64, sd_bundle, steps=1)
    assert resources.estimate_bytes(sd_bundle, 64, 64) < 2 * resources.GIB
    small.generate(seed=3)


# Model folders, recommendations, the tiny model's first build -------------------------------


def _copy_model(source: Path, target: Path, **index_changes: Any) -> Path:
    import shutil

    shutil.copytree(source, target)
    index = json.loads((target / "model_index.json").read_text())
    index.update(index_changes)
    (target / "model_index.json").write_text(json.dumps(index))
    return target


@pytest.mark.parametrize(
    "entry",
    [
        ["os", "system"],
        ["subprocess", "Popen"],
        ["diffusers", "DiffusionPipeline"],
        ["builtins", "eval"],
    ],
)
def test_a_model_folder_cannot_choose_what_is_imported(
    entry, tmp_path, sd_folder, monkeypatch
) -> None:
    from pakati_engine.models import loading

    imported: list[str] = []
    real_import = loading.importlib.import_module
    monkeypatch.setattr(
        loading.importlib, "import_module", lambda name: imported.append(name) or real_import(name)
    )
    folder = _copy_model(sd_folder, tmp_path / "evil", unet=entry)
    with pytest.raises(InvalidInputError, match="known model classes"):
        loading.load_model(folder, device="cpu")
    assert entry[0] not in imported or entry[0] == "diffusers"


def test_cli_refuses_a_model_folder_naming_another_class(tmp_path, sd_folder, capsys) -> None:
    folder = _copy_model(sd_folder, tmp_path / "evil", scheduler=["os", "system"])
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({"width": 64, "height": 64, "model": str(folder), "steps": 1}))
    assert main(["generate", str(layout), "--out", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "'os'.'system'" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("steps", "many"), ("steps", 0), ("guidance_scale", float("nan")), ("width", True)],
)
def test_bad_recommendations_in_pakati_json_name_the_file(key, value, tmp_path, sd_folder) -> None:
    from pakati.canvas import PakatiCanvas
    from pakati_engine.errors import ModelNotFoundError

    folder = _copy_model(sd_folder, tmp_path / "m")
    (folder / "pakati.json").write_text(json.dumps({key: value}))
    with pytest.raises(ModelNotFoundError, match=rf"pakati\.json.*{key}"):
        PakatiCanvas(64, 64, str(folder))


def test_two_processes_building_tiny_random_at_once_both_succeed(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "from pakati_engine.models.tiny_models import ensure_builtin_tiny_model\n"
        "print(ensure_builtin_tiny_model('tiny-random'))\n"
    )
    env = {**os.environ, "PAKATI_HOME": str(tmp_path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    folder = tmp_path / "models" / "tiny-random"
    assert (folder / "model_index.json").is_file()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny-random"]


# Projects and chat --------------------------------------------------------------------------


def test_a_project_whose_history_is_a_cycle_is_refused(tmp_path) -> None:
    from pakati.history import History, HistoryEntry

    history = History()
    for number, parent in ((1, None), (2, "e1"), (3, "e2")):
        entry = HistoryEntry(
            id=f"e{number}", action="generate", parent=parent, layout={}, locked=[]
        )
        history.add(entry)
    path = history.save(tmp_path / "p.pakati.json")
    document = json.loads(path.read_text())
    document["entries"][0]["parent"] = "e3"  # e1 -> e3 -> e2 -> e1
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError, match="not a tree"):
        History.load(path)
    document["entries"][0]["parent"] = "e9"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError, match="missing parent"):
        History.load(path)
    document["entries"] = [{"id": "e1", "what": 1}]
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError, match="malformed"):
        History.load(path)


def test_chat_removing_the_last_object_keeps_the_session(tmp_path, sd_bundle, capsys) -> None:
    import argparse
    import io

    from pakati.cli.agent import add_chat_arguments, run_chat

    parser = argparse.ArgumentParser()
    add_chat_arguments(parser)
    args = parser.parse_args(["--size", "64x64", "--steps", "2", "--out-dir", str(tmp_path)])
    args.provider = "offline"
    lines = io.StringIO("a red circle on the left\nremove the circle\nadd a blue square\n")
    scorer = ScriptedScorer({}, default=0.3)
    status = run_chat(args, stdin=lines, model=sd_bundle, scorer=scorer, critic_fn=cosine_critic)
    out = capsys.readouterr().out
    assert "Traceback" not in out and "IndexError" not in out
    assert status == 0 and out.count("> ") == 3


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the point
def test_reading_metadata_decodes_no_pixels(tmp_path, monkeypatch) -> None:
    from PIL import PngImagePlugin

    from pakati_engine.metadata import read_png_metadata

    info = PngImagePlugin.PngInfo()
    info.add_itxt("pakati", json.dumps({"layout": {"width": 12000}}), zip=True)
    Image.new("1", (12000, 12000)).save(tmp_path / "big.png", pnginfo=info)  # 144 Mpx

    def no_decoding(self: Any) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    assert read_png_metadata(tmp_path / "big.png")["layout"] == {"width": 12000}


# The boundary itself -------------------------------------------------------------------------


def _crashing_schema(monkeypatch) -> None:
    from pakati.cli import generate

    def crash(args: Any) -> int:
        raise TypeError("an unexpected crash")

    monkeypatch.setattr(generate, "schema", crash)


def test_an_unknown_exception_is_reported_as_a_bug_with_its_log(monkeypatch, capsys) -> None:
    _crashing_schema(monkeypatch)
    assert main(["schema"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "This is a bug in Pakati" in err
    log = Path(err.split("the traceback is in ")[1].split(". Please")[0])
    assert "TypeError: an unexpected crash" in log.read_text()


@pytest.mark.parametrize("argv", [["--debug", "schema"], ["schema", "--debug"]])
def test_debug_shows_the_traceback_before_or_after_the_command(argv, monkeypatch, capsys) -> None:
    _crashing_schema(monkeypatch)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "an unexpected crash" in err


def test_debug_shows_the_traceback_of_known_errors_too(tmp_path, capsys) -> None:
    argv = ["generate", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o.png")]
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--debug", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "does not exist" in err


# Full disks, command by command: a real small file system ----------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A real 1 MiB file system (tmpfs) filled to the last byte by ``filler``; delete the
    filler to free it. Skipped where no file system can be mounted (not root); the fsync
    tests above inject the same ENOSPC everywhere."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")
    try:
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        yield mount, filler
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _half_pairs(folder: Path) -> list[str]:
    """PNGs without their sidecar (or the reverse), and temporary files left behind."""
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    lone = [n for n in names if n.endswith(".png") and n[:-4] + ".json" not in names]
    temps = [n for n in names if n.endswith((".tmp", ".bak", ".lock", ".part"))]
    return sorted(lone + temps)


def test_chat_on_a_full_disk_says_so_and_keeps_the_session(full_disk, sd_bundle, capsys) -> None:
    import argparse

    from pakati.cli.agent import add_chat_arguments, run_chat

    mount, filler = full_disk
    out_dir = mount / "chat"
    parser = argparse.ArgumentParser()
    add_chat_arguments(parser)
    args = parser.parse_args(["--size", "64x64", "--steps", "2", "--out-dir", str(out_dir)])
    args.provider = "offline"

    def lines() -> Iterator[str]:
        yield "a red circle on the left"  # the disk is full: this turn fails
        assert _half_pairs(out_dir) == []
        filler.unlink()  # the user frees some space
        yield "a red circle on the left"

    scorer = ScriptedScorer({}, default=0.3)
    status = run_chat(args, stdin=lines(), model=sd_bundle, scorer=scorer, critic_fn=cosine_critic)
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("> ") == 2
    assert out.count("disk is full") == 1 and "previous image is kept" in out
    assert status == 1  # one turn failed
    assert _half_pairs(out_dir) == []
    assert any(p.suffix == ".png" for p in out_dir.rglob("*"))  # the second turn drew


def test_eval_save_on_a_full_disk_is_a_clear_error_with_no_half_pairs(full_disk, capsys) -> None:
    mount, _filler = full_disk
    folder = mount / "eval-run"
    argv = ["eval", "regional", "--n", "1", "--steps", "2", "--save", str(folder)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and "Traceback" not in err and "bug" not in err.lower()
    assert _half_pairs(folder) == []
    assert not any(folder.rglob("*.png"))


def test_save_project_on_a_full_disk_leaves_the_old_project_whole(full_disk, sd_bundle) -> None:
    from pakati.canvas import PakatiCanvas
    from pakati.history import History

    mount, filler = full_disk
    filler.unlink()
    canvas = PakatiCanvas(64, 64, sd_bundle, steps=2)
    canvas.generate(seed=1)
    project = canvas.save_project(mount / "work.json")
    before = snapshot(mount)
    canvas.generate(seed=2)  # a new image the next save must write
    # The disk fills up again.
    with (mount / "filler").open("wb", buffering=0) as handle, pytest.raises(OSError):
        while True:
            handle.write(b"\0" * 4096)
    after_fill = snapshot(mount)
    with pytest.raises(OSError) as caught:
        canvas.save_project(project)
    assert caught.value.errno == errno.ENOSPC
    assert snapshot(mount) == after_fill  # no new image, no temporary file, old JSON kept
    assert {k: v for k, v in snapshot(mount).items() if k != "filler"} == before
    assert len(History.load(project).entries) == 1  # the old project still opens
    with pytest.raises(OSError):
        canvas.save_project(mount / "new.json")
    assert not (mount / "new.json").exists() and not (mount / "new.images").exists()


# A read-only checkpoint (root ignores permissions: SQLite's read-only mode stands in) ---------


@pytest.fixture
def read_only_sqlite(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``make(path)``: from now on SQLite opens ``path`` read-only, as it would a file the
    user may not write or one on a read-only mount."""
    import sqlite3

    real = sqlite3.connect
    frozen: set[str] = set()

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        name = str(database)
        if name.startswith("file:"):
            name = name[5:].split("?")[0]
        if name in frozen:
            kwargs.pop("uri", None)
            return real(f"file:{name}?mode=ro", *args, uri=True, **kwargs)
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    return lambda path: frozen.add(str(path.resolve()))


def test_a_read_only_checkpoint_is_refused_before_any_work(
    tmp_path, sd_folder, read_only_sqlite, capsys
) -> None:
    import sqlite3

    checkpoint = tmp_path / "ck.sqlite"
    connection = sqlite3.connect(checkpoint)
    connection.execute("create table kept (x)")
    connection.commit()
    connection.close()
    read_only_sqlite(checkpoint)
    before = snapshot(tmp_path)
    argv = [*_agent_argv(tmp_path, sd_folder), "--thread", "t1", "--checkpoint", str(checkpoint)]
    assert main([*argv, "--provider", "offline"]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "--checkpoint" in err and "Traceback" not in err
    assert "loading model" not in err  # refused before any work
    assert snapshot(tmp_path) == before


def test_orchestrator_refuses_a_read_only_checkpoint(tmp_path, sd_bundle, read_only_sqlite) -> None:
    import sqlite3

    from pakati.orchestrator import Context, PakatiOrchestrator

    checkpoint = tmp_path / "c.sqlite"
    sqlite3.connect(checkpoint).close()
    checkpoint.write_bytes(b"")  # an empty file is a database SQLite may start
    read_only_sqlite(checkpoint)
    context = Context(primary_goal=GOAL, width=64, height=64, max_passes=1, workdir=str(tmp_path))
    orchestrator = PakatiOrchestrator(
        context, model=sd_bundle, scorer=ScriptedScorer({GOAL: [0.5]}), steps=2,
        critic_fn=cosine_critic,
    )  # fmt: skip
    with pytest.raises(InvalidInputError, match="read-only"):
        orchestrator.run(GOAL, thread_id="t", checkpoint=checkpoint)
    assert checkpoint.read_bytes() == b""


# Two Python writers of one output ----------------------------------------------------------


def test_two_python_writers_with_overwrite_never_mix_their_pairs(tmp_path, monkeypatch) -> None:
    """Each writer renames its PNG, then (after a slow disk's pause) its sidecar: without a
    lock the second writer's PNG lands between the first's two renames."""
    out = tmp_path / "out.png"
    real_replace = os.replace
    both_writing = threading.Barrier(2, timeout=5)

    def slow_replace(source: Any, target: Any) -> None:
        real_replace(source, target)
        if str(target).endswith(".png") and not str(source).endswith(".bak"):
            time.sleep(0.3)

    monkeypatch.setattr(outputs.os, "replace", slow_replace)
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            both_writing.wait()
            metadata = {"layout": {"writer": seed}}
            save_png_with_metadata(_picture(seed), out, metadata, overwrite=True)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    png = json.loads(Image.open(out).info["pakati"])["layout"]["writer"]
    sidecar = json.loads(out.with_suffix(".json").read_text())["layout"]["writer"]
    assert png == sidecar  # one writer's pair, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.png"]


def test_a_writer_waits_for_another_then_refuses_without_overwrite(tmp_path) -> None:
    out = tmp_path / "out.png"
    with output_lock(out):
        done = threading.Event()
        failure: list[BaseException] = []

        def write() -> None:
            try:
                save_png_with_metadata(_picture(1), out, {"layout": {}})
            except BaseException as error:
                failure.append(error)
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert not done.wait(0.5)  # waiting for the lock, not racing
        save_png_with_metadata(_picture(0), out, {"layout": {"first": True}})  # reentrant
    thread.join(10)
    assert failure and isinstance(failure[0], OutputExistsError)  # it exists now
    assert json.loads(out.with_suffix(".json").read_text())["layout"] == {"first": True}


# The memory estimate against measured peaks -------------------------------------------------


def test_the_memory_estimate_is_near_the_measured_peak() -> None:
    """benchmarks/memory_estimate.py measures the peak a 256x256 generation of the embedded
    model adds (Linux's VmHWM, reset before it) in a fresh process; the estimate the size
    check uses must be within a factor of 2 of it: not far under (it would let a canvas
    through that cannot fit; before its factors were measured it was 0.12 of the peak) nor
    far over (it would refuse one that fits). The measured peak moves with the allocator
    from run to run: clean-clone CI runs gave 0.73 and about 1.2 here, so the bounds are
    wide; the benchmark prints the figures."""
    import subprocess
    import sys

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak")
    script = Path(__file__).parents[1] / "benchmarks" / "memory_estimate.py"
    done = subprocess.run(
        [sys.executable, str(script), "--sizes", "256", "--steps", "1"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    row = json.loads(done.stdout)["rows"][0]
    assert 0.5 <= row["estimate_over_measured"] <= 2.0, row


# A run killed anywhere resumes, and says so ----------------------------------------------------


class Killed(BaseException):
    """The process died here (nothing in Pakati or LangGraph catches a BaseException)."""


def _orchestrator(tmp_path: Path, sd_bundle: Any) -> Any:
    from pakati.orchestrator import Context, PakatiOrchestrator

    context = Context(
        primary_goal=GOAL, width=64, height=64, max_passes=3, target=0.99, workdir=str(tmp_path)
    )
    return PakatiOrchestrator(
        context, model=sd_bundle, scorer=PixelScorer(), steps=2, critic_fn=cosine_critic
    )


class PixelScorer:
    """Cosines that depend on the image only (its mean pixel), as a real scorer's do, so a
    resumed run scores exactly as an uninterrupted one (a scripted scorer counts calls)."""

    def similarity(self, images: Any, texts: Any) -> np.ndarray:
        out = np.full((len(images), len(texts)), -0.5, dtype=np.float32)
        for row, image in enumerate(images):
            out[row, 0] = 0.2 + float(np.asarray(image, dtype=np.float32).mean()) / 2550
        return out


def _dying_checkpointer(step: int) -> Callable[..., Any]:
    """``open_checkpointer`` whose saver dies when asked to write the checkpoint of
    ``step``: the tasks of the step before have saved their writes, the checkpoint that
    follows them never comes (a kill between the two)."""
    from pakati.graphs import graph as graph_module

    @contextmanager
    def open_dying(path: Any) -> Iterator[Any]:
        with graph_module.open_checkpointer(path) as saver:
            real_put = saver.put

            def put(config: Any, checkpoint: Any, metadata: Any, versions: Any) -> Any:
                if metadata.get("source") == "loop" and metadata.get("step") == step:
                    raise Killed(f"killed before the checkpoint of step {step}")
                return real_put(config, checkpoint, metadata, versions)

            saver.put = put
            yield saver

    return open_dying


def test_a_run_killed_between_a_steps_writes_and_its_checkpoint_resumes(
    tmp_path, sd_bundle, monkeypatch
) -> None:
    """Issue 20: "after some kills the resume path says 'already finished' while it is
    actually resuming". It was a kill after a node's writes were saved and before the next
    checkpoint: get_state applied the writes and reported no next node."""
    from pakati import orchestrator as orchestrator_module

    reference = _orchestrator(tmp_path / "ref", sd_bundle).run(
        GOAL, thread_id="t", checkpoint=tmp_path / "ref.sqlite"
    )
    steps = len(reference["critiques"]) * 3 + 1  # planner, then executor/critic/refiner
    assert reference["stop_reason"] and steps >= 4
    ran: list[str] = []

    def note(node: str, update: Any) -> None:
        ran.append(node)

    for step in range(1, steps):
        checkpoint = tmp_path / f"killed-{step}.sqlite"
        with monkeypatch.context() as patch:
            patch.setattr(orchestrator_module, "open_checkpointer", _dying_checkpointer(step))
            with pytest.raises(Killed):
                _orchestrator(tmp_path / f"run-{step}", sd_bundle).run(
                    GOAL, thread_id="t", checkpoint=checkpoint
                )
        resumed = _orchestrator(tmp_path / f"run-{step}", sd_bundle)
        status = resumed.thread_status("t", checkpoint, GOAL)
        assert status == "unfinished", step
        ran.clear()
        final = resumed.run(GOAL, thread_id="t", checkpoint=checkpoint, on_update=note)
        assert ran, step  # it did resume: the rest of the run (or its last writes) came
        # The same passes and verdicts. Not bit-identical pixels: a process that died between
        # passes re-encodes the last image from its PNG instead of keeping its latents.
        assert final["scores"] == pytest.approx(reference["scores"], abs=1e-3), step
        assert len(final["images"]) == len(reference["images"])
        assert final["stop_reason"] == reference["stop_reason"]
        assert resumed.thread_status("t", checkpoint, GOAL) == "finished"


def test_an_empty_goal_or_instruction_is_refused_not_planned() -> None:
    """Issue 20: an empty goal was planned from the prompt's own words ("a goal: canvas:
    128x128"; later "a model", "a pakati shape" from the list of image models)."""
    from pakati.orchestrator import Context, PakatiOrchestrator

    orchestrator = PakatiOrchestrator(Context(primary_goal="", provider="offline"))
    for goal in ("", "   ", "\n\t"):
        with pytest.raises(InvalidInputError, match="goal is empty"):
            orchestrator.create_plan(goal)
        with pytest.raises(InvalidInputError, match="goal is empty"):
            orchestrator.run(goal)
    assert orchestrator.plans == {}
    plan = orchestrator.create_plan("a red circle on the left")
    with pytest.raises(InvalidInputError, match="instruction is empty"):
        orchestrator.edit_plan(plan.id, "  ")
    assert list(orchestrator.plans) == [plan.id]


# Read-only output folders: a real read-only file system ----------------------------------------


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A real read-only file system (a tmpfs remounted ``ro``) holding the user's ``chat/``
    folder and ``old.json`` project. Skipped where nothing can be mounted (not root)."""
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a file system here: {done.stderr.strip()}")
    try:
        (mount / "chat").mkdir()
        (mount / "old.json").write_text('{"the user": "project"}')
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_chat_into_a_read_only_folder_says_so_and_keeps_the_session(
    read_only_disk, sd_bundle, capsys
) -> None:
    import argparse
    import io

    from pakati.cli.agent import add_chat_arguments, run_chat

    before = snapshot(read_only_disk)
    parser = argparse.ArgumentParser()
    add_chat_arguments(parser)
    out_dir = read_only_disk / "chat"
    args = parser.parse_args(["--size", "64x64", "--steps", "2", "--out-dir", str(out_dir)])
    args.provider = "offline"
    lines = io.StringIO("a red circle on the left\nmake the circle blue\n")
    scorer = ScriptedScorer({}, default=0.3)
    status = run_chat(args, stdin=lines, model=sd_bundle, scorer=scorer, critic_fn=cosine_critic)
    out = capsys.readouterr().out
    assert status == 1 and out.count("> ") == 2 and "Traceback" not in out
    assert out.count("read-only") == 2
    assert snapshot(read_only_disk) == before


def test_eval_save_into_a_read_only_folder_fails_before_any_work(read_only_disk, capsys) -> None:
    start = time.perf_counter()
    assert main(["eval", "regional", "--n", "3", "--save", str(read_only_disk / "run")]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err
    assert time.perf_counter() - start < 20  # no image was drawn first
    assert not (read_only_disk / "run").exists()


def test_save_project_into_a_read_only_folder_changes_nothing(read_only_disk, sd_bundle) -> None:
    from pakati.canvas import PakatiCanvas

    canvas = PakatiCanvas(64, 64, sd_bundle, steps=2)
    canvas.generate(seed=1)
    before = snapshot(read_only_disk)
    for name in ("old.json", "new.json"):
        with pytest.raises(OSError) as caught:
            canvas.save_project(read_only_disk / name)
        assert caught.value.errno == errno.EROFS
    assert snapshot(read_only_disk) == before


def test_agent_and_generate_on_a_full_disk_are_clear_errors(
    full_disk, sd_folder, monkeypatch, capsys
) -> None:
    mount, _filler = full_disk
    layout = {"width": 64, "height": 64, "model": str(sd_folder), "steps": 2, "seed": 1}
    layout_file = mount.parent / "layout.json"  # the input lives elsewhere
    layout_file.write_text(json.dumps(layout))
    monkeypatch.chdir(mount.parent)
    commands = [
        ["generate", str(layout_file), "--out", str(mount / "g.png"), "--no-progress"],
        [*_agent_argv(mount, sd_folder), "--provider", "offline", "--steps", "2"],
    ]
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "disk is full" in err and "Traceback" not in err and "bug" not in err.lower()
        assert _half_pairs(mount) == []
        assert sorted(p.name for p in mount.iterdir() if not p.name.startswith(".")) == ["filler"]
