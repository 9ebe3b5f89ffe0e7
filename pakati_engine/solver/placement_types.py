"""Inputs and result of the layout solver: regions, relations between them, the layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.types import ResultMapping

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in canvas pixels, x1 > x0 and y1 > y0."""

RelationKind = Literal[
    "left_of", "right_of", "above", "below", "centred", "inside", "relative_size"
]
_KINDS: tuple[str, ...] = get_args(RelationKind)
_ALIASES = {"centered": "centred", "center": "centred", "centre": "centred"}


@dataclass(frozen=True)
class PlacementSpec:
    """One region to place: its requested box and its own size limits.

    ``min_area`` / ``max_area`` are fractions of the canvas area (soft: relaxed if they
    conflict with other constraints). ``min_size`` is the smallest width and height in
    pixels (hard). A ``fixed`` region (e.g. a locked one) keeps its box exactly.
    """

    name: str
    box: Box
    min_area: float | None = None
    max_area: float | None = None
    min_size: float = 1.0
    fixed: bool = False

    def __post_init__(self) -> None:
        if len(self.box) != 4:
            raise InvalidInputError(f"region {self.name!r}: a box is (x0, y0, x1, y1)")
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not (x1 > x0 and y1 > y0):
            raise InvalidInputError(
                f"region {self.name!r}: box {self.box} must have x1 > x0 and y1 > y0"
            )
        for label, value in (("min_area", self.min_area), ("max_area", self.max_area)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidInputError(
                    f"region {self.name!r}: {label} is a fraction of the canvas area in 0..1, "
                    f"got {value}"
                )
        if (
            self.min_area is not None
            and self.max_area is not None
            and self.min_area > self.max_area
        ):
            raise InvalidInputError(
                f"region {self.name!r}: min_area {self.min_area} > max_area {self.max_area}"
            )
        if self.min_size < 0:
            raise InvalidInputError(f"region {self.name!r}: min_size must be >= 0")


@dataclass(frozen=True)
class Relation:
    """A requested relation between region ``a`` and region ``b`` (or the canvas).

    - ``left_of`` / ``right_of`` / ``above`` / ``below``: ``a`` entirely on that side of
      ``b``, at least ``gap`` pixels apart (default: the solver's margin).
    - ``centred``: ``a``'s centre on ``b``'s centre (the canvas's if ``b`` is None), along
      ``axis`` "x", "y" or "both".
    - ``inside``: ``a`` within ``b`` (at least ``gap`` from its edges, default 0); the pair
      may overlap.
    - ``relative_size``: area(a) = ``ratio`` x area(b), within +-``tolerance`` (relative).

    ``Relation.parse("sky above mountains")`` builds one from text.
    """

    kind: str
    a: str
    b: str | None = None
    ratio: float = 1.0
    tolerance: float = 0.1
    axis: Literal["x", "y", "both"] = "both"
    gap: float | None = None

    def __post_init__(self) -> None:
        kind = _ALIASES.get(self.kind, self.kind)
        if kind not in _KINDS:
            raise InvalidInputError(
                f"unknown relation {self.kind!r}; choose from {', '.join(_KINDS)}"
            )
        object.__setattr__(self, "kind", kind)
        if self.b is None and kind not in ("centred", "inside"):
            raise InvalidInputError(f"relation {kind} needs a second region")
        if self.b == self.a:
            raise InvalidInputError(f"relation {kind} relates region {self.a!r} to itself")
        if kind == "relative_size" and (self.ratio <= 0 or not 0 <= self.tolerance < 1):
            raise InvalidInputError("relative_size needs ratio > 0 and 0 <= tolerance < 1")
        if self.axis not in ("x", "y", "both"):
            raise InvalidInputError(f"axis must be 'x', 'y' or 'both', got {self.axis!r}")

    @property
    def label(self) -> str:
        """Stable name used in results, e.g. ``left_of(tree, house)``."""
        if self.b is None:
            return f"{self.kind}({self.a})"
        return f"{self.kind}({self.a}, {self.b})"

    @classmethod
    def parse(cls, text: str) -> Relation:
        """Parse "a left_of b", "a above b", "a centred", "a inside b", "a relative_size b 2"."""
        words = text.replace("left of", "left_of").replace("right of", "right_of").split()
        if len(words) == 2 and words[1] in ("centred", "centered", "inside"):
            return cls(kind=words[1], a=words[0])
        if len(words) == 3:
            return cls(kind=words[1], a=words[0], b=words[2])
        if len(words) == 4 and words[1] == "relative_size":
            return cls(kind="relative_size", a=words[0], b=words[2], ratio=float(words[3]))
        raise InvalidInputError(
            f"cannot parse relation {text!r}; write e.g. 'sky above ground' or 'sun centred'"
        )


@dataclass(frozen=True, eq=False)
class LayoutResult(ResultMapping):
    """The layout solver's answer.

    ``solution`` maps region names to boxes (empty when ``success`` is False).
    ``feasible`` is True when every requested constraint holds; otherwise ``relaxed``
    lists the labels of those that had to give way and ``violations`` by how much (pixels,
    or canvas-area fraction for area constraints). ``success`` is False only when the hard
    constraints (canvas bounds, minimum sizes, fixed regions) cannot hold; then nothing is
    returned. ``displacement`` is each region's box change (Euclidean, pixels).
    """

    success: bool
    feasible: bool
    status: Literal["optimal", "relaxed", "infeasible"]
    message: str
    solution: dict[str, Box]
    relaxed: list[str] = field(default_factory=list)
    violations: dict[str, float] = field(default_factory=dict)
    displacement: dict[str, float] = field(default_factory=dict)
    solves: int = 0
