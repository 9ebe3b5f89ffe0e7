"""The words of goals: vocabulary, normalised text, typing slips, the patterns of request,
relation and arrangement phrases, and the background phrase.

:mod:`pakati.agents.goal_parser` reads clauses with these. Colours and shapes are the
shapes world's (``pakati_engine.world``); everything else is ordinary English for saying
where things go, how big they are and how many, and the words around a request that name
nothing ("please", "I'd like", "thanks", "no other shapes").
"""

from __future__ import annotations

import re

from pakati_engine.world.colors import COLOR_NAMES, article
from pakati_engine.world.sampling import SHAPES

SIZE_SCALES: dict[str, float] = {
    "tiny": 0.55, "small": 0.7, "little": 0.7, "large": 1.3, "big": 1.3, "huge": 1.5,
    "minuscule": 0.55, "mini": 0.55, "giant": 1.5, "enormous": 1.5, "massive": 1.5,
    "medium": 1.0,
}  # fmt: skip
"""Size word -> scale of the default box side; "very" before small/large means tiny/huge."""

INTENSIFIERS = {"very", "really", "extremely", "super"}
MODERATORS = {"fairly", "quite", "rather", "pretty", "somewhat", "reasonably"}
""""fairly large" is large."""

SHAPE_WORDS: dict[str, str] = {
    **{s: s for s in SHAPES},
    "disc": "circle", "disk": "circle", "ball": "circle", "dot": "circle", "round": "circle",
    "box": "square", "rectangle": "square", "block": "square",
}  # fmt: skip
"""Word (singular) -> shape of the shapes world."""

COUNT_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "pair": 2, "couple": 2, "trio": 3,
}  # fmt: skip
"""Number words; digits 1-12 count too."""

SHADES = {"sky", "navy", "baby", "pale", "deep", "pastel", "light", "dark", "bright", "soft",
          "royal", "lime", "forest", "hot", "neon", "vivid"}  # fmt: skip
"""Words before a colour that the shapes world's eight colours do not tell apart."""

GRID: dict[str, tuple[int, int]] = {
    "top left": (0, 0), "top": (1, 0), "top right": (2, 0),
    "left": (0, 1), "centre": (1, 1), "right": (2, 1),
    "bottom left": (0, 2), "bottom": (1, 2), "bottom right": (2, 2),
}  # fmt: skip
"""The nine anchors as (column, row)."""

