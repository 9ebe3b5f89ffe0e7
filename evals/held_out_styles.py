"""Held-out phrasing styles (the fifth round): the eval's measure of generalisation.

Written after the planner had been improved against rounds 1-4, and before the planner was
run on them, from more ways people write to an image tool: Stable Diffusion-style tag lists
("masterpiece, red circle, top left, ..."), the place as the sentence's subject ("the top
left has a red circle"), colour words outside the world's eight ("crimson", "navy"),
Markdown specs, layouts described row by row, and asides that name no object ("(that's the
sun)"). Do not tune the planner on these: put new tuned styles in
:data:`pakati.evals.phrasing_styles.STYLES` and write new held-out ones here.
"""

from __future__ import annotations

from pakati.evals.phrasings import CELLS, LABELS, Parts, capital
from pakati_engine.world.colors import article

_NUMBERS = {2: ["two", "2"], 3: ["three", "3"]}

# Stable Diffusion-style tag lists ------------------------------------------------------------

_QUALITY_TAGS = ["masterpiece", "best quality", "high detail", "4k", "sharp focus", "minimal",
                 "flat design", "simple shapes", "vector art"]  # fmt: skip


def _tag_weight(text: str, p: Parts) -> str:
    """Now and then an A1111-style weight: ``(red circle:1.2)``."""
    if p.rng.random() < 0.2:
        return f"({text}:{p.rng.choice(['1.1', '1.2', '1.3', '1.4'])})"
    return text


def style_tags(p: Parts) -> str:
    """A comma-separated tag list as typed into Stable Diffusion UIs: quality tags, then per
    object its noun and its place as separate tags, then the background."""
    tags = p.rng.sample(_QUALITY_TAGS, p.rng.randint(0, 3))
    for i in p.shown:
        item = p.goal.items[i]
        words = [*p.w.size(item.size), item.color, p.w.shape(item.shape, item.count)]
        noun = " ".join(words)
        if item.count > 1:
            noun = f"{p.rng.choice(_NUMBERS[item.count])} {noun}"
        tags.append(_tag_weight(noun, p))
        if item.position:
            tags.append(p.rng.choice(LABELS[item.position]))
        if item.relation:
            tags.append(p.relation(i))
    background = p.goal.background
    tags.append(_tag_weight(p.rng.choice([f"{background} background", f"{background} bg"]), p))
    return ", ".join(tags)


# The place as the subject -------------------------------------------------------------------

_PLACE_FORMS = [
    "the {label} has {np}.", "the {label} should contain {np}.", "in the {label}: {np}.",
    "the {label} holds {np}.", "{label} gets {np}.", "over in the {label} goes {np}.",
]  # fmt: skip
_RELATION_FORMS = ["{rel}, {np}.", "{rel} there is {np}.", "{rel} sits {np}."]


def _label(position: str, p: Parts) -> str:
    label = p.rng.choice(LABELS[position])
    return label if label != "centre" or p.rng.random() < 0.5 else "centre of the picture"


def style_place_subject(p: Parts) -> str:
    """Each sentence starts from the place: "The top left has a red circle. Below the red
    circle there is a blue square."."""
    sentences = []
    for i in p.shown:
        item = p.goal.items[i]
        np = p.w.noun(item)
        if item.position and not item.relation:
            text = p.rng.choice(_PLACE_FORMS).format(label=_label(item.position, p), np=np)
        elif item.relation and not item.position:
            text = p.rng.choice(_RELATION_FORMS).format(rel=p.relation(i), np=np)
        elif item.position:
            text = f"the {_label(item.position, p)} has {np}, {p.relation(i)}."
        else:
            text = f"somewhere there is {np}."
        sentences.append(capital(text))
    c = p.goal.background
    background = capital(
        p.rng.choice([f"everything else is {c}.", f"the rest of the canvas is {c}.",
                      f"behind it all, {c}.", f"the backdrop is {c}."])
    )  # fmt: skip
    return " ".join([*sentences, background])


# Colour words outside the world's eight -------------------------------------------------------

_COLOUR_WORDS = {
    "red": ["crimson", "scarlet", "cherry red", "bright red"],
    "orange": ["tangerine", "amber", "bright orange", "burnt orange"],
    "yellow": ["golden", "lemon yellow", "canary yellow", "mustard"],
    "green": ["emerald", "emerald green", "forest green", "grass green"],
    "blue": ["navy", "navy blue", "royal blue", "cobalt"],
    "purple": ["violet", "lilac", "plum", "lavender"],
    "white": ["snow white", "ivory", "off-white", "pure white"],
    "black": ["jet black", "charcoal", "pitch black", "ebony"],
}


