"""Phrasing styles of the fourth round, held out until the fifth round was written.

Written after the planner had been improved against rounds 1-3, from still more ways people
write: questions and suggestions, numbered steps, objects grouped by shape ("two circles: a
red one ... and a blue one ..."), wider words for places (quadrant, edge, third, area),
JSON-like specs, and adjectives the shapes world cannot draw ("a shiny, red circle"). Held
out, the planner read them at 0.373 (n=300, seed 0); it was improved against them only after
the fifth round (:mod:`pakati.evals.held_out_styles`) had been written.
"""

from __future__ import annotations

import json

from pakati.evals.phrasings import LABELS, RELATION_WORDS, Parts, capital
from pakati_engine.world.colors import article

# Questions and suggestions --------------------------------------------------------------------

_ASKS = [
    "can you make an image where there is {objects}?", "how about {objects}?",
    "would it be possible to draw {objects}?", "what if we had {objects}?",
    "is it possible to get {objects}?", "could we try {objects}?",
]  # fmt: skip
_ASK_BACKGROUNDS = [
    "Maybe on {a} {c} background?", "The background could be {c}.",
    "And perhaps {a} {c} background?", "What about {c} for the background?",
    "Could the background be {c}?",
]  # fmt: skip


def style_questions(p: Parts) -> str:
    """The request as questions and suggestions: "How about a red circle in the top left?
    Maybe on a yellow background?"."""
    c = p.goal.background
    ask = capital(p.rng.choice(_ASKS).format(objects=p.objects()))
    background = p.rng.choice(_ASK_BACKGROUNDS).format(c=c, a=article(c))
    return f"{ask} {background}" if p.rng.random() < 0.8 else f"{background} {ask}"


# Steps ------------------------------------------------------------------------------------


def style_steps(p: Parts) -> str:
    """Numbered or ordered steps: "First, draw a red circle in the top left. Then add a blue
    square under it. Finally, make the background yellow."."""
    c = p.goal.background
    background_step = p.rng.choice(
        [f"make the background {c}", f"fill the background with {c}",
         f"paint the background {c}", f"use {article(c)} {c} background"]
    )  # fmt: skip
    steps = [f"{p.rng.choice(['draw', 'add', 'put', 'place'])} {p.phrase(i)}" for i in p.shown]
    steps = [background_step, *steps] if p.rng.random() < 0.5 else [*steps, background_step]
    form = p.rng.choice(["words", "numbers", "step"])
    if form == "words":
        words = ["first", "then", "next", "after that", "then"]
        out = [
            f"{capital(words[min(k, len(words) - 1)] if k < len(steps) - 1 else 'finally')}, {s}."
            for k, s in enumerate(steps)
        ]
        if len(steps) == 1:
            out = [capital(steps[0]) + "."]
        return " ".join(out)
    if form == "numbers":
        return " ".join(f"{k}) {s}" for k, s in enumerate(steps, start=1))
    return " ".join(f"Step {k}: {s}." for k, s in enumerate(steps, start=1))


# Grouped by shape ---------------------------------------------------------------------------------

_GROUP_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def style_grouped(p: Parts) -> str:
    """Objects of one shape named together: "two circles: a red one in the top left and a
    blue one at the bottom", "a pair of squares, one green (top right) and one white"."""
    shown = p.shown
    by_shape: dict[str, list[int]] = {}
    for i in shown:
        item = p.goal.items[i]
        if item.count == 1:
            by_shape.setdefault(item.shape, []).append(i)
    phrases = []
    done: set[int] = set()
    for i in shown:
        if i in done:
            continue
        item = p.goal.items[i]
        group = by_shape.get(item.shape, [])
        if item.count > 1 or len(group) < 2:
            phrases.append(p.phrase(i))
            done.add(i)
            continue
        head = f"{_GROUP_WORDS[len(group)]} {p.w.shape(item.shape, len(group))}"
        members = []
        for j in group:
            member = p.goal.items[j]
            size = " ".join(p.w.size(member.size))
            words = " ".join(w for w in (size, member.color) if w)
            where = p.where(j)
            form = p.rng.choice(["one", "a-one", "bare"])
            if form == "one":
                text = f"one {words}"
            elif form == "a-one":
                text = f"{article(words)} {words} one"
            else:
                text = words
            if where:
                text += f" ({where})" if p.rng.random() < 0.3 else f" {where}"
            members.append(text)
            done.add(j)
        joined = p.joined(members)
        phrases.append(head + p.rng.choice([": ", ", ", " - "]) + joined)
    return p.joined(phrases) + p.bg_tail() + p.stop()


