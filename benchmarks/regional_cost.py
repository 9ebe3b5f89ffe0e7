"""Cost of regional generation and of region edits, measured side by side.

An SD1.5-shaped model with random weights (UNet, CLIP text encoder and VAE at their real
sizes) generates at a small latent size. Configurations are interleaved round by round and
the median per configuration is kept, so load on the machine hits all of them alike.

    python benchmarks/regional_cost.py [--latent 32] [--steps 3] [--rounds 3] [--margin 16]
    python benchmarks/regional_cost.py --parts scaling --widths narrow --sides 256,512 \
        --modes attention,latent --counts 1,2,4,8 --steps 10 --rounds 3

The last line printed is one JSON object with

* ``attention_over_plain``: {"1": r, "2": r, "4": r, "8": r}, the wall time of a whole
  generation (encode, denoise, decode) with N regions over that of diffusers' own
  StableDiffusionPipeline on the same components;
* ``crop_over_full``: {"0.10": r, "0.25": r, "0.50": r}, regenerating a centred square
  region of that share of the canvas (others locked, default feather and margin) over a
  full-canvas generation;
* ``latent_over_attention_n4``: latent (MultiDiffusion) mode over attention mode, 4 regions;
* ``over_plain`` (``--parts scaling``): {mode: {side: {N: r}}}, a whole generation in that
  mode with N vertical strips over plain diffusers, for every image side in ``--sides``
  (all sides and modes interleaved in each round), on the ``--widths`` model (``real``:
  SD1.5's UNet; ``narrow``: the same layout with widths 32/64/64/64); ``over_plain_cpu``
  the same from the process's CPU time. On a shared machine, ``--threads 1`` and the CPU
  ratios measure the arithmetic steadily (within about 1%), where wall time (other jobs'
  time slices) and multi-threaded CPU time (threads spinning while they wait) do not;
* ``over_plain_warm`` / ``over_plain_cpu_warm`` (``--encoding cold,warm``): the same for
  repeat renders, where no side encodes its prompts again (Pakati's prompt cache;
  diffusers given the embeddings it made once; the baseline reusing its own). Every other
  figure is cold: Pakati's prompt cache is cleared before each of its generations.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

from pakati.editing import DEFAULT_FEATHER
from pakati_engine.diffusion.edits import DEFAULT_MARGIN, run_edit
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.models.loading import bundle_from_components
from pakati_engine.models.prompt_cache import clear_prompt_cache
from pakati_engine.models.tiny_models import (
    clip_text_encoder,
    clip_tokenizer,
    sd15_unet_config,
    sd_scheduler,
)
from pakati_engine.regions.masks import pool_masks, stack_masks

REGION_COUNTS = (1, 2, 4, 8)
CROP_SHARES = ("0.10", "0.25", "0.50")
REAL_WIDTHS = (320, 640, 1280, 1280)  # SD1.5's UNet
NARROW_WIDTHS = (32, 64, 64, 64)  # same layout, a fraction of the arithmetic


def sd15_shaped_components(seed: int = 0, widths: tuple[int, ...] = REAL_WIDTHS) -> dict[str, Any]:
    """SD1.5's UNet layout (at ``widths``), text encoder and VAE, with random weights."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**(sd15_unet_config() | {"block_out_channels": widths})).eval()
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
    ).eval()
    text_encoder = clip_text_encoder(seed, hidden=768, layers=12, heads=12)  # SD1.5's shape
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": clip_tokenizer(),
        "scheduler": sd_scheduler(),
    }


def strip_masks(side: int, count: int) -> list[np.ndarray]:
    """``count`` vertical strips covering the canvas."""
    masks = []
    edges = np.linspace(0, side, count + 1).round().astype(int)
    for start, stop in itertools.pairwise(edges):
        mask = np.zeros((side, side), np.float32)
        mask[:, start:stop] = 1.0
        masks.append(mask)
    return masks


_MULTIDIFFUSION_EMBEDS: dict[tuple[str, ...], torch.Tensor] = {}


