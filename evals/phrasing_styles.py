"""Phrasing styles: one goal of :mod:`pakati.evals.phrasings` written the ways people write.

The styles were written in rounds, each from how people phrase requests to an image tool and
before the planner was run on it; the planner was then improved against each round, so the
first measurement of a round is the figure that says how the planner reads phrasings it has
not seen (n=300, seed 0):

1. ``plain`` to ``synonyms`` (this module; the examples of issue 14). The parser before
   this work read 0.052 of them; hand-written goals written with them: 18/26 at first.
2. ``two_pass``, ``casual``, ``elliptic``, ``chatty`` (this module): 0.483 at first.
3. ``story``, ``spec``, ``negations``, ``counts``, ``sloppy``
   (:mod:`pakati.evals.phrasing_styles_more`): 0.247 at first; hand-written: 2/12.
4. ``questions`` to ``adjectives`` (:mod:`pakati.evals.phrasing_styles_round4`): 0.373 held
   out; hand-written: 2/12.
5. :data:`HELD_OUT_STYLES` (:mod:`pakati.evals.held_out_styles`): the current round, which
   the planner is not tuned on; the eval reports it as ``held_out``.

A style the planner fails on stays, and the eval reports it.
"""

from __future__ import annotations

import random

from pakati.evals import held_out_styles, phrasing_styles_more, phrasing_styles_round4
from pakati.evals.phrasings import (
    LABELS,
    RELATION_WORDS,
    Parts,
    TruthGoal,
    TruthItem,
    Writer,
    capital,
)
from pakati_engine.world.colors import article

STYLES = (
    "plain",
    "imperative",
    "background_first",
    "background_sentence",
    "sentences",
    "list",
    "position_first",
    "synonyms",
    "two_pass",
    "casual",
    "elliptic",
    "chatty",
    "story",
    "spec",
    "negations",
    "counts",
    "sloppy",
    "questions",
    "steps",
    "grouped",
    "regions",
    "json",
    "adjectives",
)
"""Styles the planner was improved against (rounds 1-4)."""

HELD_OUT_STYLES = ("tags", "place_subject", "colour_words", "markdown", "rows", "asides")
"""Styles the planner is not tuned on (round 5, :mod:`pakati.evals.held_out_styles`)."""

ALL_STYLES = STYLES + HELD_OUT_STYLES


def render(goal: TruthGoal, style: str, rng: random.Random) -> str:
    """``goal`` written in ``style`` (one of :data:`ALL_STYLES`)."""
    parts = Parts(goal, Writer(rng, synonyms=style == "synonyms"))
    text = _STYLE_FUNCTIONS[style](parts)
    return text if style == "casual" else capital(text)


# First round ---------------------------------------------------------------------------------


def _style_plain(p: Parts) -> str:
    """A noun list, then the background: the form the planner was first written for."""
    return p.objects() + p.bg_tail() + p.stop()


_VERBS = [
    "draw", "please draw", "please make", "make", "paint", "I want", "I'd like",
    "generate an image of", "create a picture with", "give me", "show me", "can you draw",
    "could you make me", "can you paint", "please create an image with", "I need",
]  # fmt: skip


def _style_imperative(p: Parts) -> str:
    """ "Draw ...", "Please make ...", "I want ...", "Can you draw ...?"."""
    verb = p.rng.choice(_VERBS)
    end = "?" if verb.startswith(("can", "could")) else p.stop()
    return f"{verb} {p.objects()}{p.bg_tail()}{end}"


def _style_background_first(p: Parts) -> str:
    """The background before the objects: in the same sentence or one of its own."""
    c, objects = p.goal.background, p.objects()
    a = article(c)
    return p.rng.choice(
        [f"on {a} {c} background, draw {objects}.", f"{c} background, {objects}.",
         f"{a} {c} background with {objects}", f"against {a} {c} background: {objects}.",
         f"background: {c}. {objects}.", f"start with {a} {c} background and add {objects}.",
         f"the background is {c}. Put {objects}.", f"on {c}, {objects}.",
         f"{a} {c} background. On it, {objects}."]
    )  # fmt: skip


