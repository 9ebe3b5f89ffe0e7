"""Progressive work on a canvas: lock finished regions, regenerate or refine others, undo.

Mixed into ``PakatiCanvas``. A regeneration keeps every pixel outside the edited regions'
mask plus a feather band, and every pixel of a locked region, byte for byte; it denoises
only a crop around the edit when that is cheaper (see ``pakati_engine.diffusion.edits``). Each
step is a history entry (see ``pakati.history``), so it can be undone, redone, saved in a
project and reproduced.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

import pakati.foreign as foreign
from pakati.history import Action, History, HistoryEntry, image_sha256
from pakati.results import GenerationResult
from pakati_engine.diffusion.edits import DEFAULT_MARGIN, run_edit, run_zoomed_edit
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.diffusion.pipeline import (
    GenerationOutput,
    RegionalDiffusionPipeline,
    StepCallback,
)
from pakati_engine.errors import InvalidInputError
from pakati_engine.generation import request_from_layout
from pakati_engine.layout import Layout, parse_layout
from pakati_engine.models.adapters import prepare_adapters

if TYPE_CHECKING:
    from pakati_engine.models.bundle import ModelBundle
    from pakati_engine.regions.region import Region

IMAGE_ACTIONS = ("generate", "regenerate", "refine")
DEFAULT_FEATHER = 8


class EditingMixin:
    """Locking, regeneration, refinement, history and projects for ``PakatiCanvas``."""

    if TYPE_CHECKING:  # provided by PakatiCanvas
        seed: int | None
        _regions: list[Region]

        def region(self, key: Region | str) -> Region: ...
        def to_layout(self) -> Layout: ...
        def set_layout(self, layout: Layout) -> None: ...
        def load(self) -> ModelBundle: ...
        def load_for_edits(self) -> ModelBundle: ...
        def generate(self, seed: int | None = None) -> GenerationResult: ...
        def _update_region(self, key: Region | str, **changes: Any) -> None: ...
        def _model_info(self) -> dict[str, str]: ...
        @property
        def regions(self) -> list[Region]: ...
        @property
        def width(self) -> int: ...
        @property
        def height(self) -> int: ...

    def _init_editing(self) -> None:
        self.history = History()
        self._image: Image.Image | None = None
        self._locked: list[str] = []

    @property
    def image(self) -> Image.Image | None:
        """The canvas's current image (None before the first generation)."""
        return self._image

    def use_image(self, image: Image.Image) -> None:
        """Make ``image`` (any picture of the canvas's size) the canvas to edit: regenerate
        and refine then change its regions and keep the rest, as for an image Pakati made.

        Pakati cannot reproduce such a picture from metadata (it did not draw it), so the
        edits' metadata records the edits but cannot replay them without the original.
        """
        if image.size != (self.width, self.height):
            raise InvalidInputError(
                f"the image is {image.width}x{image.height} but the canvas is "
                f"{self.width}x{self.height}; make a canvas of the image's size"
            )
        self._image = image.convert("RGB")
        if self.seed is None:  # edits draw their noise from the canvas seed
            self.seed = secrets.randbelow(2**32)

    @property
    def locked(self) -> list[str]:
        """Names of the locked regions."""
        return list(self._locked)

    # Locking ---------------------------------------------------------------------------

    def lock(self, region: Region | str) -> None:
        """Keep ``region``'s pixels exactly as they are through later edits."""
        name = self._name(region)
        if name not in self._locked:
            self._locked.append(name)
            self._record_state("lock", [name])

    def unlock(self, region: Region | str) -> None:
        name = self._name(region)
        if name in self._locked:
            self._locked.remove(name)
            self._record_state("unlock", [name])

    # Edits -----------------------------------------------------------------------------

    def regenerate(
        self,
        *regions: Region | str,
        seed: int | None = None,
        feather: int = DEFAULT_FEATHER,
        crop: bool = True,
        margin: int = DEFAULT_MARGIN,
        callback: StepCallback | None = None,
        zoom: bool = False,
    ) -> GenerationResult:
        """Generate ``regions`` again from their current prompts; all else is kept.

        ``seed`` gives the regions a new seed of their own. Pixels farther than ``feather``
        from the regions, and all pixels of locked regions, stay byte-identical. ``zoom``
        redraws a small region at the model's working size and scales it back down
        ("inpaint only masked"), which gives a small object the model's full resolution.
        """
        if seed is not None:
            for region in regions:
                self._update_region(region, seed=seed)
        return self._edit("regenerate", regions, 1.0, feather, crop, margin, callback, zoom=zoom)

    def refine(
        self,
        region: Region | str,
        strength: float = 0.5,
        *,
        feather: int = DEFAULT_FEATHER,
        crop: bool = True,
        margin: int = DEFAULT_MARGIN,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Re-noise ``region`` part of the way (``strength`` in (0, 1]) and denoise it again.

        SDEdit restricted to the region: low strength keeps its composition and polishes
        it; 1.0 is a full regeneration.
        """
        return self._edit("refine", (region,), strength, feather, crop, margin, callback)

    def _edit(
        self,
        action: Action,
        regions: Sequence[Region | str],
        strength: float,
        feather: int,
        crop: bool,
        margin: int,
        callback: StepCallback | None,
        reuse_latents: bool = True,
        zoom: bool = False,
    ) -> GenerationResult:
        if self._image is None:
            raise InvalidInputError(f"nothing to {action} yet: call generate() first")
        if not regions:
            raise InvalidInputError(f"{action} needs at least one region")
        targets = [self.region(r) for r in regions]
        blocked = [t.label for t in targets if t.name in self._locked]
        if blocked:
            raise InvalidInputError(
                f"region(s) {', '.join(blocked)} are locked; unlock them before you {action}"
            )
        layout = self.to_layout()
        keep = self._keep_spec(targets, feather)
        bundle = self.load_for_edits()
        prepare_adapters(bundle, layout.loras, layout.embeddings)
        pipe = RegionalDiffusionPipeline(bundle)
        # Regions drawn by another model (pakati.foreign) are redrawn by that model.
        plan, drawn_elsewhere = self._foreign_plan(layout, targets)
        native = [t for t in targets if t.label not in drawn_elsewhere]
        current = self.history.current
        reused = False
        if native:
            base = layout if plan is None else plan.base_layout
            request = request_from_layout(base, bundle.recommended, self._regions)
            request.keep = keep if len(native) == len(targets) else self._keep_spec(native, feather)
            request.strength = strength
            if reuse_latents and current is not None and current.image is self._image:
                request.kept_latents = current.latents
            reused = request.kept_latents is not None  # None for a canvas from a PNG
            if zoom:
                output = run_zoomed_edit(pipe, request, callback, margin)
            else:
                output = run_edit(pipe, request, callback, crop, margin)
        else:
            with torch.no_grad():
                latents = pipe.encode_image(self._image)
            output = GenerationOutput(self._image, latents, unet_calls=0, timings={})
        if drawn_elsewhere:
            assert plan is not None
            output = foreign.draw_foreign(
                output,
                plan,
                layout,
                self._regions,
                foreign.canvas_registry(self),
                pipe,
                locked=self._locked,
                only=drawn_elsewhere,
                feather=feather,
                strength=strength,
                concurrency=getattr(self, "provider_concurrency", None),
            )
        params = {
            "strength": strength,
            "feather": feather,
            "crop": crop,
            "margin": margin,
            # Whether the kept image's own latents were reused (else VAE-encoded): replays
            # must do the same to reproduce the pixels exactly.
            "reuse_latents": reused,
            "zoom": zoom,
        }
        result = self._record(action, layout, output, [t.label for t in targets], params)
        if plan is not None:
            result.models = plan.records
        return result

    def _foreign_plan(
        self, layout: Layout, targets: Sequence[Region]
    ) -> tuple[foreign.ModelPlan | None, list[str]]:
        """The canvas's model plan (None with one model) and which targets it draws elsewhere."""
        if not foreign.needs_models(layout):
            return None, []
        _registry, plan = foreign.canvas_plan(self, layout)
        elsewhere = {r.region for r in plan.foreign}
        return plan, [t.label for t in targets if t.label in elsewhere]

    def _keep_spec(self, targets: Sequence[Region], feather: int) -> KeepSpec:
        assert self._image is not None
        editable = np.zeros((self.height, self.width), np.float32)
        for target in targets:
            editable = np.maximum(editable, target.rasterize())
        frozen = np.zeros((self.height, self.width), bool)
        for region in self.regions:
            if region.name in self._locked:
                frozen |= region.rasterize() > 0
        editable[frozen] = 0.0
        if editable.max(initial=0.0) <= 0.0:
            raise InvalidInputError(
                "nothing to change: the chosen regions are entirely covered by locked regions"
            )
        return KeepSpec(self._image, editable, feather, frozen)

    # History ---------------------------------------------------------------------------

    def undo(self) -> HistoryEntry | None:
        """Go back one step (image, prompts, regions and locks); None at the first step."""
        entry = self.history.undo()
        if entry is not None:
            self._restore(entry)
        return entry

    def redo(self) -> HistoryEntry | None:
        entry = self.history.redo()
        if entry is not None:
            self._restore(entry)
        return entry

    def _restore(self, entry: HistoryEntry) -> None:
        self.set_layout(parse_layout(entry.layout, source=f"history step {entry.id}"))
        self._locked = list(entry.locked)
        self._image = entry.image

    def _record(
        self,
        action: Action,
        layout: Layout,
        output: GenerationOutput,
        targets: Sequence[str] = (),
        params: dict[str, Any] | None = None,
    ) -> GenerationResult:
        entry = self.history.add(
            HistoryEntry(
                id=self.history.new_id(),
                action=action,
                parent=self.history.head,
                layout=layout.model_dump(mode="json", exclude_none=True),
                locked=list(self._locked),
                targets=list(targets),
                params=params or {},
                image_sha256=image_sha256(output.image),
                image=output.image,
                latents=output.latents.detach().cpu(),
            )
        )
        self._image = output.image
        steps = [e.step() for e in self.history.chain(entry.id) if e.action in IMAGE_ACTIONS]
        return GenerationResult(
            image=output.image,
            layout=layout,
            model_info=self._model_info(),
            unet_calls=output.unet_calls,
            timings=output.timings,
            steps=steps,
            latent_size=output.latent_size,
        )

    def _record_state(self, action: Action, targets: list[str]) -> None:
        current = self.history.current
        self.history.add(
            HistoryEntry(
                id=self.history.new_id(),
                action=action,
                parent=self.history.head,
                layout=self.to_layout().model_dump(mode="json", exclude_none=True),
                locked=list(self._locked),
                targets=targets,
                image_sha256=current.image_sha256 if current else None,
                image=self._image,
                latents=current.latents if current else None,
            )
        )

    def _name(self, region: Region | str) -> str:
        name = self.region(region).name
        assert name is not None
        return name

    # Projects and reproduction ---------------------------------------------------------

    def save_project(self, path: str | Path) -> Path:
        """Save the whole history (atomically) as ``path`` plus ``<stem>.images/``."""
        return self.history.save(path)

    def load_project(self, path: str | Path) -> None:
        """Replace this canvas's history by a saved project's and go to its head."""
        history = History.load(path)
        self.history = history
        if history.current is not None:
            self._restore(history.current)

    def reproduce(self, entry_id: str | None = None) -> Image.Image:
        """Make an entry's image again from scratch and check it against the recorded hash."""
        chain = self.history.chain(entry_id)
        if not chain:
            raise InvalidInputError("the history is empty: nothing to reproduce")
        steps = [e.step() for e in chain if e.action in IMAGE_ACTIONS]
        replica = type(self)(self.width, self.height, model=self.load())  # type: ignore[call-arg]
        image = replica.replay(steps).image
        if image_sha256(image) != chain[-1].image_sha256:
            raise InvalidInputError(
                f"step {chain[-1].id} did not reproduce identically (model or library "
                "versions differ from when it was made?)"
            )
        return image

    def replay(self, steps: Sequence[dict[str, Any]]) -> GenerationResult:
        """Apply recorded steps (a generation, then edits) to this canvas; the last result.

        ``steps`` are what a Pakati PNG's metadata records, so replaying them on a fresh
        canvas with the same model reproduces that image exactly.
        """
        if not steps or steps[0].get("action") != "generate":
            raise InvalidInputError("recorded steps must start with a generation")
        result: GenerationResult | None = None
        for step in steps:
            layout = parse_layout(step.get("layout"), source="recorded step")
            self.set_layout(layout)
            self._locked = list(step.get("locked", []))
            if step["action"] == "generate":
                result = self.generate(seed=layout.seed)
                continue
            params = step.get("params", {})
            result = self._edit(
                step["action"],
                step.get("targets", []),
                params.get("strength", 1.0),
                params.get("feather", DEFAULT_FEATHER),
                params.get("crop", True),
                params.get("margin", DEFAULT_MARGIN),
                None,
                params.get("reuse_latents", False),
                zoom=params.get("zoom", False),
            )
        assert result is not None
        return result
