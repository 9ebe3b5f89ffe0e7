"""Reading a goal as people write it: the text half of the offline planner.

A goal is normalised (case, contractions, hyphens, list bullets and numbers, typing slips
such as "cirle" or "lfet") and cut into segments at sentence and line ends and semicolons.
A segment's background ("on a yellow background", "Background: yellow.", "The background
should be yellow", "Make the background yellow", "On white, ...", "yellow bg") becomes the
base prompt; the rest is cut into clauses at commas, colons, dashes, brackets and joining
words (and, with, plus, then). A clause is read in this order:

1. request and chat words are dropped ("Draw", "Please make", "Can you paint me", "I'd
   like", "There's", "Generate an image of", "Hi!", "Objects:"), and so is a clause about
   the user ("I'm making a poster") or one that says what not to draw ("not the top
   right", "no other shapes");
2. a relation to another object ("above", "under", "to the left of", "higher than",
   "to its left", with "it" meaning the object named before); "on the left side of the
   picture" names a place of the canvas, not an object, so it is a position;
3. a position from its words, synonyms included (top/upper, bottom/lower, left, right,
   centre/center/middle, corner, side, half, "-hand"), combined into one of nine anchors
   ("top" + "middle" is the top, "middle" + "left side" the left); "in each corner" makes
   one object per corner, "between them" places it midway;
4. a count ("two", "3", "a pair of", "x3"), which expands into that many objects, and a
   size word ("tiny", "small"/"little", "big"/"large", "huge", "very small", ...);
5. what is left is the object: a colour and a shape of the shapes world (synonyms such as
   "box"/"rectangle" for square and "disc"/"ball"/"dot" for circle) give a canonical
   prompt ("a red circle"); "a blue one" takes the shape named before; any other words
   are kept as they are ("a boat").

Across clauses: a clause with a position, relation or size but no object ("…, just right
of the square", "Top left: …", "red circle - small") belongs to the object before it in
its segment when that object lacks what the clause says, otherwise to the next object;
"both"/"all" modifiers go to the group just named; colours alone ("four circles: red,
blue, green and yellow") colour the objects just named; "the red circle ..." updates the
object already named instead of adding one; "from left to right" spreads the segment's
objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pakati.agents.goal_json import goal_from_json
from pakati.agents.goal_words import (
    ARRANGED,
    BETWEEN,
    CANVAS_WORDS,
    COLORS,
    CONTEXT,
    CORNERS,
    COUNT_WORDS,
    DETERMINERS,
    FILLER,
    GREETING,
    GRID,
    HORIZONTAL,
    IMAGE_OF,
    INTENSIFIERS,
    META_NOUNS,
    NEGATIONS,
    ORDER,
    PLURALS,
    POSITION_FOLLOW,
    POSITION_WORDS,
    PRONOUNS,
    RELATION,
    RELATION_KINDS,
    REQUEST,
    ROW,
    SHADES,
    SHAPE_WORDS,
    SIMILE,
    SIZE_SCALES,
    SPREAD,
    TARGET_STOP,
    VERTICAL,
    canonical_words,
    normalise,
    segments,
    singular,
    take_background,
)
from pakati_engine.world.colors import article
from pakati_engine.world.sampling import SHAPES


@dataclass
class ObjectPhrase:
    """One object found in a goal."""

    name: str
    prompt: str
    words: set[str]
    position: str | None = None
    relation: tuple[str, str] | None = None
    """(kind, words of the other object), e.g. ("above", "lake")."""
    scale: float = 1.0
    color: str | None = None
    shape: str | None = None


@dataclass
class ParsedGoal:
    """A goal read: its background prompt ("" if it names none) and its objects."""

    base_prompt: str
    objects: list[ObjectPhrase]


@dataclass
class _Clause:
    """What one clause says: an object (maybe several, by count) and/or modifiers."""

    body: list[str] = field(default_factory=list)
    count: int = 1
    definite: bool = False
    plural: bool = False
    """The noun is plural ("the black circles")."""
    elided: bool = False
    """"a blue one": the shape is the one named before."""
    position: str | None = None
    relation: tuple[str, str] | None = None
    """(kind, target words); target "it" until resolved."""
    scale: float | None = None
    spots: list[str] = field(default_factory=list)
    """One object at each of these anchors ("in each corner")."""
    between: bool = False
    """"between them": midway between the two objects named before."""

    @property
    def modifies(self) -> bool:
        return self.position is not None or self.relation is not None or self.scale is not None


# Entry points ---------------------------------------------------------------------------------


def parse_goal(goal: str) -> ParsedGoal:
    """Split a goal into a background and objects with positions, relations and sizes."""
    base = ""
    objects: list[ObjectPhrase] = []
    goal = goal_from_json(goal) or goal
    parts = [take_background(segment) for segment in segments(goal)]
    for k, (segment, background) in enumerate(parts):
        if background:
            base = background
        _read_segment(segment, objects, parts[k + 1][0] if k + 1 < len(parts) else "")
    for obj in list(objects):
        # "a red circle left of a blue square": the other object exists even if no clause
        # of its own names it.
        if obj.relation and find_object(objects, obj.relation[1], obj) is None:
            other = parse_object(obj.relation[1])
            if other is not None:
                objects.append(other)
    _unique_names(objects)
    return ParsedGoal(base, objects)


def parse_object(clause: str) -> ObjectPhrase | None:
    """One object clause ("a small red circle in the top right corner") or None."""
    read = _read_clause(normalise(clause))
    return _make_object(read) if read.body else None


def find_object(objects: list[ObjectPhrase], words: str, me: ObjectPhrase) -> ObjectPhrase | None:
    """The object of ``objects`` (not ``me``) that ``words`` name: a colour or shape named
    must match; among those, the most words in common."""
    wanted = set(canonical_words(words.split()))
    colors, shapes = wanted & COLORS, wanted & set(SHAPES)

    def common(o: ObjectPhrase) -> int:  # "the disc" names "a filled red ball"
        return len(set(canonical_words(sorted(o.words))) & wanted)

    candidates = [
        o
        for o in objects
        if o is not me
        and (not colors or o.color in colors)
        and (not shapes or o.shape in shapes)
        and common(o)
    ]
    return max(candidates, key=common, default=None)


# Clauses ----------------------------------------------------------------------------------


# Clauses ----------------------------------------------------------------------------------


def _clauses(segment: str) -> list[str]:
    parts = re.split(
        r"\s*(?:[,:]|\band then\b|\bas well as\b|\balong with\b|\band\b|\bplus\b|\bwith\b"
        r"|\bthen\b|\bwhile\b|\bwhereas\b)\s*",
        segment,
    )
    return [p.strip() for p in parts if p and p.strip()]


def _joined_adjectives(texts: list[str]) -> list[str]:
    """Join clauses that commas cut inside one noun phrase: "a glossy, black circle", "a
    huge, green square", "three solid, blue triangles". A clause that opens a phrase ("a",
    "an", a count) but names no colour, shape, place or relation continues into the next
    clause when that one starts without a determiner or count."""
    out: list[str] = []
    for text in texts:
        if out and _unfinished(out[-1]) and not _opens_phrase(text):
            out[-1] = f"{out[-1]} {text}"
        else:
            out.append(text)
    return out


def _unfinished(text: str) -> bool:
    words = text.split()
    opener = words[0] if words else ""
    if not (opener in ("a", "an") or opener in COUNT_WORDS or opener.isdigit()) or len(words) > 4:
        return False
    clause = _read_clause(text)
    named = set(canonical_words(clause.body)) & (COLORS | set(SHAPES))
    described = bool(clause.body) or clause.scale is not None  # not "three of them"
    return described and not named and clause.position is None and clause.relation is None


def _opens_phrase(text: str) -> bool:
    first = text.split()[0] if text.split() else ""
    return first in DETERMINERS or first in COUNT_WORDS or first.isdigit()


def _read_segment(segment: str, objects: list[ObjectPhrase], following: str = "") -> None:
    """Read a segment's clauses into ``objects``, attaching object-less clauses;
    ``following`` is the next segment's text (a group's colours may go on there)."""
    nexts = _clauses(following)
    continues = bool(nexts) and _is_colour_clause(_read_clause(nexts[0]))
    order = ORDER.search(segment)
    if order is not None:  # "red, blue and green circles from left to right"
        segment = segment[: order.start()] + " " + segment[order.end() :]
    row = ROW.search(segment)
    if row is not None:  # "a row of three shapes": left to right unless told otherwise
        segment = segment[: row.start()] + " " + segment[row.end() :]
    first = len(objects)
    # The objects of the last object clause of this segment; at its start, a group still
    # waiting for its colours ("three triangles, small orange ...; one big blue ...").
    here = _uncoloured_group(objects)
    pending = _Clause()
    texts = _joined_adjectives(_clauses(segment))
    clauses = [_read_clause(text) for text in texts]
    last: list[ObjectPhrase] = []  # what a modifier clause refers to
    for k, (text, clause) in enumerate(zip(texts, clauses, strict=True)):
        coloured = _colours_named(clause, text, clauses[k + 1 :], here, continues)
        if coloured is not None:
            # "three circles: small red at the bottom right, a blue one (top left)": what
            # the clause says beyond its colour is about the object it coloured
            if clause.modifies and len(coloured) == 1:
                _apply(clause, coloured, objects)
            last = coloured if len(coloured) == 1 else here
            continue
        if not clause.body and clause.modifies and {"both", "all", "each"} & set(text.split()):
            # "two red circles, both at the top": the group just named; "a red circle, a
            # blue square, both small": the objects of the segment (the last two for both)
            # "A green circle. A yellow circle right of it. Both small.": the goal's so far
            mine = here if len(here) > 1 else (objects[first:] or objects)
            _apply(clause, mine[-2:] if "both" in text.split() else mine, objects)
            continue
        if not clause.body and not clause.modifies and clause.count > len(here) > 0:
            # "red circles (two of them)", "count: 3": more of the object just named
            extra = [
                replace(here[-1], words=set(here[-1].words))
                for _ in range(clause.count - len(here))
            ]
            objects.extend(extra)
            here = last = here + extra
            continue
        if clause.body:
            for attribute in ("position", "relation", "scale"):
                if getattr(clause, attribute) is None:
                    setattr(clause, attribute, getattr(pending, attribute))
            pending = _Clause()
            here = last = _add(clause, objects)
        elif clause.modifies:
            # "a red square and, to the right of it, a blue triangle": a relation to "it"
            # is about the next object, not the one "it" names
            about_next = clause.relation is not None and clause.relation[1] in PRONOUNS
            if last and _fits(clause, last) and not about_next:
                _apply(clause, last, objects)
            else:
                for attribute in ("position", "relation", "scale"):
                    value = getattr(clause, attribute)
                    if value is not None:
                        setattr(pending, attribute, value)
    if pending.modifies and objects and _fits(pending, objects[-1:]):
        _apply(pending, objects[-1:], objects)
    spread = SPREAD[tuple(g for g in order.groups() if g)] if order is not None else None
    if spread is None and row is not None:
        spread = SPREAD[("left", "right")]
    unplaced = [o for o in objects[first:] if o.position is None]
    mine = objects[first:]
    shared = {o.position for o in mine}
    if spread is not None and 2 <= len(mine) <= 3 and len(shared) == 1 and shared <= _LINES:
        # "three triangles in a row across the middle / along the top": spread on that line
        unplaced = mine
    if spread is not None and 2 <= len(unplaced) <= 3:
        line = unplaced[0].position
        for obj, anchor in zip(unplaced, spread[:: 1 if len(unplaced) == 3 else 2], strict=True):
            obj.position = _on_line(anchor, line)


_LINES = {"top", "centre", "bottom", "left", "right"}
"""Positions that name a whole row or column of the grid ("along the top", "the middle")."""


def _on_line(anchor: str, line: str | None) -> str:
    """``anchor`` of a spread ("left", "centre", "right" or "top", ...) moved onto the row or
    column ``line`` names: "left" on the top row is the top left."""
    if line is None or line == "centre":
        return anchor
    ax, ay = GRID[anchor]
    lx, ly = GRID[line]
    cell = (ax, ly) if line in ("top", "bottom") and ay == 1 else (lx, ay)
    if line in ("left", "right") and ax != 1:
        return anchor  # a row spread cannot lie on a column
    return next(name for name, xy in GRID.items() if xy == cell)


def _is_colour_clause(clause: _Clause) -> bool:
    return bool(clause.body) and set(clause.body) <= COLORS


def _uncoloured_group(objects: list[ObjectPhrase]) -> list[ObjectPhrase]:
    """The objects at the end of ``objects`` named by shape only, from the first of them."""
    start = len(objects)
    while start and objects[start - 1].color is None and objects[start - 1].shape is not None:
        start -= 1
    return objects[start:]


def _colours_named(
    clause: _Clause, text: str, later: list[_Clause], here: list[ObjectPhrase], continues: bool
) -> list[ObjectPhrase] | None:
    """Colour the objects just named when the clause is only colours: "four circles: red,
    blue, green and yellow" and "two squares, one red, one blue" one each; a colour alone
    colours them all ("2 x triangle(black)") unless it says "one" or "a" or more colours
    follow, in this segment or (``continues``) at the start of the next.
    The objects coloured, or None if the clause is not such a clause."""
    uncoloured = [o for o in here if o.color is None and o.shape is not None]
    if not (_is_colour_clause(clause) and uncoloured):
        return None
    alone = not text.startswith(("one ", "a ", "an ")) and not clause.modifies
    if continues and all(not other.body for other in later):
        alone = False  # "two circles, purple (in the top left); blue at the bottom"
    for other in later:  # up to the next object: "orange (above it) and a red one"
        if other.body and not set(other.body) <= COLORS:
            break
        alone = alone and not other.body
    colours = clause.body * clause.count
    if alone and len(uncoloured) == len(here) and len(colours) == 1:
        colours = colours * len(uncoloured)
    coloured = []
    for obj, colour in zip(uncoloured, colours, strict=False):
        _recolour(obj, colour)
        coloured.append(obj)
    return coloured


def _recolour(obj: ObjectPhrase, colour: str) -> None:
    obj.color, obj.words = colour, {colour, *obj.words}
    if obj.shape is not None and obj.words <= {colour, obj.shape}:
        obj.prompt = f"{article(colour)} {colour} {obj.shape}"
        obj.name = f"{colour}-{obj.shape}"


def _fits(clause: _Clause, targets: list[ObjectPhrase]) -> bool:
    """Whether the objects lack everything the modifier clause says."""
    return all(
        (clause.position is None or o.position is None)
        and (clause.relation is None or o.relation is None)
        and (clause.scale is None or o.scale == 1.0)
        for o in targets
    )


def _apply(clause: _Clause, targets: list[ObjectPhrase], objects: list[ObjectPhrase]) -> None:
    for obj in targets:
        if clause.position is not None:
            obj.position = clause.position
        if clause.relation is not None:
            obj.relation = _resolve(clause.relation, obj, objects)
        if clause.scale is not None:
            obj.scale = clause.scale


def _add(clause: _Clause, objects: list[ObjectPhrase]) -> list[ObjectPhrase]:
    """Append the clause's objects (or, for "the red circle ...", update the one named)."""
    if clause.elided and not set(canonical_words(clause.body)) & set(SHAPES):
        shape = next((o.shape for o in reversed(objects) if o.shape), None)
        clause.body = clause.body + ([shape] if shape else ["one"])
    made = _make_object(clause)
    if clause.definite and clause.count == 1:
        same = _named(objects, made)
        if len(same) > 1 and not clause.plural:
            same = [next((o for o in same if _fits(clause, [o])), same[0])]
        if same:
            _apply(clause, same, objects)
            return same
    copies = [made] + [
        _make_object(clause) for _ in range(clause.count * max(1, len(clause.spots)) - 1)
    ]
    for obj, spot in zip(copies, clause.spots * clause.count, strict=False):
        obj.position = spot
    if clause.between and len(objects) >= 2 and made.position is None:
        middle = _midway(objects[-2].position, objects[-1].position)
        for obj in copies:
            obj.position = middle
    if clause.relation is not None:
        relation = _resolve(clause.relation, None, objects)
        for obj in copies:
            obj.relation = relation
    objects.extend(copies)
    return copies