# Wider place words ----------------------------------------------------------------------------

_REGIONS = {
    "top left": ["in the upper-left quadrant", "in the top-left area", "tucked into the top left",
                 "towards the top left", "in the top left part of the image"],
    "top right": ["in the upper-right quadrant", "in the top-right area",
                  "tucked into the top right", "towards the top right",
                  "in the top right part of the image"],
    "bottom left": ["in the lower-left quadrant", "in the bottom-left area",
                    "tucked into the bottom left", "towards the bottom left",
                    "in the bottom left part of the image"],
    "bottom right": ["in the lower-right quadrant", "in the bottom-right area",
                     "tucked into the bottom right", "towards the bottom right",
                     "in the bottom right part of the image"],
    "top": ["near the top edge", "along the upper edge", "in the top third",
            "at the top of the frame", "towards the top"],
    "bottom": ["near the bottom edge", "along the lower edge", "in the bottom third",
               "at the bottom of the frame", "towards the bottom"],
    "left": ["against the left edge", "on the left-hand edge", "in the left third",
             "towards the left", "along the left side"],
    "right": ["against the right edge", "on the right-hand edge", "in the right third",
              "towards the right", "along the right side"],
    "centre": ["in the dead centre", "smack in the middle", "in the central area",
               "at the very centre of the canvas", "in the middle of the frame"],
}  # fmt: skip


def style_regions(p: Parts) -> str:
    """Places named by areas and edges: quadrant, area, edge, third, "tucked into"."""
    phrases = []
    for i in p.shown:
        item = p.goal.items[i]
        noun = p.w.noun(item)
        where = [p.rng.choice(_REGIONS[item.position])] if item.position else []
        where += [p.relation(i)] if item.relation else []
        phrases.append(" ".join([noun, ", ".join(where)]) if where else noun)
    return p.joined(phrases) + p.bg_tail() + p.stop()


# JSON-like specs ---------------------------------------------------------------------------------


def style_json(p: Parts) -> str:
    """A JSON object, as people paste into prompts (keys vary: color/colour, position/pos)."""
    colour_key = p.rng.choice(["color", "colour"])
    place_key = p.rng.choice(["position", "pos", "location"])
    objects = []
    for i in p.shown:
        item = p.goal.items[i]
        entry: dict[str, object] = {"shape": p.w.shape(item.shape), colour_key: item.color}
        if item.count > 1:
            entry["count"] = item.count
        if item.size:
            entry["size"] = p.w.size(item.size)[0]
        if item.position:
            entry[place_key] = p.rng.choice(LABELS[item.position])
        if item.relation:
            kind, j = item.relation
            other = p.goal.items[j]
            words = p.rng.choice(RELATION_WORDS[kind])
            entry["relation"] = f"{words} the {other.color} {other.shape}"
        objects.append(entry)
    spec = {"background": p.goal.background, "objects": objects}
    if p.rng.random() < 0.5:
        spec = {"objects": objects, "background": p.goal.background}
    indent = 2 if p.rng.random() < 0.5 else None
    return json.dumps(spec, indent=indent)


# Adjectives the world cannot draw -----------------------------------------------------------------

_EXTRA = ["shiny", "solid", "plain", "flat", "bold", "simple", "perfect", "neat", "filled",
          "smooth", "glossy", "matte"]  # fmt: skip


def style_adjectives(p: Parts) -> str:
    """Descriptive adjectives and commas between them: "a shiny, red circle", "a large,
    solid blue square", "a perfect green triangle"."""
    phrases = []
    for i in p.shown:
        item = p.goal.items[i]
        adjectives = [*p.w.size(item.size)]
        if p.rng.random() < 0.6:
            adjectives.insert(p.rng.randint(0, len(adjectives)), p.rng.choice(_EXTRA))
        adjectives.append(item.color)
        sep = ", " if p.rng.random() < 0.5 else " "
        described = sep.join(adjectives[:-1]) + (sep if len(adjectives) > 1 else "")
        described += f"{adjectives[-1]} {p.w.shape(item.shape, item.count)}"
        if item.count > 1:
            noun = f"{_GROUP_WORDS[item.count]} {described}"
        else:
            noun = f"{article(described)} {described}"
        where = p.where(i)
        phrases.append(f"{noun} {where}" if where else noun)
    return p.joined(phrases) + p.bg_tail() + p.stop()
