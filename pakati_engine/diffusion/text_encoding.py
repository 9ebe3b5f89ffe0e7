"""Prompt embeddings for regional generation, SD1.x and SDXL.

Every prompt (the base prompt first, then one per region) is encoded to a fixed-length span
of ``tokenizer.model_max_length`` tokens; spans are concatenated on the token axis in that
order, which is the layout :mod:`pakati_engine.diffusion.attention` routes over.
Negative prompts get the same layout, so each region can have its own negative prompt
under classifier-free guidance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pakati_engine.diffusion.prompt_weights import (
    apply_weights,
    has_weights,
    plain_text,
    token_weights,
)
from pakati_engine.models.adapters import expand_embedding_tokens
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.prompt_cache import encode_cached
from pakati_engine.models.protocols import Tokenizer


@dataclass(frozen=True)
class PromptEmbeddings:
    """Concatenated spans for one image.

    ``positive``/``negative``: (1, (N+1) * tokens_per_prompt, D).
    ``pooled_positive``/``pooled_negative``: (1, P) from the base prompt, SDXL only.
    """

    positive: torch.Tensor
    negative: torch.Tensor
    tokens_per_prompt: int
    pooled_positive: torch.Tensor | None = None
    pooled_negative: torch.Tensor | None = None


def encode_prompts(
    bundle: ModelBundle,
    prompts: Sequence[str],
    negative_prompts: Sequence[str],
    labels: Sequence[str] | None = None,
) -> PromptEmbeddings:
    """Encode ``prompts[i]`` / ``negative_prompts[i]`` pairs; index 0 is the base prompt."""
    if len(prompts) != len(negative_prompts):
        raise ValueError("one negative prompt per prompt is needed")
    labels = list(labels) if labels is not None else [f"prompt {i}" for i in range(len(prompts))]
    # A multi-vector textual-inversion token stands for several tokens (adapters.py).
    written = [expand_embedding_tokens(bundle, text) for text in (*prompts, *negative_prompts)]
    # "(words:1.3)" weights are read off and applied to the encoder's output (prompt_weights).
    texts = [plain_text(text) if has_weights(text) else text for text in written]
    _warn_truncation(bundle.tokenizer, texts, [*labels, *(f"{lb} (negative)" for lb in labels)])
    # Each distinct text is encoded once (regions often share a negative prompt, or none).
    unique = list(dict.fromkeys(texts))
    rows = torch.tensor([unique.index(text) for text in texts], device=bundle.device)
    # Texts encoded before in the same state come from the cache (models.prompt_cache).
    hidden, pooled = encode_cached(bundle, unique, lambda texts: _encode(bundle, texts))
    hidden = hidden[rows]  # (2M, L, D), a copy: rows never share memory
    length = hidden.shape[1]
    weights = [token_weights(bundle.tokenizer, text, length) for text in written]
    if any(w is not None for w in weights):
        hidden = apply_weights(hidden, weights)
    pooled = None if pooled is None else pooled[rows]  # (2M, P)
    count = len(prompts)
    if bundle.force_zeros_for_empty_prompt:
        for index, text in enumerate(negative_prompts):
            if not text:
                hidden[count + index].zero_()
                if pooled is not None:
                    pooled[count + index].zero_()
    tokens = hidden.shape[1]
    positive = hidden[:count].reshape(1, count * tokens, -1)  # (1, M*L, D)
    negative = hidden[count:].reshape(1, count * tokens, -1)  # (1, M*L, D)
    return PromptEmbeddings(
        positive=positive,
        negative=negative,
        tokens_per_prompt=tokens,
        pooled_positive=None if pooled is None else pooled[0:1],
        pooled_negative=None if pooled is None else pooled[count : count + 1],
    )


@torch.no_grad()
def _encode(bundle: ModelBundle, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    if bundle.kind == "sd":
        ids = _token_ids(bundle.tokenizer, texts, bundle.device)
        hidden = bundle.text_encoder(ids)[0]  # (M, L, D)
        return hidden.to(bundle.dtype), None
    # SDXL: penultimate hidden states of both encoders side by side; pooled from the second.
    assert bundle.text_encoder_2 is not None and bundle.tokenizer_2 is not None
    first = bundle.text_encoder(
        _token_ids(bundle.tokenizer, texts, bundle.device), output_hidden_states=True
    )
    second = bundle.text_encoder_2(
        _token_ids(bundle.tokenizer_2, texts, bundle.device), output_hidden_states=True
    )
    hidden = torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1)  # (M, L, D)
    pooled = second.text_embeds  # (M, P)
    return hidden.to(bundle.dtype), pooled.to(bundle.dtype)


def _token_ids(tokenizer: Tokenizer, texts: list[str], device: torch.device) -> torch.Tensor:
    batch = tokenizer(
        texts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    return batch.input_ids.to(device)  # (M, L)


def _warn_truncation(tokenizer: Tokenizer, texts: list[str], labels: list[str]) -> None:
    limit = tokenizer.model_max_length
    lengths = [len(ids) for ids in tokenizer(texts).input_ids]
    for text, label, length in zip(texts, labels, lengths, strict=True):
        if length > limit:
            warnings.warn(
                f"{label}: {length} tokens, the model reads {limit}; the end of "
                f"{text[:40]!r}... is cut off. Shorten it or split it across regions.",
                stacklevel=3,
            )