PLURALS = {"boxes": "box", **{w + "s": w for w in SHAPE_WORDS if w != "box"}}
COLORS = set(COLOR_NAMES)
VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom"}
HORIZONTAL = {"left", "right"}
CENTRE = {"centre", "center", "middle", "centred", "centered", "central", "centrally"}
POSITION_WORDS = set(VERTICAL) | HORIZONTAL | CENTRE
# Words that may follow a position word inside a position phrase ("top left corner",
# "left-hand side", "top of the image"); before any other word, "top" is part of a name.
POSITION_FOLLOW = POSITION_WORDS | {
    "corner", "corners", "side", "half", "edge", "hand", "part", "area", "region", "quarter",
    "third", "section", "quadrant", "of", "in", "at", "on", "and", "a", "an", "the", "one",
}  # fmt: skip
CANVAS_WORDS = {
    "image", "picture", "canvas", "frame", "scene", "page", "screen", "photo", "drawing",
    "painting", "composition", "artwork", "view", "illustration",
}  # fmt: skip
DETERMINERS = {"a", "an", "the", "this", "that", "some", "its"}
PRONOUNS = {"it", "that", "this", "them", "one"}
# Words that end the name of a relation's target ("above the blue square in the corner").
TARGET_STOP = POSITION_WORDS | {
    "in", "at", "on", "along", "to", "and", "with", "near", "which", "who", "is", "sits",
    "up", "down", "corner", "side", "half", "of", "just", "directly", "but", "while",
    "above", "over", "below", "under", "beneath", "underneath", "higher", "lower", "beside",
    "next",
}  # fmt: skip
# Words with no part in an object's name once its position and relation are read.
FILLER = {
    "a", "an", "the", "in", "on", "at", "to", "of", "is", "are", "be", "it", "its", "and",
    "corner", "corners", "side", "half", "edge", "hand", "part", "area", "region", "very",
    "quadrant", "third", "into", "onto", "within", "inside",
    "dead", "up", "down", "along", "right", "there", "here", "all", "some", "please",
    "should", "exactly", "just", "far", "somewhere", "coloured", "colored", "colour", "color",
    "shape", "shaped", "one", "each", "both", "also", "too", "slightly", "towards", "toward",
    "another", "other", "second", "more", "extra", "additional", "would", "could", "must",
    "can", "will", "have", "has", "with", "we", "you", "i", "want", "like", "need", "see",
    "every", "them", "they", "their", "put", "add", "for", "keep", "single", "total",
    "position", "size", "count", "x", "from", "set", "imagine", "none", "nothing", "else",
    "anything", "everything", "empty", "near", "nearby", "close", "by", "around", "roughly",
    "about", *MODERATORS,
    # where and how an object is (prose: "in the corner floats a red circle")
    "sits", "sit", "sitting", "goes", "go", "placed", "positioned", "located", "standing",
    "stands", "stand", "floats", "float", "floating", "rests", "rest", "resting", "lies",
    "lie", "lying", "hangs", "hang", "hanging", "appear", "appears", "drawn", "shown",
    "tucked", "nestled", "tuck", "pushed", "against",
    # politeness and chat around a request
    "thanks", "thank", "thx", "ty", "pls", "plz", "cheers", "hi", "hello", "hey", "ok",
    "okay", "oh", "much", "lot", "lots", "bye", "great", "so", "that", "this", "simple",
    "quick", "request", "question", "favour", "favor",
} | CANVAS_WORDS  # fmt: skip
# A clause with one of these and no colour or shape is about the user, not the picture
# ("I'm making a poster for my class").
CONTEXT = {
    "i", "me", "my", "mine", "we", "us", "our", "am", "making", "working", "looking",
    "trying", "hoping", "wondering", "planning", "preparing", "designing", "doing",
    "picturing", "imagining", "envisioning", "thinking", "dreaming",
}  # fmt: skip
META_NOUNS = {"object", "objects", "shape", "shapes", "item", "items", "thing", "things",
              "element", "elements", "draw", "background"}  # fmt: skip
# A clause that starts with one of these says what not to draw ("not the top right",
# "no other shapes", "rather than white").
NEGATIONS = {"not", "no", "nothing", "dont", "never", "without", "rather", "instead",
             "except", "avoid", "neither", "nor"}  # fmt: skip

# Typing slips: a word one edit away from a word of these is read as that word, unless it
# is itself a common word ("light" is not "right", "back" is not "black").
_CORRECTABLE = (
    COLORS | (set(SHAPE_WORDS) - {"round"}) | set(PLURALS) | POSITION_WORDS | set(SIZE_SCALES)
    | {"background", "corner", "above", "below", "under", "beneath", "underneath", "atop",
       "over"}
)  # fmt: skip
_NOT_SLIPS = {
    "light", "night", "tight", "sight", "might", "fight", "eight", "bright", "wright", "back",
    "blank", "while", "write", "whine", "lift", "loft", "lest", "lent", "greet", "greed",
    "preen", "glue", "clue", "blur", "bell", "call", "tall", "wall", "hall", "fall", "mall",
    "bull", "bill", "bald", "bale", "balm", "tower", "power", "mower", "lover", "bower",
    "slower", "flower", "supper", "bellow", "fellow", "mellow", "fiddle", "riddle", "muddle",
    "meddle", "shall", "smell", "stall", "coroner", "cornet", "bowl", "blow", "cube",
    "disco", "dish", "desk", "risk", "dusk", "lots", "pots", "cots", "rots", "dogs", "does",
    "dote", "foxes", "boxed", "clock", "flock", "clocks", "flocks", "stop", "range",
    "grant", "barge", "lager", "mind", "mint", "tidy", "tint", "tops", "order", "cover",
}  # fmt: skip
"""Common words one edit away from a word of the vocabulary, never read as slips."""
_SLIP_TARGETS = tuple(sorted(_CORRECTABLE))  # a fixed order: the same repair in every run
_KNOWN = _CORRECTABLE | _NOT_SLIPS | FILLER | NEGATIONS | set(COUNT_WORDS) | CONTEXT


