"""Spatial language to geometry: the rule-based half of the offline planner.

A goal is split into clauses; a clause naming a background becomes the base prompt, every
other clause an object with an optional position ("on the left", "top right corner", "in
the centre"), a relation to another object ("above the lake", "left of the house") and a
size word ("a small ..."). Positions pick a cell of a 3x3 grid of anchors (quarter, half
and three-quarter points of the canvas); objects without one take free anchors in reading
order. The requested boxes then go to the engine's layout solver, which enforces the
relations, keeps boxes inside the canvas and apart, and moves them as little as it can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pakati_engine.solver import PlacementSpec, Relation, solve_layout
from pakati_engine.world.colors import COLOR_NAMES, article
from pakati_engine.world.sampling import SHAPES

ANCHORS: dict[str, tuple[float, float]] = {
    "top left": (0.25, 0.25),
    "top": (0.5, 0.25),
    "top right": (0.75, 0.25),
    "left": (0.25, 0.5),
    "centre": (0.5, 0.5),
    "right": (0.75, 0.5),
    "bottom left": (0.25, 0.75),
    "bottom": (0.5, 0.75),
    "bottom right": (0.75, 0.75),
}
"""Spatial word -> box centre as fractions of (width, height)."""

# Longest phrasings first so that "top right corner" wins over "right".
_POSITION_PATTERNS: list[tuple[str, str]] = [
    (r"(?:in |at )?the (?:top|upper)[ -]left(?: corner)?|(?:top|upper)[ -]left", "top left"),
    (r"(?:in |at )?the (?:top|upper)[ -]right(?: corner)?|(?:top|upper)[ -]right", "top right"),
    (
        r"(?:in |at )?the (?:bottom|lower)[ -]left(?: corner)?|(?:bottom|lower)[ -]left",
        "bottom left",
    ),
    (
        r"(?:in |at )?the (?:bottom|lower)[ -]right(?: corner)?|(?:bottom|lower)[ -]right",
        "bottom right",
    ),
    (r"(?:in |at )?the (?:centre|center|middle)|centred|centered", "centre"),
    (r"(?:on |to |at )?the left(?: side| half)?|on the left", "left"),
    (r"(?:on |to |at )?the right(?: side| half)?|on the right", "right"),
    (r"(?:at |on )?the top(?: half)?|on top", "top"),
    (r"(?:at |on )?the bottom(?: half)?", "bottom"),
]
_RELATION_PATTERNS: list[tuple[str, str]] = [
    (r"(?:to the )?left of (?:the |a |an )?(?P<target>[\w -]+)", "left_of"),
    (r"(?:to the )?right of (?:the |a |an )?(?P<target>[\w -]+)", "right_of"),
    (r"(?:above|over|on top of) (?:the |a |an )?(?P<target>[\w -]+)", "above"),
    (r"(?:below|under|beneath|underneath) (?:the |a |an )?(?P<target>[\w -]+)", "below"),
]
_SIZES = {"tiny": 0.55, "small": 0.7, "little": 0.7, "large": 1.3, "big": 1.3, "huge": 1.5}
_ARTICLES = re.compile(r"^(?:a|an|one|the|some)\s+")
_SPLIT = re.compile(r"\s*(?:,|;|\band then\b|\band\b|\bplus\b|\bwith\b)\s*")
_BACKGROUND = re.compile(
    r"(?:\b(?:on|with|against|over)\s+)?(?:an?\s+|the\s+)?(?P<what>\w+(?:\s\w+)?)?\s*background"
)
_LEADING_VERB = re.compile(
    r"^(?:please\s+)?(?:generate|create|draw|make|paint|render|show|depict)\s+"
    r"(?:(?:an?\s+)?(?:image|picture|scene|painting)\s+(?:of|with)\s+)?"
)


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
    base_prompt: str
    objects: list[ObjectPhrase]


def parse_goal(goal: str) -> ParsedGoal:
    """Split a goal into a background and objects with positions, relations and sizes."""
    text = _LEADING_VERB.sub("", " ".join(goal.lower().replace(".", " ").split()))
    base = ""
    objects: list[ObjectPhrase] = []
    for clause in (c.strip() for c in _SPLIT.split(text)):
        if not clause:
            continue
        found = _BACKGROUND.search(clause)
        if found:
            what = _ARTICLES.sub("", (found.group("what") or "").strip())
            base = f"{article(what)} {what} background" if what else "a plain background"
            clause = clause[: found.start()].strip()
            if not clause:
                continue
        phrase = parse_object(clause)
        if phrase is not None:
            objects.append(phrase)
    for obj in list(objects):
        # "a red circle left of a blue square": the other object exists even if no clause
        # of its own names it.
        if obj.relation and _find(objects, obj.relation[1], obj) is None:
            other = parse_object(obj.relation[1])
            if other is not None:
                objects.append(other)
    _unique_names(objects)
    return ParsedGoal(base, objects)


def parse_object(clause: str) -> ObjectPhrase | None:
    """One object clause ("a small red circle in the top right corner") or None."""
    rest = " " + clause.strip() + " "
    position = relation = None
    for pattern, kind in _RELATION_PATTERNS:
        found = re.search(rf"\s(?:{pattern})\s", rest)
        if found:
            relation = (kind, found.group("target").strip())
            rest = rest[: found.start()] + " "
            break
    for pattern, word in _POSITION_PATTERNS:
        found = re.search(rf"\s(?:(?:is |sits |placed |positioned )?(?:{pattern}))\s", rest)
        if found:
            position = word
            rest = rest[: found.start()] + " " + rest[found.end() :]
            break
    words = [w for w in rest.split() if w not in ("in", "on", "at", "is")]
    scale = 1.0
    kept = []
    for word in words:
        if word in _SIZES:
            scale = _SIZES[word]
        else:
            kept.append(word)
    body = _ARTICLES.sub("", " ".join(kept)).strip()
    if not body:
        return None
    color = next((w for w in kept if w in COLOR_NAMES), None)
    shape = next((s for s in SHAPES if s in kept or f"{s}s" in kept), None)
    if color and shape:
        prompt = f"{article(color)} {color} {shape}"
        name = f"{color}-{shape}"
    else:
        prompt = f"{article(body)} {body}" if not body.endswith("s") else body
        name = "-".join(body.split()[-2:])
    return ObjectPhrase(name, prompt, set(body.split()), position, relation, scale, color, shape)


def _unique_names(objects: list[ObjectPhrase]) -> None:
    seen: dict[str, int] = {}
    for obj in objects:
        count = seen.get(obj.name, 0) + 1
        seen[obj.name] = count
        if count > 1:
            obj.name = f"{obj.name}-{count}"


def _find(objects: list[ObjectPhrase], words: str, me: ObjectPhrase) -> ObjectPhrase | None:
    wanted = set(words.split())
    best = max(
        (o for o in objects if o is not me),
        key=lambda o: len(o.words & wanted),
        default=None,
    )
    return best if best is not None and best.words & wanted else None


def default_side(count: int) -> float:
    """Box side (fraction of the shorter canvas side) for a scene of ``count`` objects."""
    return {1: 0.6, 2: 0.42}.get(count, 0.36 if count <= 4 else 0.28)


def layout_objects(
    objects: list[ObjectPhrase], width: int, height: int, margin: float | None = None
) -> dict[str, tuple[int, int, int, int]]:
    """Boxes for ``objects`` on a ``width`` x ``height`` canvas, overlaps resolved."""
    if not objects:
        return {}
    side = default_side(len(objects)) * min(width, height)
    margin = max(1.0, 0.03 * min(width, height)) if margin is None else margin
    relations: list[Relation] = []
    anchors: dict[str, str] = {}
    for obj in objects:
        if obj.position:
            anchors[obj.name] = obj.position
    for obj in objects:
        other = _find(objects, obj.relation[1], obj) if obj.relation else None
        if obj.relation is None:
            continue
        kind = obj.relation[0]
        if other is not None:
            relations.append(Relation(kind=kind, a=obj.name, b=other.name))
            if other.name not in anchors and other.relation is None:
                anchors[other.name] = _OPPOSITE[kind]
        if obj.name not in anchors:
            if other is not None and other.name in anchors:
                anchors[obj.name] = _shift(anchors[other.name], kind)
            else:
                anchors[obj.name] = _RELATION_FALLBACK[kind]
    taken = set(anchors.values())
    free = [w for w in _free_order(len(objects)) if w not in taken]
    for obj in objects:
        if obj.name not in anchors:
            anchors[obj.name] = free.pop(0) if free else "centre"
    requested: list[PlacementSpec] = []
    for obj in objects:
        fx, fy = ANCHORS[anchors[obj.name]]
        half = side * obj.scale / 2
        cx, cy = fx * width, fy * height
        box = (
            max(0.0, cx - half),
            max(0.0, cy - half),
            min(float(width), cx + half),
            min(float(height), cy + half),
        )
        requested.append(PlacementSpec(obj.name, box, min_size=max(4.0, side * obj.scale * 0.5)))
    result = solve_layout(requested, (width, height), relations, margin=margin)
    boxes = result.solution if result.success else {s.name: s.box for s in requested}
    return {name: _snap(box, width, height) for name, box in boxes.items()}


_OPPOSITE = {"above": "bottom", "below": "top", "left_of": "right", "right_of": "left"}
_RELATION_FALLBACK = {"above": "top", "below": "bottom", "left_of": "left", "right_of": "right"}


def _shift(anchor: str, kind: str) -> str:
    fx, fy = ANCHORS[anchor]
    dx = {"left_of": -0.25, "right_of": 0.25}.get(kind, 0.0)
    dy = {"above": -0.25, "below": 0.25}.get(kind, 0.0)
    target = (min(0.75, max(0.25, fx + dx)), min(0.75, max(0.25, fy + dy)))
    return min(
        ANCHORS, key=lambda w: abs(ANCHORS[w][0] - target[0]) + abs(ANCHORS[w][1] - target[1])
    )


def _free_order(count: int) -> list[str]:
    """Anchors to hand out to objects that name no position, in reading order."""
    if count == 1:
        return ["centre"]
    if count == 2:
        return ["left", "right", "centre"]
    if count == 3:
        return ["left", "centre", "right", "top", "bottom"]
    return ["top left", "top right", "bottom left", "bottom right", "centre", "top", "bottom"]


def _snap(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int]:
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(width, round(box[2])), min(height, round(box[3]))
    return (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))