def style_colour_words(p: Parts) -> str:
    """Colours named as people name them, not as the world does: "a crimson circle", "a navy
    square on an ivory background"."""
    phrases = []
    for i in p.shown:
        item = p.goal.items[i]
        colour = p.rng.choice(_COLOUR_WORDS[item.color])
        words = [*p.w.size(item.size), colour, p.w.shape(item.shape, item.count)]
        if item.count > 1:
            noun = f"{p.rng.choice(_NUMBERS[item.count])} {' '.join(words)}"
        else:
            noun = f"{article(words[0])} {' '.join(words)}"
        where = p.where(i)
        phrases.append(f"{noun} {where}" if where else noun)
    c = p.rng.choice(_COLOUR_WORDS[p.goal.background])
    tail = p.rng.choice([f" on {article(c)} {c} background", f", {c} background",
                         f" against {article(c)} {c} backdrop"])  # fmt: skip
    return p.joined(phrases) + tail + p.stop()


# Markdown specs -----------------------------------------------------------------------------


def style_markdown(p: Parts) -> str:
    """A Markdown spec pasted from notes: a heading, bold keys, bullets or a numbered list."""
    lines = [p.rng.choice(["## Scene", "# Image", "**Layout**", "### Composition"])]
    background_line = p.rng.choice(
        [f"- **Background:** {p.goal.background}", f"**Background**: {p.goal.background}",
         f"- background — {p.goal.background}"]
    )  # fmt: skip
    first = p.rng.random() < 0.5
    if first:
        lines.append(background_line)
    lines.append(p.rng.choice(["- **Objects:**", "**Objects**", "Objects:"]))
    numbered = p.rng.random() < 0.5
    for k, i in enumerate(p.shown, start=1):
        item = p.goal.items[i]
        bullet = f"{k}." if numbered else p.rng.choice(["-", "*"])
        noun = p.w.noun(item, "")
        where = p.where(i)
        if where:
            sep = p.rng.choice([" — ", " - ", ": ", ", "])
            lines.append(f"  {bullet} {noun}{sep}{where}")
        else:
            lines.append(f"  {bullet} {noun}")
    if not first:
        lines.append(background_line)
    return "\n".join(lines)


# Row by row -----------------------------------------------------------------------------------

_ROW_NAMES = {0: ["top row", "upper row", "first row"], 1: ["middle row", "centre row"],
              2: ["bottom row", "lower row", "last row"]}  # fmt: skip
_COLUMN_WORDS = {0: ["on the left", "at the left end", "leftmost"],
                 1: ["in the middle", "in the centre"],
                 2: ["on the right", "at the right end", "rightmost"]}  # fmt: skip


def style_rows(p: Parts) -> str:
    """The canvas read row by row: "Top row: a red circle on the left and a blue square on
    the right. Bottom row: ..."; objects without a place follow in a sentence of their own."""
    rows: dict[int, list[str]] = {}
    loose = []
    for i in p.shown:
        item = p.goal.items[i]
        if item.position is None or item.count > 1 or item.relation:
            loose.append(p.phrase(i))
            continue
        column, row = CELLS[item.position]
        rows.setdefault(row, []).append(f"{p.w.noun(item)} {p.rng.choice(_COLUMN_WORDS[column])}")
    sentences = []
    for row in sorted(rows):
        name = capital(p.rng.choice(_ROW_NAMES[row]))
        sentences.append(f"{name}: {p.joined(rows[row])}.")
    if loose:
        sentences.append(capital(p.rng.choice(["also ", "plus ", "and "]) + p.joined(loose)) + ".")
    return " ".join(sentences) + " " + p.bg_sentence()


# Asides that name no object -----------------------------------------------------------------------

_ASIDES = ["(that's the sun)", "(like a logo)", "(for balance)", "— it's the focal point",
           "(think of it as a button)", "(nothing fancy)", "(the main subject)",
           "— keep it crisp", "(as a placeholder)"]  # fmt: skip


def style_asides(p: Parts) -> str:
    """Objects with asides between them that name nothing to draw: "a yellow circle in the
    top right (that's the sun), a green square at the bottom (the house) ..."."""
    phrases = []
    for i in p.shown:
        text = p.phrase(i)
        if p.rng.random() < 0.6:
            text += " " + p.rng.choice(_ASIDES)
        phrases.append(text)
    intro = p.rng.choice(["", "", "Quick sketch for a poster: ", "For my slides: "])
    return intro + p.joined(phrases) + p.bg_tail() + p.stop()
