"""Typed results of the delta analyzer.

Every aspect measure returns one :class:`AspectDelta`; :func:`analyze_deltas` collects them
in a :class:`DeltaReport`. These are plain dataclasses so that the canvas, the refiner and
the CLI can read them without importing numpy; ``to_dict()`` gives JSON-ready values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

#: The aspects a reference can be about, in report order.
ASPECTS: tuple[str, ...] = ("color", "texture", "lighting", "composition", "style", "general")

AspectName = Literal["color", "texture", "lighting", "composition", "style", "general"]

AdjustmentKind = Literal[
    "add_prompt_terms", "add_negative_terms", "change_parameters", "move_region"
]


class Severity(StrEnum):
    """How much an aspect differs from the reference, from its similarity (see thresholds)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @classmethod
    def from_similarity(cls, similarity: float) -> Severity:
        """Map a 0..1 similarity to a severity.

        Thresholds: >= 0.95 none, >= 0.85 low, >= 0.65 medium, below that high. Every
        aspect measure is calibrated so that these bands mean roughly the same thing:
        "invisible", "noticeable side by side", "obvious", "a different look".
        """
        if similarity >= 0.95:
            return cls.NONE
        if similarity >= 0.85:
            return cls.LOW
        if similarity >= 0.65:
            return cls.MEDIUM
        return cls.HIGH


@dataclass(frozen=True)
class Adjustment:
    """One suggested change that should bring the image closer to the reference.

    ``kind`` says how to apply it:

    - ``add_prompt_terms``: append ``terms`` to the region's prompt ("warmer light").
    - ``add_negative_terms``: append ``terms`` to the negative prompt ("blurry").
    - ``change_parameters``: add each value of ``changes`` to the generation parameter of
      that name (``{"guidance_scale": +1.0}``, ``{"steps": +10}``).
    - ``move_region``: shift the region's content by ``changes["dx"]``/``changes["dy"]``,
      fractions of the region's width/height (positive = right/down).
    """

    kind: AdjustmentKind
    reason: str
    terms: tuple[str, ...] = ()
    changes: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        if self.terms:
            out["terms"] = list(self.terms)
        if self.changes:
            out["changes"] = {k: round(float(v), 4) for k, v in self.changes.items()}
        return out


@dataclass(frozen=True)
class AspectDelta:
    """The difference between an image and a reference for one aspect.

    ``similarity`` is in 0..1 (1 = indistinguishable by this measure). ``measured`` holds
    the raw numbers behind it, named ``<quantity>_image`` / ``<quantity>_reference`` /
    ``<quantity>_delta`` (image minus reference) where that applies, so a caller can see
    both sides and the sign.
    """

    aspect: AspectName
    similarity: float
    severity: Severity
    measured: dict[str, float] = field(default_factory=dict)
    findings: tuple[str, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the shape ``pakati analyze --json`` prints per aspect."""
        return {
            "similarity": round(float(self.similarity), 4),
            "severity": self.severity.value,
            "measured": {k: _round(v) for k, v in self.measured.items()},
            "findings": list(self.findings),
            "adjustments": [a.to_dict() for a in self.adjustments],
        }


@dataclass(frozen=True)
class DeltaReport:
    """All aspect deltas of one image (or region) against one reference."""

    aspects: dict[str, AspectDelta]
    image_size: tuple[int, int]
    """(width, height) of the image as given."""
    reference_size: tuple[int, int]
    """(width, height) of the reference as given."""
    region_box: tuple[int, int, int, int] | None
    """(x0, y0, x1, y1) bounding box of the mask in image pixels, None without a mask."""
    working_size: tuple[int, int]
    """(width, height) the image was analysed at (see ``prepare``)."""
    elapsed_s: float

    def __getitem__(self, aspect: str) -> AspectDelta:
        return self.aspects[aspect]

    @property
    def overall_similarity(self) -> float:
        """Mean similarity over the analysed aspects."""
        if not self.aspects:
            return 1.0
        return sum(d.similarity for d in self.aspects.values()) / len(self.aspects)

    def worst(self) -> AspectDelta | None:
        """The aspect with the lowest similarity, or None if nothing was analysed."""
        if not self.aspects:
            return None
        return min(self.aspects.values(), key=lambda d: d.similarity)

    def adjustments(self, min_severity: Severity = Severity.LOW) -> list[Adjustment]:
        """Adjustments of every aspect at or above ``min_severity``, worst aspect first."""
        order = list(Severity)
        floor = order.index(min_severity)
        deltas = sorted(self.aspects.values(), key=lambda d: d.similarity)
        return [a for d in deltas if order.index(d.severity) >= floor for a in d.adjustments]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"aspects": {"color": {...}, ...}, ...}``."""
        return {
            "aspects": {name: d.to_dict() for name, d in self.aspects.items()},
            "overall_similarity": round(self.overall_similarity, 4),
            "image_size": list(self.image_size),
            "reference_size": list(self.reference_size),
            "region_box": list(self.region_box) if self.region_box else None,
            "working_size": list(self.working_size),
            "elapsed_s": round(self.elapsed_s, 4),
        }


def _round(value: float) -> float:
    return round(float(value), 4)
