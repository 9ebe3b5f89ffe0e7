"""The layer contract: every import in the project points down the layers.

    application (pakati CLI / orchestrator / server / package __init__, benchmarks/)
      -> pakati.graphs -> pakati.agents -> pakati.tools
      -> canvas API (pakati.canvas, pakati.editing, pakati.history, ... every other pakati.*)
      -> pakati_engine

``pakati.evals`` sits beside the application: it may import anything, and only the
application may import it. ``pakati_engine`` imports no ``pakati`` module and no LLM package.
Importing the ``pakati`` package itself (``import pakati``, ``from pakati import X``) counts
as importing the application layer. The check reads every module's AST, so imports inside
functions, under ``if TYPE_CHECKING:`` and ``importlib.import_module("literal")`` count too.
There is no exceptions list: a violation is fixed where it is, not recorded here.
See docs/architecture.md.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Folders whose modules are checked. Their module names come from pyproject's
#: ``[tool.setuptools.package-dir]``; ``benchmarks/`` holds scripts, named ``benchmarks.*``.
CHECKED_FOLDERS = ("pakati", "pakati_engine", "agents", "tools", "graphs", "evals", "benchmarks")

APPLICATION, EVALS, GRAPHS, AGENTS, TOOLS, CANVAS, ENGINE = (
    "application",
    "evals",
    "graphs",
    "agents",
    "tools",
    "canvas API",
    "engine",
)
#: Height of each layer (evals has none: its own rule below). A layer may import its own
#: height or lower.
RANK = {APPLICATION: 5, GRAPHS: 4, AGENTS: 3, TOOLS: 2, CANVAS: 1, ENGINE: 0}
ORDER = "application -> graphs -> agents -> tools -> canvas API -> engine"

#: ``pakati.*`` modules of the application layer (besides the package itself), each with
#: its submodules; ``pakati.cli_*`` and ``pakati.server_*`` modules count too.
APPLICATION_MODULES = ("pakati.cli", "pakati.orchestrator", "pakati.server", "pakati.__main__")
LLM_PACKAGES = ("langchain", "langgraph", "openai", "anthropic")


def package_dirs() -> dict[str, str]:
    """Folder -> module name, as pyproject maps them (plus ``benchmarks``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    folders = {folder: module for module, folder in mapping.items()}
    folders["benchmarks"] = "benchmarks"
    return folders


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    """The layer of a first-party module name; None for anything else (third party)."""
    if _within(module, "pakati_engine"):
        return ENGINE
    if _within(module, "benchmarks") or module == "pakati":
        return APPLICATION
    if not module.startswith("pakati."):
        return None
    if any(_within(module, name) for name in APPLICATION_MODULES) or module.startswith(
        ("pakati.cli_", "pakati.server_")
    ):
        return APPLICATION
    for layer, package in (
        (EVALS, "pakati.evals"),
        (GRAPHS, "pakati.graphs"),
        (AGENTS, "pakati.agents"),
        (TOOLS, "pakati.tools"),
    ):
        if _within(module, package):
            return layer
    return CANVAS


def is_llm_package(module: str) -> bool:
    """``langchain*``, ``langgraph*``, ``openai``, ``anthropic``."""
    top = module.split(".")[0]
    return top.startswith(LLM_PACKAGES[:2]) or top in LLM_PACKAGES[2:]


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.importer} imports {self.imported}: {self.reason}"


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in ``tree``.

    ``from pakati import X`` gives ``pakati`` (the package itself); ``from .x import y``
    is resolved against ``module``; ``from . import x`` gives the submodule ``x`` (but
    ``pakati`` itself when the dots lead to the top package).
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                if node.module != "__future__":
                    yield node.lineno, node.module
                continue
            parts = package.split(".")
            if node.level - 1 >= len(parts):
                raise ValueError(f"{module}:{node.lineno}: relative import beyond the top")
            base = ".".join(parts[: len(parts) - (node.level - 1)])
            if node.module:
                yield node.lineno, f"{base}.{node.module}"
            elif base == "pakati":  # like ``from pakati import X``: the package itself
                yield node.lineno, base
            else:
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and _is_import_call(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                if first.value.startswith("."):
                    continue  # relative to a package given at run time: not followed
                yield node.lineno, first.value


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("import_module", "__import__")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def check_import(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    source, target = layer_of(importer), layer_of(imported)
    assert source is not None, importer
    if source == ENGINE and is_llm_package(imported):
        return "the engine must run with no LLM package imported"
    if target is None or source == EVALS:
        return None
    if target == EVALS:
        if source == APPLICATION:
            return None
        return f"{source} layer imports the evals (only the application may)"
    if RANK[target] > RANK[source]:
        return f"{source} layer imports the {target} layer, which is above it ({ORDER})"
    return None


def check_source(source: str, module: str, is_package: bool, path: str) -> list[Violation]:
    tree = ast.parse(source, filename=path)
    found = []
    for line, imported in sorted(imported_modules(tree, module, is_package)):
        reason = check_import(module, imported)
        if reason is not None:
            found.append(Violation(path, line, module, imported, reason))
    return found


def project_modules() -> Iterator[tuple[Path, str, bool]]:
    """(file, module name, is a package __init__) of every checked module."""
    folders = package_dirs()
    for folder in CHECKED_FOLDERS:
        prefix = folders[folder]
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder)
            if "__pycache__" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            yield path, ".".join([prefix, *parts]), is_package


def test_every_checked_folder_is_mapped_and_has_modules() -> None:
    folders = package_dirs()
    assert set(CHECKED_FOLDERS) <= set(folders), "a checked folder is missing from pyproject"
    seen = {path.relative_to(ROOT).parts[0] for path, _, _ in project_modules()}
    assert seen == set(CHECKED_FOLDERS)


def test_imports_point_down_the_layers() -> None:
    violations: list[Violation] = []
    for path, module, is_package in project_modules():
        relative = str(path.relative_to(ROOT))
        violations += check_source(path.read_text(encoding="utf-8"), module, is_package, relative)
    message = "\n".join(f"  {v}" for v in violations)
    assert not violations, f"{len(violations)} import(s) break the layer contract:\n{message}"


# The checker itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("pakati", APPLICATION),
        ("pakati.__main__", APPLICATION),
        ("pakati.cli", APPLICATION),
        ("pakati.cli.generate", APPLICATION),
        ("pakati.cli_agent", APPLICATION),
        ("pakati.orchestrator", APPLICATION),
        ("pakati.server.app", APPLICATION),
        ("benchmarks.regional_cost", APPLICATION),
        ("pakati.evals.regional_eval", EVALS),
        ("pakati.graphs.agent", GRAPHS),
        ("pakati.agents.critic", AGENTS),
        ("pakati.tools.session", TOOLS),
        ("pakati.canvas", CANVAS),
        ("pakati.results", CANVAS),
        ("pakati.clip", CANVAS),  # a name that merely starts like "pakati.cli"
        ("pakati_engine.generation", ENGINE),
        ("numpy", None),
    ],
)
def test_layer_of(module: str, layer: str | None) -> None:
    assert layer_of(module) == layer


