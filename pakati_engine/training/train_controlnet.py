"""Train the shipped outline ControlNet: ``python -m pakati_engine.training.train_controlnet``.

Recipe: ``ControlNetModel.from_unet`` on the shipped shapes UNet (its encoder copied, its
output convolutions zero, so training starts from "no control"), trained with the UNet
and text encoder frozen, on shapes-world scenes in which one object per scene is described
by its colour only and drawn by its outline (see ``controlnet_data``). The residuals are
masked to the controlled object's cell, as the engine masks them to a region at inference,
and both networks route their cross-attention regionally, as at inference. The loss is the
text-to-image model's own (its prediction target, min-SNR weighting with a floor).

Seeded and resumable (``--resume``: ControlNet, EMA, optimizer, step and RNG from
``OUT/ckpt``; ``--init FOLDER``: continue from exported weights such as the shipped ones,
with a fresh optimizer); a JSONL log of the loss; exports of the EMA weights as a diffusers
``ControlNetModel`` folder with a ``pakati.json`` naming the base model it was trained on.
Runs on the CPU (2 cores) or with ``--device cuda``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
from diffusers import ControlNetModel, DDPMScheduler
from safetensors.torch import load_file, save_file

from pakati_engine.control.masking import mask_residuals
from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import resolve_model
from pakati_engine.models.loading import load_model
from pakati_engine.training.conditioning import PromptEncoder
from pakati_engine.training.controlnet_data import ControlBatch, control_batch
from pakati_engine.training.train_t2i import snr_loss_weight

CHECKPOINT_EVERY_S = 300.0
TENSORS, STATE = "tensors.safetensors", "state.json"
CONTROLNET_NAME = "pakati-shapes-outline"


@dataclass(frozen=True)
class ControlTrainConfig:
    """Hyper-parameters of one ControlNet run (saved in its checkpoint)."""

    base_model: str = "pakati-shapes"
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    min_snr_gamma: float = 0.0
    """x0-loss weight ``clamp(snr, snr_floor, min_snr_gamma)`` as the text-to-image model
    trains; 0: every timestep weighs the same. Min-SNR puts five times the weight on the
    nearly clean steps, where the noisy input already shows the shape and a control has
    nothing to add."""
    snr_floor: float = 1.0
    t_range: tuple[int, int] = (150, 950)
    """Training timesteps are drawn from this range: the shapes world's outlines are
    decided between t ~ 150 and 830 (see ``ModelConfig.snr_shift``), so that is where a
    shape control acts."""
    max_regions: int = 4
    small_fraction: float = 0.15
    caption_dropout: float = 0.1
    base_ratio_range: tuple[float, float] = (0.05, 0.35)
    embedding_channels: tuple[int, ...] = (16, 32, 64, 128)
    """Channels of the control map's embedding (3 stride-2 steps: 128 px -> 16)."""
    random_embedding_out: bool = True
    """Give the control embedding's last convolution PyTorch's default random init instead of
    zeros. ``from_unet`` zeroes it *and* the output convolutions, so at first no gradient
    reaches the embedding and the outputs learn from the copied encoder alone; with the
    embedding live from the start, the outputs see the control at once. The zero output
    convolutions still make the untrained ControlNet change nothing."""
    log_every_steps: int = 20
    export_every_minutes: float = 15.0
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ControlTrainConfig:
        values = dict(values)
        for key in ("base_ratio_range", "embedding_channels", "t_range"):
            if key not in values:
                continue
            values[key] = tuple(values[key])
        return cls(**values)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_unet_hash(base_model: str) -> str:
    """Hash of the base UNet's weights file: a ControlNet fits the UNet it was trained on."""
    return file_sha256(resolve_model(base_model) / "unet" / "diffusion_pytorch_model.safetensors")


