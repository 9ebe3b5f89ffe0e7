"""Prompt weighting: ``(words:1.3)`` makes those words count 1.3 times as much.

The syntax is the explicit form the AUTOMATIC1111 web UI and ComfyUI share: a parenthesised
span ending in ``:number``. Only that form is read; other brackets stay literal text, so
``"a cat (tabby)"`` means what it says (``\\(`` also writes a literal parenthesis). Weights
may be 0 to 10 and do not nest.

The effect follows the web UI: the encoder sees the prompt without the syntax; each token's
output vector is multiplied by its span's weight, and the whole sequence is then rescaled so
that its mean is what it was, which keeps the overall strength of the prompt unchanged and
shifts it between words.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import torch

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.protocols import Tokenizer

MAX_WEIGHT = 10.0
# "(", then text with no unescaped parenthesis, then ":number)".
_WEIGHTED = re.compile(r"(?<!\\)\(((?:[^()\\]|\\.)*?):\s*([-+]?\d*\.?\d+)\s*\)")


def parse_weights(text: str) -> list[tuple[str, float]]:
    """``text`` as (chunk, weight) pairs in order; chunks outside spans have weight 1."""
    chunks: list[tuple[str, float]] = []
    position = 0
    for match in _WEIGHTED.finditer(text):
        weight = float(match.group(2))
        if not 0.0 <= weight <= MAX_WEIGHT:
            raise InvalidInputError(
                f"prompt weight {match.group(0)!r}: a weight must be 0 to {MAX_WEIGHT:g}"
            )
        if match.start() > position:
            chunks.append((text[position : match.start()], 1.0))
        chunks.append((match.group(1), weight))
        position = match.end()
    if position < len(text):
        chunks.append((text[position:], 1.0))
    return [(_unescape(chunk), weight) for chunk, weight in chunks]


def plain_text(text: str) -> str:
    """``text`` as the encoder reads it: the weighting syntax removed."""
    return " ".join(chunk.strip() for chunk, _ in parse_weights(text) if chunk.strip())


def has_weights(text: str) -> bool:
    return _WEIGHTED.search(text) is not None


def token_weights(tokenizer: Tokenizer, text: str, length: int) -> torch.Tensor | None:
    """Per-position weights (``length``,) of ``plain_text(text)`` as tokenised with its
    start and end tokens and padding; None when ``text`` has no weighted span, or when
    the spans' tokens do not line up with the whole prompt's (a warning then says so)."""
    if not has_weights(text):
        return None
    chunks = [(chunk.strip(), w) for chunk, w in parse_weights(text) if chunk.strip()]
    weights = [1.0]  # the start token
    counts = [len(ids) - 2 for ids in tokenizer([c for c, _ in chunks]).input_ids]  # - start, end
    for (_chunk, weight), count in zip(chunks, counts, strict=True):
        weights.extend([weight] * count)
    whole = len(tokenizer([plain_text(text)]).input_ids[0])
    if whole != len(weights) + 1:  # + the end token
        warnings.warn(
            f"prompt {text[:40]!r}: its weighted spans do not split at word boundaries, so "
            "the weights are ignored; put spaces around the parentheses",
            stacklevel=4,
        )
        return None
    weights = weights[: length - 1]
    weights += [1.0] * (length - len(weights))  # the end token and padding
    return torch.tensor(weights)


def apply_weights(hidden: torch.Tensor, weights: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """``hidden`` (M, L, D) with row ``m`` weighted by ``weights[m]`` (L,) where given, each
    weighted row rescaled to its original mean."""
    out = hidden.clone()
    for row, row_weights in enumerate(weights):
        if row_weights is None:
            continue
        original = hidden[row].float()
        scaled = original * row_weights.to(original.device)[:, None]  # (L, D)
        new_mean = scaled.mean()
        if new_mean.abs() > 1e-12:
            scaled = scaled * (original.mean() / new_mean)
        out[row] = scaled.to(hidden.dtype)
    return out


def _unescape(text: str) -> str:
    return text.replace("\\(", "(").replace("\\)", ")")
