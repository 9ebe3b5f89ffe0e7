"""More phrasing styles (the third round): descriptive prose, terse specs, negations and
corrections, quantity words, typing slips.

Written after the planner had been improved against the first two rounds of
:mod:`pakati.evals.phrasing_styles`, from more ways people write; the planner read 0.247 of
them at first (n=300, seed 0: story 0.143, spec 0.307, negations 0.000, counts 0.717,
sloppy 0.070) and was then improved against them.
"""

from __future__ import annotations

from pakati.evals.phrasings import (
    CELLS,
    LABELS,
    POSITION_WORDS,
    RELATION_WORDS,
    Parts,
    capital,
)
from pakati_engine.world.colors import COLOR_NAMES, article

_SINGULAR_VERBS = ["sits", "floats", "rests", "lies", "hangs", "stands", "is", "there is"]
_PLURAL_VERBS = ["sit", "float", "rest", "lie", "hang", "stand", "are", "there are"]
_FRONTABLE = ("in ", "at ", "on ", "along ", "down ", "up ")


def _fronted_position(p: Parts, name: str) -> str:
    """A position phrase that can open a sentence ("In the upper left corner")."""
    plain, other = POSITION_WORDS[name]
    return p.rng.choice([w for w in plain + other if w.startswith(_FRONTABLE)])


def style_story(p: Parts) -> str:
    """Descriptive prose with inverted sentences: "Imagine a yellow canvas. In its upper left
    corner floats a small red circle, and just below it rests a blue square."."""
    c = p.goal.background
    opening = p.rng.choice(
        [f"Imagine {article(c)} {c} canvas.", f"Picture a plain {c} background.",
         f"The scene is set on {c}.", f"Start from {article(c)} {c} backdrop."]
    )  # fmt: skip
    sentences = []
    previous = None
    for i in p.shown:
        item = p.goal.items[i]
        plural = item.count > 1
        verb = p.rng.choice(_PLURAL_VERBS if plural else _SINGULAR_VERBS)
        noun = p.w.noun(item)
        lead = []
        if item.position:
            lead.append(_fronted_position(p, item.position))
        if item.relation:
            kind, j = item.relation
            target = "it" if j == previous and j not in p.inline else p.reference(j)
            lead.append(f"{p.rng.choice(RELATION_WORDS[kind])} {target}")
        if lead:
            sentences.append(f"{capital(', '.join(lead))} {verb} {noun}.")
        else:
            sentences.append(
                p.rng.choice([f"There is also {noun}.", f"{capital(noun)} appears too."])
            )
        previous = i
    return " ".join([opening, *sentences])


def style_spec(p: Parts) -> str:
    """Terse specifications: "red circle @ top left; blue square @ bottom right, above: red
    circle; bg = yellow" or "circle(red, top left, small)" or one "shape: ... | colour: ..."
    line per object."""
    form = p.rng.choice(["at", "call", "fields"])
    lines = []
    for i in p.shown:
        item = p.goal.items[i]
        size = item.size and p.w.size(item.size)[0]
        relation = ""
        if item.relation:
            kind, j = item.relation
            other = p.goal.items[j]
            relation = f"{p.rng.choice(RELATION_WORDS[kind])} {other.color} {other.shape}"
        where = p.rng.choice(LABELS[item.position]) if item.position else ""
        shape = p.w.shape(item.shape)
        if form == "at":
            text = f"{item.color} {shape}"
            text += f" x{item.count}" if item.count > 1 else ""
            text += f" ({size})" if size else ""
            text += f" @ {where}" if where else ""
            text += f", {relation}" if relation else ""
        elif form == "call":
            args = ", ".join(a for a in (item.color, where, relation, size or "") if a)
            text = f"{shape}({args})"
            text = f"{item.count} x {text}" if item.count > 1 else text
        else:
            fields = [f"shape: {shape}", f"colour: {item.color}"]
            fields += [f"count: {item.count}"] if item.count > 1 else []
            fields += [f"size: {size}"] if size else []
            fields += [f"position: {where}"] if where else []
            fields += [f"position: {relation}"] if relation else []
            text = " | ".join(fields)
        lines.append(text)
    c = p.goal.background
    background = p.rng.choice([f"bg = {c}", f"background={c}", f"background({c})", f"bg: {c}"])
    if form == "fields":
        return "\n".join([*lines, background])
    return "; ".join([*lines, background])


