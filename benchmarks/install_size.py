"""What each of Pakati's declared dependencies costs on disk in this environment.

For every requirement in ``pyproject.toml`` (core, or an extra with ``--extra``) it sums the
installed files of that distribution and of everything it pulls in (from each
distribution's own metadata), and says how much of that is *only* needed by it (would go if
it were dropped) versus shared with other dependencies. Sizes come from the installed files
(``importlib.metadata``), so they measure this venv, not a download.

    .venv/bin/python benchmarks/install_size.py            # the core dependencies
    .venv/bin/python benchmarks/install_size.py --top 25   # also the 25 largest distributions
"""

from __future__ import annotations

import argparse
import re
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _dist(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


@cache
def size_of(name: str) -> int:
    """Bytes of one installed distribution's files."""
    dist = _dist(name)
    if dist is None:
        return 0
    total = 0
    for file in dist.files or ():
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def _requirement_name(text: str) -> str:
    return _norm(re.split(r"[\s;<>=!~\[(]", text.strip(), maxsplit=1)[0])


@cache
def requires(name: str) -> frozenset[str]:
    """Installed distributions ``name`` needs (no extras, markers that hold here)."""
    dist = _dist(name)
    if dist is None:
        return frozenset()
    from packaging.requirements import Requirement

    found = set()
    for text in dist.requires or ():
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if _dist(requirement.name) is not None:
            found.add(_norm(requirement.name))
    return frozenset(found)


def closure(roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or _dist(name) is None:
            continue
        seen.add(name)
        todo.extend(requires(name))
    return seen


def declared(extra: str | None) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [_requirement_name(t) for t in texts]


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", help="measure an extra (lora, ray, dev) instead of the core")
    parser.add_argument("--top", type=int, default=0, help="also list the N largest dists")
    args = parser.parse_args()
    roots = declared(args.extra)
    everything = closure(set(roots))
    total = sum(size_of(n) for n in everything)
    print(f"{'dependency':28} {'with deps MB':>12} {'only it MB':>11}")
    for root in roots:
        mine = closure({root})
        others = closure(set(roots) - {root})
        only = mine - others
        print(
            f"{root:28} {mb(sum(size_of(n) for n in mine)):>12} "
            f"{mb(sum(size_of(n) for n in only)):>11}"
        )
    print(f"{'all (' + str(len(everything)) + ' distributions)':28} {mb(total):>12}")
    if args.top:
        print(f"\n{'largest distributions':28} {'MB':>12}")
        for name in sorted(everything, key=size_of, reverse=True)[: args.top]:
            print(f"{name:28} {mb(size_of(name)):>12}")


if __name__ == "__main__":
    main()