def normalise(text: str) -> str:
    """Lower case, contractions spelt out, hyphens and brackets as spaces and commas,
    spec marks ("@", "|", "x3") as words, typing slips repaired."""
    text = text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")
    text = re.sub(r",(?=\S)", ", ", text)
    text = re.sub(r"\b(there|it|that|what|here)'s\b", r"\1 is", text)
    text = re.sub(r"\b(i|we|you)'d\b", r"\1 would", text)
    text = re.sub(r"\blet's\b", "let us", text)
    text = re.sub(r"\b(do|does|did|is|are)n't\b", r"\1nt", text)
    text = re.sub(r"\bn\b", "and", re.sub(r"\bu\b", "you", text))  # texting: "u", "n"
    text = re.sub(r"'(s|ll|ve|re|m)\b", "", text).replace("'", "")
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # top-left, left-hand
    text = re.sub(r"\s[-–—]+\s|[()\[\]{}|]|[–—]", ", ", text)
    text = text.replace("&", " and ").replace("+", " and ").replace("@", " at ")
    text = text.replace("=", " = ")
    # "x3", "3x", "3 x" and "x 3" count the object they stand by: written "3 x"
    text = re.sub(r"\b(\d{1,2})\s*[x×]\b|\b[x×]\s*(\d{1,2})\b", _times, text)
    return " ".join(_repair(w) for w in text.split(" "))


def _times(found: re.Match[str]) -> str:
    return f" {found.group(1) or found.group(2)} x "


def _repair(word: str) -> str:
    bare = word.strip(",.:;!?")
    if len(bare) < 4 or not bare.isalpha() or bare in _KNOWN:
        return word
    near = [k for k in _SLIP_TARGETS if abs(len(k) - len(bare)) <= 1 and _one_edit(bare, k)]
    # a slip seldom changes the first letter: "yelow" is yellow, not below
    near.sort(key=lambda k: k[0] != bare[0])
    return word.replace(bare, near[0]) if near else word


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of
    neighbouring letters."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0] if diff else 0
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def segments(goal: str) -> list[str]:
    """Sentences, lines and ``;``-separated parts, bullets and list numbers removed."""
    lines = []
    for line in goal.splitlines():
        line = re.sub(r"^\s*(?:[-*•·>]+|\d{1,2}\s*[.):]|\(\d{1,2}\))\s*", "", line)
        lines.append(normalise(line))
    parts = re.split(r"[.;!?\n]+", "\n".join(lines))
    return [s.strip(" ,:") for s in parts if s.strip(" ,:")]


# Phrases ------------------------------------------------------------------------------------

