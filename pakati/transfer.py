"""Using an understood reference: ``use_understood_reference`` and ``generate_with_understanding``.

Each requested aspect maps to one mechanism (what this slice can transfer):

- ``composition``: the understood pathway's object boxes and prompts become regions;
- ``color_harmony``: the understood background colour becomes the base prompt ("a white
  background") and each transferred region keeps its understood colour;
- ``lighting`` and ``style`` (and ``color_harmony``, beside the palette words): the learned
  token (textual inversion, ``<ref-ID>``) goes into the base prompt at ``token_weight``, and
  its embedding file is loaded into the canvas model. A reference understood without a
  token (``inversion=None``, or an SDXL model) lists them in ``guidance.not_transferred``.

``target_prompt`` is what the new picture should show besides the reference: with
composition it becomes one more region over the largest box of background the pathway
leaves free (a cell of the 3x3 grid), else it is appended to the base prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pakati_engine.errors import InvalidInputError
from pakati_engine.layout import Layout
from pakati_engine.understanding.transfer_cells import free_cell
from pakati_engine.world.scene import object_caption

if TYPE_CHECKING:
    from pakati.enhanced import EnhancedPakatiCanvas
    from pakati.results import GenerationResult
    from pakati.understanding import ReferenceUnderstanding

TRANSFER_ASPECTS: tuple[str, ...] = ("composition", "color_harmony", "lighting", "style")
NOT_BUILT = {"lighting", "style"}
"""Aspects that only the learned token carries."""
TOKEN_ASPECTS = {"lighting", "style", "color_harmony"}
_ALIASES = {"colour_harmony": "color_harmony", "color": "color_harmony", "colour": "color_harmony"}


@dataclass
class UnderstoodGuidance:
    """What ``generate_with_understanding`` applies to a canvas; ``to_dict()`` shows it."""

    reference_id: str
    understanding_level: float
    target_prompt: str
    base_prompt: str
    regions: list[dict[str, Any]]
    transferred: list[str]
    not_transferred: dict[str, str] = field(default_factory=dict)
    embeddings: list[dict[str, str]] = field(default_factory=list)
    """``[{"path", "token"}]``: learned tokens the prompts use (a layout's ``embeddings``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_id": self.reference_id,
            "understanding_level": round(self.understanding_level, 4),
            "target_prompt": self.target_prompt,
            "base_prompt": self.base_prompt,
            "regions": self.regions,
            "transferred": self.transferred,
            "not_transferred": self.not_transferred,
            "embeddings": self.embeddings,
        }


def check_aspects(aspects: list[str] | tuple[str, ...]) -> list[str]:
    out = []
    for aspect in aspects:
        key = _ALIASES.get(aspect.lower(), aspect.lower())
        if key not in TRANSFER_ASPECTS:
            raise InvalidInputError(
                f"unknown transfer aspect {aspect!r}; choose from {', '.join(TRANSFER_ASPECTS)}"
            )
        if key not in out:
            out.append(key)
    return out


def make_guidance(
    understanding: ReferenceUnderstanding,
    target_prompt: str,
    aspects: list[str] | tuple[str, ...],
    size: tuple[int, int],
    token_weight: float = 1.0,
) -> UnderstoodGuidance:
    wanted = check_aspects(aspects)
    has_token = bool(understanding.token and understanding.embedding_path)
    description = understanding.description
    width, height = size
    regions: list[dict[str, Any]] = []
    base = target_prompt
    if "color_harmony" in wanted:
        base = description.base_prompt
    if "composition" in wanted:
        for index, obj in enumerate(description.objects):
            prompt = (
                object_caption(obj.color, obj.shape)
                if "color_harmony" in wanted
                else f"a {obj.shape}"
            )
            regions.append(
                {"name": f"understood-{index + 1}", "box": list(obj.box), "prompt": prompt}
            )
        if target_prompt.strip():
            regions.append(
                {
                    "name": "target",
                    "box": list(free_cell(description, width, height)),
                    "prompt": target_prompt,
                }
            )
    elif "color_harmony" in wanted and target_prompt.strip():
        base = f"{target_prompt}, {description.base_prompt}"
    embeddings = []
    if has_token and wanted_token(wanted):
        token = str(understanding.token)
        written = token if token_weight == 1.0 else f"({token}:{token_weight:g})"
        base = f"{base} {written}".strip()
        embeddings.append({"path": str(understanding.embedding_path), "token": token})
    missing = set() if has_token else NOT_BUILT
    return UnderstoodGuidance(
        reference_id=understanding.reference_id,
        understanding_level=understanding.understanding_level,
        target_prompt=target_prompt,
        base_prompt=base,
        regions=regions,
        transferred=[a for a in wanted if a not in missing],
        not_transferred={
            a: "needs a learned token; this reference was understood without one "
            "(learn it with an SD1.x-shaped model and inversion on)"
            for a in wanted
            if a in missing
        },
        embeddings=embeddings,
    )


