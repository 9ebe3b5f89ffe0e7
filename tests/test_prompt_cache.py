"""Encoded prompts are kept across generations and never served stale: a repeat render
encodes nothing, an edit of one region encodes that region's prompt alone, and a change of
embeddings, active LoRAs or a hooked encoder encodes again."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pakati.canvas import PakatiCanvas
from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.models import prompt_cache
from pakati_engine.models.adapters import activate_loras, load_lora, load_textual_inversion
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.prompt_cache import cached_prompt_count, clear_prompt_cache
from tests.conftest import make_bundle


@contextmanager
def counted_batches(bundle: ModelBundle) -> Iterator[list[int]]:
    """The batch size of every call of the first text encoder (no hook: hooks turn the
    cache off)."""
    encoder: Any = bundle.text_encoder
    original = encoder.forward
    batches: list[int] = []

    def forward(ids: torch.Tensor, *args: object, **kwargs: object) -> object:
        batches.append(ids.shape[0])
        return original(ids, *args, **kwargs)

    encoder.forward = forward
    try:
        yield batches
    finally:
        del encoder.forward


def _canvas(bundle: ModelBundle, prompts: list[str]) -> PakatiCanvas:
    canvas = PakatiCanvas(64, 64, model=bundle, steps=2, base_prompt="a garden")
    width = 64 // len(prompts)
    for index, prompt in enumerate(prompts):
        region = canvas.create_region(box=(index * width, 0, (index + 1) * width, 64))
        canvas.apply_to_region(region, prompt)
    return canvas


def test_a_repeat_render_encodes_nothing_and_draws_the_same_pixels(bundle: ModelBundle) -> None:
    clear_prompt_cache(bundle)
    canvas = _canvas(bundle, ["a red circle", "a blue square", "a green star"])
    with counted_batches(bundle) as batches:
        first = np.asarray(canvas.generate(seed=1).image)
    assert batches == [5]  # base, three regions and the shared empty negative: one call
    with counted_batches(bundle) as batches:
        again = np.asarray(canvas.generate(seed=1).image)
    assert batches == []
    assert np.array_equal(first, again)
    clear_prompt_cache(bundle)
    with counted_batches(bundle) as batches:
        cold = np.asarray(canvas.generate(seed=1).image)
    assert batches == [5]
    assert np.array_equal(cold, first)


def test_changing_one_region_encodes_only_its_prompt(bundle: ModelBundle) -> None:
    clear_prompt_cache(bundle)
    prompts = ["a red circle", "a blue square", "a green star"]
    encode_prompts(bundle, ["a garden", *prompts], [""] * 4)
    prompts[1] = "a yellow triangle"
    with counted_batches(bundle) as batches:
        warm = encode_prompts(bundle, ["a garden", *prompts], [""] * 4)
    assert batches == [1]
    clear_prompt_cache(bundle)
    cold = encode_prompts(bundle, ["a garden", *prompts], [""] * 4)
    assert torch.equal(warm.positive, cold.positive)
    assert torch.equal(warm.negative, cold.negative)
    if bundle.kind == "sdxl":
        assert warm.pooled_positive is not None and cold.pooled_positive is not None
        assert torch.equal(warm.pooled_positive, cold.pooled_positive)


def test_callers_cannot_change_what_is_kept(sd_bundle: ModelBundle) -> None:
    """Weights and zeroed negatives act on copies; the kept entry stays as encoded."""
    clear_prompt_cache(sd_bundle)
    plain = encode_prompts(sd_bundle, ["a red ball"], [""]).positive.clone()
    encode_prompts(sd_bundle, ["a (red:1.5) ball"], [""]).positive.mul_(0)
    assert torch.equal(encode_prompts(sd_bundle, ["a red ball"], [""]).positive, plain)


def test_entries_made_under_inference_mode_serve_later_calls_outside_it(
    sd_bundle: ModelBundle,
) -> None:
    clear_prompt_cache(sd_bundle)
    with torch.inference_mode():
        inside = encode_prompts(sd_bundle, ["a red ball"], [""]).positive
    with counted_batches(sd_bundle) as batches, torch.no_grad():
        outside = encode_prompts(sd_bundle, ["a (red:1.4) ball"], [""]).positive
        outside.add_(0)  # an ordinary tensor: in-place ops work outside inference mode
    assert batches == []
    assert not outside.is_inference()
    assert not torch.equal(inside, outside)  # the weight acted on the kept plain encoding


def test_the_store_is_bounded_and_forgets_the_least_recently_used(
    sd_bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompt_cache, "CAPACITY", 3)
    clear_prompt_cache(sd_bundle)
    for text in ("one", "two", "three"):
        encode_prompts(sd_bundle, [text], [text])
    encode_prompts(sd_bundle, ["one"], ["one"])  # "one" is now the most recent
    encode_prompts(sd_bundle, ["four"], ["four"])  # forgets "two"
    assert cached_prompt_count(sd_bundle) == 3
    with counted_batches(sd_bundle) as batches:
        encode_prompts(sd_bundle, ["one", "three", "four"], ["", "", ""])
    assert batches == [1]  # only the empty prompt; "one", "three" and "four" are kept
    with counted_batches(sd_bundle) as batches:
        encode_prompts(sd_bundle, ["two"], ["two"])
    assert batches == [1]


def test_a_hooked_encoder_is_never_served_from_the_store(sd_bundle: ModelBundle) -> None:
    """A hook can change the output without changing a weight (textual-inversion training
    substitutes its vectors so)."""
    clear_prompt_cache(sd_bundle)
    before = encode_prompts(sd_bundle, ["a red ball"], [""]).positive
    scale = {"by": 2.0}
    text_encoder: Any = sd_bundle.text_encoder
    embeddings = text_encoder.get_input_embeddings()
    handle = embeddings.register_forward_hook(lambda module, args, out: out * scale["by"])
    try:
        doubled = encode_prompts(sd_bundle, ["a red ball"], [""]).positive
        scale["by"] = 3.0
        tripled = encode_prompts(sd_bundle, ["a red ball"], [""]).positive
    finally:
        handle.remove()
    assert not torch.equal(before, doubled) and not torch.equal(doubled, tripled)
    assert torch.equal(encode_prompts(sd_bundle, ["a red ball"], [""]).positive, before)


def test_a_new_embedding_token_is_encoded_as_the_token(tmp_path) -> None:
    bundle = make_bundle("sd", seed=5)
    before = encode_prompts(bundle, ["a <style> circle"], [""]).positive
    text_encoder: Any = bundle.text_encoder
    width = text_encoder.get_input_embeddings().weight.shape[1]
    torch.manual_seed(1)
    path = tmp_path / "style.safetensors"
    save_file({"emb_params": torch.randn(1, width) * 3}, str(path))
    load_textual_inversion(bundle, path, "<style>")
    after = encode_prompts(bundle, ["a <style> circle"], [""]).positive
    assert not torch.equal(before, after)


def test_active_lora_weights_choose_the_encoding(tmp_path) -> None:
    """A LoRA on the text encoder: each weight has its own entries, and switching back
    serves exactly what a cold encoding gives."""
    pytest.importorskip("peft")
    from diffusers.loaders import StableDiffusionLoraLoaderMixin
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    bundle = make_bundle("sd", seed=6)
    torch.manual_seed(0)
    encoder = copy.deepcopy(bundle.text_encoder)
    config = LoraConfig(
        r=4, lora_alpha=4, init_lora_weights=False, target_modules=["q_proj", "v_proj"]
    )
    encoder.add_adapter(config)  # type: ignore[attr-defined]
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(encoder))
    StableDiffusionLoraLoaderMixin.save_lora_weights(tmp_path, text_encoder_lora_layers=layers)
    name = load_lora(bundle, tmp_path / "pytorch_lora_weights.safetensors")

    def encoded(weight: float | None) -> torch.Tensor:
        activate_loras(bundle, {} if weight is None else {name: weight})
        return encode_prompts(bundle, ["a red ball"], [""]).positive

    off, full, half = encoded(None), encoded(1.0), encoded(0.5)
    assert not torch.equal(off, full) and not torch.equal(full, half)
    assert cached_prompt_count(bundle) == 6  # two texts in each of three states
    warm = [encoded(None), encoded(1.0), encoded(0.5)]
    clear_prompt_cache(bundle)
    cold = [encoded(None), encoded(1.0), encoded(0.5)]
    for kept, fresh in zip(warm, cold, strict=True):
        assert torch.equal(kept, fresh)
