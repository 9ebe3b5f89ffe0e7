"""The package layout: every package folder is installed, in the right namespace."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    expected = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if ".venv" in init.parts:
                continue
            relative = init.parent.relative_to(ROOT / folder).parts
            expected.add(".".join((package, *relative)))
    assert expected <= listed, f"add to pyproject's packages: {sorted(expected - listed)}"


def test_generic_folders_import_inside_the_pakati_namespace() -> None:
    for name in ("pakati.agents", "pakati.tools", "pakati.graphs", "pakati.evals"):
        module = importlib.import_module(name)
        assert Path(module.__file__).parent.name == name.split(".")[1]


def test_engine_imports_without_any_llm_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pakati_engine.diffusion.pipeline, pakati_engine.models.loading;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core','langgraph','langchain_openai','langchain_anthropic','openai',"
        "'anthropic')]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
