"""Agent threads and their checkpoint files, checked before a run touches them.

- A thread id is a name (letters, digits, ``.``, ``_``, ``-``), never a path: it also names
  the run's pass folder, which must stay inside the output folder.
- A checkpoint file must be an SQLite database (or not exist yet) that can be written; a
  folder, a text file, a truncated or a read-only database is refused with a message
  instead of an sqlite traceback, before the run does any work.
- A thread is bound to the goal and settings it started with (they are in its checkpointed
  state): continuing it toward another goal is refused.
"""

# Standard library only: the CLI checks these before it imports LangGraph or the engine.

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pakati_engine.errors import InvalidInputError

THREAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SQLITE_HEADER = b"SQLite format 3\x00"
#: State fields a thread is bound to: a resumed run must ask for the same.
BOUND_FIELDS = ("goal", "width", "height", "target")


def check_thread_id(thread_id: str) -> str:
    """``thread_id`` if it is a plain name, else ``InvalidInputError``."""
    if not THREAD_NAME.fullmatch(thread_id) or ".." in thread_id:
        raise InvalidInputError(
            f"thread id {thread_id!r} is not a plain name: use 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit (it names a folder; no '/' or '..')"
        )
    return thread_id


def check_checkpoint_file(path: str | Path) -> Path:
    """``path`` if it can hold checkpoints: absent, empty, or a sound SQLite database."""
    file = Path(path)
    advice = "give a new --checkpoint file (Pakati does not delete this one)"
    if file.is_dir():
        raise InvalidInputError(f"checkpoint {str(file)!r} is a folder, not a file; {advice}")
    if not file.exists():
        return file
    try:
        with file.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise InvalidInputError(f"checkpoint {str(file)!r} cannot be read ({error})") from error
    if header and header != SQLITE_HEADER:
        raise InvalidInputError(
            f"checkpoint {str(file)!r} is not a checkpoint database (not SQLite); {advice}"
        )
    if header:
        problem = _integrity_problem(file)
        if problem:
            raise InvalidInputError(
                f"checkpoint {str(file)!r} is damaged or truncated ({problem}); {advice}"
            )
    if _read_only(file):
        raise InvalidInputError(
            f"checkpoint {str(file)!r} is read-only: a run must write its progress there; "
            "make it writable or give a new --checkpoint file"
        )
    return file


def _read_only(file: Path) -> bool:
    """True when SQLite cannot write ``file`` (permissions, a read-only mount), found by
    rewriting a header field with its own value in a transaction that is rolled back."""
    try:
        connection = sqlite3.connect(str(file), isolation_level=None)
    except sqlite3.Error:
        return False  # unreadable: the run's own open reports it
    try:
        connection.execute("BEGIN IMMEDIATE")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        connection.execute(f"PRAGMA user_version = {version}")
        connection.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        return "readonly" in str(error).replace("-", "").replace(" ", "").lower()
    finally:
        connection.close()
    return False


def _integrity_problem(file: Path) -> str | None:
    try:
        connection = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        return str(error)
    try:
        row = connection.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as error:
        return str(error)
    finally:
        connection.close()
    return None if row and row[0] == "ok" else str(row[0] if row else "no answer")


def binding_mismatch(stored: Mapping[str, Any], requested: Mapping[str, Any]) -> str | None:
    """How a thread's stored state differs from what a new run asks for (None: it does not)."""
    differences = [
        f"{key} {stored[key]!r} (asked: {requested[key]!r})"
        for key in BOUND_FIELDS
        if key in stored and key in requested and stored[key] != requested[key]
    ]
    return "; ".join(differences) or None
