"""The training state (model, EMA, optimizer, counters, RNG) and its checkpoints.

A checkpoint is a folder with ``tensors.safetensors`` and ``state.json``. The frozen token
embedding is not stored: it is rebuilt from the seed, and a checksum guards that. Two forms:

* full (``compact=False``): fp32 weights and both Adam moments, for exact resumption;
* compact: fp32 weights and fp16 EMA, about 40% of the full size; small enough to commit
  (under 30 MB for the shipped recipe) so a later session continues the run. Adam restarts
  from an empty state (its bias correction makes the first steps ordinary lr-sized steps,
  and its moments refill within tens of steps).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from pakati_engine.models.protocols import TrainableTextEncoder, TrainableUNet
from pakati_engine.training.build import build_text_encoder, build_unet, token_embedding
from pakati_engine.training.config import TrainConfig

TENSORS, STATE = "tensors.safetensors", "state.json"


class UnknownModuleError(ValueError):
    """``TrainConfig.train_only`` names a module the UNet does not have."""


@dataclass
class TrainState:
    """Everything a resumed run needs."""

    config: TrainConfig
    unet: TrainableUNet
    text_encoder: TrainableTextEncoder
    ema_unet: TrainableUNet
    ema_text_encoder: TrainableTextEncoder
    optimizer: torch.optim.AdamW
    rng: np.random.Generator
    step: int = 0
    samples: int = 0
    elapsed_s: float = 0.0
    history: dict[str, Any] = field(default_factory=dict)

    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        """Named trainable parameters in a fixed order (what checkpoints and the EMA hold)."""
        return _trainable(self.unet, self.text_encoder)

    def optimized(self) -> list[torch.nn.Parameter]:
        """The parameters the optimizer moves (with ``train_only``: those modules')."""
        return _optimized(self.config, self.unet, self.text_encoder)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def to(self, device: torch.device) -> TrainState:
        """Move models, EMA copies and optimizer moments to ``device`` (in place)."""
        for module in (self.unet, self.text_encoder, self.ema_unet, self.ema_text_encoder):
            module.to(device)
        for moments in self.optimizer.state.values():
            for key in ("exp_avg", "exp_avg_sq"):
                if key in moments:
                    moments[key] = moments[key].to(device)
        return self

    def ema_parameters(self) -> list[torch.Tensor]:
        return [p for _, p in _trainable(self.ema_unet, self.ema_text_encoder)]

    @torch.no_grad()
    def update_ema(self) -> None:
        """EMA with a warm-up, so early evaluations are not dominated by the random init."""
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        live = [p.detach() for _, p in self.trainable()]
        torch._foreach_lerp_(self.ema_parameters(), live, 1.0 - decay)


def _trainable(
    unet: TrainableUNet, text_encoder: TrainableTextEncoder
) -> list[tuple[str, torch.nn.Parameter]]:
    frozen = token_embedding(text_encoder)
    named = [(f"unet.{n}", p) for n, p in unet.named_parameters()]
    named += [(f"text.{n}", p) for n, p in text_encoder.named_parameters() if p is not frozen]
    return named


def _optimized(
    config: TrainConfig, unet: TrainableUNet, text_encoder: TrainableTextEncoder
) -> list[torch.nn.Parameter]:
    named = _trainable(unet, text_encoder)
    if not config.train_only:
        return [p for _, p in named]
    unknown = [m for m in config.train_only if not any(_in(n, m) for n, _ in named)]
    if unknown:
        children = ", ".join(dict.fromkeys(n.split(".")[1] for n, _ in named if _in(n, "")))
        raise UnknownModuleError(
            f"no UNet module {', '.join(unknown)} to train; the UNet's modules: {children} "
            "(or a dotted part of one, e.g. up_blocks.1)"
        )
    return [p for name, p in named if any(_in(name, m) for m in config.train_only)]


def _in(name: str, module: str) -> bool:
    """Whether the parameter ``name`` (``unet.``...) belongs to the UNet module ``module``
    (``""``: to the UNet)."""
    return name.startswith(f"unet.{module}." if module else "unet.")


def _freeze_all_but_optimized(state: TrainState) -> None:
    optimized = {id(p) for p in state.optimized()}
    for _, param in state.trainable():
        param.requires_grad_(id(param) in optimized)


def new_state(config: TrainConfig) -> TrainState:
    """A fresh run: seeded models, EMA copies, optimizer, data RNG."""
    unet = build_unet(config.model, config.seed)
    text_encoder = build_text_encoder(config.model, config.seed)
    token_embedding(text_encoder).requires_grad_(False)
    unet.train()
    text_encoder.train()
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    ema_unet.requires_grad_(False)
    ema_text.requires_grad_(False)
    torch.manual_seed(config.seed)
    state = TrainState(
        config=config,
        unet=unet,
        text_encoder=text_encoder,
        ema_unet=ema_unet,
        ema_text_encoder=ema_text,
        optimizer=_optimizer(config, unet, text_encoder),
        rng=np.random.default_rng(config.seed),
    )
    _freeze_all_but_optimized(state)
    return state


def set_train_only(state: TrainState, modules: tuple[str, ...]) -> TrainState:
    """Train only these UNet modules from now on (``()``: everything): a new optimizer."""
    state.config = replace(state.config, train_only=modules)
    _reset_optimizer(state)
    return state


def _reset_optimizer(state: TrainState) -> None:
    """A fresh optimizer over what ``state.config`` trains, the rest frozen."""
    state.optimizer = _optimizer(state.config, state.unet, state.text_encoder)
    _freeze_all_but_optimized(state)


def _optimizer(
    config: TrainConfig, unet: TrainableUNet, text_encoder: TrainableTextEncoder
) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        _optimized(config, unet, text_encoder),
        lr=config.learning_rate,
        betas=(0.9, 0.99),
        weight_decay=config.weight_decay,
    )