REQUEST = re.compile(
    r"^(?:(?:please|kindly|can|could|would|will|you|me|us|i|we|want|wants|like|love|need|"
    r"draw|make|paint|create|generate|render|show|depict|give|add|put|place|include|insert|"
    r"there|is|are|also|then|finally|now|next|lastly|let|be|so|and|ok|okay|hi|hello|"
    r"objects|shapes|items|on it|in it|to it|start|begin|with|have|get|what|am|im|"
    # questions, suggestions and the words that order steps
    r"how about|what about|what if|how|if|had|maybe|perhaps|possibly|possible to|possible|it|try|"
    r"first|firstly|second|secondly|third|thirdly|after that|afterwards|after|finally|"
    r"lastly|last|step \d{1,2}|to start|to finish)(?:\s+|$))+"
)
IMAGE_OF = re.compile(
    r"^(?:(?:a|an|the|one)\s+)?(?:\w+\s+)?(?:image|picture|scene|painting|drawing|"
    r"illustration|composition|canvas|photo)\s+(?:of|with|showing|containing|featuring|"
    r"where|that has|that shows|in which|having)\s+"
)
GREETING = re.compile(r"^(?:good\s+(?:morning|afternoon|evening|day)|greetings|dear\s+\w+)\b")
_RIGHT_AS_ADVERB = (
    r"(?<!top\s)(?<!bottom\s)(?<!upper\s)(?<!lower\s)(?<!the\s)right"
    r"(?=\s+(?:above|over|below|under|beneath|underneath|next|beside|on\s+top)\b)"
)
RELATION = re.compile(
    rf"\b(?:(?:just|directly|immediately|slightly|somewhat|straight|far|{_RIGHT_AS_ADVERB})\s+)?"
    r"(?P<kw>(?:(?:to|on|at)\s+the\s+)?(?P<side>left|right)(?:\s+hand)?(?:\s+side)?\s+of"
    r"|(?:to|on|at)\s+(?:its|their)\s+(?P<own>left|right)(?:\s+hand)?(?:\s+side)?"
    r"|on\s+top\s+of|above|over|atop|higher(?:\s+up)?\s+than|below|under|beneath|underneath"
    r"|lower(?:\s+down)?\s+than|next\s+to|beside)\b\s*(?P<rest>.*)$"
)
ARRANGED = re.compile(r"\b(?:side\s+by\s+side|next\s+to\s+each\s+other)\b")
ROW = re.compile(r"\b(?:in\s+)?an?\s+(?:horizontal\s+)?(?:row|line)(?:\s+of)?\b")
""""a row of three shapes", "three circles in a row": side by side, left to right."""
CORNERS = re.compile(
    r"\b(?:in\s+|at\s+)?(?:each|every|both|all(?:\s+(?:four|4|two|2))?|the\s+(?:four|4|two|2))"
    r"\s+(?:of\s+the\s+)?(?:(top|bottom|upper|lower|left|right)\s+)?corners?\b"
)
BETWEEN = re.compile(
    r"\b(?:(?:in\s+)?between\s+(?:them|both|the\s+two|these|those)|in\s+between(?=\s*$))\b"
)
SIMILE = re.compile(r"^(?:(?:kind|sort)\s+of\s+|a\s+bit\s+|just\s+|almost\s+)?(?:like|as\s+if)\b")
""""..., kind of like a moon": a comparison, not an object to draw."""
RELATION_KINDS = {
    "above": "above", "over": "above", "atop": "above", "on": "above", "higher": "above",
    "below": "below", "under": "below", "beneath": "below", "underneath": "below",
    "lower": "below", "next": "left_of", "beside": "left_of",
}  # fmt: skip
"""First keyword word -> relation kind; "next to"/"beside" place side by side, in reading
order (the object named first on the left)."""


ORDER = re.compile(
    r"\b(?:from\s+)?(?:the\s+)?(?:(left)\s+to\s+(?:the\s+)?(right)|(right)\s+to\s+(?:the\s+)?(left)"
    r"|(top)\s+to\s+(?:the\s+)?(bottom)|(bottom)\s+to\s+(?:the\s+)?(top))\b(?!\s+of\b)"
)
SPREAD: dict[tuple[str, ...], tuple[str, str, str]] = {
    ("left", "right"): ("left", "centre", "right"),
    ("right", "left"): ("right", "centre", "left"),
    ("top", "bottom"): ("top", "centre", "bottom"),
    ("bottom", "top"): ("bottom", "centre", "top"),
}


# Background ---------------------------------------------------------------------------------

