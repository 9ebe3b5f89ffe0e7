"""The environment names people already use, .env through python-dotenv, current default
chat models, and the Hugging Face cache found through huggingface_hub's own API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from pakati.agents.providers import DEFAULT_MODELS, resolve_provider
from pakati_engine.env_file import apply_plain_settings, read_env_file
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.catalog import cached_snapshots
from pakati_engine.providers.keys import provider_access


def test_the_usual_key_names_choose_the_provider_and_a_current_model() -> None:
    openai = resolve_provider(env={"OPENAI_API_KEY": "sk-usual"}, dotenv=None)
    assert (openai.provider, openai.model) == ("openai", DEFAULT_MODELS["openai"])
    assert openai.api_key is not None and openai.api_key.get_secret_value() == "sk-usual"
    claude = resolve_provider(env={"ANTHROPIC_API_KEY": "sk-ant-usual"}, dotenv=None)
    assert (claude.provider, claude.model) == ("anthropic", DEFAULT_MODELS["anthropic"])
    # Pakati's own name wins over the usual one; PAKATI_LLM_MODEL overrides the default.
    both = resolve_provider(
        env={
            "OPENAI_API_KEY": "sk-usual",
            "PAKATI_API_KEY_OPENAI": "sk-pakati",
            "PAKATI_LLM_MODEL": "my-model",
        },
        dotenv=None,
    )
    assert both.api_key is not None and both.api_key.get_secret_value() == "sk-pakati"
    assert both.model == "my-model"
    for config in (openai, claude, both):
        assert "sk-" not in config.describe() and "sk-" not in repr(config)
    with pytest.raises(InvalidInputError, match="ANTHROPIC_API_KEY"):
        resolve_provider("anthropic", env={}, dotenv=None)


def test_default_models_are_in_the_pinned_clients_current_lists() -> None:
    from anthropic._data import DEPRECATED_MODELS
    from anthropic.types.model_param import ModelParam
    from openai.types.shared.chat_model import ChatModel

    anthropic_names = typing.get_args(typing.get_args(ModelParam)[0])
    assert DEFAULT_MODELS["anthropic"] in anthropic_names
    assert DEFAULT_MODELS["anthropic"] not in DEPRECATED_MODELS
    assert "claude-3-5-sonnet-latest" not in anthropic_names  # the retired default
    assert DEFAULT_MODELS["openai"] in typing.get_args(ChatModel)


def test_dotenv_grammar_comes_from_python_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# keys\n"
        "export PAKATI_API_KEY_OPENAI=sk-abc  # my key\n"
        'PAKATI_LLM_MODEL="model with # hash"\n'
        "EMPTY=\n"
        "PAKATI_HOME=${BASE_DIR}/pakati\n"
        "BASE_DIR=/srv\n",
        encoding="utf-8",
    )
    values = read_env_file(env_file)
    # A hand parser kept "sk-abc  # my key" and cut the quoted value at nothing.
    assert values["PAKATI_API_KEY_OPENAI"] == "sk-abc"
    assert values["PAKATI_LLM_MODEL"] == "model with # hash"
    assert "EMPTY" not in values
    assert read_env_file(tmp_path / "missing.env") == {} and read_env_file(None) == {}
    config = resolve_provider(env={}, dotenv=env_file)
    assert (config.provider, config.model) == ("openai", "model with # hash")


def test_a_dotenv_base_url_still_needs_trust_with_the_usual_key_names(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="--trust-env-file") as caught:
        provider_access("openai", {"OPENAI_API_KEY": "sk-secret-1"}, env_file)
    assert "sk-secret-1" not in str(caught.value)
    trusted = provider_access(
        "openai", {"OPENAI_API_KEY": "sk-secret-1"}, env_file, trust_env_file=True
    )
    assert trusted.base_url == "http://127.0.0.1:9/v1" and trusted.key_name == "OPENAI_API_KEY"
    # The agent's LLM: a .env base URL with the usual key name from the environment.
    env_file.write_text("PAKATI_OPENAI_BASE_URL=http://127.0.0.1:9/v1\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="OPENAI_API_KEY"):
        resolve_provider(env={"OPENAI_API_KEY": "sk-secret-2"}, dotenv=env_file)


def test_the_older_hugging_face_token_name_is_read() -> None:
    access = provider_access("huggingface", {"HUGGING_FACE_HUB_TOKEN": "hf_old"}, None)
    assert access.key_name == "HUGGING_FACE_HUB_TOKEN"
    assert access.key is not None and access.key.get_secret_value() == "hf_old"
    newer = provider_access(
        "huggingface", {"HUGGING_FACE_HUB_TOKEN": "hf_old", "HF_TOKEN": "hf_new"}, None
    )
    assert newer.key_name == "HF_TOKEN"


def test_plain_settings_from_dotenv_apply_but_keys_and_urls_do_not(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "HF_HUB_CACHE=/models/hub\nPAKATI_HOME=/from/file\n"
        "OPENAI_API_KEY=sk-file\nOPENAI_BASE_URL=http://127.0.0.1:9\n",
        encoding="utf-8",
    )
    environ = {"PAKATI_HOME": "/from/env"}
    assert apply_plain_settings(env_file, environ) == ["HF_HUB_CACHE"]
    assert environ == {"PAKATI_HOME": "/from/env", "HF_HUB_CACHE": "/models/hub"}


def _cache_with(sd_folder: Path, cache: Path, repo: str, revision: str, main: bool) -> Path:
    """A hub cache as `hf download` leaves it (snapshots/<revision>, refs/main)."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / revision
    shutil.copytree(sd_folder, snapshot)
    (folder / "blobs").mkdir(exist_ok=True)
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(revision)
    return snapshot