def _midway(a: str | None, b: str | None) -> str | None:
    """The anchor halfway between two anchors, if there is one."""
    if a is None or b is None:
        return None
    (ax, ay), (bx, by) = GRID[a], GRID[b]
    if (ax + bx) % 2 or (ay + by) % 2:
        return None
    cell = ((ax + bx) // 2, (ay + by) // 2)
    return next(name for name, xy in GRID.items() if xy == cell)


def _named(objects: list[ObjectPhrase], made: ObjectPhrase) -> list[ObjectPhrase]:
    """The objects that a definite reference ("the red circle", "the square") names."""
    if made.shape is not None:
        return [
            o
            for o in objects
            if o.shape == made.shape and made.color in (None, o.color) and made.words <= o.words
        ]
    return [o for o in objects if o.words == made.words]


def _resolve(
    relation: tuple[str, str], me: ObjectPhrase | None, objects: list[ObjectPhrase]
) -> tuple[str, str]:
    """Replace a pronoun target ("above it") by the words of the object named before ``me``."""
    kind, words = relation
    if words not in PRONOUNS:
        return relation
    before = objects[: objects.index(me)] if me in objects else objects
    if not before:
        return relation
    other = before[-1]
    return kind, f"{other.color} {other.shape}" if other.color and other.shape else " ".join(
        sorted(other.words)
    )


def _read_clause(text: str) -> _Clause:
    if SIMILE.match(text.strip()):
        return _Clause()
    text = IMAGE_OF.sub("", REQUEST.sub("", GREETING.sub("", text.strip()).strip()))
    text = REQUEST.sub("", text)
    text = ARRANGED.sub(" ", text)
    spots: list[str] = []
    corners = CORNERS.search(text)
    if corners is not None:  # "a white triangle in each top corner"
        side = VERTICAL.get(corners.group(1) or "", corners.group(1) or "")
        spots = [c for c in ("top left", "top right", "bottom left", "bottom right") if side in c]
        text = text[: corners.start()] + " " + text[corners.end() :]
    between = BETWEEN.search(text)
    if between is not None:
        text = text[: between.start()] + " " + text[between.end() :]
    words = text.split()
    negated = next((k for k, w in enumerate(words) if w in NEGATIONS), None)
    if negated is not None:  # "not the top right", "no other shapes": nothing to draw
        text = " ".join(words[:negated])
    clause = _Clause(definite=text.startswith(("the ", "this ", "that ")), spots=spots)
    clause.between = between is not None
    hints: list[str] = []
    searched = 0
    while clause.relation is None and (found := RELATION.search(text, searched)) is not None:
        if found.group("own"):  # "to its left": left of the object named before
            target, after = ["it"], found.group("rest").split()
        else:
            target, after = _target(found.group("rest").split())
        side = found.group("side") or found.group("own")
        if target and target[-1] in CANVAS_WORDS:
            # "on the left side of the picture": a place on the canvas, not an object
            hints.append(side or "")
        elif target:
            kind = f"{side}_of" if side else RELATION_KINDS[found.group("kw").split()[0]]
            clause.relation = (kind, " ".join(target))
        elif not side:
            searched = found.end("kw")
            continue
        searched = found.start()
        text = text[: found.start()] + " " + " ".join(after)
    tokens = text.split()
    clause.position, placed = _position(tokens, hints)
    body: list[str] = []
    for i, token in enumerate(tokens):
        previous = tokens[i - 1] if i else ""
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in SIZE_SCALES:
            scale = SIZE_SCALES[token]
            if previous in INTENSIFIERS:
                scale = {0.7: 0.55, 1.3: 1.5}.get(scale, scale)
            clause.scale = scale
        elif token in ("one", "ones") and (previous in COLORS or previous in SIZE_SCALES):
            clause.elided = True  # "a blue one"
        elif token.isdigit() and following == "x" and 1 <= int(token) <= 12:
            clause.count = int(token)  # "red circle x3", "2x triangle"
        elif token in COUNT_WORDS or (token.isdigit() and 1 <= int(token) <= 12):
            if not body:
                clause.count = COUNT_WORDS.get(token) or int(token)
        elif token in INTENSIFIERS:
            continue
        elif token in SHADES and following in COLORS:
            continue  # "sky blue": the world has one blue
        elif token not in FILLER and i not in placed:
            body.append(token)
    if any(word in PLURALS for word in body):
        clause.plural = True
        body = [singular(word) if word in PLURALS else word for word in body]
    elif body and (clause.count > 1 or singular(body[-1]) != body[-1]):
        clause.plural = True
        body[-1] = singular(body[-1])
    named = set(canonical_words(body)) & (COLORS | set(SHAPES))
    if set(body) <= META_NOUNS or (not named and CONTEXT & set(tokens)):
        body = []
    clause.body = body
    return clause


# A target's name ends at a place word, a preposition or a verb ("above the square floats")
_TARGET_END = TARGET_STOP | (FILLER - DETERMINERS - CANVAS_WORDS)


def _target(tokens: list[str]) -> tuple[list[str], list[str]]:
    """A relation's target words (determiners dropped) and the tokens after them."""
    i = 0
    while i < len(tokens) and tokens[i] in DETERMINERS:
        i += 1
    if i < len(tokens) and (
        tokens[i] in ("it", "them")
        or (tokens[i] in PRONOUNS and (i + 1 == len(tokens) or tokens[i + 1] in _TARGET_END))
    ):
        return ["it"], tokens[i + 1 :]
    start = i
    while i < len(tokens) and tokens[i] not in _TARGET_END:
        i += 1
        if tokens[i - 1] in CANVAS_WORDS:
            break
    return tokens[start:i], tokens[i:]


def _position(tokens: list[str], hints: list[str]) -> tuple[str | None, set[int]]:
    """The anchor that the clause's position words name (or None), and the indices of the
    tokens read as position words ("top" in "a top hat" is not one)."""
    vertical = horizontal = None
    centre = False
    placed: set[int] = set()
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token not in POSITION_WORDS:
            continue
        previous = tokens[i - 1] if i else ""
        if (
            token == "right"
            and following in ("in", "at", "on", "above", "below", "under", "over", "by", "there")
            and previous not in POSITION_WORDS | {"the", "to", "far", "on", "at"}
        ):
            continue  # "right in the middle", but not "on the right in the middle"
        if following and not _may_follow_position(following):
            continue  # "a top hat"
        placed.add(i)
        if token in VERTICAL:
            vertical = vertical or VERTICAL[token]
        elif token in HORIZONTAL:
            horizontal = horizontal or token
        else:
            centre = True
    for hint in hints:
        horizontal = horizontal or hint or None
    if vertical and horizontal:
        return f"{vertical} {horizontal}", placed
    if vertical or horizontal:
        return vertical or horizontal, placed
    return ("centre" if centre else None), placed


def _may_follow_position(word: str) -> bool:
    return (
        word in POSITION_FOLLOW
        or word in FILLER
        or word in COLORS
        or word in SIZE_SCALES
        or word in COUNT_WORDS
        or word in SHAPE_WORDS
        or word in PLURALS
        or word.isdigit()
    )


def _make_object(clause: _Clause) -> ObjectPhrase:
    body = canonical_words(clause.body)
    color = next((w for w in body if w in COLORS), None)
    shape = next((w for w in body if w in SHAPES), None)
    if color and shape and set(body) <= {color, shape}:
        prompt, name, words = (
            f"{article(color)} {color} {shape}",
            f"{color}-{shape}",
            {color, shape},
        )
    elif shape and set(body) <= {shape}:
        prompt, name, words = f"a {shape}", shape, {shape}
    else:
        text = " ".join(clause.body)
        prompt = f"{article(text)} {text}" if not text.endswith("s") else text
        name, words = "-".join(clause.body[-2:]), set(clause.body)
        # "a red disc" is a circle; "a ball gown" is not: a synonym counts as the noun only
        shape = shape if shape in clause.body or body[-1] == shape else None
    return ObjectPhrase(
        name, prompt, words, clause.position, clause.relation, clause.scale or 1.0, color, shape
    )


def _unique_names(objects: list[ObjectPhrase]) -> None:
    seen: dict[str, int] = {}
    for obj in objects:
        count = seen.get(obj.name, 0) + 1
        seen[obj.name] = count
        if count > 1:
            obj.name = f"{obj.name}-{count}"