def _style_background_sentence(p: Parts) -> str:
    """The objects, then the background in a sentence of its own ("... Background: yellow.")."""
    lead = p.rng.choice(["", "", "draw ", "I want ", "please make "])
    return f"{lead}{p.objects()}. {p.bg_sentence()}"


_SENTENCE_FORMS = [
    "there is {np}{where}.", "there's {np}{where}.", "put {np}{where}.", "add {np}{where}.",
    "{np}{where}.", "place {np}{where}.", "I want {np}{where}.",
]  # fmt: skip
_PLURAL_FORMS = ["there are {np}{where}.", "put {np}{where}.", "add {np}{where}.", "{np}{where}."]


def _style_sentences(p: Parts) -> str:
    """One sentence per object ("There is a red circle in the top left. Put ..."); the
    background in its own sentence first or last; "above it" for the object just named."""
    sentences = []
    previous = None
    for i in p.shown:
        item = p.goal.items[i]
        forms = _PLURAL_FORMS if item.count > 1 else _SENTENCE_FORMS
        if item.relation and item.relation[1] == previous and previous not in p.inline:
            kind = item.relation[0]
            rel = f"{p.rng.choice(RELATION_WORDS[kind])} it"
            position = p.w.position(item.position) if item.position else ""
            where = " " + (f"{position}, {rel}" if position else rel)
        else:
            where = " " + p.where(i) if (item.position or item.relation) else ""
        form = p.rng.choice(forms)
        if form.startswith("{np}") and p.rng.random() < 0.5 and item.count == 1 and where:
            form = p.rng.choice(["{np} sits{where}.", "{np} goes{where}.", "{np} is{where}."])
        sentences.append(form.format(np=p.w.noun(item), where=where))
        sentences[-1] = capital(sentences[-1])
        previous = i
    background = p.bg_sentence()
    if p.rng.random() < 0.5:
        return " ".join([background, *sentences])
    return " ".join([*sentences, background])


def _style_list(p: Parts) -> str:
    """A bulleted or numbered list, one object a line, articles often dropped; a
    "Background: ..." line first or last; sometimes a heading ("Objects:")."""
    bullet = p.rng.choice(["- ", "* ", "• ", "{n}. ", "{n}) "])
    lines = []
    for n, i in enumerate(p.shown, start=1):
        item = p.goal.items[i]
        determiner = p.rng.choice(["", "a"])
        noun = p.w.noun(item, determiner)
        if item.position and not item.relation and p.rng.random() < 0.5:
            text = noun + p.rng.choice([", ", ": ", " - ", " ("]) + p.w.label(item.position)
            text += ")" if "(" in text else ""
        else:
            where = p.where(i)
            text = f"{noun} {where}" if where else noun
        lines.append(bullet.format(n=n) + text)
    background = p.rng.choice(
        [f"Background: {p.goal.background}", f"{p.goal.background} background"]
    )
    heading = p.rng.choice(["", "", "Objects:\n", "Draw:\n", "Shapes:\n"])
    if p.rng.random() < 0.3:
        return f"{background}\n{heading}" + "\n".join(lines)
    return heading + "\n".join(lines) + "\n" + background


def _style_position_first(p: Parts) -> str:
    """Where before what: "In the top left, a red circle; on the right, a blue square." or
    "Top left: red circle. Right: blue square." Objects with no position keep noun-first."""
    label = p.rng.random() < 0.4
    pieces = []
    for i in p.shown:
        item = p.goal.items[i]
        if item.position is None:
            pieces.append(p.phrase(i))
            continue
        relation = f" {p.relation(i)}" if item.relation else ""
        noun = p.w.noun(item)
        if label:
            name = p.w.label(item.position)
            pieces.append(f"{capital(name)}: {noun}{relation}")
        else:
            where = p.w.position(item.position)
            pieces.append(f"{where}, {noun}{relation}")
    if label:
        pieces = [capital(piece) for piece in pieces]
        return ". ".join(pieces) + ". " + p.bg_sentence()
    return "; ".join(pieces) + ". " + p.bg_sentence()


