"""Train the small shapes-world CLIP.

``python -m pakati_engine.clip.train --out DIR --minutes M --seed S [--resume]``

Contrastive (InfoNCE with open_clip's learnable temperature) on batches that mix whole scenes
with their captions and region crops with per-object captions, plus one-change hard negative
captions (see ``data.py``). Captions are de-duplicated before encoding, so a caption shared by
several images in a batch is one text column that all of them count as positive.

DIR receives ``checkpoint.pt`` (model, optimiser, step, RNG states; written atomically),
``log.jsonl`` (one row per logged step; evaluation rows carry an ``eval`` object) and the
exported ``pakati-shapes-clip.safetensors`` (fp16 state dict, loadable with open_clip's
``pretrained=``). ``--resume`` continues exactly where the checkpoint left off.

Fine-tuning the shipped model on the embedded model's own images (``generated.py``)::

    python -m pakati_engine.clip.train --out DIR --init shipped --generated crops.npz \
        --generated-crops 64 --steps 1500 --lr 2e-4 --warmup 50
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pakati_engine.clip.data import TrainBatch, make_train_batch
from pakati_engine.clip.evaluate import evaluate
from pakati_engine.clip.generated import GeneratedCrops, generated_batch, merged
from pakati_engine.clip.model import (
    WEIGHTS_FILENAME,
    create_untrained,
    export_weights,
    load_clip,
)
from pakati_engine.clip.scoring import ClipScorer
from pakati_engine.errors import PakatiError

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


def contrastive_loss(model: Any, tokenizer: Any, batch: TrainBatch) -> torch.Tensor:
    """Symmetric InfoNCE over de-duplicated captions; negatives only add text columns."""
    texts = list(dict.fromkeys([*batch.captions, *batch.negatives]))
    column = {t: i for i, t in enumerate(texts)}
    targets = torch.tensor([column[c] for c in batch.captions])  # (N,)
    image_f = F.normalize(model.encode_image(batch.images), dim=-1)  # (N, D)
    text_f = F.normalize(model.encode_text(tokenizer(texts)), dim=-1)  # (T, D)
    scale = model.logit_scale.exp().clamp(max=100.0)
    logits = scale * image_f @ text_f.T  # (N, T)
    image_to_text = F.cross_entropy(logits, targets)
    # Text -> image: every caption used by some image, against all images; positives are
    # all images sharing that caption.
    used = torch.unique(targets)  # (U,)
    positive = (targets[None, :] == used[:, None]).float()  # (U, N)
    log_prob = F.log_softmax(logits[:, used].T, dim=1)  # (U, N)
    text_to_image = -((positive * log_prob).sum(1) / positive.sum(1)).mean()
    return (image_to_text + text_to_image) / 2


def learning_rate(step: int, base: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of ``base`` at ``total``; flat after."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def log_row(out: Path, row: dict[str, Any]) -> None:
    with open(out / LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the small shapes-world CLIP.")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoint, log, weights")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of this run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--steps", type=int, default=4000, help="step count of the LR schedule and cap")
    p.add_argument("--until", type=int, default=None, help="stop this run at this step")
    p.add_argument("--scenes", type=int, default=96, help="whole scenes per batch")
    p.add_argument("--crops", type=int, default=96, help="region crops per batch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-scenes", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core CPU")
    p.add_argument(
        "--init", help="start from these weights ('shipped': the packaged ones), a fine-tune"
    )
    p.add_argument("--generated", type=Path, help="crops of generated images (generated.py)")
    p.add_argument("--generated-crops", type=int, default=64, help="of them per batch")
    return p.parse_args(argv)


def make_optimizer(model: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; no weight decay on gains, biases, embeddings' scale or the temperature."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    other = [p for n, p in model.named_parameters() if p.ndim < 2 or "logit_scale" in n]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def train(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns the last logged row."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not args.resume:
        raise SystemExit(f"{ckpt_path} exists: pass --resume to continue it, or choose a new --out")

    model, preprocess, tokenizer = create_untrained(args.seed)
    try:
        if args.init:
            weights = load_clip(None if args.init == "shipped" else args.init)[0]
            model.load_state_dict(weights.state_dict())
        generated = GeneratedCrops.load(args.generated) if args.generated else None
    except PakatiError as error:
        raise SystemExit(f"error: {error}") from None
    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step, trained_s = 0, 0.0
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_generator"])
        torch.set_rng_state(state["torch_rng"])
        step, trained_s = int(state["step"]), float(state["trained_s"])
        print(f"resumed from step {step}")

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "trained_s": trained_s,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
        )

    scorer = ClipScorer(model, preprocess, tokenizer)
    model.train()
    start = time.perf_counter()
    last: dict[str, Any] = {"step": step}
    window: list[float] = []
    stop = args.steps if args.until is None else min(args.until, args.steps)
    while step < stop and time.perf_counter() - start < 60.0 * args.minutes:
        t0 = time.perf_counter()
        lr = learning_rate(step, args.lr, args.warmup, args.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = make_train_batch(rng, gen, args.scenes, args.crops)
        if generated is not None:
            extra = generated_batch(generated, args.generated_crops, rng, gen)
            batch = merged(batch, extra)
        loss = contrastive_loss(model, tokenizer, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, math.log(100.0))
        step += 1
        trained_s += time.perf_counter() - t0
        window.append(loss.item())
        if step % args.log_every == 0 or step == args.steps:
            last = {
                "step": step,
                "loss": sum(window) / len(window),
                "lr": lr,
                "logit_scale": model.logit_scale.exp().item(),
                "trained_s": round(trained_s, 1),
                "images_per_s": round(len(batch.captions) / (time.perf_counter() - t0), 1),
            }
            window = []
            log_row(out, last)
            print(json.dumps(last), flush=True)
        if step % args.checkpoint_every == 0:
            checkpoint()
        if step % args.eval_every == 0 or step == args.steps:
            result = evaluate(scorer, args.eval_scenes)
            log_row(out, {"step": step, "trained_s": round(trained_s, 1), "eval": result})
            print(json.dumps({"step": step, "eval": result}), flush=True)
            export_weights(model, out / WEIGHTS_FILENAME)
    checkpoint()
    export_weights(model, out / WEIGHTS_FILENAME)
    return last


if __name__ == "__main__":
    train()