def wanted_token(aspects: list[str]) -> bool:
    """Whether the learned token serves any of ``aspects``."""
    return any(a in TOKEN_ASPECTS for a in aspects)


def apply_guidance(canvas: EnhancedPakatiCanvas, guidance: UnderstoodGuidance) -> None:
    """Set ``canvas``'s base prompt and add ``guidance``'s regions (names must be new)."""
    for embedding in guidance.embeddings:
        canvas.load_textual_inversion(embedding["path"], embedding["token"])
    canvas.base_prompt = guidance.base_prompt
    names = {r.name for r in canvas.regions}
    for region in guidance.regions:
        if region["name"] in names:
            raise InvalidInputError(
                f"the canvas already has a region named {region['name']!r}; use a fresh canvas"
            )
        canvas.create_region(box=region["box"], name=region["name"])
        canvas.apply_to_region(region["name"], region["prompt"])


def generate_with_understanding(
    canvas: EnhancedPakatiCanvas, guidance: UnderstoodGuidance, seed: int | None = None
) -> GenerationResult:
    """Apply ``guidance`` to ``canvas`` (base prompt, regions) and generate."""
    apply_guidance(canvas, guidance)
    return canvas.generate(seed=seed)


MIN_LEVEL = 0.5
"""Understood references below this understanding level do not guide refinement."""


class IterativeRefinementEngine:
    """Multi-pass refinement guided by understood references.

    ``refine_with_understanding`` orders the understood references by understanding level;
    those below ``MIN_LEVEL`` are left out (listed in ``skipped``); the best understood one
    supplies the composition and colour harmony (``use_understood_reference``), every kept
    one becomes a canvas-wide colour reference weighted by its understanding level
    (``metadata["weight"]``: the refinement's reference similarity is the weighted mean), and
    ``generate_with_refinement`` runs the passes.
    """

    def __init__(self, canvas_interface: EnhancedPakatiCanvas, reference_understanding_engine: Any):
        self.canvas = canvas_interface
        self.engine = reference_understanding_engine
        self.skipped: list[str] = []

    def refine_with_understanding(
        self,
        target_prompt: str,
        understood_references: list[str],
        max_iterations: int = 8,
        target_quality: float = 0.85,
        strategy: str = "adaptive",
        seed: int | None = None,
        transfer_aspects: tuple[str, ...] = ("color_harmony", "composition"),
    ) -> Any:
        if not understood_references:
            raise InvalidInputError("give at least one understood reference id")
        found = []
        for reference_id in understood_references:
            found.append(self.engine.understanding(reference_id))
        found.sort(key=lambda u: -u.understanding_level)
        kept = [u for u in found if u.understanding_level >= MIN_LEVEL]
        self.skipped = [u.reference_id for u in found if u.understanding_level < MIN_LEVEL]
        if not kept:
            raise InvalidInputError(
                f"every reference is understood below {MIN_LEVEL}; learn them further first"
            )
        guidance = self.engine.use_understood_reference(
            kept[0].reference_id, target_prompt, transfer_aspects
        )
        apply_guidance(self.canvas, guidance)
        for understanding in kept:
            self.canvas.add_reference_image(
                understanding.reference_path,
                f"understood {understanding.reference_id}",
                "color",
                metadata={"weight": understanding.understanding_level},
            )
        return self.canvas.generate_with_refinement(
            max_passes=max_iterations, target_quality=target_quality, strategy=strategy, seed=seed
        )


def layout_with_guidance(layout: Layout, guidance: UnderstoodGuidance) -> Layout:
    """``layout`` guided by an understood reference (what ``pakati generate --understood``
    draws): the guidance's regions go first (the layout's own regions are drawn over them),
    the base prompt is the layout's followed by the guidance's, and the learned token's
    embedding joins the layout's ``embeddings``."""
    from pakati_engine.layout import parse_layout

    data = layout.model_dump()
    names = {r.name for r in layout.regions}
    regions = []
    for region in guidance.regions:
        name = region["name"]
        while name in names:
            name = f"{name}-ref"
        regions.append({"name": name, "box": region["box"], "prompt": region["prompt"]})
    data["regions"] = regions + data["regions"]
    data["base_prompt"] = ", ".join(p for p in (layout.base_prompt, guidance.base_prompt) if p)
    known = {e.token for e in layout.embeddings}
    data["embeddings"] = data.get("embeddings", []) + [
        dict(e) for e in guidance.embeddings if e["token"] not in known
    ]
    return parse_layout(data, source=f"layout guided by {guidance.reference_id}")