def test_hub_cache_is_read_through_huggingface_hub(sd_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    pinned = _cache_with(sd_folder, cache, "someone/pinned", "a" * 40, main=False)
    assert list(cached_snapshots("someone/pinned", cache)) == [pinned]  # no refs/main
    old = _cache_with(sd_folder, cache, "someone/model", "b" * 40, main=False)
    current = _cache_with(sd_folder, cache, "someone/model", "c" * 40, main=True)
    assert list(cached_snapshots("someone/model", cache)) == [current, old]
    assert list(cached_snapshots("someone/absent", cache)) == []
    assert list(cached_snapshots("someone/model", tmp_path / "no-cache")) == []


def test_hf_hub_cache_in_dotenv_finds_a_cached_model_from_the_cli(
    sd_folder: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "hub"
    _cache_with(sd_folder, cache, "someone/tiny-sd", "d" * 40, main=True)
    layout = tmp_path / "layout.json"
    layout.write_text(
        json.dumps(
            {
                "width": 64,
                "height": 64,
                "steps": 1,
                "regions": [{"name": "a", "box": [0, 0, 32, 64], "prompt": "red"}],
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HF_HOME")}
    env["HF_HOME"] = str(tmp_path / "elsewhere")  # .env must not override the environment
    command = [
        sys.executable,
        "-m",
        "pakati",
        "generate",
        str(layout),
        "--model",
        "someone/tiny-sd",
        "--out",
        "out.png",
        "--no-progress",
        "--json",
    ]
    missing = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "hf download someone/tiny-sd" in missing.stdout
    (tmp_path / ".env").write_text(f"HF_HUB_CACHE={cache}\n", encoding="utf-8")
    found = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert (tmp_path / "out.png").is_file()


def test_env_example_lists_only_names_pakati_reads() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "env.example").read_text(encoding="utf-8")
    assert read_env_file(root / "env.example") == {}  # copying it sets nothing by accident
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]{3,})\b", text)) - {"JSON", "LLM", "URL"}
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("pakati", "pakati_engine", "agents")
        for p in (root / folder).rglob("*.py")
    )
    unread = sorted(n for n in names if f'"{n}"' not in source)
    assert unread == [], f"env.example names what no code reads: {unread}"