def _wrong_position(p: Parts, name: str) -> str:
    """A position in another row and another column, so "not X" cannot overlap the truth."""
    (x, y) = CELLS[name]
    others = [n for n, (ox, oy) in CELLS.items() if ox != x and oy != y]
    return p.rng.choice(LABELS[p.rng.choice(others)])


def style_negations(p: Parts) -> str:
    """Corrections and exclusions: "a red circle in the top left (not the top right!)",
    "the background should be yellow, not white", "no other shapes"."""
    phrases = []
    for i in p.shown:
        phrase = p.phrase(i)
        item = p.goal.items[i]
        if item.position and p.rng.random() < 0.4:
            wrong = _wrong_position(p, item.position)
            phrase += p.rng.choice([f" (not the {wrong}!)", f", not the {wrong}",
                                    f" - not in the {wrong}"])  # fmt: skip
        phrases.append(phrase)
    c = p.goal.background
    wrong_bg = p.rng.choice([x for x in COLOR_NAMES if x != c])
    background = p.rng.choice(
        [f"The background should be {c}, not {wrong_bg}.", f"Background: {c} (no {wrong_bg}).",
         f"Use {article(c)} {c} background rather than {wrong_bg}."]
    )  # fmt: skip
    ending = p.rng.choice(["No other shapes.", "Nothing else.", "No text.",
                           "Don't add anything else.", "No borders, no shadows.", ""])  # fmt: skip
    verb = p.rng.choice(["Draw ", "I want ", "", "Please make "])
    return " ".join(x for x in (f"{verb}{p.joined(phrases)}.", background, ending) if x)


def style_counts(p: Parts) -> str:
    """Quantity words: "a couple of red circles", "red circles x2", "two red circles, both
    at the top", "a single blue square", "just one green triangle"."""
    phrases = []
    for i in p.shown:
        item = p.goal.items[i]
        where = p.where(i)
        colour_shape = " ".join([*p.w.size(item.size), item.color, p.w.shape(item.shape)])
        if item.count > 1:
            plural = " ".join([*p.w.size(item.size), item.color, p.w.shape(item.shape, item.count)])
            number = {2: "two", 3: "three"}[item.count]
            forms = [f"{plural} x{item.count}", f"{item.count}x {colour_shape}",
                     f"{plural} ({number} of them)", f"{number} {plural} in total"]  # fmt: skip
            forms += ["a couple of " + plural] if item.count == 2 else ["a trio of " + plural]
            noun = p.rng.choice(forms)
            if where and p.rng.random() < 0.5:
                both = "both" if item.count == 2 else "all"
                phrases.append(f"{number} {plural}, {both} {where}")
                continue
        else:
            noun = p.rng.choice(
                [f"a single {colour_shape}", f"just one {colour_shape}", f"one {colour_shape}",
                 f"{article(colour_shape)} {colour_shape}"]
            )  # fmt: skip
        phrases.append(f"{noun} {where}" if where else noun)
    return p.joined(phrases) + p.bg_tail() + p.stop()


_TYPOS = {
    "circle": ["circel", "cirle", "cricle"], "square": ["sqaure", "squre", "suqare"],
    "triangle": ["triangel", "traingle", "trinagle"], "background": ["backgroud", "bakground"],
    "yellow": ["yelow", "yellwo"], "purple": ["purpel", "pruple"], "orange": ["ornage", "orage"],
    "green": ["gren", "grean"], "left": ["lfet"], "right": ["rigth", "rihgt"],
    "bottom": ["botom", "bottem"], "middle": ["midle"], "above": ["abvoe"],
}  # fmt: skip


def style_sloppy(p: Parts) -> str:
    """The plain style typed in a hurry: one misspelt word, odd capitals, missing spaces
    after commas, doubled spaces."""
    words = (p.objects() + p.bg_tail() + p.stop()).split(" ")
    typo_at = [k for k, w in enumerate(words) if w.strip(",.").lower() in _TYPOS]
    if typo_at:
        k = p.rng.choice(typo_at)
        bare = words[k].strip(",.").lower()
        words[k] = words[k].lower().replace(bare, p.rng.choice(_TYPOS[bare]))
    for k in range(len(words)):
        if p.rng.random() < 0.08:
            words[k] = words[k].upper()
    text = " ".join(words)
    if p.rng.random() < 0.5:
        text = text.replace(", ", ",")
    if p.rng.random() < 0.5:
        text = text.replace(" a ", "  a ", 1)
    return text.rstrip(".") if p.rng.random() < 0.5 else text
