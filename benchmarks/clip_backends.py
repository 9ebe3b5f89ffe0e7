"""open_clip or transformers' CLIPModel for the embedded CLIP: the figures behind the choice.

Prints what open_clip costs beyond what Pakati installs anyway (open_clip_torch, timm and
torchvision, which only open_clip needs), its import time, the time to load the embedded
CLIP through it, and the import time of transformers' CLIPModel for comparison. Each
import is timed in a fresh interpreter (median of ``--rounds``), since a module imports once.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clip_backends.py --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

SNIPPETS = {
    "import torch (baseline)": "import torch",
    "import open_clip": "import torch; t=time.perf_counter(); import open_clip",
    "import transformers CLIPModel": (
        "import torch; t=time.perf_counter(); from transformers import CLIPModel"
    ),
    "load embedded CLIP (open_clip)": (
        "import torch, open_clip; from pakati_engine.clip.model import load_clip; "
        "t=time.perf_counter(); load_clip()"
    ),
}


def size_of(name: str) -> int:
    """Bytes of one installed distribution's files."""
    dist = metadata.distribution(name)
    paths = (Path(str(dist.locate_file(f))) for f in dist.files or ())
    return sum(p.stat().st_size for p in paths if p.is_file())


def timed(snippet: str) -> float:
    code = f"import time; t=time.perf_counter(); {snippet}; print(time.perf_counter()-t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    extra = {name: size_of(name) for name in ("open-clip-torch", "timm", "torchvision")}
    for name, size in extra.items():
        print(f"installed {name:28} {size / 1e6:7.1f} MB")
    print(f"installed {'open_clip in all':28} {sum(extra.values()) / 1e6:7.1f} MB")
    times: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    for _ in range(args.rounds):  # interleaved, so machine load hits every row alike
        for name, snippet in SNIPPETS.items():
            times[name].append(timed(snippet))
    for name, values in times.items():
        print(f"{name:38} median {statistics.median(values):6.2f} s  ({len(values)} rounds)")


if __name__ == "__main__":
    main()
