"""Cost of foreign regions: N regions drawn by a remote model vs one local attention pass.

For N = 1, 2, 4 regions on a 512x512 canvas (embedded model, its recommended settings), the
same layout is generated twice: all regions by the canvas model in one attention-mode pass,
and with every region's ``model="dall-e-2"`` served by the tests' fake OpenAI server with a
fixed latency (the real ``openai`` client, multipart edits of each region's crop). The result
cache is off (a fresh ``PAKATI_HOME`` per run), so every region costs one call.

The regions sit in the four quadrants, so their crops are independent: the foreign step
sends them together (up to 4 at once, the default) and is also timed one by one
(``canvas.provider_concurrency = 1``); both must give the same pixels.

Run: ``python benchmarks/foreign_regions.py [--latency 0.5] [--sizes 1,2,4] [--repeats 2]``
(local and foreign runs alternate; the fastest of each is kept, with its CPU seconds, since
the wall time of a shared machine is noisy). Prints one JSON object: per N, API calls,
bytes sent, wall seconds of both runs and of the foreign step alone (crops, calls,
compositing; the base pass is the local run again), concurrent and one by one, the most
requests the server saw at once, and how many pixels outside the foreign regions'
feathered masks differ from the local run (must be 0).
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
from pakati.results import GenerationResult
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


def timed(canvas: PakatiCanvas, seed: int) -> tuple[GenerationResult, float, float]:
    """A generation, its wall seconds and this process's CPU seconds (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = canvas.generate(seed=seed)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(n: int, latency: float, seed: int, repeats: int) -> dict[str, object]:
    """Local and foreign runs alternate ``repeats`` times; the fastest of each is kept (the
    machine is shared), each foreign run with an empty result cache."""
    local_s, mixed_s, local_cpu, mixed_cpu, foreign_s, serial_s = [], [], [], [], [], []
    with FakeImageServer(latency_s=latency) as fake:
        env = {"PAKATI_API_KEY_OPENAI": "sk-bench", "OPENAI_BASE_URL": f"{fake.url}/v1"}
        registry = Registry(env=env, dotenv=None, user_cards=False)
        local = build(n, None, registry)
        mixed = build(n, "dall-e-2", registry)
        serial = build(n, "dall-e-2", registry)
        serial.provider_concurrency = 1
        local.load()
        mixed.load()
        serial.load()
        for _ in range(repeats):
            one, wall, cpu = timed(local, seed)
            local_s.append(wall)
            local_cpu.append(cpu)
            with tempfile.TemporaryDirectory() as home:
                os.environ["PAKATI_HOME"] = home  # an empty cache: every region is a call
                many, wall, cpu = timed(mixed, seed)
            mixed_s.append(wall)
            mixed_cpu.append(cpu)
            foreign_s.append(many.timings["foreign_s"])
            together = fake.most_in_flight
            fake.most_in_flight = 0
            with tempfile.TemporaryDirectory() as home:
                os.environ["PAKATI_HOME"] = home
                alone, _wall, _cpu = timed(serial, seed)
            serial_s.append(alone.timings["foreign_s"])
            assert fake.most_in_flight == 1
            fake.most_in_flight = 0
        sent = sum(len(s.raw) for s in fake.posts()) // (2 * repeats)
        calls = len(fake.posts()) // (2 * repeats)
    same = bool(np.array_equal(np.asarray(many.image), np.asarray(alone.image)))
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
        "local_attention_s": round(min(local_s), 3),
        "with_foreign_s": round(min(mixed_s), 3),
        "local_attention_cpu_s": round(min(local_cpu), 3),
        "with_foreign_cpu_s": round(min(mixed_cpu), 3),
        "foreign_step_s": round(min(foreign_s), 3),
        "foreign_step_one_by_one_s": round(min(serial_s), 3),
        "requests_at_once": together,
        "concurrent_equals_one_by_one": same,
        "repeats": repeats,
        "provider_latency_s": latency,
        "pixels_changed_outside_feathered_masks": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="fake provider seconds")
    parser.add_argument("--sizes", default="1,2,4", help="numbers of foreign regions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; fastest kept")
    args = parser.parse_args()
    results = [run(int(n), args.latency, args.seed, args.repeats) for n in args.sizes.split(",")]
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