def _style_synonyms(p: Parts) -> str:
    """The plain and imperative forms with every word that has a synonym replaced by one:
    upper/lower, center/middle, left-hand side, left half, box/rectangle, disc/ball/dot,
    little/big."""
    if p.rng.random() < 0.5:
        return _style_imperative(p)
    return _style_plain(p)


# Second round -------------------------------------------------------------------------------


def _reference(p: Parts, item: TruthItem) -> str:
    """``the red circle`` / ``the circle`` (shape unique) / ``the two green triangles``."""
    shapes = [it.shape for it in p.goal.items]
    if item.count > 1:
        return f"the {item.color} {p.w.shape(item.shape, item.count)}"
    if shapes.count(item.shape) == 1 and p.rng.random() < 0.3:
        return f"the {p.w.shape(item.shape)}"
    return p.w.noun(TruthItem(item.color, item.shape), "the")


def _style_two_pass(p: Parts) -> str:
    """The objects named first, then placed one by one: "Draw a red circle, a blue square
    and two green triangles. Put the red circle in the top left and the blue square at the
    bottom. The green triangles go along the top. Background: yellow."."""
    items = p.goal.items
    p.inline = set()  # every object is introduced in the first sentence
    intro = p.rng.choice(["draw ", "I want ", "make ", "please paint ", "there are ", ""])
    intro += p.joined([p.w.noun(it) for it in items])
    placed = []
    for i, item in enumerate(items):
        if item.position is None and item.relation is None:
            continue
        ref, where = _reference(p, item), p.where(i)
        verb = ("go" if item.count > 1 else "goes", "should be", "are" if item.count > 1 else "is")
        placed.append(
            p.rng.choice([f"put {ref} {where}", f"{ref} {p.rng.choice(verb)} {where}",
                          f"place {ref} {where}"])
        )  # fmt: skip
    sentences = [capital(intro) + "."]
    while placed:
        take = 2 if len(placed) > 1 and p.rng.random() < 0.4 else 1
        sentences.append(capital(" and ".join(placed[:take])) + ".")
        placed = placed[take:]
    background = p.bg_sentence()
    return " ".join([*sentences, background] if p.rng.random() < 0.7 else [background, *sentences])


def _style_casual(p: Parts) -> str:
    """Terse lower-case notes: "red circle top left, 2 green triangles + blue square above
    red circle, yellow bg pls"."""
    pieces = []
    for i in p.shown:
        item = p.goal.items[i]
        noun = p.w.noun(item, "")
        if item.count > 1:
            noun = noun.replace("two ", "2 ").replace("three ", "3 ").replace("a pair of ", "2 ")
        where = []
        if item.position:
            where.append(p.rng.choice(LABELS[item.position]))
        if item.relation:
            kind, j = item.relation
            other = p.goal.items[j]
            ref = " ".join(
                [*p.w.size(other.size)] * (j in p.inline) + [other.color, p.w.shape(other.shape)]
            )
            where.append(f"{p.rng.choice(RELATION_WORDS[kind])} {ref}")
        pieces.append(" ".join([noun, *where]))
    sep = p.rng.choice([", ", " + ", " & ", ", "])
    c = p.goal.background
    background = p.rng.choice([f"{c} bg", f"bg {c}", f"bg: {c}", f"on {c}", f"{c} background"])
    end = p.rng.choice(["", "", " pls", " thx", " please", "!"])
    return sep.join(pieces) + p.rng.choice([", ", " - ", ". "]) + background + end


