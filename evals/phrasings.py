"""Known goals on the shapes world, written the many ways people write them.

A :class:`TruthGoal` is sampled from a seed: a background colour and 1-6 objects, each a
colour and a shape of the shapes world, with a named position, a relation to another
object, both or neither, and an optional size word; sometimes a group of identical objects
given as a count ("two red circles", "3 blue squares"). :func:`render` writes one goal in
one of :data:`STYLES`. The styles were written from how people phrase requests to an
image tool (the examples of issue 14 and the ways one says where a thing goes), not from
what the offline planner reads: a style the planner fails on stays here, and the eval says
so.

Every choice of words is drawn from a ``random.Random`` seeded by (seed, goal, style), so a
goal's phrasing in one style does not change when another style is added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pakati_engine.world.colors import COLOR_NAMES, article
from pakati_engine.world.sampling import SHAPES

CELLS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (1, 0),
    "top right": (2, 0),
    "left": (0, 1),
    "centre": (1, 1),
    "right": (2, 1),
    "bottom left": (0, 2),
    "bottom": (1, 2),
    "bottom right": (2, 2),
}
"""Named position -> (column, row) of the 3x3 grid; the names are the planner's anchors."""

SIZES = ("tiny", "small", "large", "huge")
"""Size classes of the truth; "small" is also written "little", "large" also "big"."""


@dataclass(frozen=True)
class TruthItem:
    """One object of a goal, or ``count`` identical ones (a count has no relation)."""

    color: str
    shape: str
    position: str | None = None
    relation: tuple[str, int] | None = None
    """(kind, index of the other item in the goal), kind as in the layout solver."""
    size: str | None = None
    count: int = 1


@dataclass(frozen=True)
class TruthGoal:
    background: str
    items: tuple[TruthItem, ...]
    tags: tuple[str, ...] = field(default=())
    """Categories for the report: object-count bucket, count, relation, size, ..."""


# Sampling ---------------------------------------------------------------------------------


def sample_goal(rng: random.Random) -> TruthGoal:
    """A goal of 1-6 objects on a background of a colour no object has."""
    total = rng.randint(1, 6)
    background = rng.choice(COLOR_NAMES)
    colors = [c for c in COLOR_NAMES if c != background]
    pairs = rng.sample([(c, s) for c in colors for s in SHAPES], total)
    group = rng.randint(2, min(3, total)) if total >= 2 and rng.random() < 0.3 else 1
    singles = total - group if group > 1 else total
    cells = rng.sample(list(CELLS), singles)
    items: list[TruthItem] = []
    for i in range(singles):
        color, shape = pairs[i]
        size = rng.choice(SIZES) if rng.random() < 0.3 else None
        mode = rng.choices(["position", "relation", "both", "none"], [5, 2, 2, 1])[0]
        items.append(TruthItem(color, shape, cells[i] if mode != "relation" else None, None, size))
        if mode in ("relation", "both"):
            relation = _relation(rng, i, cells, items)
            if relation is None and mode == "relation":
                items[i] = TruthItem(color, shape, cells[i], None, size)
            elif relation is not None:
                items[i] = TruthItem(color, shape, items[i].position, relation, size)
    if group > 1:
        color, shape = pairs[singles]
        size = rng.choice(SIZES) if rng.random() < 0.3 else None
        position = rng.choice(["left", "right", "top", "bottom"]) if rng.random() < 0.5 else None
        # Mentioned anywhere in the goal: later relations' indices move up past it.
        at = rng.randint(0, singles)
        items = [
            TruthItem(it.color, it.shape, it.position, _moved(it.relation, at), it.size)
            for it in items
        ]
        items.insert(at, TruthItem(color, shape, position, None, size, group))
    n_objects = sum(it.count for it in items)
    tags = [f"{(n_objects + 1) // 2 * 2 - 1}-{(n_objects + 1) // 2 * 2} objects"]
    if group > 1:
        tags.append("count")
    if any(it.relation for it in items):
        tags.append("relation")
    if any(it.relation and it.position for it in items):
        tags.append("relation+position")
    if any(it.size for it in items):
        tags.append("size")
    return TruthGoal(background, tuple(items), tuple(tags))


def _moved(relation: tuple[str, int] | None, at: int) -> tuple[str, int] | None:
    if relation is None:
        return None
    return (relation[0], relation[1] + (relation[1] >= at))


def _relation(
    rng: random.Random, i: int, cells: list[str], items: list[TruthItem]
) -> tuple[str, int] | None:
    """A true relation from item ``i`` to an earlier item that points at nothing itself."""
    targets = [j for j in range(i) if items[j].relation is None]
    if not targets:
        return None
    j = rng.choice(targets)
    (ax, ay), (bx, by) = CELLS[cells[i]], CELLS[cells[j]]
    kinds = []
    if ay != by:
        kinds.append("above" if ay < by else "below")
    if ax != bx:
        kinds.append("left_of" if ax < bx else "right_of")
    return (rng.choice(kinds), j)