def add_detail_head(state: TrainState) -> TrainState:
    """The same run with its UNet and EMA UNet converted to the detail-head UNet.

    Every trained weight is kept and the head's output starts at zero, so the model computes
    exactly what it did; the optimizer starts afresh (its parameter list changed), which the
    trainer's warm-up covers.
    """
    model = replace(state.config.model, detail_head=True)
    config = replace(state.config, model=model)
    converted = []
    for old in (state.unet, state.ema_unet):
        new = build_unet(model, config.seed).to(state.device)
        missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
        if unexpected or not all(
            name.startswith(("detail_head", "input_skip")) for name in missing
        ):
            raise RuntimeError(f"cannot convert the UNet: missing {missing}, extra {unexpected}")
        converted.append(new)
    unet, ema_unet = converted
    unet.train()
    ema_unet.eval().requires_grad_(False)
    state.config, state.unet, state.ema_unet = config, unet, ema_unet
    _reset_optimizer(state)
    return state


def _embedding_checksum(text_encoder: TrainableTextEncoder) -> float:
    return float(token_embedding(text_encoder).double().abs().sum())


def save_checkpoint(state: TrainState, folder: str | Path, compact: bool = False) -> Path:
    """Write the state to ``folder`` atomically (a temporary folder, then a rename)."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    ema = dict(zip([n for n, _ in state.trainable()], state.ema_parameters(), strict=True))
    for index, (name, param) in enumerate(state.trainable()):
        tensors[f"model/{name}"] = param.detach().float().cpu()
        tensors[f"ema/{name}"] = ema[name].to("cpu", torch.float16 if compact else torch.float32)
        moments = state.optimizer.state.get(param, {})
        if "exp_avg_sq" in moments and not compact:
            tensors[f"adam_v/{index}"] = moments["exp_avg_sq"].float().cpu()
            tensors[f"adam_m/{index}"] = moments["exp_avg"].float().cpu()
    tensors["rng/torch"] = torch.get_rng_state()
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(partial / TENSORS))
    meta = {
        "config": state.config.to_dict(),
        "step": state.step,
        "samples": state.samples,
        "elapsed_s": state.elapsed_s,
        "history": state.history,
        "compact": compact,
        "numpy_rng": state.rng.bit_generator.state,
        "embedding_checksum": _embedding_checksum(state.text_encoder),
    }
    (partial / STATE).write_text(json.dumps(meta, indent=1))
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        os.replace(folder, old) if not old.exists() else _replace_tree(folder, old)
        os.replace(partial, folder)
        _remove_tree(old)
    else:
        os.replace(partial, folder)
    return folder


def _replace_tree(folder: Path, old: Path) -> None:
    _remove_tree(old)
    os.replace(folder, old)


def _remove_tree(folder: Path) -> None:
    if folder.exists():
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def has_checkpoint(folder: str | Path) -> bool:
    return (Path(folder) / STATE).is_file() and (Path(folder) / TENSORS).is_file()


def load_checkpoint(folder: str | Path) -> TrainState:
    """Rebuild a run from a checkpoint folder (full or compact), on the CPU."""
    folder = Path(folder)
    meta = json.loads((folder / STATE).read_text())
    config = TrainConfig.from_dict(meta["config"])
    state = new_state(config)
    if abs(_embedding_checksum(state.text_encoder) - meta["embedding_checksum"]) > 1e-6:
        raise RuntimeError(
            f"{folder}: the seeded token embedding differs from the one trained with "
            "(different torch version or seed?); this checkpoint cannot be resumed here"
        )
    tensors = load_file(str(folder / TENSORS))
    ema = dict(zip([n for n, _ in state.trainable()], state.ema_parameters(), strict=True))
    with torch.no_grad():
        for index, (name, param) in enumerate(state.trainable()):
            param.copy_(tensors[f"model/{name}"])
            ema[name].copy_(tensors[f"ema/{name}"].float())
            if f"adam_v/{index}" in tensors:  # full checkpoints; compact ones restart Adam
                state.optimizer.state[param] = {
                    "step": torch.tensor(float(meta["step"])),
                    "exp_avg": tensors[f"adam_m/{index}"],
                    "exp_avg_sq": tensors[f"adam_v/{index}"],
                }
    torch.set_rng_state(tensors["rng/torch"])
    state.rng.bit_generator.state = meta["numpy_rng"]
    state.step = int(meta["step"])
    state.samples = int(meta["samples"])
    state.elapsed_s = float(meta["elapsed_s"])
    state.history = dict(meta.get("history", {}))
    return state
