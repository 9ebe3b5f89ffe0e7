"""Cost of foreign regions: N regions drawn by a remote model vs one local attention pass.

For N = 1, 2, 4 regions on a 512x512 canvas (embedded model, its recommended settings), the
same layout is generated twice: all regions by the canvas model in one attention-mode pass,
and with every region's ``model="dall-e-2"`` served by the tests' fake OpenAI server with a
fixed latency (the real ``openai`` client, multipart edits of each region's crop). The result
cache is off (a fresh ``PAKATI_HOME`` per run), so every region costs one call.

Run: ``python benchmarks/foreign_regions.py [--latency 0.5] [--sizes 1,2,4]``. Prints one
JSON object: per N, API calls, bytes sent, wall seconds of both runs and of the foreign
step alone (crops, calls, compositing; the base pass is the local run again), and how many pixels
outside the foreign regions' feathered masks differ from the local run (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.provider_fakes

from pakati import PakatiCanvas
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.providers.registry import Registry
from tests.provider_fakes import FakeImageServer

SIZE = 512
BOXES = [(32, 32, 224, 224), (288, 32, 480, 224), (32, 288, 224, 480), (288, 288, 480, 480)]
PROMPTS = ["a red circle", "a blue square", "a green triangle", "a yellow circle"]


def build(n: int, model: str | None, registry: Registry) -> PakatiCanvas:
    canvas = PakatiCanvas(SIZE, SIZE, "pakati-shapes", base_prompt="a grey background")
    canvas.model_registry = registry
    for index in range(n):
        name = f"r{index + 1}"
        canvas.create_region(box=BOXES[index], name=name)
        canvas.apply_to_region(name, PROMPTS[index], model=model)
    return canvas


def run(n: int, latency: float, seed: int) -> dict[str, object]:
    with FakeImageServer(latency_s=latency) as fake, tempfile.TemporaryDirectory() as home:
        os.environ["PAKATI_HOME"] = home  # an empty result cache: every region is a call
        env = {"PAKATI_API_KEY_OPENAI": "sk-bench", "OPENAI_BASE_URL": f"{fake.url}/v1"}
        registry = Registry(env=env, dotenv=None, user_cards=False)
        local = build(n, None, registry)
        local.load()
        start = time.perf_counter()
        one = local.generate(seed=seed)
        local_s = time.perf_counter() - start
        mixed = build(n, "dall-e-2", registry)
        mixed.load()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            many = mixed.generate(seed=seed)
        mixed_s = time.perf_counter() - start
        sent = sum(len(s.raw) for s in fake.posts())
        calls = len(fake.posts())
    outside = np.ones((SIZE, SIZE), dtype=bool)
    for region in mixed.regions:
        outside &= KeepSpec(Image.new("RGB", (SIZE, SIZE)), region.rasterize(), 8).protected()
    differing = int((np.asarray(one.image) != np.asarray(many.image)).any(-1)[outside].sum())
    return {
        "foreign_regions": n,
        "api_calls": calls,
        "bytes_sent": sent,
        "bytes_sent_reported": sum(int(m["bytes_sent"]) for m in many.models),
        "crop_sizes": [m["size"] for m in many.models],
        "local_attention_s": round(local_s, 3),
        "with_foreign_s": round(mixed_s, 3),
        "foreign_step_s": round(sum(float(m["seconds"]) for m in many.models), 3),
        "provider_latency_s": latency,
        "pixels_changed_outside_feathered_masks": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="fake provider seconds")
    parser.add_argument("--sizes", default="1,2,4", help="numbers of foreign regions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = [run(int(n), args.latency, args.seed) for n in args.sizes.split(",")]
    print(
        json.dumps(
            {
                "canvas": f"{SIZE}x{SIZE}",
                "model": "pakati-shapes",
                "machine": f"{platform.machine()} {os.cpu_count()} cpus",
                "runs": results,
            }
        )
    )


if __name__ == "__main__":
    main()
