"""Understood references on disk, found again by ``reference_id`` from any process.

One folder per reference under the store root (``$PAKATI_HOME/understood`` by default):
``understanding.json`` (everything ``learn_reference`` reported, including the pathway) and,
when a token was learned, ``learned_embeds.safetensors`` in diffusers' textual-inversion
format (``pipe.load_textual_inversion(path)`` loads it outside Pakati too). Learning the same
reference again replaces its entry; the entry it replaces is moved to ``previous/`` first,
so one earlier result is never lost silently.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pakati_engine.errors import InvalidInputError
from pakati_engine.understanding.inversion import EMBEDDING_FILE

if TYPE_CHECKING:
    from pakati.understanding import ReferenceUnderstanding
    from pakati_engine.understanding.inversion import LearnedToken

RECORD_FILE = "understanding.json"


def default_store() -> Path:
    return Path(os.environ.get("PAKATI_HOME", "~/.cache/pakati")).expanduser() / "understood"


class UnderstandingStore:
    """Saves and loads understandings by reference id (see the module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store()

    def folder(self, reference_id: str) -> Path:
        if not reference_id or not reference_id.replace("-", "").isalnum():
            raise InvalidInputError(
                f"{reference_id!r} is not a reference id (letters and digits, as printed by "
                "pakati understand)"
            )
        return self.root / reference_id

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{RECORD_FILE}"))

    def save(self, understanding: ReferenceUnderstanding, token: LearnedToken | None) -> Path:
        """Write ``understanding`` (and ``token``'s embedding); the folder written."""
        folder = self.folder(understanding.reference_id)
        if (folder / RECORD_FILE).exists():
            previous = folder / "previous"
            if previous.exists():
                shutil.rmtree(previous)
            previous.mkdir(parents=True)
            for name in (RECORD_FILE, EMBEDDING_FILE):
                if (folder / name).exists():
                    (folder / name).rename(previous / name)
        folder.mkdir(parents=True, exist_ok=True)
        if token is not None:
            token.save(folder / EMBEDDING_FILE)
            understanding.embedding_path = str(folder / EMBEDDING_FILE)
        temporary = folder / f".{RECORD_FILE}.partial"
        temporary.write_text(json.dumps(understanding.to_dict(), indent=2) + "\n")
        temporary.replace(folder / RECORD_FILE)
        return folder

    def load(self, reference_id: str) -> ReferenceUnderstanding:
        """The stored understanding of ``reference_id``; clear errors when it is missing or
        its files are damaged."""
        from pakati.understanding import ReferenceUnderstanding
        from pakati_engine.understanding.inversion import load_vectors

        record = self.folder(reference_id) / RECORD_FILE
        if not record.is_file():
            known = ", ".join(self.ids()) or "none"
            raise InvalidInputError(
                f"no understood reference {reference_id!r} in {self.root} (stored: {known}); "
                "call learn_reference (or run pakati understand REFERENCE.png) first"
            )
        try:
            data = json.loads(record.read_text())
            understanding = ReferenceUnderstanding.from_dict(data)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(
                f"{record} is corrupt ({error}); learn the reference again (pakati understand)"
            ) from error
        if understanding.token is not None:
            path = record.parent / EMBEDDING_FILE
            load_vectors(path, understanding.token)  # missing or corrupt: a clear error now
            understanding.embedding_path = str(path)
        return understanding
