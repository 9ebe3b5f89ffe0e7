"""Where in the noise range a model fails: judged one-step x0 predictions by timestep.

``python -m pakati_engine.training.denoise_probe --model DIR`` noises real shapes-world
scenes to a few timesteps of the model's own schedule, lets the UNet predict the clean image
in one step (regional routing as in training, no guidance), and judges the prediction
against the scene's ground truth. A model that gets shapes right from little noise but not
from much fails at the high-noise decisions (sampling, schedule); one that misses shapes even
from little noise cannot yet denoise them (capacity, training). The sampled eval
(``pakati eval regional``) mixes both; this separates them. From much noise even a perfect
model predicts the mean over the scenes the noise allows, a blur the judge cannot call a
shape, so the informative rows are those of little and middling noise.

``--small 1`` (and ``--min-regions`` / ``--max-regions``) probes the layouts
``pakati eval regional --small`` draws: a model that draws small objects as blobs yet reads
them right from little noise decides them badly when sampling; one that blurs them even from
little noise cannot represent them, and more sampling steps or guidance will not help.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.errors import PakatiError, UsageError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import load_model
from pakati_engine.models.protocols import NoiseSchedule
from pakati_engine.training.conditioning import PromptEncoder
from pakati_engine.training.data import TrainingBatch, make_batch
from pakati_engine.world.judge import ExpectedRegion, judge
from pakati_engine.world.sampling import MAX_OBJECTS
from pakati_engine.world.scene import pixel_cell

DEFAULT_TIMESTEPS = (100, 300, 500, 700, 900)


def probe_batch(
    n: int,
    size: int,
    seed: int,
    min_regions: int = 1,
    max_regions: int = 4,
    small_fraction: float = 0.0,
) -> TrainingBatch:
    """``n`` regional scenes (no plain captions, nothing dropped), seeded; each object is
    small (10-20 px on 128) with probability ``small_fraction``."""
    return make_batch(
        np.random.default_rng(seed),
        n,
        size,
        max_regions=max_regions,
        plain_fraction=0.0,
        caption_dropout=0.0,
        region_dropout=0.0,
        min_regions=min_regions,
        small_fraction=small_fraction,
    )


def predict_clean(
    bundle: ModelBundle, batch: TrainingBatch, timesteps: tuple[int, ...], seed: int
) -> dict[int, NDArray[np.uint8]]:
    """Per timestep, images (B, H, W, 3) uint8 of the UNet's one-step x0 estimate.

    The clean latents, the noise, the prompt embeddings and the routing are the same at every
    timestep, so they are computed once.
    """
    assert bundle.vae is not None, "the probe encodes the scenes with the model's VAE"
    encoder = PromptEncoder(bundle.tokenizer, bundle.text_encoder)
    scale = float(getattr(bundle.vae.config, "scaling_factor", 1.0))
    controller = RegionalAttentionController(
        visible=batch.visible,
        background=batch.background,
        tokens_per_prompt=encoder.span,
        latent_size=(batch.pixels.shape[-2] // bundle.vae_scale_factor,) * 2,
        base_ratio=float(bundle.recommended.get("base_ratio", 0.2)),
    )
    images: dict[int, NDArray[np.uint8]] = {}
    with torch.no_grad(), regional_attention(bundle.unet, controller):
        latents = bundle.vae.encode(batch.pixels).latent_dist.mode() * scale  # (B, C, h, w)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(seed))
        embeddings = encoder(batch.prompts)
        for timestep in timesteps:
            t = torch.full((latents.shape[0],), timestep, dtype=torch.long)
            # The forward process by hand: multistep samplers' add_noise indexes their
            # sampling steps, not training timesteps.
            alpha = bundle.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1).to(latents.dtype)
            noisy = alpha.sqrt() * latents + (1 - alpha).sqrt() * noise
            output = bundle.unet(noisy, t, encoder_hidden_states=embeddings).sample
            clean = _x0(bundle.scheduler, output, noisy, t)
            decoded = bundle.vae.decode(clean / scale).sample  # (B, 3, H, W) in [-1, 1]
            pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            images[timestep] = pixels.permute(0, 2, 3, 1).numpy()
    return images


def _x0(
    scheduler: NoiseSchedule, output: torch.Tensor, noisy: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """The clean-image estimate of a UNet output of any prediction type."""
    alpha = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1).to(output.dtype)
    kind = scheduler.config.prediction_type
    if kind == "sample":
        return output
    if kind == "epsilon":
        return (noisy - (1 - alpha).sqrt() * output) / alpha.sqrt()
    if kind == "v_prediction":
        return alpha.sqrt() * noisy - (1 - alpha).sqrt() * output
    raise ValueError(f"unknown prediction type {kind!r}")


def judge_batch(images: NDArray[np.uint8], batch: TrainingBatch) -> dict[str, float]:
    """Colour, shape and both-right rates over every object of the batch."""
    color, shape = [], []
    for image, spec in zip(images, batch.specs, strict=True):
        expected = [
            ExpectedRegion(box=pixel_cell(o), shape=o.shape, color=o.color) for o in spec.objects
        ]
        for verdict in judge(Image.fromarray(image), expected, spec.background).regions:
            color.append(verdict.color_correct)
            shape.append(verdict.shape_correct)
    both = [c and s for c, s in zip(color, shape, strict=True)]
    return {
        "accuracy_color": round(float(np.mean(color)), 4),
        "accuracy_shape": round(float(np.mean(shape)), 4),
        "accuracy_both": round(float(np.mean(both)), 4),
        "n_regions": len(both),
    }


def run_probe(
    model: str | ModelBundle,
    timesteps: tuple[int, ...] = DEFAULT_TIMESTEPS,
    n: int = 32,
    seed: int = 0,
    min_regions: int = 1,
    max_regions: int = 4,
    small_fraction: float = 0.0,
) -> list[dict[str, Any]]:
    """One row per timestep: its signal-to-noise ratio and the judged accuracies."""
    bundle = model if isinstance(model, ModelBundle) else load_model(model)
    count = len(bundle.scheduler.alphas_cumprod)
    outside = [t for t in timesteps if not 0 <= t < count]
    if outside:
        raise UsageError(
            f"timesteps {outside} are outside the model's schedule: use 0 to {count - 1}"
        )
    size = int(bundle.recommended.get("width", 128))
    batch = probe_batch(n, size, seed, min_regions, max_regions, small_fraction)
    rows = []
    for timestep, images in predict_clean(bundle, batch, timesteps, seed).items():
        alpha = float(bundle.scheduler.alphas_cumprod[timestep])
        row = {"timestep": timestep, "snr": alpha / (1.0 - alpha), **judge_batch(images, batch)}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pakati_engine.training.denoise_probe", description=__doc__
    )
    parser.add_argument("--model", type=Path, required=True, help="exported model folder")
    parser.add_argument("--timesteps", type=int, nargs="+", default=list(DEFAULT_TIMESTEPS))
    parser.add_argument("--n", type=int, default=32, help="scenes per timestep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-regions", type=int, default=1, help="fewest objects per scene")
    parser.add_argument(
        "--max-regions", type=int, default=4, help=f"most objects per scene (up to {MAX_OBJECTS})"
    )
    parser.add_argument(
        "--small",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of objects drawn small, 10-20 px on 128 (default 0; 1: all)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.min_regions <= args.max_regions <= MAX_OBJECTS:
        parser.error(
            f"need 1 <= --min-regions <= --max-regions <= {MAX_OBJECTS}, "
            f"got {args.min_regions} and {args.max_regions}"
        )
    if not 0.0 <= args.small <= 1.0:
        parser.error(f"--small is a share of the objects, 0 to 1, got {args.small}")
    if args.n < 1:
        parser.error(f"--n is the number of scenes per timestep, at least 1, got {args.n}")
    torch.set_num_threads(args.threads)
    try:
        rows = run_probe(
            str(args.model),
            tuple(args.timesteps),
            args.n,
            args.seed,
            args.min_regions,
            args.max_regions,
            args.small,
        )
    except PakatiError as error:
        raise SystemExit(f"denoise_probe: {error}") from None
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
