"""The ``Solver`` facade: one ``solve(problem_type=...)`` call for every kind of problem.

The generic arguments keep the product description's meaning where they apply:

================  ==================  ==================  ====================  ==================
problem_type      objective_function  initial_guess       bounds                constraints
================  ==================  ==================  ====================  ==================
linear            cost vector         (unused)            per-variable bounds   linear rows
nonlinear         score f(x) -> float start point         per-variable bounds   scipy dicts
layout            (unused)            name -> box         (width, height)       relations
color             (unused)            name -> palette     (unused)              (unused)
blending          (unused)            (unused)            (min, max) width      (unused)
parameters        score(params)       name -> value       name -> (low, high)   (unused)
================  ==================  ==================  ====================  ==================

Which way: a ``nonlinear`` objective is a score, **maximised** unless ``sense="minimize"``
(the product description's ``objective_function=quality_score`` must find the best
quality, not the worst); a ``linear`` cost vector is **minimised** unless
``sense="maximize"``; a ``parameters`` score is maximised. Every generic result records its
``sense``.

Anything else is passed as keyword options to the domain function (``solve_layout``,
``harmonize_palettes``, ``solve_feather`` / ``solve_feathers``, ``search_parameters``).
Every result is a dataclass that also reads like a dict: ``result["solution"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, overload

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.blending import FeatherResult, solve_feather, solve_feathers
from pakati_engine.solver.generic import solve_linear, solve_nonlinear
from pakati_engine.solver.palette import PaletteResult, harmonize_palettes
from pakati_engine.solver.parameters import ParameterSearchResult, search_parameters
from pakati_engine.solver.placement import solve_layout
from pakati_engine.solver.placement_types import LayoutResult
from pakati_engine.solver.types import ResultMapping, SolveResult

ProblemType = Literal["linear", "nonlinear", "layout", "color", "blending", "parameters"]
PROBLEM_TYPES: tuple[str, ...] = (
    "linear",
    "nonlinear",
    "layout",
    "color",
    "blending",
    "parameters",
)
_ALIASES = {"colour": "color", "parameter_search": "parameters", "mask": "blending"}


class Solver:
    """Deterministic optimisation for Pakati: generic LP/NLP plus the domain solvers.

    ``tolerance`` is the feasibility tolerance of the generic problems' final check.
    """

    def __init__(self, tolerance: float = 1e-6) -> None:
        self.tolerance = tolerance

    @overload
    def solve(
        self,
        problem_type: Literal["linear", "nonlinear"],
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> SolveResult: ...

    @overload
    def solve(
        self,
        problem_type: Literal["layout"],
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> LayoutResult: ...

    @overload
    def solve(
        self,
        problem_type: Literal["color", "colour"],
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> PaletteResult: ...

    @overload
    def solve(
        self,
        problem_type: Literal["blending"],
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> FeatherResult: ...

    @overload
    def solve(
        self,
        problem_type: Literal["parameters", "parameter_search"],
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> ParameterSearchResult: ...

    @overload
    def solve(
        self,
        problem_type: str,
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> ResultMapping: ...

    def solve(
        self,
        problem_type: str,
        objective_function: Callable[..., float] | Any = None,
        initial_guess: Any = None,
        bounds: Any = None,
        constraints: Any = None,
        **options: Any,
    ) -> ResultMapping:
        """Solve one problem; see the module docstring for what each argument means.

        Example (the product description's; ``quality_score`` is maximised)::

            solution = Solver().solve(
                problem_type="nonlinear", objective_function=quality_score,
                initial_guess=[7.5, 50], bounds=[(5.0, 15.0), (20, 100)],
            )
            guidance, steps = solution["solution"]

        A cost to minimise needs ``sense="minimize"``.

        Raises:
            InvalidInputError: unknown problem type or arguments that do not fit it.
        """
        kind = _ALIASES.get(problem_type, problem_type)
        if kind not in PROBLEM_TYPES:
            raise InvalidInputError(
                f"unknown problem_type {problem_type!r}; choose from {', '.join(PROBLEM_TYPES)}"
            )
        if kind == "linear":
            if objective_function is None or callable(objective_function):
                raise InvalidInputError("a linear problem's objective_function is its cost vector")
            return solve_linear(
                objective_function,
                constraints=constraints or (),
                bounds=bounds,
                tolerance=options.pop("tolerance", self.tolerance),
                **options,
            )
        if kind == "nonlinear":
            if not callable(objective_function):
                raise InvalidInputError("a nonlinear problem needs a callable objective_function")
            return solve_nonlinear(
                objective_function,
                initial_guess=initial_guess,
                bounds=bounds,
                constraints=constraints or (),
                tolerance=options.pop("tolerance", self.tolerance),
                sense=options.pop("sense", "maximize"),  # a score, as the description's
                **options,
            )
        if kind == "layout":
            regions = options.pop("regions", initial_guess)
            canvas = options.pop("canvas", bounds)
            if regions is None or canvas is None:
                raise InvalidInputError(
                    "a layout problem needs regions (initial_guess) and the canvas (bounds)"
                )
            return solve_layout(regions, canvas, relations=constraints or (), **options)
        if kind == "color":
            palettes = options.pop("palettes", initial_guess)
            if not isinstance(palettes, Mapping):
                raise InvalidInputError("a color problem needs palettes: region name -> colours")
            return harmonize_palettes(palettes, **options)
        if kind == "blending":
            feather_bounds = bounds if bounds is not None else (0.0, 32.0)
            if "masks" in options:
                return solve_feathers(
                    options["base"], options["overlay"], options["masks"], feather_bounds
                )
            try:
                image_a, image_b, mask = options["image_a"], options["image_b"], options["mask"]
            except KeyError as err:
                raise InvalidInputError(
                    "a blending problem needs image_a, image_b and mask "
                    "(or base, overlay and masks)"
                ) from err
            return solve_feather(image_a, image_b, mask, feather_bounds)
        if not callable(objective_function):
            raise InvalidInputError("a parameters problem needs a callable score function")
        if "budget" not in options:
            raise InvalidInputError("a parameters problem needs budget=<max evaluations>")
        return search_parameters(
            objective_function,
            space=options.pop("space", bounds),
            initial=options.pop("initial", initial_guess),
            **options,
        )