_COLOR_ALT = "|".join(COLOR_NAMES)
_BG = r"(?:background|backdrop|backround|bg)"
_BG_LEAD = (
    r"(?:(?:please|make|set|use|have|give\s+it|paint|colou?r|start\s+with|begin\s+with|keep|"
    r"start\s+from|leave|want|like|love|need|would|i|we|for|oh|so|"
    r"let\s+us\s+go\s+with|go\s+with|fill|"
    r"put\s+(?:it|them|everything)(?:\s+all)?|all|everything(?:\s+(?:sits|is))?|it\s+all|"
    r"and|with|then)\s+)*"
)
_BG_PREP = r"(?:(?:on|with|against|over|upon|onto|in\s+front\s+of)\s+)?"
_BG_DET = r"(?:(?:a|an|the|some)\s+)?"
_BG_MOD = (
    r"(?:(?:whole|entire|plain|solid|flat|simple|uniform|pure|"
    + "|".join(sorted(SHADES))
    + r")\s+)*"
)
_POLITE_END = r"(?=\s*(?:please|pls|plz|thanks|thx)?\s*(?:,|:|$))"
_BG_PATTERNS = [
    # "(on) a yellow background", "use a plain yellow backdrop", "imagine a yellow canvas"
    re.compile(
        rf"\b{_BG_LEAD}{_BG_PREP}{_BG_DET}{_BG_MOD}(?P<what>{_COLOR_ALT})(?:\s+colou?red)?"
        rf"\s+(?:{_BG}|canvas)\b"
    ),
    # "the background is yellow", "Background: yellow", "set the background to yellow"
    re.compile(
        rf"\b{_BG_LEAD}{_BG_DET}{_BG_MOD}{_BG}(?:\s+colou?r)?\s*"
        rf"(?:(?:is|should\s+be|must\s+be|will\s+be|to\s+be|to|as|of|in|with|=|:|-|,)\s*)*"
        rf"{_BG_DET}{_BG_MOD}(?P<what>{_COLOR_ALT})\b(?:\s+colou?r(?:ed)?)?"
    ),
    # "On white, a circle ...", "... all on yellow", "the scene is set on orange"
    re.compile(rf"(?:^|\b){_BG_LEAD}(?:on|against)\s+{_BG_MOD}(?P<what>{_COLOR_ALT}){_POLITE_END}"),
    # "For the background, let's go with orange", "the background can be black"
    re.compile(
        rf"\b{_BG_LEAD}{_BG_DET}{_BG}\b(?P<between>(?:[\s,:]+[a-z]+){{0,6}}?)[\s,:]+"
        rf"(?P<what>{_COLOR_ALT}){_POLITE_END}"
    ),
    # "The rest should be white.", "purple behind everything"
    re.compile(
        rf"\b(?:the\s+rest|everything\s+else)(?:\s+of\s+the\s+\w+)?\s+"
        rf"(?:should\s+be|must\s+be|is|in|=|:)\s+{_BG_DET}(?P<what>{_COLOR_ALT})\b"
    ),
    re.compile(rf"\b(?P<what>{_COLOR_ALT})\s+behind\s+(?:everything|it\s+all|them|all)\b"),
    # "What about purple for the background?", "yellow as the backdrop"
    re.compile(rf"\b{_BG_LEAD}(?P<what>{_COLOR_ALT})\s+(?:for|as)\s+(?:the\s+)?{_BG}\b"),
    # anything else: "on a starry sky background", "the background is a starry sky"
    re.compile(rf"\b{_BG_LEAD}{_BG_PREP}{_BG_DET}{_BG_MOD}(?P<what>[a-z]+(?:\s[a-z]+)?)\s+{_BG}\b"),
    re.compile(rf"\b{_BG_LEAD}{_BG_DET}{_BG_MOD}{_BG}\s*(?:is|:)\s*(?P<what>[a-z ]+?)\s*$"),
]


def take_background(segment: str) -> tuple[str, str]:
    """The segment without its background phrase, and the base prompt it names (or "")."""
    for pattern in _BG_PATTERNS:
        found = pattern.search(segment)
        if found is None:
            continue
        what = [w for w in found.group("what").split() if w not in FILLER]
        if not what and pattern is not _BG_PATTERNS[-1]:
            continue
        between = set((found.groupdict().get("between") or "").split())
        if between & (COLORS | set(SHAPE_WORDS) | set(PLURALS)):
            continue  # "background, a red circle and a blue ..." names objects
        rest = (segment[: found.start()] + ", " + segment[found.end() :]).strip(" ,:")
        colour = next((w for w in what if w in COLORS), None)
        what = [colour] if colour else what
        phrase = " ".join(what)
        return rest, (f"{article(phrase)} {phrase} background" if phrase else "a plain background")
    return segment, ""


def canonical_words(words: list[str]) -> list[str]:
    """Shape synonyms and plurals to the shapes world's names ("boxes" -> "square")."""
    out = []
    for word in words:
        word = PLURALS.get(word, word)
        out.append(SHAPE_WORDS.get(word, word))
    return out


def singular(word: str) -> str:
    if word in PLURALS:
        return PLURALS[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
