"""Declared dependencies are the ones Pakati imports, and the package ships its typing marker."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pakati", "pakati_engine", "agents", "tools", "graphs", "evals")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for folder in SOURCES:
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported_by_pakati() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_norm(re.split(r"[\s;<>=!~\[]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    owners = packages_distributions()
    imported = {_norm(dist) for top in _imported_top_levels() for dist in owners.get(top, [])}
    assert declared - imported == set(), "declared but never imported"
    assert "torchvision" not in declared  # open_clip's own dependency, not Pakati's


def test_packages_ship_a_typing_marker_and_a_license() -> None:
    assert (ROOT / "pakati" / "py.typed").is_file()
    assert (ROOT / "pakati_engine" / "py.typed").is_file()
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    import pakati

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert pakati.__version__ == version("pakati") == project["version"]


def test_data_folders_are_declared_so_setuptools_ships_them_without_warnings() -> None:
    """setuptools warns "Package would be ignored" for a data folder inside a package that
    is not itself listed in ``packages``; each such folder is declared."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = set(config["tool"]["setuptools"]["packages"])
    data = set(config["tool"]["setuptools"]["package-data"])
    for top in ("pakati", "pakati_engine"):
        for folder in (ROOT / top).rglob("*"):
            if not folder.is_dir() or (folder / "__init__.py").exists():
                continue
            if not (folder.parent / "__init__.py").exists() or folder.name.startswith((".", "_")):
                continue
            if folder.relative_to(ROOT).parts[:3] == ("pakati_engine", "training", "checkpoints"):
                continue  # a training run's resume state, not shipped
            shipped = [
                f
                for f in folder.rglob("*")
                if f.suffix in (".json", ".safetensors", ".html", ".js", ".css")
            ]
            if shipped:
                name = ".".join(folder.relative_to(ROOT).parts)
                assert name in packages and name in data, f"{name} is not declared"
