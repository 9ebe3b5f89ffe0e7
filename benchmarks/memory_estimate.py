"""Peak memory of a generation against ``pakati_engine.resources.estimate_bytes``.

Run: ``OMP_NUM_THREADS=1 python benchmarks/memory_estimate.py [--sizes 128,256,512]
[--model pakati-shapes] [--steps 2]``. Each size runs in a fresh subprocess, which loads the
model, then draws a two-region canvas. Linux's peak resident set (``VmHWM``) is reset
(``/proc/self/clear_refs``) just before each phase and read after it, so each figure is the
memory that phase added on top of what was resident when it started:

- ``unet_peak``: the largest added during one UNet call (forward hooks around it);
- ``vae_peak``: the same for the VAE decode;
- ``generate_peak``: the whole ``canvas.generate`` (prompt encoding, masks, UNet, VAE);
- ``estimate``: what ``estimate_bytes`` says before the run, and its ratio to the measure;
- ``unet_factor`` / ``vae_factor``: the factor that would make each term of the estimate
  equal the measured phase (the constants in ``resources.py`` are set from these).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MIB = 1024**2


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> int:
    """Reset the peak resident set to the current one; the current one (bytes)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


class Phase:
    """The largest memory added during any one call of a phase."""

    def __init__(self) -> None:
        self.start = 0
        self.peak = 0

    def begin(self, *_: Any) -> None:
        self.start = _reset_peak()

    def end(self, *_: Any) -> None:
        self.peak = max(self.peak, _status("VmHWM") - self.start)


def measure(model: str, size: int, steps: int) -> dict[str, Any]:
    """In this process: one generation of a ``size`` x ``size`` canvas, phase by phase."""
    import torch

    from pakati import PakatiCanvas
    from pakati_engine import resources

    canvas = PakatiCanvas(width=size, height=size, model=model, base_prompt="a white background")
    half = size // 2
    canvas.apply_to_region(canvas.create_region(box=(0, 0, half, size)), prompt="a red circle")
    canvas.apply_to_region(canvas.create_region(box=(half, 0, size, size)), prompt="a blue square")
    bundle = canvas.load()
    unet, vae = Phase(), Phase()
    module: Any = bundle.unet  # a torch module (the protocol names only what Pakati calls)
    module.register_forward_pre_hook(unet.begin)
    module.register_forward_hook(unet.end)
    if bundle.vae is not None:
        decode = bundle.vae.decode

        def timed_decode(*args: Any, **kwargs: Any) -> Any:
            vae.begin()
            try:
                return decode(*args, **kwargs)
            finally:
                vae.end()

        bundle.vae.decode = timed_decode  # type: ignore[method-assign]
    estimate = resources.estimate_bytes(bundle, size, size)
    with torch.inference_mode():
        start = _reset_peak()
        canvas.generate(seed=0, steps=steps)
        whole = _status("VmHWM") - start
    element = torch.finfo(bundle.dtype).bits // 8
    tokens = (size // int(bundle.vae_scale_factor)) ** 2
    unet_unit = 2 * tokens * resources._first_channels(bundle.unet, 320) * element
    vae_channels = resources._first_channels(bundle.vae, 0) if bundle.vae is not None else 0
    vae_unit = size * size * vae_channels * element
    return {
        "size": size,
        "unet_peak_mib": round(unet.peak / MIB, 1),
        "vae_peak_mib": round(vae.peak / MIB, 1),
        "generate_peak_mib": round(whole / MIB, 1),
        "estimate_mib": round(estimate / MIB, 1),
        "estimate_over_measured": round(estimate / max(whole, 1), 2),
        "unet_factor": round(unet.peak / unet_unit, 1),
        "vae_factor": round(vae.peak / vae_unit, 1) if vae_unit else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="128,256,512")
    parser.add_argument("--model", default="pakati-shapes")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.model, args.one, args.steps)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--one", str(size)]
        command += ["--model", args.model, "--steps", str(args.steps)]
        done = subprocess.run(
            command, capture_output=True, text=True, env=os.environ.copy(), check=False
        )
        if done.returncode != 0:
            rows.append({"size": size, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"model": args.model, "steps": args.steps, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
