"""Where the time of a regional generation goes: text encoding, UNet (and its cross-attention
layers), VAE decoding, for plain diffusers and Pakati with N regions.

    python benchmarks/regional_profile.py [--latent 64] [--steps 3] [--regions 1,8] [--narrow]
    python benchmarks/regional_profile.py --layer [--latent 64] [--channels 320]

Times come from forward hooks (wall clock, one generation per configuration after a
warm-up; ``--cpu``: the process's CPU time, steady with ``--threads 1`` on a shared
machine); the last line is one JSON object {config: {part: seconds}}. ``--layer`` times one
SD1.5 cross-attention layer (batch 2, as with guidance) at the latent's resolution instead:
diffusers' own processor over 77 tokens against Pakati's with N vertical strips, grouped
and dense, interleaved, medians of 7 rounds in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from diffusers import StableDiffusionPipeline
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from regional_cost import NARROW_WIDTHS, REAL_WIDTHS, sd15_shaped_components, strip_masks

from pakati_engine.diffusion.attention import (
    RegionalAttentionController,
    RegionalCrossAttnProcessor,
    cross_attention_layers,
)
from pakati_engine.diffusion.pipeline import (
    GenerationRequest,
    RegionalDiffusionPipeline,
    RegionPrompt,
)
from pakati_engine.models.loading import bundle_from_components


def timed_parts(
    modules: dict[str, list[torch.nn.Module]], clock: Callable[[], float]
) -> tuple[dict[str, float], Callable]:
    """Forward hooks that add each group's wall time to the returned dict."""
    totals: dict[str, float] = defaultdict(float)
    handles = []
    for part, group in modules.items():
        for module in group:
            starts: list[float] = []

            def pre(mod, args, kwargs, starts=starts):
                starts.append(clock())

            def post(mod, args, kwargs, out, starts=starts, part=part):
                totals[part] += clock() - starts.pop()

            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(module.register_forward_hook(post, with_kwargs=True))

    def remove() -> None:
        for handle in handles:
            handle.remove()

    return totals, remove


def layer_cost(
    side: int, channels: int, counts: list[int], clock: Callable[[], float], rounds: int = 7
) -> dict[str, float]:
    """Milliseconds of one cross-attention layer call at a side x side resolution."""
    torch.manual_seed(0)
    attn = Attention(channels, cross_attention_dim=768, heads=8, dim_head=channels // 8).eval()
    hidden = torch.randn(2, side * side, channels)  # (B, HW, C)
    calls: dict[str, Callable[[], object]] = {}
    stock = AttnProcessor2_0()
    embeds = torch.randn(2, 77, 768)
    calls["plain"] = lambda: (attn.set_processor(stock), attn(hidden, encoder_hidden_states=embeds))
    for count in counts:
        visible = torch.stack([torch.from_numpy(m) for m in strip_masks(side * 8, count)])[None]
        for grouped in (True, False):
            controller = RegionalAttentionController(
                visible, 1.0 - visible.sum(1), 77, (side, side), grouped=grouped
            )
            processor = RegionalCrossAttnProcessor(controller, "layer")
            tokens = torch.randn(2, 77 * (count + 1), 768)

            def regional(
                processor: RegionalCrossAttnProcessor = processor, tokens: torch.Tensor = tokens
            ) -> object:
                attn.set_processor(processor)
                return attn(hidden, encoder_hidden_states=tokens)

            calls[f"{'grouped' if grouped else 'dense'}_{count}"] = regional
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.no_grad():
        for run in calls.values():
            run()  # warm-up, and the routing is built
        for _ in range(rounds):
            for name, run in calls.items():
                started = clock()
                run()
                times[name].append(clock() - started)
    return {name: round(statistics.median(values) * 1000, 1) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--regions", default="1,8")
    parser.add_argument("--mode", default="attention")
    parser.add_argument("--narrow", action="store_true", help="UNet widths 32/64/64/64")
    parser.add_argument("--dense", action="store_true", help="also the dense-bias routing")
    parser.add_argument("--layer", action="store_true", help="one cross-attention layer")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--cpu", action="store_true", help="CPU time, not wall time (steady with --threads 1)"
    )
    parser.add_argument("--channels", type=int, default=320, help="--layer: layer width")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.layer:
        counts = [int(n) for n in args.regions.split(",")]
        milliseconds = layer_cost(args.latent, args.channels, counts, clock)
        print(json.dumps({"milliseconds": milliseconds, "latent": args.latent}))
        return 0
    side = args.latent * 8
    parts = sd15_shaped_components(widths=NARROW_WIDTHS if args.narrow else REAL_WIDTHS)
    bundle = bundle_from_components(parts, "sd15-shaped-random").to(
        torch.device("cpu"), torch.float32
    )
    plain = StableDiffusionPipeline(
        **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    plain.set_progress_bar_config(disable=True)
    ours = RegionalDiffusionPipeline(bundle)
    unet = parts["unet"]
    groups = {
        "text_encoder": [parts["text_encoder"]],
        "unet": [unet],
        "cross_attention": [layer for _, layer in cross_attention_layers(unet)],
        "kv_projection": [
            linear
            for _, layer in cross_attention_layers(unet)
            for linear in (layer.to_k, layer.to_v)
        ],
        "vae_decode": [parts["vae"].decoder],
    }

    def run(count: int, dense: bool = False) -> None:
        if count < 0:
            plain(
                "a lake at dawn",
                height=side,
                width=side,
                num_inference_steps=args.steps,
                guidance_scale=7.5,
                generator=torch.Generator().manual_seed(0),
            )
            return
        masks = strip_masks(side, count)
        regions = [RegionPrompt(m, f"object number {i}") for i, m in enumerate(masks)]
        request = GenerationRequest(
            side, side, "a lake at dawn", regions=regions, steps=args.steps,
            guidance_scale=7.5, seed=0, mode=args.mode,
        )  # fmt: skip
        ours.grouped_routing = not dense
        ours(request)

    result: dict[str, dict[str, float]] = {}
    configs = [(-1, False)] + [
        (int(n), dense)
        for n in args.regions.split(",")
        for dense in (False, True)[: 1 + args.dense]
    ]
    with torch.no_grad():
        run(0)  # warm-up
        for count, dense in configs:
            totals, remove = timed_parts(groups, clock)
            started = clock()
            run(count, dense)
            total = clock() - started
            remove()
            name = "plain" if count < 0 else f"N={count}" + (" dense" if dense else "")
            result[name] = {"total": round(total, 3)} | {k: round(v, 3) for k, v in totals.items()}
            print(name, result[name], file=sys.stderr)
    print(json.dumps(result | {"latent": args.latent, "steps": args.steps, "narrow": args.narrow}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
