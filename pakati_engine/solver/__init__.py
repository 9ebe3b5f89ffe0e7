"""Deterministic optimisation: generic LP/NLP and Pakati's domain solvers.

``Solver().solve(problem_type=..., ...)`` is the single entry point (see ``core``); the
domain functions can also be called directly:

- ``solve_layout``: region boxes with relations, margins and no overlap;
- ``harmonize_palettes``: per-region palettes toward one colour harmony, bounded change;
- ``solve_feather`` / ``solve_feathers``: feather widths minimising seam visibility;
- ``search_parameters``: generation parameters against a score with a strict budget.

Every result is a typed dataclass with ``success``, ``message`` and ``solution`` that also
reads like a mapping (``result["solution"]``). Infeasible problems say so in the result.
"""

from pakati_engine.solver.blending import (
    FeatherResult,
    feather_weights,
    seam_cost,
    solve_feather,
    solve_feathers,
)
from pakati_engine.solver.core import PROBLEM_TYPES, Solver
from pakati_engine.solver.generic import solve_linear, solve_nonlinear
from pakati_engine.solver.palette import PaletteResult, harmonize_palettes
from pakati_engine.solver.parameters import (
    DEFAULT_SPACE,
    ParameterSearchResult,
    ParameterSpec,
    search_parameters,
)
from pakati_engine.solver.placement import solve_layout
from pakati_engine.solver.placement_types import Box, LayoutResult, PlacementSpec, Relation
from pakati_engine.solver.types import ResultMapping, SolveResult

__all__ = [
    "DEFAULT_SPACE",
    "PROBLEM_TYPES",
    "Box",
    "FeatherResult",
    "LayoutResult",
    "PaletteResult",
    "ParameterSearchResult",
    "ParameterSpec",
    "PlacementSpec",
    "Relation",
    "ResultMapping",
    "SolveResult",
    "Solver",
    "feather_weights",
    "harmonize_palettes",
    "seam_cost",
    "search_parameters",
    "solve_feather",
    "solve_feathers",
    "solve_layout",
    "solve_linear",
    "solve_nonlinear",
]