# Words ------------------------------------------------------------------------------------

POSITION_WORDS: dict[str, tuple[list[str], list[str]]] = {
    # name: (plain phrasings, phrasings with a synonym: upper/lower, middle/center, -hand, half)
    "top left": (
        ["in the top left", "in the top left corner", "in the top-left corner", "at the top left",
         "top left", "up in the top left corner"],
        ["in the upper left", "in the upper-left corner", "in the top left-hand corner",
         "at the upper left"],
    ),
    "top right": (
        ["in the top right", "in the top right corner", "in the top-right corner",
         "at the top right", "top right", "up in the top right corner"],
        ["in the upper right", "in the upper-right corner", "in the top right-hand corner",
         "at the upper right"],
    ),
    "bottom left": (
        ["in the bottom left", "in the bottom left corner", "in the bottom-left corner",
         "at the bottom left", "bottom left", "down in the bottom left"],
        ["in the lower left", "in the lower-left corner", "in the bottom left-hand corner",
         "at the lower left"],
    ),
    "bottom right": (
        ["in the bottom right", "in the bottom right corner", "in the bottom-right corner",
         "at the bottom right", "bottom right", "down in the bottom right"],
        ["in the lower right", "in the lower-right corner", "in the bottom right-hand corner",
         "at the lower right"],
    ),
    "top": (
        ["at the top", "at the top centre", "at the top of the image", "along the top",
         "at the top in the middle", "up top"],
        ["in the upper half", "in the top half", "at the top center", "in the top middle",
         "in the upper middle"],
    ),
    "bottom": (
        ["at the bottom", "at the bottom centre", "at the bottom of the picture",
         "along the bottom", "at the bottom in the middle", "down at the bottom"],
        ["in the lower half", "in the bottom half", "at the bottom center", "in the bottom middle",
         "in the lower middle"],
    ),
    "left": (
        ["on the left", "on the left side", "to the left", "at the left",
         "on the left side of the image", "on the left in the middle"],
        ["in the left half", "on the left-hand side", "in the middle of the left side",
         "centre left", "middle left"],
    ),
    "right": (
        ["on the right", "on the right side", "to the right", "at the right",
         "on the right side of the picture", "on the right in the middle"],
        ["in the right half", "on the right-hand side", "in the middle of the right side",
         "centre right", "middle right"],
    ),
    "centre": (
        ["in the centre", "in the middle", "centred", "in the centre of the image",
         "right in the middle", "in the very centre"],
        ["in the center", "in the middle of the picture", "at the center", "centered",
         "dead center"],
    ),
}  # fmt: skip
"""Position -> phrasings that follow a noun ("a red circle <phrase>")."""

LABELS: dict[str, list[str]] = {
    "top left": ["top left", "upper left", "top-left corner"],
    "top right": ["top right", "upper right", "top-right corner"],
    "bottom left": ["bottom left", "lower left", "bottom-left corner"],
    "bottom right": ["bottom right", "lower right", "bottom-right corner"],
    "top": ["top", "top middle", "top centre", "upper middle"],
    "bottom": ["bottom", "bottom middle", "bottom center", "lower middle"],
    "left": ["left", "left side", "middle left", "left-hand side"],
    "right": ["right", "right side", "middle right", "right-hand side"],
    "centre": ["centre", "center", "middle"],
}
"""Position -> bare labels, for lists ("red circle: top left") and "Top left: ..."."""

RELATION_WORDS: dict[str, list[str]] = {
    "above": ["above", "over", "directly above", "just above", "higher than"],
    "below": ["below", "under", "beneath", "underneath", "directly below", "lower than"],
    "left_of": ["left of", "to the left of", "on the left of", "just left of"],
    "right_of": ["right of", "to the right of", "on the right of", "just right of"],
}
_SHAPE_WORDS: dict[str, tuple[list[str], list[str]]] = {
    "circle": (["circle"], ["disc", "ball", "dot"]),
    "square": (["square"], ["box", "rectangle"]),
    "triangle": (["triangle"], ["triangle"]),
}
_PLURAL = {"box": "boxes"}
_SIZE_WORDS = {"tiny": ["tiny"], "small": ["small", "little"], "large": ["large", "big"]}
_SIZE_WORDS["huge"] = ["huge"]
_COUNTS = {2: ["two", "2", "a pair of"], 3: ["three", "3"]}


