"""Edit history: every generate / regenerate / refine / lock step, with undo and redo.

Entries form a tree (each has a parent); ``head`` is the current one. Undo moves to the
parent, redo to the newest child, and a new step after an undo starts a branch without
deleting anything. Each entry stores the canvas state (its layout and locked regions), what
the step did, and the SHA-256 of the image it produced, so any entry can be reproduced and
checked.

A long history need not keep every image in memory: :meth:`History.spill` moves the pixels
(image and latents) of all but the most recently used entries to a folder and
:attr:`History.current` brings them back, exactly, when an entry becomes current again.

A project is saved as ``NAME.json`` plus a folder ``NAME.images/`` of content-addressed PNGs.
Images are written first and never overwritten; the JSON index is then written to a
temporary file, flushed and renamed over the old one, so a crash mid-save leaves the
previous project file intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from pakati_engine.errors import InvalidInputError
from pakati_engine.images import open_image
from pakati_engine.outputs import atomic_write_bytes

Action = Literal["generate", "regenerate", "refine", "lock", "unlock"]
PROJECT_FORMAT = "pakati-project"
PROJECT_VERSION = 1


def image_sha256(image: Image.Image) -> str:
    """Hash of the RGB pixels and size (not of a file encoding)."""
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


@dataclass
class HistoryEntry:
    """One step. ``image`` is the canvas image after the step (kept in memory)."""

    id: str
    action: Action
    parent: str | None
    layout: dict[str, Any]
    locked: list[str]
    targets: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    image_sha256: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    image: Image.Image | None = field(default=None, repr=False, compare=False)
    #: The latents the image was decoded from (in memory only; spares re-encoding it).
    latents: Any = field(default=None, repr=False, compare=False)
    #: Where :meth:`History.spill` put ``image`` and ``latents`` (None: in memory).
    spilled: Spilled | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "parent": self.parent,
            "layout": self.layout,
            "locked": self.locked,
            "targets": self.targets,
            "params": self.params,
            "image_sha256": self.image_sha256,
            "created": self.created,
        }

    def step(self) -> dict[str, Any]:
        """What replaying this step needs (for an image's own metadata)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("id", "parent", "created")}


@dataclass(frozen=True)
class Spilled:
    """An entry's pixels on disk: its image (PNG, named by its hash) and its latents."""

    image: Path
    latents: Path | None


class History:
    """The tree of entries and the current head."""

    def __init__(self) -> None:
        self.entries: dict[str, HistoryEntry] = {}
        self.head: str | None = None
        #: Project data beside the steps (e.g. the canvas's references), saved with them.
        self.extras: dict[str, Any] = {}
        #: Entry ids, least recently current first (which pixels :meth:`spill` keeps).
        self._used: dict[str, None] = {}

    def add(self, entry: HistoryEntry) -> HistoryEntry:
        self.entries[entry.id] = entry
        self.head = entry.id
        self._touch(entry.id)
        return entry

    def new_id(self) -> str:
        return f"e{len(self.entries) + 1}"

    @property
    def current(self) -> HistoryEntry | None:
        """The head entry, its pixels in memory (brought back if they were spilled)."""
        if not self.head:
            return None
        entry = self.entries[self.head]
        self._touch(entry.id)
        return self.unspill(entry)

    def undo(self) -> HistoryEntry | None:
        """Move to the parent; None (and no move) at the root."""
        current = self.current
        if current is None or current.parent is None:
            return None
        self.unspill(self.entries[current.parent])  # first: a failed read moves nothing
        self.head = current.parent
        return self.current

    def redo(self) -> HistoryEntry | None:
        """Move to the newest child of the head; None when there is none."""
        children = [e for e in self.entries.values() if e.parent == self.head]
        if not children:
            return None
        self.unspill(children[-1])
        self.head = children[-1].id
        return self.current

    def chain(self, entry_id: str | None = None) -> list[HistoryEntry]:
        """Entries from the root to ``entry_id`` (default: the head)."""
        chain: list[HistoryEntry] = []
        cursor = entry_id or self.head
        while cursor is not None:
            entry = self.entries.get(cursor)
            if entry is None or len(chain) > len(self.entries):
                raise InvalidInputError(f"the history has no path from {cursor!r} to its root")
            chain.append(entry)
            cursor = entry.parent
        return chain[::-1]

    # Pixels in memory ----------------------------------------------------------------

    def spill(self, folder: str | Path, keep: int) -> int:
        """Write the pixels of all but the ``keep`` most recently current entries (the head
        always stays) to ``folder`` and drop them from memory; the number still in memory.

        Images go to ``HASH.png`` (checked against the hash when read back), latents to a
        file named by their own hash, so the folder can be shared and nothing is written
        twice; an entry that becomes current again gets exactly the pixels it had.
        """
        folder = Path(folder)
        recent = set(list(self._used)[-keep:] if keep > 0 else [])
        if self.head is not None:
            recent.add(self.head)
        in_memory = 0
        for entry in self.entries.values():
            if entry.image is None or not entry.image_sha256:
                continue
            if entry.id in recent:
                in_memory += 1
                continue
            folder.mkdir(parents=True, exist_ok=True)
            image = folder / f"{entry.image_sha256}.png"
            if not image.exists():
                atomic_write_bytes(image, _png_bytes(entry.image))
            entry.spilled = Spilled(image, _spill_latents(folder, entry.latents))
            entry.image = None
            entry.latents = None
        return in_memory

    def unspill(self, entry: HistoryEntry) -> HistoryEntry:
        """``entry`` with its pixels back in memory (read from where :meth:`spill` put them)."""
        spilled = entry.spilled
        if spilled is not None and entry.image is None:
            entry.image = _load_image(spilled.image, entry)
            if spilled.latents is not None:
                import torch

                entry.latents = torch.load(spilled.latents, weights_only=True)
            entry.spilled = None
        return entry

    def _touch(self, entry_id: str) -> None:
        self._used.pop(entry_id, None)
        self._used[entry_id] = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries.values())

    # Saving and loading ----------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        images = images_folder(path)
        made_folder = not images.exists()
        written: list[Path] = []
        try:
            images.mkdir(parents=True, exist_ok=True)
            for entry in self.entries.values():
                if entry.image_sha256 and (entry.image is not None or entry.spilled):
                    target = images / f"{entry.image_sha256}.png"
                    if not target.exists():
                        atomic_write_bytes(target, _entry_png(entry))
                        written.append(target)
            document = {
                "format": PROJECT_FORMAT,
                "version": PROJECT_VERSION,
                "head": self.head,
                "entries": [e.to_dict() for e in self.entries.values()],
                "extras": self.extras,
            }
            atomic_write_bytes(path, json.dumps(document, indent=2).encode("utf-8"))
        except BaseException:
            # A full disk part-way: take back what this save added (the old project, if
            # any, is untouched: its file is replaced last, atomically).
            for target in written:
                target.unlink(missing_ok=True)
            if made_folder:
                with contextlib.suppress(OSError):
                    images.rmdir()
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> History:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise InvalidInputError(f"project file {str(path)!r} does not exist") from error
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidInputError(f"{str(path)!r} is not a readable project ({error})") from error
        if not isinstance(document, dict) or document.get("format") != PROJECT_FORMAT:
            raise InvalidInputError(f"{str(path)!r} is not a Pakati project file")
        if document.get("version") != PROJECT_VERSION:
            raise InvalidInputError(
                f"{str(path)!r} is project version {document.get('version')}; this Pakati "
                f"reads version {PROJECT_VERSION}"
            )
        history = cls()
        images = images_folder(path)
        entries = document.get("entries")
        if not isinstance(entries, list) or not all(isinstance(d, dict) for d in entries):
            raise InvalidInputError(f"{str(path)!r}: its 'entries' are not a list of objects")
        for data in entries:
            try:
                entry = HistoryEntry(**data)
            except TypeError as error:
                raise InvalidInputError(
                    f"{str(path)!r}: a history entry is malformed ({error})"
                ) from error
            if entry.image_sha256:
                entry.image = _load_image(images / f"{entry.image_sha256}.png", entry)
            history.entries[entry.id] = entry
        history.head = document.get("head")
        extras = document.get("extras") or {}
        if not isinstance(extras, dict):
            raise InvalidInputError(f"{str(path)!r}: its 'extras' are not an object")
        history.extras = dict(extras)
        _check_tree(history, str(path))
        return history