def multidiffusion(
    parts: dict[str, Any],
    prompt: str,
    masks: list[np.ndarray],
    size: int,
    steps: int,
    guidance_scale: float,
    seed: int,
    warm: bool = False,
) -> np.ndarray:
    """A baseline: MultiDiffusion's region-based generation (Bar-Tal et al. 2023), written
    here from the paper, for the benchmark only.

    Every prompt (the base prompt where some pixel is uncovered, then each region's) is a
    path; each step runs all paths in one batched UNet call with guidance (rows
    ``[negatives, positives]``, as the paper's code batches them) and blends them with the
    masks (the visible shares, summing to 1) as weights. The paper averages the paths' next
    latents; with one view over the whole canvas and every path starting from the same
    latents, the scheduler's step is affine in the noise prediction, so averaging the
    predictions and stepping once gives the same latents. The paper's optional
    "bootstrapping" (random solid backgrounds behind each region in the first steps) only
    adds noise to a few tensors and is left out. ``warm``: reuse the texts' embeddings from
    an earlier call (a repeat render). Returns the (H, W, 3) uint8 image.
    """
    tokenizer, text_encoder, unet, vae = (
        parts["tokenizer"], parts["text_encoder"], parts["unet"], parts["vae"],
    )  # fmt: skip
    scheduler = type(parts["scheduler"]).from_config(parts["scheduler"].config)
    stacked = stack_masks(masks)
    latent_size = (size // 8, size // 8)
    shares = pool_masks(
        torch.from_numpy(np.concatenate([stacked.background[None], stacked.visible])),
        latent_size,
    )  # (N+1, h, w): uncovered share, then each region's visible share
    texts = [prompt, *(f"object number {i}" for i in range(len(masks)))]
    if not bool((shares[0] > 0).any()):  # no pixel needs the base prompt's path
        shares, texts = shares[1:], texts[1:]
    embeds = _MULTIDIFFUSION_EMBEDS.get(tuple(texts)) if warm else None
    if embeds is None:
        ids = tokenizer(
            ["", *texts], padding="max_length", max_length=tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        ).input_ids  # fmt: skip
        embeds = text_encoder(ids)[0]  # (1 + P, L, D): the negative prompt, then the paths'
        _MULTIDIFFUSION_EMBEDS[tuple(texts)] = embeds
    paths = len(texts)
    rows = torch.cat([embeds[:1].expand(paths, -1, -1), embeds[1:]])  # (2P, L, D)
    weights = shares[:, None]  # (P, 1, h, w)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 4, *latent_size, generator=generator) * scheduler.init_noise_sigma
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2 * paths), t)
        noise = unet(model_input, t, encoder_hidden_states=rows).sample  # (2P, C, h, w)
        uncond, cond = noise.chunk(2)
        guided = uncond + guidance_scale * (cond - uncond)  # (P, C, h, w)
        blended = (guided * weights).sum(dim=0, keepdim=True)  # (1, C, h, w)
        latents = scheduler.step(blended, t, latents).prev_sample
    pixels = vae.decode(latents / vae.config.scaling_factor).sample  # (1, 3, H, W)
    image = ((pixels[0] / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return image.permute(1, 2, 0).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent", type=int, default=32, help="latent side (image = 8x)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--margin", type=int, default=DEFAULT_MARGIN, help="crop context margin in pixels"
    )
    parser.add_argument(
        "--parts",
        default="regions,crop,latent",
        help="comma list of regions, crop, latent, scaling",
    )
    parser.add_argument("--widths", choices=("real", "narrow"), default="real")
    parser.add_argument("--sides", default="256,512", help="scaling: image sides")
    parser.add_argument(
        "--modes",
        default="attention,latent",
        help="scaling: modes (attention, latent, multidiffusion: the baseline written here)",
    )
    parser.add_argument("--counts", default="1,2,4,8", help="scaling: region counts")
    parser.add_argument(
        "--encoding",
        default="cold",
        help="scaling: comma list of cold (every generation encodes its prompts: Pakati's "
        "prompt cache is cleared before each) and warm (repeat renders: Pakati's cache kept, "
        "diffusers given the prompt embeddings it made once)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); with 1, CPU time is steady on a shared machine",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads or max(1, torch.get_num_threads()))
    side = args.latent * 8
    print(f"building an SD1.5-shaped model with random weights ({side}x{side})", file=sys.stderr)
    parts = sd15_shaped_components(widths=NARROW_WIDTHS if args.widths == "narrow" else REAL_WIDTHS)
    bundle = bundle_from_components(parts, "sd15-shaped-random").to(
        torch.device("cpu"), torch.float32
    )
    plain = StableDiffusionPipeline(
        **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    plain.set_progress_bar_config(disable=True)
    ours = RegionalDiffusionPipeline(bundle)

    # diffusers' way to reuse an encoding: embeddings made once, passed to every call.
    with torch.no_grad():
        made_once = plain.encode_prompt("a lake at dawn", torch.device("cpu"), 1, True, "")

    def run_plain(size: int = side, warm: bool = False) -> Callable[[], object]:
        prompt: dict[str, Any] = {"prompt": "a lake at dawn"}
        if warm:
            prompt = {"prompt_embeds": made_once[0], "negative_prompt_embeds": made_once[1]}
        return lambda: plain(
            **prompt,
            height=size,
            width=size,
            num_inference_steps=args.steps,
            guidance_scale=7.5,
            generator=torch.Generator().manual_seed(0),
        )

    def cold(run: Callable[[], object]) -> Callable[[], object]:
        """``run`` encoding its prompts, as a first render does (the prompt cache cleared)."""

        def first_render() -> object:
            clear_prompt_cache(bundle)
            return run()

        return first_render

    def run_regions(
        count: int, mode: str = "attention", size: int = side, warm: bool = False
    ) -> Callable[[], object]:
        masks = strip_masks(size, count) if count else []
        if mode == "multidiffusion":
            return lambda: multidiffusion(
                parts, "a lake at dawn", masks, size, args.steps, 7.5, seed=0, warm=warm
            )
        regions = [RegionPrompt(m, f"object number {i}") for i, m in enumerate(masks)]
        request = GenerationRequest(
            size, size, "a lake at dawn", regions=regions, steps=args.steps,
            guidance_scale=7.5, seed=0, mode=mode,  # type: ignore[arg-type]
        )  # fmt: skip
        return (lambda: ours(request)) if warm else cold(lambda: ours(request))

    selected = set(args.parts.split(","))
    kept_request = GenerationRequest(side, side, "a lake at dawn", steps=args.steps, seed=0)
    # The kept image and its latents, as the canvas holds them after a generation.
    kept_output = ours(kept_request) if "crop" in selected else None

    def run_crop(share: str) -> Callable[[], object]:
        assert kept_output is not None
        kept = kept_output.image
        edge = round(side * float(share) ** 0.5)
        start = (side - edge) // 2
        mask = np.zeros((side, side), np.float32)
        mask[start : start + edge, start : start + edge] = 1.0
        request = GenerationRequest(
            side, side, "a lake at dawn", steps=args.steps, seed=0,
            regions=[RegionPrompt(mask, "a boat")], keep=KeepSpec(kept, mask, DEFAULT_FEATHER),
            kept_latents=kept_output.latents,
        )  # fmt: skip
        return cold(lambda: run_edit(ours, request, margin=args.margin))

    configs: dict[str, Callable[[], object]] = {"ours_0": run_regions(0)}
    if "regions" in selected:
        configs["plain"] = run_plain()
        configs.update({str(n): run_regions(n) for n in REGION_COUNTS})
    if "latent" in selected:
        configs.update({"4": run_regions(4), "latent_4": run_regions(4, mode="latent")})
    if "crop" in selected:
        configs.update({f"crop_{share}": run_crop(share) for share in CROP_SHARES})
    sides = [int(value) for value in args.sides.split(",")]
    modes = args.modes.split(",")
    counts = [int(value) for value in args.counts.split(",")]
    arms = {"cold": "", "warm": "_warm"}
    encodings = args.encoding.split(",")
    if not set(encodings) <= set(arms):
        parser.error(f"--encoding takes cold, warm or cold,warm, not {args.encoding!r}")
    if "scaling" in selected:
        for encoding in encodings:
            warm, tail = encoding == "warm", arms[encoding]
            for size in sides:
                configs[f"plain_{size}{tail}"] = run_plain(size, warm)
                for mode in modes:
                    configs.update(
                        {
                            f"{mode}_{size}_{n}{tail}": run_regions(n, mode, size, warm)
                            for n in counts
                        }
                    )
    if not selected & {"regions", "crop", "latent"}:
        del configs["ours_0"]
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in configs}
    with torch.no_grad():
        next(iter(configs.values()))()  # warm-up
        for round_index in range(args.rounds):
            for name, run in configs.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                run()
                seconds[name].append(time.perf_counter() - started)
                cpu_seconds[name].append(time.process_time() - cpu_started)
                print(
                    f"round {round_index + 1} {name}: {seconds[name][-1]:.2f} s, "
                    f"cpu {cpu_seconds[name][-1]:.2f} s",
                    file=sys.stderr,
                )
    median = {name: statistics.median(values) for name, values in seconds.items()}
    cpu_median = {name: statistics.median(values) for name, values in cpu_seconds.items()}
    result: dict[str, object] = {}
    if "regions" in selected:
        result["attention_over_plain"] = {
            str(n): round(median[str(n)] / median["plain"], 3) for n in REGION_COUNTS
        }
        result["pakati_no_regions_over_plain"] = round(median["ours_0"] / median["plain"], 3)
    if "crop" in selected:
        result["crop_over_full"] = {
            share: round(median[f"crop_{share}"] / median["ours_0"], 3) for share in CROP_SHARES
        }
    if "latent" in selected:
        result["latent_over_attention_n4"] = round(median["latent_4"] / median["4"], 3)
    if "scaling" in selected:
        for encoding in encodings:
            tail = arms[encoding]
            for key, times in (("over_plain", median), ("over_plain_cpu", cpu_median)):
                result[f"{key}{tail}"] = {
                    mode: {
                        str(size): {
                            str(n): round(
                                times[f"{mode}_{size}_{n}{tail}"] / times[f"plain_{size}{tail}"], 3
                            )
                            for n in counts
                        }
                        for size in sides
                    }
                    for mode in modes
                }
    result |= {
        "seconds": {name: round(value, 3) for name, value in median.items()},
        "cpu_seconds": {name: round(value, 3) for name, value in cpu_median.items()},
        "latent": args.latent,
        "steps": args.steps,
        "rounds": args.rounds,
        "margin": args.margin,
        "widths": args.widths,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
