"""Goals pasted as JSON: a spec read by its keys, then written as the sentences the goal
parser reads.

People paste specs such as ``{"background": "orange", "objects": [{"shape": "circle",
"colour": "black", "count": 3, "position": "bottom"}]}``. Keys vary (colour/color,
position/pos/location/where, shape/type/object/name) and values are words, so each object
becomes one sentence ("black circle x3, bottom.") and the background one more; the parser
then reads those like any other goal; a ``goal``/``text`` string is read as it is. Text that
is not a JSON object or list is left alone; a JSON object or list in which nothing names an
object or a background is refused with what to write, rather than read as words.
"""

from __future__ import annotations

import json
from typing import Any

from pakati_engine.errors import InvalidInputError

_OBJECT_LISTS = ("objects", "shapes", "items", "elements", "regions", "things")
_BACKGROUND = ("background", "bg", "backdrop", "background_color", "background_colour")
_NOUN = ("shape", "type", "object", "kind", "name", "what", "prompt", "description")
_COLOUR = ("colour", "color")
_SIZE = ("size", "scale")
_COUNT = ("count", "number", "n", "quantity", "amount")
_PLACE = ("position", "pos", "location", "place", "where", "placement", "anchor")
_RELATION = ("relation", "relative", "relative_to", "relationship")
_GOAL = ("goal", "text", "instruction", "request")
_EXAMPLE = (
    '{"background": "yellow", "objects": [{"shape": "circle", "colour": "red", '
    '"position": "top left"}]}'
)


def goal_from_json(text: str) -> str | None:
    """The goal as sentences if ``text`` is a JSON object or list of objects, else None.

    Raises InvalidInputError for JSON that names no object and no background."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        spec = json.loads(stripped)
    except ValueError:
        return None
    background: Any = None
    if isinstance(spec, dict):
        written = _first(spec, _GOAL)
        if isinstance(written, str) and written.strip():
            return written.strip()
        background = _first(spec, _BACKGROUND)
        items = _first(spec, _OBJECT_LISTS)
        if items is None and _first(spec, _NOUN) is not None:
            items = [spec]  # one object given alone
    else:
        items = spec
    if not isinstance(items, list):
        items = []
    sentences = [s for s in (_sentence(item) for item in items) if s]
    if isinstance(background, dict):
        background = _first(background, _COLOUR + _NOUN)
    if isinstance(background, str) and background.strip():
        sentences.append(f"Background: {background.strip()}.")
    if not sentences:
        raise InvalidInputError(
            "the goal is JSON, but nothing in it names an object or a background: list "
            f'objects under "objects" with shape, colour and position, e.g. {_EXAMPLE}, '
            "or write the goal in words"
        )
    return " ".join(sentences)


def _sentence(item: Any) -> str:
    if isinstance(item, str):
        return f"{item.strip().rstrip('.')}." if item.strip() else ""
    if not isinstance(item, dict):
        return ""
    words = [_text(_first(item, _SIZE)), _text(_first(item, _COLOUR)), _text(_first(item, _NOUN))]
    noun = " ".join(w for w in words if w)
    if not noun:
        return ""
    count = _first(item, _COUNT)
    if isinstance(count, int) and not isinstance(count, bool) and count > 1:
        noun = f"{noun} x{count}"  # the parser's count form; no plural to spell
    parts = [noun, _text(_first(item, _PLACE)), _text(_first(item, _RELATION))]
    return ", ".join(p for p in parts if p) + "."


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    return next((lowered[k] for k in keys if k in lowered), None)


def _text(value: Any) -> str:
    """A value as words: strings as they are, numbers and lists joined, anything else ''."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return " ".join(_text(v) for v in value if _text(v))
    return ""