def _check_tree(history: History, source: str) -> None:
    """Every parent exists, no entry is its own ancestor, and the head is an entry: a
    project whose parents form a cycle would otherwise send undo and reproduce round it
    for ever."""
    if history.head is not None and history.head not in history.entries:
        raise InvalidInputError(f"{source!r}: its head {history.head!r} is not one of its steps")
    for start in history.entries:
        seen: set[str] = set()
        cursor: str | None = start
        while cursor is not None:
            if cursor in seen:
                raise InvalidInputError(
                    f"{source!r}: its history is not a tree (step {cursor!r} is its own "
                    "ancestor); the project file is damaged"
                )
            seen.add(cursor)
            entry = history.entries.get(cursor)
            if entry is None:
                raise InvalidInputError(f"{source!r}: step {start!r} has a missing parent")
            cursor = entry.parent


def images_folder(project: Path) -> Path:
    return project.with_name(project.stem + ".images")


def _load_image(path: Path, entry: HistoryEntry) -> Image.Image:
    loaded = open_image(path, f"project image {str(path)!r} of step {entry.id}").convert("RGB")
    if image_sha256(loaded) != entry.image_sha256:
        raise InvalidInputError(f"project image {str(path)!r} does not match its recorded hash")
    return loaded


def _entry_png(entry: HistoryEntry) -> bytes:
    """The entry's image as PNG, from memory or from where it was spilled."""
    if entry.image is not None:
        return _png_bytes(entry.image)
    assert entry.spilled is not None
    return entry.spilled.image.read_bytes()


def _spill_latents(folder: Path, latents: Any) -> Path | None:
    """``latents`` (a tensor, or None) saved in ``folder`` under the hash of their bytes."""
    if latents is None:
        return None
    import torch

    buffer = io.BytesIO()
    torch.save(latents, buffer)
    data = buffer.getvalue()
    flat = latents.detach().cpu().contiguous().flatten().view(torch.uint8).numpy()
    digest = hashlib.sha256(f"{latents.dtype}{tuple(latents.shape)}:".encode())
    digest.update(flat.tobytes())
    path = folder / f"{digest.hexdigest()}.latents.pt"
    if not path.exists():
        atomic_write_bytes(path, data)
    return path


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
