"""Prompt embeddings for training, with gradients, in the engine's token layout.

At inference :func:`pakati_engine.text_encoding.encode_prompts` encodes each prompt to a
span of ``tokenizer.model_max_length`` tokens (the last hidden state of the text encoder)
and concatenates the spans, base first. Training needs the same layout but with gradients
through the text encoder, and batches repeat the same few dozen prompts, so each distinct
prompt is tokenised once (cached) and encoded once per batch.
"""

from __future__ import annotations

import torch

from pakati_engine.models.protocols import TextEncoder, Tokenizer


class PromptEncoder:
    """Encodes ``[base, region 1, ..., region N]`` prompt lists as the engine does."""

    def __init__(self, tokenizer: Tokenizer, text_encoder: TextEncoder) -> None:
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.span = int(tokenizer.model_max_length)
        self._ids: dict[str, torch.Tensor] = {}

    def token_ids(self, texts: list[str]) -> torch.Tensor:
        """(M, span) ids, padded and truncated exactly like the engine's ``_token_ids``."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._ids]
        if missing:
            batch = self.tokenizer(
                missing,
                padding="max_length",
                max_length=self.span,
                truncation=True,
                return_tensors="pt",
            )
            for text, ids in zip(missing, batch.input_ids, strict=True):
                self._ids[text] = ids
        return torch.stack([self._ids[t] for t in texts])  # (M, span)

    def __call__(self, prompts: list[list[str]]) -> torch.Tensor:
        """(B, (N+1) * span, D) embeddings for B samples of N+1 prompts each."""
        batch, per_sample = len(prompts), len(prompts[0])
        flat = [text for row in prompts for text in row]
        unique = list(dict.fromkeys(flat))
        index = {text: i for i, text in enumerate(unique)}
        device = self.text_encoder.device
        hidden = self.text_encoder(self.token_ids(unique).to(device))[0]  # (U, span, D)
        gather = torch.tensor([index[text] for text in flat], device=device)
        spans = hidden[gather]  # (B * (N+1), span, D)
        return spans.reshape(batch, per_sample * self.span, -1)  # (B, (N+1)*span, D)
