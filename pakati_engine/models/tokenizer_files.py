"""Write the files transformers' ``CLIPTokenizer`` needs, offline, from open_clip's BPE table.

open_clip_torch installs CLIP's byte-pair-encoding table (``bpe_simple_vocab_16e6.txt.gz``).
The 49,408-token CLIP vocabulary is a deterministic function of it: the 256 byte symbols,
the same with an end-of-word mark, one token per merge (the first 48,894 merges), then the
start and end tokens. Rebuilding ``vocab.json`` and ``merges.txt`` from it gives the real CLIP
token ids ("a photo of a cat" -> 49406, 320, 1125, 539, 320, 2368, 49407) without a download.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

VOCAB_SIZE = 49408
NUM_MERGES = VOCAB_SIZE - 2 * 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def byte_symbols() -> list[str]:
    """CLIP's printable stand-in for each byte, in CLIP's order: printable bytes first.

    Printable bytes stand for themselves; the others are shifted to code points from 256 up.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(others))]


def default_bpe_path() -> Path:
    """The BPE table shipped by open_clip_torch."""
    # Lazy: open_clip (with torchvision) takes 1-2 s to import, and only writing a tokenizer
    # without an explicit BPE file needs it, not this module's constants.
    from open_clip.tokenizer import default_bpe

    return Path(default_bpe())


def write_clip_tokenizer(folder: str | Path, bpe_path: str | Path | None = None) -> Path:
    """Write ``vocab.json``, ``merges.txt`` and the tokenizer configs into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(bpe_path or default_bpe_path()) as handle:
        lines = handle.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += [START_TOKEN, END_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ValueError(f"rebuilt CLIP vocabulary has {len(vocab)} tokens, not {VOCAB_SIZE}")
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n"
    (folder / "merges.txt").write_text(merges_text, encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {"bos_token": START_TOKEN, "eos_token": END_TOKEN, "unk_token": END_TOKEN}
    special["pad_token"] = END_TOKEN
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return folder