def test_an_upward_import_inside_a_function_is_found() -> None:
    source = (
        "from __future__ import annotations\n"
        "from pakati_engine.layout import Layout\n"
        "\n"
        "def plan() -> None:\n"
        "    from pakati.graphs.agent import build_graph\n"
    )
    found = check_source(source, "pakati.tools.synthetic", False, "tools/synthetic.py")
    assert [(v.line, v.imported) for v in found] == [(5, "pakati.graphs.agent")]
    assert str(found[0]).startswith("tools/synthetic.py:5: pakati.tools.synthetic imports ")
    assert "tools layer imports the graphs layer" in str(found[0])


def test_type_checking_relative_and_dynamic_imports_are_found() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n"
        "    from ..agents.schemas import Plan\n"
        "from . import session\n"
        "from .. import __version__\n"
        "importlib.import_module('pakati.evals.regional_eval')\n"
    )
    found = check_source(source, "pakati.tools", True, "tools/__init__.py")
    assert [(v.line, v.imported) for v in found] == [
        (4, "pakati.agents.schemas"),
        (6, "pakati"),
        (7, "pakati.evals.regional_eval"),
    ]


def test_the_engine_imports_no_pakati_module_and_no_llm_package() -> None:
    source = (
        "import torch\n"
        "from langchain_core.messages import AIMessage\n"
        "import openai\n"
        "from pakati import canvas\n"
        "from pakati.version import __version__\n"
    )
    found = check_source(source, "pakati_engine.world.x", False, "pakati_engine/world/x.py")
    assert [v.line for v in found] == [2, 3, 4, 5]


def test_evals_import_anything_and_only_the_application_imports_them() -> None:
    evals = "from pakati.cli.evaluate import add_regional_arguments\nimport pakati.graphs\n"
    assert check_source(evals, "pakati.evals.x", False, "evals/x.py") == []
    user = "from pakati.evals.regional_eval import run_regional_eval\n"
    assert check_source(user, "pakati.cli.evaluate", False, "pakati/cli/evaluate.py") == []
    assert check_source(user, "pakati.graphs.x", False, "graphs/x.py") != []
    assert check_source(user, "pakati_engine.training.tune", False, "t.py") != []
