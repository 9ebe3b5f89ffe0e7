"""Encoded prompts kept across generations, so an unchanged prompt is not encoded again.

A1111 reuses the conditioning of an unchanged prompt and ComfyUI does not rerun an unchanged
text-encode node; users of Pakati iterate the same way: a seed sweep, an agent's refinement
passes, an edit of one region among eight all encode prompts that were encoded a moment ago.
With N regions a generation encodes N + 1 prompts (plus negatives), so on a cheap UNet the
text encoder is a large share of a cold generation (issue 22's profile); warm, it is none.

Each text encoder keeps its own least-recently-used store (weakly keyed: it goes away with
the encoder). An entry is keyed by the text and by everything else that changes what the
encoder returns for it: the second encoder (SDXL), the loaded embeddings, the active LoRAs
and their weights, the device and the dtype. Nothing is kept or served

* while a forward hook other than transformers' own hidden-state capture may act on an
  encoder: a hook can change the output without changing a weight (textual-inversion
  training substitutes its vectors that way);
* while the active LoRAs are unknown (one was loaded and none chosen since).

Whoever changes an encoder's weights in place calls :func:`clear_prompt_cache`; Pakati's own
loaders do.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import torch

from pakati_engine.models.bundle import ModelBundle

#: Encoded texts kept per text encoder: about 0.25 MB each for SD1.5 and 0.3 MB for SDXL in
#: fp16, so at most 30-40 MB; an 8-region canvas refined for a while uses a few dozen.
CAPACITY = 128

Encoded = tuple[torch.Tensor, torch.Tensor | None]  # (U, L, D), (U, P) | None
Encode = Callable[[list[str]], Encoded]
_Entry = tuple[torch.Tensor, torch.Tensor | None]  # (L, D), (P,) | None


class _Store:
    def __init__(self) -> None:
        self.entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.lock = threading.Lock()


_stores: weakref.WeakKeyDictionary[torch.nn.Module, _Store] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def encode_cached(bundle: ModelBundle, texts: Sequence[str], encode: Encode) -> Encoded:
    """``encode(texts)`` for distinct ``texts`` -> ``(hidden (U, L, D), pooled (U, P) |
    None)``, encoding only the texts this encoder has not encoded in the same state."""
    encoder = bundle.text_encoder
    if not isinstance(encoder, torch.nn.Module) or bundle.active_loras is None or _hooked(bundle):
        return encode(list(texts))
    with _stores_lock:
        store = _stores.setdefault(encoder, _Store())
    state = _state(bundle)
    keys = [(state, text) for text in texts]
    with store.lock:
        entries = [store.entries.get(key) for key in keys]
    missing = [index for index, entry in enumerate(entries) if entry is None]
    if missing:
        hidden, pooled = encode([texts[index] for index in missing])
        # A normal tensor even when encoded under inference_mode, so that a later call
        # outside it may use the entry freely.
        with torch.inference_mode(False):
            for row, index in enumerate(missing):
                entries[index] = (
                    hidden[row].clone(),
                    None if pooled is None else pooled[row].clone(),
                )
    with store.lock:
        for key, entry in zip(keys, entries, strict=True):
            assert entry is not None
            store.entries[key] = entry
            store.entries.move_to_end(key)
        while len(store.entries) > CAPACITY:
            store.entries.popitem(last=False)
    found = [entry for entry in entries if entry is not None]
    hidden = torch.stack([entry[0] for entry in found])  # (U, L, D)
    pooled_rows = [entry[1] for entry in found if entry[1] is not None]
    return hidden, (torch.stack(pooled_rows) if len(pooled_rows) == len(found) else None)


def clear_prompt_cache(bundle: ModelBundle | None = None) -> None:
    """Forget the encoded prompts of ``bundle``'s text encoder (every encoder's: None)."""
    with _stores_lock:
        if bundle is None:
            stores = list(_stores.values())
        else:
            found = _store_of(bundle)
            stores = [] if found is None else [found]
    for store in stores:
        with store.lock:
            store.entries.clear()


def cached_prompt_count(bundle: ModelBundle) -> int:
    """How many encoded texts ``bundle``'s text encoder keeps (all states together)."""
    with _stores_lock:
        store = _store_of(bundle)
    return 0 if store is None else len(store.entries)


def _store_of(bundle: ModelBundle) -> _Store | None:
    encoder = bundle.text_encoder
    return _stores.get(encoder) if isinstance(encoder, torch.nn.Module) else None


def _state(bundle: ModelBundle) -> Hashable:
    return (
        id(bundle.text_encoder_2),
        tuple(sorted(bundle.adapters.get("embeddings", {}).items())),
        tuple(sorted((bundle.active_loras or {}).items())),
        str(bundle.device),
        bundle.dtype,
    )


def _hooked(bundle: ModelBundle) -> bool:
    """Whether a hook not installed by transformers itself (its hidden-state capture) may
    act on an encoder."""
    hooks: list[object] = [
        *torch.nn.modules.module._global_forward_hooks.values(),
        *torch.nn.modules.module._global_forward_pre_hooks.values(),
    ]
    for encoder in (bundle.text_encoder, bundle.text_encoder_2):
        if isinstance(encoder, torch.nn.Module):
            for module in encoder.modules():
                hooks += [*module._forward_hooks.values(), *module._forward_pre_hooks.values()]
    return any(not _from_transformers(hook) for hook in hooks)


def _from_transformers(hook: object) -> bool:
    return str(getattr(hook, "__module__", "")).startswith("transformers.")
