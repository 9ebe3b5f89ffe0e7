"""Palette-driven colour terms: the colour a reference asks for, put into a prompt.

Small text encoders (the embedded model's) follow a colour only as an adjective of its
object ("a red circle"), not as a trailing term ("a circle, red tones"); so the change is a
rewrite of the prompt: the first colour word is replaced, else the colour goes after the
first article, else in front.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from pakati_engine.world.colors import COLOR_NAMES, article, nearest_color

MIN_SHARE = 0.05
"""A colour is part of a reference's palette when it names at least this share of pixels."""


def palette_names(image: NDArray[np.uint8], step: int = 4) -> list[tuple[str, float]]:
    """Colour names of a (H, W, 3) image with their pixel shares, commonest first
    (sampled every ``step`` pixels)."""
    pixels = np.asarray(image, dtype=np.uint8)[::step, ::step].reshape(-1, 3)
    counts: dict[str, int] = {}
    for pixel in pixels:
        name = nearest_color(pixel)[0]
        counts[name] = counts.get(name, 0) + 1
    total = max(1, len(pixels))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [(name, n / total) for name, n in ranked if n / total >= MIN_SHARE]


def object_colour(image: NDArray[np.uint8]) -> str | None:
    """The reference's main colour besides its background: the second commonest palette
    colour (the commonest when there is only one)."""
    names = palette_names(image)
    if not names:
        return None
    return names[1][0] if len(names) > 1 else names[0][0]


_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOR_NAMES) + r")\b", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(a|an|the)\s+", re.IGNORECASE)


def recolour_prompt(prompt: str, colour: str) -> str:
    """``prompt`` asking for ``colour`` (see the module docstring)."""
    if _COLOUR_WORD.search(prompt):
        return _COLOUR_WORD.sub(colour, prompt, count=1)
    found = _ARTICLE.search(prompt)
    if found is None:
        return f"{colour} {prompt}".strip()
    word = found.group(1)
    if word.lower() in ("a", "an"):
        word = article(colour)
        word = word.capitalize() if found.group(1)[0].isupper() else word
    return prompt[: found.start()] + f"{word} {colour} " + prompt[found.end() :]
