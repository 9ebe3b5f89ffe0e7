"""``EnhancedPakatiCanvas``: a canvas with a goal, reference images, delta analysis and
templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pakati.canvas import PakatiCanvas
from pakati.refinement import RefinementResult, RefinementStrategy, generate_with_refinement
from pakati.results import GenerationResult
from pakati.templates import Template, load_template, save_template_file
from pakati.transfer import UnderstoodGuidance, generate_with_understanding
from pakati_engine.analysis import AspectDelta, analyze_deltas
from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.region import Region


@dataclass(frozen=True)
class ReferenceDelta:
    """How an image (or a region of it) differs from one reference, for one aspect."""

    reference: ReferenceImage
    delta: AspectDelta

    @property
    def aspect(self) -> str:
        return self.delta.aspect


class EnhancedPakatiCanvas(PakatiCanvas):
    """A canvas that knows its goal and what its references should contribute."""

    def __init__(
        self, width: int | None = None, height: int | None = None, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(width, height, *args, **kwargs)
        self.goal: str | None = None
        self.references: list[ReferenceImage] = []

    def set_goal(self, goal: str) -> None:
        if not goal.strip():
            raise InvalidInputError("the goal must say something")
        self.goal = goal

    def add_reference_image(
        self,
        path: str | Path,
        description: str = "",
        aspect: str = "general",
        region: Region | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ReferenceImage:
        """Validate and add a reference (color, texture, composition, lighting, style or
        general), for the whole canvas or attached to one region."""
        name = None if region is None else self.region(region).name
        reference = ReferenceImage(
            Path(path), description, aspect, region=name, metadata=metadata or {}
        )
        self.references.append(reference)
        return reference

    def apply_to_region_with_references(
        self,
        region: Region | str,
        prompt: str,
        reference_descriptions: list[str] | tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Region:
        """Set the region's prompt and attach the references with these descriptions.

        A description matches a reference whose description equals it or contains it.
        """
        target = self.apply_to_region(region, prompt, **kwargs)
        for wanted in reference_descriptions:
            matches = [
                index
                for index, ref in enumerate(self.references)
                if ref.description == wanted or wanted.lower() in ref.description.lower()
            ]
            if not matches:
                known = "; ".join(repr(r.description) for r in self.references) or "none"
                raise InvalidInputError(
                    f"no reference described as {wanted!r} (references: {known}); add it "
                    "with add_reference_image first"
                )
            for index in matches:
                self.references[index] = self.references[index].with_region(target.name)
        return target

    def references_for(self, region: Region | str | None) -> list[ReferenceImage]:
        """References attached to ``region`` (None: those for the whole canvas)."""
        name = None if region is None else self.region(region).name
        return [r for r in self.references if r.region == name]

    def analyze_deltas(
        self,
        image: Image.Image | np.ndarray | None = None,
        region: Region | str | None = None,
        aspects: list[str] | None = None,
    ) -> list[ReferenceDelta]:
        """Compare ``image`` (default: the canvas's current image) with the references.

        With ``region``, its pixels are compared with the references attached to it;
        without, the whole image with the canvas-wide references. Each reference is
        measured on its own aspect (all six for "general"), worst similarity first.
        """
        picture = image if image is not None else self.image
        if picture is None:
            raise InvalidInputError("no image to analyse: generate one or pass image=")
        mask = None if region is None else self.region(region).rasterize() > 0
        references = self.references_for(region)
        if not references:
            where = f"region {self._label(region)!r}" if region is not None else "the canvas"
            raise InvalidInputError(f"no references attached to {where}")
        found: list[ReferenceDelta] = []
        for reference in references:
            wanted = aspects or (None if reference.aspect == "general" else [reference.aspect])
            report = analyze_deltas(picture, reference, aspects=wanted, mask=mask)
            found.extend(ReferenceDelta(reference, delta) for delta in report.aspects.values())
        return sorted(found, key=lambda item: item.delta.similarity)

    def generate_with_refinement(
        self,
        max_passes: int = 5,
        target_quality: float = 0.85,
        strategy: RefinementStrategy | str = RefinementStrategy.ADAPTIVE,
        seed: int | None = None,
        **options: Any,
    ) -> RefinementResult:
        """Generate, then refine failing regions against their references pass by pass and
        keep the best pass (see ``pakati.refinement`` for the quality and the strategies;
        ``options``: ``goal_scorer``, ``goal_weight``, ``progress``)."""
        return generate_with_refinement(self, max_passes, target_quality, strategy, seed, **options)

    def generate_with_understanding(
        self, guidance: UnderstoodGuidance, seed: int | None = None
    ) -> GenerationResult:
        """Generate with guidance from ``ReferenceUnderstandingEngine.use_understood_reference``
        (its regions are added to this canvas; see ``pakati.transfer``)."""
        return generate_with_understanding(self, guidance, seed)

    def _label(self, region: Region | str) -> str:
        return self.region(region).label

    # Projects: references are stored with the history ------------------------------------

    def save_project(self, path: str | Path) -> Path:
        path = Path(path)
        self.history.extras["goal"] = self.goal
        self.history.extras["references"] = [
            r.to_dict(relative_to=path.parent) for r in self.references
        ]
        return super().save_project(path)

    def load_project(self, path: str | Path) -> None:
        super().load_project(path)
        extras = self.history.extras
        self.goal = extras.get("goal")
        folder = Path(path).parent
        self.references = [
            ReferenceImage.from_dict(d, folder) for d in extras.get("references", [])
        ]

    # Templates -------------------------------------------------------------------------

    def save_template(
        self, name: str, path: str | Path, *, description: str = "", overwrite: bool = False
    ) -> Path:
        """Save regions, prompts, settings, goal and references as a versioned template."""
        path = Path(path)
        layout = self.to_layout()
        layout.seed = None  # a template is a starting point, not one image
        template = Template(
            name=name,
            description=description,
            goal=self.goal,
            layout=layout,
            references=[r.to_dict(relative_to=path.parent) for r in self.references],
        )
        return save_template_file(template, path, overwrite=overwrite)

    @classmethod
    def load_template(
        cls,
        path: str | Path,
        *,
        model: str | ModelBundle | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> EnhancedPakatiCanvas:
        """A canvas configured by a template (``model`` overrides the template's)."""
        path = Path(path)
        template = load_template(path)
        canvas = cls.from_layout(template.layout, model=model, device=device, dtype=dtype)
        canvas.goal = template.goal
        canvas.references = [ReferenceImage.from_dict(d, path.parent) for d in template.references]
        return canvas
