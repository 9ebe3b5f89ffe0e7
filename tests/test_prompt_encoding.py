"""Prompt encoding encodes each distinct text once, whatever the number of regions."""

from __future__ import annotations

import torch

from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.models.bundle import ModelBundle


def test_each_distinct_text_is_encoded_once(bundle: ModelBundle) -> None:
    prompts = ["a garden", "a red circle", "a red circle", "a blue square"]
    negatives = ["", "", "blurry", ""]
    batches: list[int] = []
    handle = bundle.text_encoder.register_forward_pre_hook(
        lambda module, args: batches.append(args[0].shape[0])
    )
    try:
        shared = encode_prompts(bundle, prompts, negatives)
    finally:
        handle.remove()
    assert batches == [5]  # 8 texts, 5 distinct, one call
    span = shared.tokens_per_prompt
    for index, (prompt, negative) in enumerate(zip(prompts, negatives, strict=True)):
        alone = encode_prompts(bundle, [prompt], [negative])
        part = slice(index * span, (index + 1) * span)
        assert torch.allclose(shared.positive[:, part], alone.positive, atol=1e-5)
        assert torch.allclose(shared.negative[:, part], alone.negative, atol=1e-5)
    if bundle.kind == "sdxl":
        assert shared.pooled_positive is not None and shared.pooled_negative is not None
        alone = encode_prompts(bundle, prompts[:1], negatives[:1])
        assert alone.pooled_positive is not None
        assert torch.allclose(shared.pooled_positive, alone.pooled_positive, atol=1e-5)
