"""The ``parameters`` PNG text in the "infotext" format of AUTOMATIC1111's web UI.

Many tools (A1111, Forge, SD.Next, Civitai, image viewers) read generation settings from a
PNG text chunk named ``parameters`` laid out as::

    <prompt, any number of lines>
    Negative prompt: <negative prompt, any number of lines>   (only when there is one)
    Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, ...

The last line is ``key: value`` pairs separated by ", ". A value holding ",", ":" or a line
break is written as a JSON string (double quotes, backslash escapes), which is how the web
UI quotes values; every other value is written as it is. Pakati's full parameters stay in
its own ``pakati`` JSON chunk: this line is for other tools, and for people. LoRAs are
written as the web UI writes them: ``<lora:name:weight>`` after the prompt and
``Lora hashes: "name: <12 hex of the file's SHA-256>, ..."``; embeddings as ``TI hashes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

#: Pakati's sampler names and diffusers scheduler classes, as the web UI names the sampler.
SAMPLER_NAMES = {
    "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M",
    "euler": "Euler",
    "euler_a": "Euler a",
    "pndm": "PLMS",
    "lms": "LMS",
    "unipc": "UniPC",
    "DDIMScheduler": "DDIM",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "UniPCMultistepScheduler": "UniPC",
}

_CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")


def quote(value: object) -> str:
    """A value as the web UI writes it: JSON-quoted when it holds ',', ':' or a line break."""
    text = str(value)
    if any(mark in text for mark in (",", ":", "\n", "\r")) or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def format_infotext(metadata: dict[str, Any]) -> str:
    """The ``parameters`` text of Pakati metadata (``{"layout": ..., "model": ...}``)."""
    layout = metadata.get("layout", {})
    model = metadata.get("model") or {}
    loras = [(_lora_name(entry), entry) for entry in layout.get("loras") or []]
    # The web UI writes the LoRAs it applied into the prompt as <lora:name:weight>.
    tags = " ".join(f"<lora:{name}:{entry.get('weight', 1.0):g}>" for name, entry in loras)
    lines = [" ".join(part for part in (str(layout.get("base_prompt", "")), tags) if part)]
    negative = str(layout.get("negative_prompt", ""))
    if negative:
        lines.append(f"Negative prompt: {negative}")
    scheduler = layout.get("scheduler") or model.get("scheduler")
    fields: list[tuple[str, object]] = [
        ("Steps", layout.get("steps")),
        ("Sampler", SAMPLER_NAMES.get(str(scheduler), scheduler)),
        ("Schedule type", model.get("schedule")),
        ("CFG scale", layout.get("guidance_scale")),
        ("Seed", layout.get("seed")),
        ("Size", f"{layout.get('width')}x{layout.get('height')}"),
        ("Model hash", model.get("hash")),
        ("Model", model_name(str(layout.get("model") or model.get("source") or ""))),
        ("Regional mode", layout.get("mode") if layout.get("regions") else None),
        ("Base ratio", layout.get("base_ratio") if layout.get("regions") else None),
        ("Regions", regions_value(layout.get("regions") or [])),
        ("Lora hashes", _hashes((name, entry.get("path")) for name, entry in loras)),
        (
            "TI hashes",
            _hashes((e.get("token"), e.get("path")) for e in layout.get("embeddings") or []),
        ),
        (
            "Version",
            f"Pakati {metadata['pakati_version']}" if "pakati_version" in metadata else None,
        ),
    ]
    lines.append(
        ", ".join(f"{key}: {quote(value)}" for key, value in fields if value not in (None, ""))
    )
    return "\n".join(lines)


def _lora_name(entry: dict[str, Any]) -> str:
    """A LoRA's name as Pakati names the adapter (``models.adapters.adapter_name``)."""
    if entry.get("name"):
        return str(entry["name"])
    return re.sub(r"[^0-9A-Za-z_]", "_", PurePath(str(entry.get("path", ""))).stem or "lora")


def _hashes(named: Iterable[tuple[object, object]]) -> str | None:
    """``name: hash, ...`` for the files that exist here (the web UI's hashes value)."""
    from pakati_engine.models.hashing import file_short_hash

    found = [(n, file_short_hash(str(p))) for n, p in named if p]
    return ", ".join(f"{n}: {h}" for n, h in found if h) or None


def model_name(source: str) -> str:
    """The model as the web UI names a checkpoint: a file's name without its suffix."""
    if source.lower().endswith(_CHECKPOINT_SUFFIXES):
        return PurePath(source).stem
    return source


def regions_value(regions: list[dict[str, Any]]) -> str | None:
    """Regions as compact JSON: name, prompt and shape (a mask is only named as one)."""
    if not regions:
        return None
    out = []
    for region in regions:
        entry: dict[str, Any] = {"name": region.get("name"), "prompt": region.get("prompt", "")}
        if region.get("negative_prompt"):
            entry["negative_prompt"] = region["negative_prompt"]
        for shape in ("box", "polygon"):
            if region.get(shape) is not None:
                entry[shape] = region[shape]
        if region.get("mask") is not None or region.get("mask_png") is not None:
            entry["mask"] = True
        defaults = {"weight": 1.0, "z": 0, "seed": None, "model": None}
        entry.update(
            {
                key: region[key]
                for key, default in defaults.items()
                if region.get(key, default) != default
            }
        )
        out.append(entry)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def parse_infotext(text: str) -> dict[str, str]:
    """Read ``parameters`` text: ``Prompt``, ``Negative prompt`` and every ``key: value``.

    Written from the web UI's documented layout (see the module docstring): the last line
    holds the settings when it reads as at least three ``key: value`` pairs, otherwise it is
    part of the prompt. Quoted values are decoded; unquoted ones end at the next comma.
    """
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines:
        pairs = _parse_pairs(lines[-1])
        if len(pairs) >= 3:
            settings = dict(pairs)
            lines = lines[:-1]
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in lines:
        if negative is None and line.startswith("Negative prompt:"):
            negative = [line.removeprefix("Negative prompt:").strip()]
        elif negative is not None:
            negative.append(line)
        else:
            prompt.append(line)
    return {
        "Prompt": "\n".join(prompt),
        "Negative prompt": "\n".join(negative or []),
        **settings,
    }


def _parse_pairs(line: str) -> list[tuple[str, str]]:
    """``key: value`` pairs of a settings line; stops at the first thing that is not one."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(line):
        while position < len(line) and line[position] == " ":
            position += 1
        colon = line.find(":", position)
        key = line[position:colon].strip() if colon >= 0 else ""
        if not key or not all(ch.isalnum() or ch in " -_/" for ch in key):
            break
        position = colon + 1
        while position < len(line) and line[position] == " ":
            position += 1
        if line.startswith('"', position):
            value, position = _read_quoted(line, position)
            if value is None:
                break
        else:
            comma = line.find(",", position)
            end = len(line) if comma < 0 else comma
            value, position = line[position:end].strip(), end
        pairs.append((key, value))
        while position < len(line) and line[position] == " ":
            position += 1
        if position < len(line):
            if line[position] != ",":
                break
            position += 1
    return pairs


def _read_quoted(line: str, start: int) -> tuple[str | None, int]:
    """Decode the JSON string starting at ``start``; (None, start) when it is not one."""
    try:
        value, end = json.JSONDecoder().raw_decode(line, start)
    except json.JSONDecodeError:
        return None, start
    return (value, end) if isinstance(value, str) else (None, start)
