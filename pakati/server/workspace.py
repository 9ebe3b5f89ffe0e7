"""The server's one canvas: the page's draft layout, the ``PakatiCanvas`` and its history.

Every change to the canvas runs on the worker thread (``pakati.server.jobs``), one at a
time; request handlers read an immutable :class:`Snapshot` taken after each change, so a
page asking for the state never waits for a generation. The page edits a *draft* layout
(regions being drawn may still lack prompts); an action applies the draft to the canvas
first, and undo or redo set the draft back to the canvas's layout.

All files live in the server's project folder: ``projects/NAME.json`` (+ ``NAME.images/``),
``uploads/`` (content-addressed), ``chat/`` (agent threads), ``history/`` (the pixels of
older history entries, content-addressed: only the last :data:`HISTORY_IN_MEMORY` entries
keep theirs in memory, so memory stays bounded however long the session). No request names
a path, only plain names checked by :func:`plain_name`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pakati.canvas import PakatiCanvas
from pakati.editing import IMAGE_ACTIONS
from pakati.history import History, image_sha256
from pakati.server.encoding import StepReporter, plain_name, previewer
from pakati.version import __version__
from pakati_engine.diffusion.preview import observe_latents
from pakati_engine.errors import InvalidInputError, OutputExistsError
from pakati_engine.generation import GENERAL_DEFAULTS
from pakati_engine.layout import Layout, parse_layout
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.models.catalog import default_model_name, model_recommendations
from pakati_engine.models.loading import load_model


@dataclass(frozen=True)
class Snapshot:
    """What the page sees of the canvas, taken after each change."""

    layout: Layout
    image_sha256: str | None
    locked: list[str]
    head: str | None
    entries: list[dict[str, Any]]
    can_undo: bool
    can_redo: bool
    metadata: dict[str, Any] | None
    images: dict[str, Image.Image] = field(default_factory=dict)


#: History entries whose image and latents stay in memory (the rest are read back from
#: ``history/`` when undo, redo or the compare view needs them).
HISTORY_IN_MEMORY = 12

_BUNDLES: dict[str, ModelBundle] = {}
_BUNDLES_LOCK = threading.Lock()


class Workspace:
    """The canvas of one server, its project folder and the models it has loaded."""

    def __init__(
        self, root: Path, model: str | None = None, keep_in_memory: int | None = None
    ) -> None:
        self.root = root
        for sub in ("projects", "uploads", "chat"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.keep_in_memory = HISTORY_IN_MEMORY if keep_in_memory is None else keep_in_memory
        self._draft_lock = threading.Lock()
        name = model or default_model_name()
        self.canvas = PakatiCanvas(128, 128, model=name)
        self._draft = self.canvas.to_layout()
        self.snapshot = self._take_snapshot()

    # Models ---------------------------------------------------------------------------

    def bundle(self, name: str) -> ModelBundle:
        """A model, loaded once per process (one worker uses it at a time)."""
        with _BUNDLES_LOCK:
            if name not in _BUNDLES:
                _BUNDLES[name] = load_model(name)
            return _BUNDLES[name]

    def _new_canvas(self, layout: Layout) -> PakatiCanvas:
        canvas = PakatiCanvas(layout.width, layout.height, model=self.bundle(layout.model))
        canvas.set_layout(layout)
        return canvas

    # The draft ------------------------------------------------------------------------

    @property
    def draft(self) -> Layout:
        with self._draft_lock:
            return self._draft

    def set_draft(self, layout: Layout) -> Layout:
        """The page's layout (not yet applied to the canvas). Settings it leaves as None
        become the model's recommendations, so the draft alone says what will be drawn."""
        recommended = {**GENERAL_DEFAULTS, **model_recommendations(layout.model)}
        filled = {
            key: recommended.get(key)
            for key in ("steps", "guidance_scale", "base_ratio", "scheduler")
            if getattr(layout, key) is None
        }
        layout = layout.model_copy(update=filled)
        # Only the draft changes: the canvas (the worker's) is not read on this thread.
        with self._draft_lock:
            self._draft = layout
            self.snapshot = dataclasses.replace(self.snapshot, layout=layout)
        return layout

    def apply_draft(self) -> None:
        """Make the canvas follow the draft (a new canvas when its size or model changed)."""
        layout = self.draft
        canvas = self.canvas
        if (layout.width, layout.height, layout.model) != (
            canvas.width,
            canvas.height,
            canvas.model,
        ):
            self.canvas = self._new_canvas(layout)
        else:
            canvas.set_layout(layout)

    # Actions (worker thread only) -------------------------------------------------------

    @contextlib.contextmanager
    def _drafted(self) -> Iterator[PakatiCanvas]:
        """The canvas following the draft, for one action; if the action fails, the canvas
        it replaced (a new size or model makes a new one) comes back with its history."""
        previous = self.canvas
        try:
            self.apply_draft()
            yield self.canvas
        except BaseException:
            self.canvas = previous
            raise

    def generate(self, seed: int | None, report: StepReporter) -> dict[str, Any]:
        with self._drafted() as canvas, observe_latents(previewer(report)):
            result = canvas.generate(seed=seed)
        return self._after(f"generated with seed {result.seed}", sync_draft=True)

    def regenerate(
        self, regions: list[str], seed: int | None, report: StepReporter
    ) -> dict[str, Any]:
        with self._drafted() as canvas, observe_latents(previewer(report)):
            canvas.regenerate(*regions, seed=seed)
        return self._after(f"regenerated {', '.join(regions)}", sync_draft=True)

    def refine(self, region: str, strength: float, report: StepReporter) -> dict[str, Any]:
        with self._drafted() as canvas, observe_latents(previewer(report)):
            canvas.refine(region, strength=strength)
        return self._after(f"refined {region} at strength {strength}", sync_draft=True)

    def set_lock(self, region: str, locked: bool) -> dict[str, Any]:
        self.apply_draft()
        (self.canvas.lock if locked else self.canvas.unlock)(region)
        return self._after(f"{'locked' if locked else 'unlocked'} {region}", sync_draft=True)

    def undo(self) -> dict[str, Any]:
        entry = self.canvas.undo()
        if entry is None:
            raise InvalidInputError("nothing to undo: this is the first step")
        return self._after(f"back to {entry.id}", sync_draft=True)

    def redo(self) -> dict[str, Any]:
        entry = self.canvas.redo()
        if entry is None:
            raise InvalidInputError("nothing to redo: no later step from here")
        return self._after(f"forward to {entry.id}", sync_draft=True)

    def save_project(self, name: str, overwrite: bool) -> dict[str, Any]:
        path = self.project_path(name)
        if path.exists() and not overwrite:
            raise OutputExistsError(
                f"project {name!r} exists; save under another name or confirm overwriting it"
            )
        if not self.canvas.history.entries:
            raise InvalidInputError("nothing to save yet: generate an image first")
        self.canvas.save_project(path)
        return {"message": f"saved project {name!r}", "name": name}

    def open_project(self, name: str) -> dict[str, Any]:
        path = self.project_path(name)
        if not path.is_file():
            raise InvalidInputError(f"no project named {name!r} (see the project list)")
        history = History.load(path)
        head = history.current
        if head is None:
            raise InvalidInputError(f"project {name!r} has no steps")
        layout = parse_layout(head.layout, source=f"project {name!r}")
        canvas = self._new_canvas(layout)
        canvas.load_project(path)
        self.canvas = canvas
        return self._after(f"opened project {name!r}", sync_draft=True)

    def open_png(self, path: Path, name: str | None = None) -> dict[str, Any]:
        """Continue from a PNG Pakati made (its metadata restores every region); ``name``
        is what messages call it (by default its path)."""
        from pakati_engine.metadata import read_png_metadata

        metadata = read_png_metadata(path, name=name)
        layout = parse_layout(metadata.get("layout"), source="the PNG's metadata")
        self.canvas = PakatiCanvas.from_image(path, model=self.bundle(layout.model), name=name)
        return self._after("opened the PNG's layout and image", sync_draft=True)

    def adopt_image(self, path: Path, message: str) -> dict[str, Any]:
        """Make a PNG the agent drew the canvas (as :meth:`open_png`)."""
        result = self.open_png(path)
        result["message"] = message
        return result

    def analyze(
        self, reference: str, region: str | None, aspects: list[str] | None
    ) -> dict[str, Any]:
        """Delta analysis of the current image (or one region of it) against an uploaded
        reference: per aspect a 0..1 similarity, findings and suggested changes."""
        from pakati_engine.analysis import analyze_deltas
        from pakati_engine.analysis.references import ReferenceImage

        path = self.root / "uploads" / plain_name(reference, "reference")
        if not path.is_file():
            raise InvalidInputError(f"no uploaded reference {reference!r}: upload it first")
        image = self.canvas.image
        if image is None:
            raise InvalidInputError("nothing to compare yet: generate an image first")
        mask = None
        if region:
            mask = self.canvas.region(region).rasterize() > 0
        report = analyze_deltas(image, ReferenceImage(path), aspects=aspects, mask=mask)
        return {"message": f"compared {region or 'the image'} with {reference}", **report.to_dict()}

    def history_png(self, sha: str) -> bytes | None:
        """A spilled history image's PNG (None when there is none); ``sha`` is hex."""
        path = self.root / "history" / f"{sha}.png"
        return path.read_bytes() if path.is_file() else None

    def project_path(self, name: str) -> Path:
        return self.root / "projects" / f"{plain_name(name, 'project name')}.json"

    def projects(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "projects").glob("*.json"))

    # Snapshots --------------------------------------------------------------------------

    def _after(self, message: str, sync_draft: bool = False) -> dict[str, Any]:
        if sync_draft:
            with self._draft_lock:
                self._draft = self.canvas.to_layout()
        self.canvas.history.spill(self.root / "history", self.keep_in_memory)
        self._refresh()
        return {"message": message, "image_sha256": self.snapshot.image_sha256}

    def _refresh(self) -> None:
        """A new snapshot of the canvas (worker thread), with the draft as it is now."""
        taken = self._take_snapshot()
        with self._draft_lock:
            self.snapshot = dataclasses.replace(taken, layout=self._draft)

    def _take_snapshot(self) -> Snapshot:
        canvas = self.canvas
        history = canvas.history
        entries = [
            {
                "id": e.id,
                "action": e.action,
                "parent": e.parent,
                "targets": list(e.targets),
                "image_sha256": e.image_sha256,
                "created": e.created,
            }
            for e in list(history.entries.values())
        ]
        images = {
            e.image_sha256: e.image
            for e in list(history.entries.values())
            if e.image is not None and e.image_sha256
        }
        current = history.current
        image = canvas.image
        return Snapshot(
            layout=self.draft,
            image_sha256=image_sha256(image) if image is not None else None,
            locked=canvas.locked,
            head=history.head,
            entries=entries,
            can_undo=current is not None and current.parent is not None,
            can_redo=any(e.parent == history.head for e in history.entries.values()),
            metadata=_metadata(canvas) if current is not None else None,
            images=images,
        )


def _metadata(canvas: PakatiCanvas) -> dict[str, Any]:
    """What a Pakati PNG of the canvas's current image carries (as ``GenerationResult``)."""
    chain = canvas.history.chain()
    steps = [e.step() for e in chain if e.action in IMAGE_ACTIONS]
    layout = chain[-1].layout
    data: dict[str, Any] = {
        "pakati_version": __version__,
        "layout": layout,
        "model": {"source": canvas.model},
    }
    if len(steps) > 1:
        data["steps"] = steps
    return data
