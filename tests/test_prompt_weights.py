"""Prompt weighting: ``(words:1.3)`` read off the prompt and applied to its tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pakati import InvalidInputError, PakatiCanvas
from pakati_engine.diffusion.prompt_weights import parse_weights, plain_text, token_weights
from pakati_engine.diffusion.text_encoding import encode_prompts


def test_parsing_reads_only_the_explicit_form() -> None:
    assert parse_weights("a (red:1.3) ball") == [("a ", 1.0), ("red", 1.3), (" ball", 1.0)]
    assert plain_text("a (red apple:0.5), on a table") == "a red apple , on a table"
    assert parse_weights("a cat (tabby) [sitting]") == [("a cat (tabby) [sitting]", 1.0)]
    assert parse_weights(r"a \(red:2\) ball") == [("a (red:2) ball", 1.0)]
    with pytest.raises(InvalidInputError, match="0 to 10"):
        parse_weights("(red:11)")


def test_token_weights_line_up_with_the_words(sd_bundle) -> None:
    tokenizer = sd_bundle.tokenizer
    length = tokenizer.model_max_length
    weights = token_weights(tokenizer, "a (red:1.5) ball", length)
    assert weights is not None and weights.shape == (length,)
    ids = tokenizer(["a red ball"]).input_ids[0]
    red = tokenizer(["red"]).input_ids[0][1]
    assert weights[ids.index(red)] == 1.5
    assert weights.tolist().count(1.5) == 1
    assert token_weights(tokenizer, "a red ball", length) is None


def test_weights_scale_the_words_against_the_rest(sd_bundle) -> None:
    plain = encode_prompts(sd_bundle, ["a red ball"], [""]).positive[0]  # (L, D)
    same = encode_prompts(sd_bundle, ["a (red:1.0) ball"], [""]).positive[0]
    assert torch.equal(plain, same)
    heavy = encode_prompts(sd_bundle, ["a (red:1.5) ball"], [""]).positive[0]
    position = 2  # start token, "a", "red"
    before = plain[position].norm() / plain[1].norm()
    after = heavy[position].norm() / heavy[1].norm()
    assert float(after / before) == pytest.approx(1.5, rel=1e-4)
    assert float(heavy.mean()) == pytest.approx(float(plain.mean()), rel=1e-4, abs=1e-6)


def test_weighted_prompt_changes_the_image(sd_bundle) -> None:
    def draw(prompt: str) -> np.ndarray:
        canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2, base_prompt=prompt)
        return np.asarray(canvas.generate(seed=2).image, dtype=np.int16)

    assert np.array_equal(draw("a (red:1) ball"), draw("a red ball"))
    assert np.abs(draw("a (red:3) ball") - draw("a red ball")).mean() > 0.1