def _style_elliptic(p: Parts) -> str:
    """Words people leave out or move: "a red circle on the left and a blue one on the
    right", "a square in green", "a blue-coloured square", "a big triangle with a small red
    circle above it"."""
    items, shown = p.goal.items, p.shown
    phrases: list[str] = []
    k = 0
    while k < len(shown):
        i = shown[k]
        item = items[i]
        previous = items[shown[k - 1]] if k else None
        size = " ".join(p.w.size(item.size))
        if previous and previous.shape == item.shape and item.count == previous.count == 1:
            words = " ".join(w for w in (size, item.color, "one") if w)
            noun = f"{article(words)} {words}"
        elif item.count == 1 and p.rng.random() < 0.5:
            shape = p.w.shape(item.shape)
            head = " ".join(w for w in (size, shape) if w)
            hyphened = f"{size + ' ' if size else ''}{item.color}-coloured {shape}"
            noun = p.rng.choice(
                [f"{article(head)} {head} in {item.color}",
                 f"{article(head)} {head} coloured {item.color}",
                 f"{article(size or item.color)} {hyphened}"]
            )  # fmt: skip
        else:
            noun = p.w.noun(item)
        where = p.where(i)
        phrase = f"{noun} {where}" if where else noun
        follower = shown[k + 1] if k + 1 < len(shown) else None
        if (
            follower is not None
            and items[follower].relation is not None
            and items[follower].relation[1] == i
            and items[follower].position is None
            and items[follower].count == 1
            and p.rng.random() < 0.6
        ):
            kind = items[follower].relation[0]
            other = p.w.noun(items[follower])
            phrase += f" with {other} {p.rng.choice(RELATION_WORDS[kind])} it"
            k += 1
        phrases.append(phrase)
        k += 1
    return p.joined(phrases) + p.bg_tail() + p.stop()


_OPENINGS = ["Hi!", "Hello there,", "Hey,", "Hi, I'm making a poster for my class.",
             "Quick request:", "Good morning!", ""]  # fmt: skip
_REQUESTS = ["could you make me a picture with {objects}?", "I'd love an image with {objects}.",
             "what I need is {objects}.", "can I get {objects}?",
             "I'm looking for a simple image: {objects}.", "would you draw {objects}?"]  # fmt: skip
_BACKGROUNDS = [
    "Oh, and the background should be {c}.", "Please keep the background {c}.",
    "For the background, let's go with {c}.", "I'd like the background to be {c}.",
    "And make it {a} {c} background, please.", "The background can be {c}.",
]  # fmt: skip
_CLOSINGS = ["Thanks!", "Thank you so much.", "Cheers", "That's all, thanks!", ""]


def _style_chatty(p: Parts) -> str:
    """A request inside conversation: greetings, context, thanks."""
    c = p.goal.background
    request = capital(p.rng.choice(_REQUESTS).format(objects=p.objects()))
    background = p.rng.choice(_BACKGROUNDS).format(c=c, a=article(c))
    parts = [p.rng.choice(_OPENINGS), request, background, p.rng.choice(_CLOSINGS)]
    return " ".join(part for part in parts if part)


_STYLE_FUNCTIONS = {
    "plain": _style_plain,
    "imperative": _style_imperative,
    "background_first": _style_background_first,
    "background_sentence": _style_background_sentence,
    "sentences": _style_sentences,
    "list": _style_list,
    "position_first": _style_position_first,
    "synonyms": _style_synonyms,
    "two_pass": _style_two_pass,
    "casual": _style_casual,
    "elliptic": _style_elliptic,
    "chatty": _style_chatty,
    "story": phrasing_styles_more.style_story,
    "spec": phrasing_styles_more.style_spec,
    "negations": phrasing_styles_more.style_negations,
    "counts": phrasing_styles_more.style_counts,
    "sloppy": phrasing_styles_more.style_sloppy,
    "questions": phrasing_styles_round4.style_questions,
    "steps": phrasing_styles_round4.style_steps,
    "grouped": phrasing_styles_round4.style_grouped,
    "regions": phrasing_styles_round4.style_regions,
    "json": phrasing_styles_round4.style_json,
    "adjectives": phrasing_styles_round4.style_adjectives,
    "tags": held_out_styles.style_tags,
    "place_subject": held_out_styles.style_place_subject,
    "colour_words": held_out_styles.style_colour_words,
    "markdown": held_out_styles.style_markdown,
    "rows": held_out_styles.style_rows,
    "asides": held_out_styles.style_asides,
}
assert set(_STYLE_FUNCTIONS) == set(ALL_STYLES)
