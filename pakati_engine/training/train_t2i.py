"""Train the embedded text-to-image model: ``python -m pakati_engine.training.train_t2i``.

Recipe (see ``config.py`` for the numbers): diffusion training (x0 prediction, a shifted
cosine schedule, clamped min-SNR weighting) of a pixel-space UNet on pixel-unshuffled
shapes-world scenes of 1 to 4 objects (``--max-regions 6 --small-fraction F``: up to 6, a
share F of them small; ``--small-loss-weight W``: small objects' boxes weigh W in the loss).
The UNet runs with the engine's own
:class:`~pakati_engine.diffusion.attention.RegionalCrossAttnProcessor` installed, routed by a
:class:`~pakati_engine.diffusion.attention.RegionalAttentionController` built per batch from the
scenes' layout cells, so it learns exactly what attention-mode regional prompting asks at
inference: draw each region's object inside its region, and the base prompt elsewhere.

Runs on the CPU (the recipe is sized for 2 cores) or, with ``--device cuda``, on a GPU.
Seeded and resumable (``--resume``: model, EMA, optimizer, step and RNG from ``OUT/ckpt``);
a JSONL log (``OUT/log.jsonl``) of loss and periodic judged evaluations of the EMA weights;
periodic exports of a diffusers folder (``OUT/shapes-t2i``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.loading import bundle_from_components
from pakati_engine.training.build import (
    build_noise_scheduler,
    build_sampler,
    build_vae,
    load_tokenizer,
    write_tokenizer,
)
from pakati_engine.training.conditioning import PromptEncoder
from pakati_engine.training.config import TINY_MODEL, TrainConfig
from pakati_engine.training.data import TrainingBatch, make_batch
from pakati_engine.training.export import export_model
from pakati_engine.training.state import (
    TrainState,
    UnknownModuleError,
    add_detail_head,
    has_checkpoint,
    load_checkpoint,
    new_state,
    save_checkpoint,
    set_train_only,
)
from pakati_engine.world.regional_benchmark import run_regional_eval
from pakati_engine.world.sampling import MAX_OBJECTS

CHECKPOINT_EVERY_S = 300.0
COOLDOWN_FLOOR = 0.05
"""Share of the learning rate left at the end of a cool-down."""


def snr_loss_weight(
    snr: torch.Tensor, floor: float, gamma: float, prediction_type: str
) -> torch.Tensor:
    """Per-sample loss weights from each sample's signal-to-noise ratio: the x0-loss weight
    ``clamp(snr, floor, gamma)`` converted to the prediction target's loss (divide by
    ``snr + 1`` for v, by ``snr`` for epsilon); ``gamma`` <= 0: uniform weights."""
    if gamma <= 0:
        return torch.ones_like(snr, dtype=torch.float32)
    x0_weight = snr.clamp(min=floor, max=gamma)
    if prediction_type == "v_prediction":
        return x0_weight / (snr + 1.0)
    if prediction_type == "epsilon":
        return x0_weight / snr
    return x0_weight


class Trainer:
    """One training run writing into ``out``."""

    def __init__(self, state: TrainState, out: Path) -> None:
        self.state = state
        self.out = out
        self.device = state.device
        config = state.config.model
        out.mkdir(parents=True, exist_ok=True)
        tokenizer_dir = out / "tokenizer"
        if not (tokenizer_dir / "vocab.json").is_file():
            write_tokenizer(tokenizer_dir, config.max_tokens)
        self.tokenizer = load_tokenizer(tokenizer_dir)
        self.encoder = PromptEncoder(self.tokenizer, state.text_encoder)
        self.vae = build_vae(config)
        self.noise = build_noise_scheduler(config)
        alphas = self.noise.alphas_cumprod  # (T,)
        self.snr = (alphas / (1.0 - alphas)).to(self.device)  # (T,)
        self.log_path = out / "log.jsonl"
        self._cooldown: tuple[float, float] | None = None
        """(start, length) in ``perf_counter`` seconds of this run's learning-rate decay."""
        self._warm_from = state.step if not state.optimizer.state else None
        """Step from which the learning rate warms up again: where Adam starts without
        moments (a new run, or one resumed from a compact checkpoint, whose first steps
        would otherwise move every weight by about the full learning rate)."""

    def learning_rate(self) -> float:
        """Warm-up over the first steps, then constant, then the run's cool-down if any."""
        config = self.state.config
        warmup = min(1.0, (self.state.step + 1) / config.warmup_steps)
        if self._warm_from is not None:
            warmup = min(warmup, (self.state.step - self._warm_from + 1) / config.warmup_steps)
        return config.learning_rate * warmup * self.cooldown_factor()

    def cooldown_factor(self) -> float:
        """1 until the cool-down starts, then linear down to ``COOLDOWN_FLOOR`` at its end.

        A constant rate keeps a run resumable for ever; decaying it over the last minutes
        of a run before an export settles the weights (warm-up, stable, decay).
        """
        if self._cooldown is None:
            return 1.0
        start, length = self._cooldown
        done = (time.perf_counter() - start) / length
        return 1.0 - (1.0 - COOLDOWN_FLOOR) * min(1.0, max(0.0, done))

    def next_batch(self) -> TrainingBatch:
        config = self.state.config
        return make_batch(
            self.state.rng,
            config.batch_size,
            config.model.image_size,
            config.max_regions,
            config.plain_fraction,
            config.plain_max_objects,
            config.caption_dropout,
            config.region_dropout,
            config.min_regions,
            config.small_fraction,
            config.small_loss_weight,
        )

    def batch_loss(
        self, batch: TrainingBatch, noise: torch.Tensor, t: torch.Tensor, base_ratio: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted training loss and the unweighted per-sample MSE, (B,)."""
        model = self.state.config.model
        encoded = self.vae.encode(batch.pixels.to(self.device))
        latents = encoded.latent_dist.mode()  # (B, C, h, w)
        noisy = self.noise.add_noise(latents, noise, t)
        targets = {"sample": latents, "epsilon": noise}
        if model.prediction_type == "v_prediction":
            targets["v_prediction"] = self.noise.get_velocity(latents, noise, t)
        target = targets[model.prediction_type]
        controller = RegionalAttentionController(
            visible=batch.visible.to(self.device),
            background=batch.background.to(self.device),
            tokens_per_prompt=self.encoder.span,
            latent_size=(model.latent_size, model.latent_size),
            base_ratio=base_ratio,
        )
        embeds = self.encoder(batch.prompts)  # (B, (N+1)*span, D)
        with regional_attention(self.state.unet, controller):
            pred = self.state.unet(noisy, t, encoder_hidden_states=embeds).sample  # (B, C, h, w)
        error = (pred - target).pow(2)  # (B, C, h, w)
        per_sample = error.mean(dim=(1, 2, 3))  # (B,)
        if batch.loss_weights is not None:
            # Pixel weights averaged over each latent cell (a patch of the pixel-unshuffle).
            pixel_weights = batch.loss_weights.to(self.device)[:, None]  # (B, 1, H, W)
            cell = pixel_weights.shape[-1] // error.shape[-1]
            error = error * torch.nn.functional.avg_pool2d(pixel_weights, cell)
        weighted = error.mean(dim=(1, 2, 3))  # (B,)
        return (weighted * self.loss_weight(t)).mean(), per_sample.detach()

    def train_step(self) -> float:
        """One optimizer step on a fresh batch; returns the batch's mean unweighted MSE."""
        state, config = self.state, self.state.config
        batch = self.next_batch()
        shape = (config.batch_size, config.model.latent_channels, *(2 * [config.model.latent_size]))
        noise = torch.randn(shape, device=self.device)  # (B, C, h, w)
        t = self.sample_timesteps()
        low, high = config.base_ratio_range
        loss, per_sample = self.batch_loss(batch, noise, t, float(state.rng.uniform(low, high)))

        for group in state.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.optimized(), config.grad_clip)
        state.optimizer.step()
        state.step += 1
        state.samples += config.batch_size
        state.update_ema()
        return float(per_sample.mean())

    def sample_timesteps(self) -> torch.Tensor:
        """(B,) timesteps: uniform, but ``low_noise_fraction`` of them below ``low_noise_below``."""
        config = self.state.config
        size = (config.batch_size,)
        t = torch.randint(0, config.model.train_timesteps, size, device=self.device)
        if config.low_noise_fraction > 0:
            low = torch.randint(0, config.low_noise_below, size, device=self.device)
            pick = torch.rand(size, device=self.device) < config.low_noise_fraction
            t = torch.where(pick, low, t)
        return t

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample loss weights: x0-loss weight ``clamp(snr, floor, gamma)``, converted to
        the prediction target's loss (divide by ``snr + 1`` for v, by ``snr`` for epsilon)."""
        config = self.state.config
        return snr_loss_weight(
            self.snr[t], config.snr_floor, config.min_snr_gamma, config.model.prediction_type
        )

    def ema_bundle(self) -> ModelBundle:
        parts = {
            "unet": self.state.ema_unet,
            "vae": self.vae,
            "text_encoder": self.state.ema_text_encoder,
            "tokenizer": self.tokenizer,
            "scheduler": build_sampler(self.state.config.model),
        }
        bundle = bundle_from_components(parts, f"training-ema-step-{self.state.step}")
        return bundle.to(self.device, torch.float32)  # where training runs: EMA stays put

    def evaluate(self) -> dict[str, Any]:
        """Judge EMA generations of a fixed set of layouts (the eval's own code path).

        2-4 normal-sized objects always (the figures the shipped runs logged); a run that
        trains on more objects or small ones also judges as many 5-6-object layouts and as
        many small-object layouts (``result["more"]["extended"]``, ``["small"]``: not at the
        top level, where the eval's own summary already has a ``small`` share).
        """
        config = self.state.config
        started = time.perf_counter()
        settings = {"guidance_scale": config.eval_guidance, "base_ratio": 0.2}
        bundle = self.ema_bundle()

        def judged(min_regions: int = 2, max_regions: int = 4, small: float = 0.0) -> Any:
            return run_regional_eval(
                bundle,
                n=config.eval_layouts,
                seed=1234,
                size=config.model.image_size,
                steps=config.eval_steps,
                settings=settings,
                min_regions=min_regions,
                max_regions=max_regions,
                small_fraction=small,
            )

        result = judged()
        more: dict[str, Any] = {}
        if config.max_regions > 4:
            more["extended"] = judged(5, config.max_regions)
        if config.small_fraction > 0:
            more["small"] = judged(small=1.0)
        result["more"] = more
        result["eval_seconds"] = round(time.perf_counter() - started, 1)
        return result

    def export(self, folder: Path | None = None, settings: dict[str, Any] | None = None) -> Path:
        state = self.state
        extra = {"step": state.step, "samples": state.samples, **state.history.get("last", {})}
        return export_model(
            folder or self.out / "shapes-t2i",
            state.config.model,
            state.ema_unet,
            state.ema_text_encoder,
            settings or {"guidance_scale": state.config.eval_guidance},
            extra,
        )

    def log(self, row: dict[str, Any]) -> None:
        with self.log_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def checkpoint(self, compact_dir: Path | None) -> None:
        save_checkpoint(self.state, self.out / "ckpt")
        if compact_dir is not None:
            save_checkpoint(self.state, compact_dir, compact=True)

    def run(
        self,
        minutes: float,
        max_steps: int | None = None,
        compact_dir: Path | None = None,
        export_dir: Path | None = None,
        evaluate: bool = True,
        cooldown_minutes: float = 0.0,
    ) -> None:
        state, config = self.state, self.state.config
        started = time.perf_counter()
        if cooldown_minutes > 0:
            length = min(cooldown_minutes, minutes) * 60
            self._cooldown = (started + minutes * 60 - length, length)
        base_elapsed = state.elapsed_s
        last = {"eval": started, "export": started, "ckpt": started}
        losses: list[float] = []
        window = time.perf_counter()
        window_samples = 0
        while time.perf_counter() - started < minutes * 60:
            if max_steps is not None and state.step >= max_steps:
                break
            losses.append(self.train_step())
            window_samples += config.batch_size
            state.elapsed_s = base_elapsed + time.perf_counter() - started
            if state.step % config.log_every_steps == 0:
                self._log_progress(losses, window_samples / (time.perf_counter() - window))
                losses, window, window_samples = [], time.perf_counter(), 0
            now = time.perf_counter()
            if evaluate and now - last["eval"] >= config.eval_every_minutes * 60:
                self._evaluate_and_log()
                last["eval"] = time.perf_counter()
            if now - last["export"] >= config.export_every_minutes * 60:
                self.export(export_dir)
                last["export"] = time.perf_counter()
            if now - last["ckpt"] >= CHECKPOINT_EVERY_S:
                self.checkpoint(compact_dir)
                last["ckpt"] = time.perf_counter()
        if losses:
            self._log_progress(losses, window_samples / (time.perf_counter() - window))
        if evaluate:
            self._evaluate_and_log()
        self.checkpoint(compact_dir)
        self.export(export_dir)

    def _log_progress(self, losses: list[float], rate: float) -> None:
        state = self.state
        row = {
            "step": state.step,
            "samples": state.samples,
            "elapsed_s": round(state.elapsed_s, 1),
            "loss": round(sum(losses) / len(losses), 5),
            "lr": self.learning_rate(),
            "samples_per_s": round(rate, 2),
        }
        self.log(row)
        print(json.dumps(row), flush=True)

    def _evaluate_and_log(self) -> None:
        try:
            result = self.evaluate()
        except Exception as error:  # an evaluation must never end a long run
            self.log({"step": self.state.step, "eval_error": repr(error)})
            print(f"evaluation failed: {error!r}", flush=True)
            return
        keys = ("accuracy_color", "accuracy_shape", "accuracy_both", "accuracy_background")
        summary = {k: result[k] for k in (*keys, "leakage", "seconds_per_image")}
        self.state.history["last"] = {"eval": summary}
        row: dict[str, Any] = {"step": self.state.step, "elapsed_s": round(self.state.elapsed_s, 1)}
        row["eval"] = summary
        for name, judged in result["more"].items():
            row[f"eval_{name}"] = {k: judged[k] for k in keys}
        self.log(row)
        print(json.dumps(row), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pakati_engine.training.train_t2i",
        description="Train Pakati's embedded text-to-image model on the shapes world.",
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/ckpt")
    parser.add_argument(
        "--resume-from", type=Path, help="continue from this checkpoint folder (full or compact)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="batch size (default 64); on a resume, changes the run's",
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate; on a resume, changes the run's"
    )
    parser.add_argument(
        "--prediction-type",
        choices=("sample", "v_prediction", "epsilon"),
        help="UNet target (default sample); on --resume, switches the run's target",
    )
    parser.add_argument(
        "--snr-shift",
        type=float,
        help="noise-schedule shift (default 8; 1: plain cosine); on --resume, switches it",
    )
    parser.add_argument(
        "--detail-head",
        action="store_true",
        help="UNet with a detail head that sees the noisy input (small objects' outlines); "
        "on --resume, converts the run's UNet (the head's output starts at zero)",
    )
    parser.add_argument(
        "--head-only",
        action="store_true",
        help="train only the detail head (the UNet and text encoder stay as they are); "
        "a resume without it or --train-only trains everything again",
    )
    parser.add_argument(
        "--train-only",
        nargs="+",
        metavar="MODULE",
        help="train only these UNet modules, e.g. detail_head up_blocks.1 conv_norm_out "
        "conv_out (the rest stays as it is); with --head-only, the detail head as well",
    )
    parser.add_argument(
        "--low-noise-fraction",
        type=float,
        help="share of samples with a timestep below --low-noise-below (default 0: uniform)",
    )
    parser.add_argument(
        "--low-noise-below", type=int, help="upper end of the low-noise timesteps (default 250)"
    )
    parser.add_argument(
        "--min-regions",
        type=int,
        help="fewest objects of a regional sample (default 1); on a resume, changes the run's",
    )
    parser.add_argument(
        "--max-regions",
        type=int,
        help="most objects of a regional sample (1-6, default 4); on a resume, changes the run's",
    )
    parser.add_argument(
        "--small-fraction",
        type=float,
        help="share of regional samples' objects drawn small, 10-20 px (default 0); "
        "on a resume, changes the run's",
    )
    parser.add_argument(
        "--small-loss-weight",
        type=float,
        help="loss weight of small objects' boxes (default 1: a plain mean); "
        "on a resume, changes the run's",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this step")
    parser.add_argument("--tiny", action="store_true", help="tiny model (tests, smoke runs)")
    parser.add_argument("--no-eval", action="store_true", help="skip evaluations")
    parser.add_argument("--eval-every", type=float, default=None, help="minutes between evals")
    parser.add_argument("--eval-layouts", type=int, default=None, help="layouts per eval")
    parser.add_argument(
        "--compact-dir", type=Path, help="also write a compact resumable checkpoint here"
    )
    parser.add_argument(
        "--export-dir", type=Path, help="write exports here (default OUT/shapes-t2i)"
    )
    parser.add_argument(
        "--cooldown",
        type=float,
        default=0.0,
        help="decay the learning rate linearly to 5%% over the last this many minutes",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda or cuda:N: where training runs"
    )
    parser.add_argument(
        "--export-only", action="store_true", help="export the checkpoint's EMA weights and stop"
    )
    return parser.parse_args(argv)


def build_state(args: argparse.Namespace) -> TrainState:
    checkpoint = args.out / "ckpt"
    source = args.resume_from or (checkpoint if args.resume else None)
    if source is not None:
        if not has_checkpoint(source):
            raise SystemExit(f"no checkpoint to resume in {source}")
        state = load_checkpoint(source)
        print(f"resumed from {source} at step {state.step}", flush=True)
        # Switching the target or the schedule keeps the learnt features; the output head
        # or the timestep embedding re-learns.
        changes = _model_changes(args)
        switched = {k: v for k, v in changes.items() if getattr(state.config.model, k) != v}
        if switched.pop("detail_head", False):
            state = add_detail_head(state)
            print("added the detail head (its output starts at zero)", flush=True)
        modules = _train_only(args)
        if modules != state.config.train_only:
            _checked(replace(state.config, train_only=modules))
            with _module_errors():
                state = set_train_only(state, modules)
            print(f"training only: {', '.join(modules) or 'nothing (all is trained)'}", flush=True)
        if switched:
            model = replace(state.config.model, **switched)
            state.config = replace(state.config, model=model)
            print(f"switched {switched}", flush=True)
        data = {k: v for k, v in _data_changes(args).items() if getattr(state.config, k) != v}
        if data:
            state.config = _checked(replace(state.config, **data))
            print(f"data: {data}", flush=True)
        # A fine-tune usually wants its own learning rate or batch: honour them, and say so.
        tuning = {k: v for k, v in _tuning_changes(args).items() if getattr(state.config, k) != v}
        if tuning:
            state.config = replace(state.config, **tuning)
            print(f"changed {tuning}", flush=True)
        return state
    if has_checkpoint(checkpoint):
        raise SystemExit(f"{checkpoint} exists: pass --resume to continue it, or a new --out")
    config = TrainConfig(seed=args.seed)
    if args.tiny:
        config = replace(config, model=TINY_MODEL, batch_size=8, eval_layouts=2, eval_steps=4)
    config = replace(config, model=replace(config.model, **_model_changes(args)))
    overrides = _tuning_changes(args)
    if args.eval_every is not None:
        overrides["eval_every_minutes"] = args.eval_every
    if args.eval_layouts is not None:
        overrides["eval_layouts"] = args.eval_layouts
    config = replace(config, **overrides, **_data_changes(args), train_only=_train_only(args))
    with _module_errors():
        return new_state(_checked(config))


def _train_only(args: argparse.Namespace) -> tuple[str, ...]:
    """The UNet modules --head-only and --train-only name, in order, once each."""
    named = (["detail_head"] if args.head_only else []) + list(args.train_only or [])
    modules = tuple(dict.fromkeys(name.strip(".") for name in named))
    if "" in modules:  # it would match every UNet parameter
        raise SystemExit("--train-only: name UNet modules, e.g. detail_head up_blocks.1")
    return modules


@contextmanager
def _module_errors() -> Iterator[None]:
    """A --train-only module the UNet does not have ends the command with its message."""
    try:
        yield
    except UnknownModuleError as error:
        raise SystemExit(str(error)) from None


def _tuning_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The optimisation fields the command line sets (batch size, learning rate)."""
    changes: dict[str, Any] = {}
    if args.batch:
        changes["batch_size"] = args.batch
    if args.lr:
        changes["learning_rate"] = args.lr
    return changes


def _data_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The data fields the command line sets (object counts, share of small objects)."""
    names = {"min_regions": args.min_regions, "max_regions": args.max_regions}
    changes: dict[str, Any] = {k: v for k, v in names.items() if v is not None}
    if args.small_fraction is not None:
        changes["small_fraction"] = args.small_fraction
    if args.small_loss_weight is not None:
        changes["small_loss_weight"] = args.small_loss_weight
    if args.low_noise_fraction is not None:
        changes["low_noise_fraction"] = args.low_noise_fraction
    if args.low_noise_below is not None:
        changes["low_noise_below"] = args.low_noise_below
    return changes


def _checked(config: TrainConfig) -> TrainConfig:
    if not 1 <= config.min_regions <= config.max_regions <= MAX_OBJECTS:
        raise SystemExit(
            f"regions: need 1 <= --min-regions ({config.min_regions}) <= --max-regions "
            f"({config.max_regions}) <= {MAX_OBJECTS}"
        )
    if not 0.0 <= config.small_fraction <= 1.0:
        raise SystemExit(f"--small-fraction must be in [0, 1], got {config.small_fraction}")
    if not 0.0 <= config.low_noise_fraction <= 1.0:
        raise SystemExit(f"--low-noise-fraction must be in [0, 1], got {config.low_noise_fraction}")
    if not 1 <= config.low_noise_below <= config.model.train_timesteps:
        raise SystemExit(
            f"--low-noise-below must be in [1, {config.model.train_timesteps}], "
            f"got {config.low_noise_below}"
        )
    if "detail_head" in config.train_only and not config.model.detail_head:
        raise SystemExit(
            "--head-only (or --train-only detail_head) trains the detail head: add --detail-head"
        )
    if config.small_loss_weight <= 0:
        raise SystemExit(
            f"--small-loss-weight must be positive (1: no emphasis), got {config.small_loss_weight}"
        )
    return config


def _model_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The model fields the command line sets (prediction target, schedule shift)."""
    changes: dict[str, Any] = {}
    if args.prediction_type:
        changes["prediction_type"] = args.prediction_type
    if args.snr_shift is not None:
        changes["snr_shift"] = args.snr_shift
    if args.detail_head:
        changes["detail_head"] = True
    return changes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    state = build_state(args)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {args.device}: no CUDA device here; use --device cpu")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    state.to(device)
    trainer = Trainer(state, args.out)
    if args.export_only:
        print(f"exported step {state.step} to {trainer.export(args.export_dir)}")
        return 0
    params = sum(p.numel() for p in state.optimized())
    print(
        f"training {params / 1e6:.2f}M parameters at step {state.step}, "
        f"batch {state.config.batch_size}, for {args.minutes} min",
        flush=True,
    )
    trainer.run(
        args.minutes,
        max_steps=args.max_steps,
        compact_dir=args.compact_dir,
        export_dir=args.export_dir,
        evaluate=not args.no_eval,
        cooldown_minutes=args.cooldown,
    )
    print(f"done at step {state.step}; exported to {args.export_dir or args.out / 'shapes-t2i'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
