"""`pakati --help` starts at once: building the parser imports no torch, diffusers or
LangChain. Checked in fresh interpreters with ``-X importtime``, which lists every module a
process imports (on stderr), so nothing in this test process can mask an import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pakati
from pakati.cli.evaluate import REGIONAL_MODES

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "open_clip", "langchain_core", "langgraph")
PAKATI_SCRIPT = Path(sys.executable).with_name("pakati")


def run_python(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime *args`` in a fresh process; its result and imported modules."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    process = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in process.stderr.splitlines()
        if line.startswith("import time:")
    }
    return process, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_cli_and_building_its_parser_imports_nothing_heavy() -> None:
    code = (
        "import sys, pakati.cli\n"
        "pakati.cli.build_parser()\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    process, modules = run_python("-c", code)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "pakati.cli" in modules
    assert heavy(modules) == []


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["-m", "pakati", "--help"], "usage: pakati "),
        (["-m", "pakati", "agent", "--help"], "usage: pakati agent "),
        (["-m", "pakati", "chat", "--help"], "usage: pakati chat "),
        (["-m", "pakati", "eval", "regional", "--help"], "usage: pakati eval regional "),
        (["-m", "pakati", "generate", "--help"], "usage: pakati generate "),
        (["-m", "pakati", "template", "--help"], "usage: pakati template "),
        ([str(PAKATI_SCRIPT), "--help"], "usage: pakati "),
        ([str(PAKATI_SCRIPT), "agent", "--help"], "usage: pakati agent "),
        ([str(PAKATI_SCRIPT), "eval", "regional", "--help"], "usage: pakati eval regional "),
    ],
)
def test_help_prints_usage_without_importing_torch(command: list[str], usage: str) -> None:
    if command[0] == str(PAKATI_SCRIPT) and not PAKATI_SCRIPT.exists():
        pytest.skip("the pakati console script is not installed beside this interpreter")
    process, modules = run_python(*command)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.startswith(usage)
    assert "pakati.cli" in modules
    assert heavy(modules) == []


def test_python_m_regional_eval_builds_its_parser_from_the_cli() -> None:
    process, _ = run_python("-m", "pakati.evals.regional_eval", "--help")
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.startswith("usage: python -m pakati.evals.regional_eval")
    assert "--mode {attention,latent}" in process.stdout


def test_the_cli_offers_the_modes_the_regional_eval_runs() -> None:
    from pakati.evals.regional_eval import MODES

    assert tuple(REGIONAL_MODES) == tuple(MODES)


def test_importing_pakati_is_cheap_and_still_exports_every_name() -> None:
    process, modules = run_python("-c", "import pakati; print(pakati.__version__)")
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip() == pakati.__version__
    assert heavy(modules) == []
    for name in pakati.__all__:
        assert getattr(pakati, name) is not None, name
    from pakati.canvas import PakatiCanvas
    from pakati.orchestrator import PakatiOrchestrator

    assert pakati.PakatiCanvas is PakatiCanvas
    assert pakati.PakatiOrchestrator is PakatiOrchestrator
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pakati.nothing  # noqa: B018


def test_cli_modules_import_no_private_names_of_one_another() -> None:
    for path in sorted((ROOT / "pakati" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pakati"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"
