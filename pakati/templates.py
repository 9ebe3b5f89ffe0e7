"""Templates: a canvas configuration saved for reuse (regions, prompts, settings, goal,
references), as versioned JSON with a pydantic schema.

Version history (loading migrates older files):

* 1: the layout's fields at the top level of the file, no references.
* 2: the layout nested under ``layout``; references (paths relative to the template,
  with their SHA-256) and the canvas goal.

Saving never replaces an existing file unless ``overwrite=True``, and is atomic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import Layout, format_validation_error
from pakati_engine.outputs import atomic_write_bytes

TEMPLATE_FORMAT = "pakati-template"
TEMPLATE_VERSION = 2


class Template(BaseModel):
    """A saved canvas configuration."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["pakati-template"] = "pakati-template"
    version: int = TEMPLATE_VERSION
    name: str = Field(min_length=1, description="Human name of the template.")
    description: str = ""
    goal: str | None = Field(default=None, description="The canvas goal, if one was set.")
    layout: Layout
    references: list[dict[str, Any]] = Field(
        default_factory=list, description="ReferenceImage.to_dict() forms, paths relative."
    )
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a decoded template of any known version to the current version."""
    version = data.get("version")
    if version == 1:
        layout_keys = set(Layout.model_fields) - {"version"}
        layout = {k: v for k, v in data.items() if k in layout_keys}
        rest = {k: v for k, v in data.items() if k not in layout_keys and k != "version"}
        data = {**rest, "version": 2, "layout": layout, "references": []}
        version = 2
    if version != TEMPLATE_VERSION:
        raise InvalidInputError(
            f"template version {version!r} is not one this Pakati knows (1 to "
            f"{TEMPLATE_VERSION}); is it from a newer Pakati?"
        )
    return data


def load_template(path: str | Path) -> Template:
    """Read, migrate and validate a template file, with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"template {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"template {str(path)!r} is not valid JSON ({error})") from error
    if not isinstance(data, dict) or data.get("format") != TEMPLATE_FORMAT:
        raise InvalidInputError(
            f'{str(path)!r} is not a Pakati template (no "format": "{TEMPLATE_FORMAT}")'
        )
    try:
        return Template.model_validate(migrate(data))
    except ValidationError as error:
        raise InvalidInputError(format_validation_error(error, f"template {path}")) from error


def save_template_file(template: Template, path: str | Path, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = template.model_dump_json(indent=2, exclude_none=True).encode("utf-8")
    atomic_write_bytes(path, payload)
    return path


def list_templates(folder: str | Path) -> list[tuple[Path, Template | str]]:
    """Every ``*.json`` in ``folder`` with its template, or the reason it is not one."""
    entries: list[tuple[Path, Template | str]] = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            entries.append((path, load_template(path)))
        except InvalidInputError as error:
            entries.append((path, str(error).splitlines()[0]))
    return entries