@dataclass
class Writer:
    """Word choices for one rendering: ``rng`` and whether synonyms are forced."""

    rng: random.Random
    synonyms: bool = False

    def pick(self, plain: list[str], other: list[str]) -> str:
        if self.synonyms:
            return self.rng.choice(other)
        return self.rng.choice(plain + other if self.rng.random() < 0.3 else plain)

    def position(self, name: str) -> str:
        return self.pick(*POSITION_WORDS[name])

    def label(self, name: str) -> str:
        labels = LABELS[name]
        return self.rng.choice(labels[1:] if self.synonyms and len(labels) > 1 else labels)

    def shape(self, shape: str, count: int = 1) -> str:
        word = self.pick(*_SHAPE_WORDS[shape])
        return word if count == 1 else _PLURAL.get(word, word + "s")

    def size(self, size: str | None) -> list[str]:
        if size is None:
            return []
        words = _SIZE_WORDS[size]
        return [self.rng.choice(words[1:] if self.synonyms and len(words) > 1 else words)]

    def noun(self, item: TruthItem, determiner: str = "a") -> str:
        """``a small red circle``, ``two red circles``, ``the blue box``; no determiner if ''."""
        words = [*self.size(item.size), item.color, self.shape(item.shape, item.count)]
        if item.count > 1:
            return " ".join([self.rng.choice(_COUNTS[item.count]), *words])
        if determiner == "a":
            return f"{article(words[0])} {' '.join(words)}"
        return " ".join([determiner, *words] if determiner else words)


# Phrases ----------------------------------------------------------------------------------


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class Parts:
    """Phrases of one goal's items, shared by the styles."""

    def __init__(self, goal: TruthGoal, writer: Writer) -> None:
        self.goal, self.w, self.rng = goal, writer, writer.rng
        targets = [it.relation[1] for it in goal.items if it.relation]
        # A relation's target with nothing of its own to say may be introduced inside the
        # relation ("a red circle above a blue square") instead of in an item of its own.
        self.inline = {
            j
            for j in set(targets)
            if targets.count(j) == 1
            and goal.items[j].position is None
            and goal.items[j].relation is None
            and self.rng.random() < 0.5
        }

    @property
    def shown(self) -> list[int]:
        return [i for i in range(len(self.goal.items)) if i not in self.inline]

    def reference(self, j: int) -> str:
        """How an item names the other item of its relation."""
        target = self.goal.items[j]
        if j in self.inline:
            return self.w.noun(target)
        shapes = [it.shape for it in self.goal.items]
        if shapes.count(target.shape) == 1 and self.rng.random() < 0.3:
            return f"the {self.w.shape(target.shape)}"
        plain = TruthItem(target.color, target.shape)
        return self.w.noun(plain, "the")

    def relation(self, i: int) -> str:
        kind, j = self.goal.items[i].relation or ("", 0)
        return f"{self.rng.choice(RELATION_WORDS[kind])} {self.reference(j)}"

    def where(self, i: int) -> str:
        """Position and relation phrases of item ``i`` ("in the top left, above the ...")."""
        item = self.goal.items[i]
        position = self.w.position(item.position) if item.position else ""
        relation = self.relation(i) if item.relation else ""
        if position and relation:
            joiner = self.rng.choice([" ", ", ", " and "])
            first, second = (
                (position, relation) if self.rng.random() < 0.7 else (relation, position)
            )
            return first + joiner + second
        return position or relation

    def phrase(self, i: int, determiner: str = "a") -> str:
        where = self.where(i)
        noun = self.w.noun(self.goal.items[i], determiner)
        return f"{noun} {where}" if where else noun

    def joined(self, phrases: list[str]) -> str:
        """``a, b and c`` (or with a comma before ``and``, or semicolons)."""
        if len(phrases) == 1:
            return phrases[0]
        sep = self.rng.choice([", ", ", ", "; "])
        last = self.rng.choice([" and ", ", and ", sep])
        return sep.join(phrases[:-1]) + last + phrases[-1]

    def objects(self) -> str:
        return self.joined([self.phrase(i) for i in self.shown])

    def bg_tail(self) -> str:
        c = self.goal.background
        a = article(c)
        return self.rng.choice(
            [f" on {a} {c} background", f" with {a} {c} background", f" against {a} {c} background",
             f", {c} background", f", on a plain {c} background", f" on {c}",
             f", all on {a} {c} background"]
        )  # fmt: skip

    def bg_sentence(self) -> str:
        c = self.goal.background
        a = article(c)
        return capital(
            self.rng.choice(
            [f"The background is {c}.", f"Background: {c}.", f"Make the background {c}.",
             f"The background should be {c}.", f"Use {a} {c} background.",
             f"Set the background to {c}.", f"Background {c}.", f"{c} background.",
             f"The whole background is {c}."]
            )
        )  # fmt: skip

    def stop(self) -> str:
        return self.rng.choice([".", ".", ""])