class ControlTrainer:
    """One run: frozen base model, trainable ControlNet and its EMA, written into ``out``."""

    def __init__(self, config: ControlTrainConfig, out: Path, device: torch.device) -> None:
        self.config = config
        self.out = out
        self.device = device
        out.mkdir(parents=True, exist_ok=True)
        self.bundle: ModelBundle = load_model(config.base_model, device=device, dtype="float32")
        for module in (self.bundle.unet, self.bundle.text_encoder):
            module.requires_grad_(False)
            module.eval()
        torch.manual_seed(config.seed)
        self.controlnet = ControlNetModel.from_unet(
            self.bundle.unet, conditioning_embedding_out_channels=config.embedding_channels
        ).to(device)
        if config.random_embedding_out:
            self.controlnet.controlnet_cond_embedding.conv_out.reset_parameters()
        self.controlnet.train()
        self.ema = copy.deepcopy(self.controlnet).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            self.controlnet.parameters(),
            lr=config.learning_rate,
            betas=(0.9, 0.99),
            weight_decay=config.weight_decay,
        )
        self.noise = DDPMScheduler.from_config(self.bundle.scheduler.config)
        alphas = self.noise.alphas_cumprod  # (T,)
        self.snr = (alphas / (1.0 - alphas)).to(device)  # (T,)
        self.prediction_type = str(self.noise.config.prediction_type)
        self.encoder = PromptEncoder(self.bundle.tokenizer, self.bundle.text_encoder)
        self.rng = np.random.default_rng(config.seed)
        self.step = 0
        self.samples = 0
        self.elapsed_s = 0.0
        self.log_path = out / "log.jsonl"

    # -- one step ---------------------------------------------------------------------
    def learning_rate(self) -> float:
        return self.config.learning_rate * min(1.0, (self.step + 1) / self.config.warmup_steps)

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        config = self.config
        return snr_loss_weight(
            self.snr[t], config.snr_floor, config.min_snr_gamma, self.prediction_type
        )

    def batch_loss(self, batch: ControlBatch) -> tuple[torch.Tensor, torch.Tensor]:
        base, device = batch.base, self.device
        size = base.pixels.shape[0]
        vae = self.bundle.vae
        assert vae is not None
        latents = vae.encode(base.pixels.to(device)).latent_dist.mode()  # (B, C, h, w)
        noise = torch.randn_like(latents)
        low, high = self.config.t_range
        t = torch.randint(low, high, (size,), device=device)
        noisy = self.noise.add_noise(latents, noise, t)
        targets = {"sample": latents, "epsilon": noise}
        if self.prediction_type == "v_prediction":
            targets["v_prediction"] = self.noise.get_velocity(latents, noise, t)
        target = targets[self.prediction_type]
        with torch.no_grad():
            embeds = self.encoder(base.prompts)  # (B, (N+1)*span, D)
        low_ratio, high_ratio = self.config.base_ratio_range
        controller = RegionalAttentionController(
            visible=base.visible.to(device),
            background=base.background.to(device),
            tokens_per_prompt=self.encoder.span,
            latent_size=(latents.shape[-2], latents.shape[-1]),
            base_ratio=float(self.rng.uniform(low_ratio, high_ratio)),
        )
        with (
            regional_attention(self.controlnet, controller),
            regional_attention(self.bundle.unet, controller),
        ):
            down, mid = self.controlnet(
                noisy,
                t,
                encoder_hidden_states=embeds,
                controlnet_cond=batch.control.to(device),
                return_dict=False,
            )
            down, mid = mask_residuals(down, mid, batch.mask.to(device))
            pred = self.bundle.unet(
                noisy,
                t,
                encoder_hidden_states=embeds,
                down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
            ).sample  # (B, C, h, w)
        per_sample = (pred - target).pow(2).mean(dim=(1, 2, 3))  # (B,)
        return (per_sample * self.loss_weight(t)).mean(), per_sample.detach()

    def train_step(self) -> float:
        config = self.config
        batch = control_batch(
            self.rng,
            config.batch_size,
            int(self.bundle.unet.config.sample_size) * self.bundle.vae_scale_factor,
            config.max_regions,
            config.small_fraction,
            config.caption_dropout,
        )
        loss, per_sample = self.batch_loss(batch)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.controlnet.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        self.samples += config.batch_size
        with torch.no_grad():
            decay = min(config.ema_decay, (1 + self.step) / (10 + self.step))
            live = [p.detach() for p in self.controlnet.parameters()]
            torch._foreach_lerp_(list(self.ema.parameters()), live, 1.0 - decay)
        return float(per_sample.mean())

    # -- checkpoints and exports --------------------------------------------------------
    def save_checkpoint(self) -> Path:
        folder = self.out / "ckpt"
        partial = folder.with_name("ckpt.partial")
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        tensors: dict[str, torch.Tensor] = {}
        params = list(self.controlnet.named_parameters())
        ema = dict(self.ema.named_parameters())
        for index, (name, param) in enumerate(params):
            tensors[f"model/{name}"] = param.detach().float().cpu()
            tensors[f"ema/{name}"] = ema[name].detach().float().cpu()
            moments = self.optimizer.state.get(param, {})
            if "exp_avg" in moments:
                tensors[f"adam_m/{index}"] = moments["exp_avg"].float().cpu()
                tensors[f"adam_v/{index}"] = moments["exp_avg_sq"].float().cpu()
        tensors["rng/torch"] = torch.get_rng_state()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial / TENSORS))
        meta = {
            "config": asdict(self.config),
            "step": self.step,
            "samples": self.samples,
            "elapsed_s": self.elapsed_s,
            "numpy_rng": self.rng.bit_generator.state,
        }
        (partial / STATE).write_text(json.dumps(meta, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        partial.replace(folder)
        return folder

    def load_checkpoint(self, folder: Path) -> None:
        meta = json.loads((folder / STATE).read_text())
        tensors = load_file(str(folder / TENSORS))
        ema = dict(self.ema.named_parameters())
        with torch.no_grad():
            for index, (name, param) in enumerate(self.controlnet.named_parameters()):
                param.copy_(tensors[f"model/{name}"])
                ema[name].copy_(tensors[f"ema/{name}"])
                if f"adam_m/{index}" in tensors:
                    self.optimizer.state[param] = {
                        "step": torch.tensor(float(meta["step"])),
                        "exp_avg": tensors[f"adam_m/{index}"].to(self.device),
                        "exp_avg_sq": tensors[f"adam_v/{index}"].to(self.device),
                    }
        torch.set_rng_state(tensors["rng/torch"])
        self.rng.bit_generator.state = meta["numpy_rng"]
        self.step = int(meta["step"])
        self.samples = int(meta["samples"])
        self.elapsed_s = float(meta["elapsed_s"])

    def init_from(self, folder: Path) -> None:
        """Start from exported weights (the shipped ControlNet): model and EMA, fresh Adam.

        How a later session continues the shipped run without a committed optimizer state.
        """
        exported = ControlNetModel.from_pretrained(str(folder), torch_dtype=torch.float32)
        weights = exported.state_dict()
        self.controlnet.load_state_dict(weights)
        self.ema.load_state_dict(weights)
        training = json.loads((folder / "pakati.json").read_text()).get("training", {})
        self.step = int(training.get("step", 0))
        self.samples = int(training.get("samples", 0))

    def export(self, folder: Path) -> Path:
        """The EMA ControlNet as a diffusers folder (fp16) with ``pakati.json`` beside it."""
        partial = folder.with_name(folder.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        diffusers.utils.logging.set_verbosity_error()  # the fp16 cast notice: intended here
        copy.deepcopy(self.ema).to(torch.float16).save_pretrained(
            str(partial), safe_serialization=True
        )
        card = {
            "name": CONTROLNET_NAME,
            "preprocess": "outline",
            "base_model": self.config.base_model,
            "base_unet_sha256": base_unet_hash(self.config.base_model),
            "training": {"step": self.step, "samples": self.samples},
        }
        (partial / "pakati.json").write_text(json.dumps(card, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        partial.replace(folder)
        return folder

    # -- the loop -------------------------------------------------------------------------
    def run(self, minutes: float, export_dir: Path, max_steps: int | None = None) -> None:
        started = time.perf_counter()
        base_elapsed = self.elapsed_s
        last_ckpt = last_export = started
        losses: list[float] = []
        window = time.perf_counter()
        while time.perf_counter() - started < minutes * 60:
            if max_steps is not None and self.step >= max_steps:
                break
            losses.append(self.train_step())
            self.elapsed_s = base_elapsed + time.perf_counter() - started
            if self.step % self.config.log_every_steps == 0:
                rate = len(losses) * self.config.batch_size / (time.perf_counter() - window)
                self._log(losses, rate)
                losses, window = [], time.perf_counter()
            now = time.perf_counter()
            if now - last_ckpt >= CHECKPOINT_EVERY_S:
                self.save_checkpoint()
                last_ckpt = now
            if now - last_export >= self.config.export_every_minutes * 60:
                self.export(export_dir)
                last_export = now
        if losses:
            self._log(losses, len(losses) * self.config.batch_size / (time.perf_counter() - window))
        self.save_checkpoint()
        self.export(export_dir)

    def _log(self, losses: list[float], rate: float) -> None:
        row = {
            "step": self.step,
            "samples": self.samples,
            "elapsed_s": round(self.elapsed_s, 1),
            "loss": round(sum(losses) / len(losses), 5),
            "lr": self.learning_rate(),
            "samples_per_s": round(rate, 2),
        }
        with self.log_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pakati_engine.training.train_controlnet",
        description="Train the outline ControlNet on the shapes world (base model frozen).",
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/ckpt")
    parser.add_argument("--export-dir", type=Path, help="export here (default OUT/export)")
    parser.add_argument(
        "--init",
        type=Path,
        help="start from these exported weights (e.g. the shipped ControlNet folder)",
    )
    parser.add_argument("--base-model", default=None, help="frozen base (default pakati-shapes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default 5e-4)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this step")
    parser.add_argument(
        "--min-snr-gamma", type=float, default=None, help="loss weighting (default 0: uniform)"
    )
    parser.add_argument(
        "--t-range", type=int, nargs=2, default=None, help="timesteps to train on (150 950)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device here; use --device cpu")
    checkpoint = args.out / "ckpt"
    if args.resume and not (checkpoint / STATE).is_file():
        raise SystemExit(f"no checkpoint to resume in {checkpoint}")
    if not args.resume and (checkpoint / STATE).is_file():
        raise SystemExit(f"{checkpoint} exists: pass --resume to continue it, or a new --out")
    config = ControlTrainConfig(seed=args.seed)
    if args.resume:
        config = ControlTrainConfig.from_dict(
            json.loads((checkpoint / STATE).read_text())["config"]
        )
    overrides: dict[str, Any] = {}
    if args.batch:
        overrides["batch_size"] = args.batch
    if args.lr:
        overrides["learning_rate"] = args.lr
    if args.base_model:
        overrides["base_model"] = args.base_model
    if args.min_snr_gamma is not None:
        overrides["min_snr_gamma"] = args.min_snr_gamma
    if args.t_range is not None:
        overrides["t_range"] = tuple(args.t_range)
    config = replace(config, **overrides)
    trainer = ControlTrainer(config, args.out, device)
    if args.resume:
        trainer.load_checkpoint(checkpoint)
        print(f"resumed from {checkpoint} at step {trainer.step}", flush=True)
    elif args.init is not None:
        if not (args.init / "config.json").is_file():
            raise SystemExit(f"--init {args.init}: not an exported ControlNet folder")
        trainer.init_from(args.init)
        print(f"initialised from {args.init} at step {trainer.step}", flush=True)
    params = sum(p.numel() for p in trainer.controlnet.parameters())
    print(
        f"training a {params / 1e6:.2f}M-parameter ControlNet at step {trainer.step}, "
        f"batch {config.batch_size}, for {args.minutes} min",
        flush=True,
    )
    export_dir = args.export_dir or args.out / "export"
    trainer.run(args.minutes, export_dir, args.max_steps)
    print(f"done at step {trainer.step}; exported to {export_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
