"""Parameter search (guidance scale, steps, strength, ...) under a strict evaluation budget.

Each evaluation of the score usually means generating an image, so the budget is a hard
limit: the score function is wrapped in a counter that refuses the call after the last
allowed one, and a point already evaluated (after rounding integers) is answered from a
cache without spending budget.

Method (deterministic for a given ``seed``):

1. the initial point, if given;
2. exploration: a scrambled Sobol sequence over the box, for ``exploration`` of the budget;
3. exploitation: a compass (pattern) search from the best point: try +-step along each
   parameter, move on improvement, halve the steps when none improves, stop when the steps
   are below resolution (1 for integers, 1e-3 of the range for floats) or the budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.stats import qmc

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.budget import BudgetExhausted, CountedFunction
from pakati_engine.solver.types import ResultMapping

Params = dict[str, float]


@dataclass(frozen=True)
class ParameterSpec:
    """One searchable parameter: its range and whether it takes integer values."""

    name: str
    low: float
    high: float
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise InvalidInputError(
                f"parameter {self.name!r}: need finite low <= high, got ({self.low}, {self.high})"
            )

    def snap(self, value: float) -> float:
        """Clip into the range and round integers."""
        v = min(self.high, max(self.low, float(value)))
        return float(round(v)) if self.integer else v


DEFAULT_SPACE: dict[str, ParameterSpec] = {
    "guidance_scale": ParameterSpec("guidance_scale", 1.0, 15.0),
    "steps": ParameterSpec("steps", 10, 100, integer=True),
    "strength": ParameterSpec("strength", 0.1, 1.0),
}
"""Usual ranges of the generation parameters; ``steps`` is an integer."""


@dataclass(frozen=True, eq=False)
class ParameterSearchResult(ResultMapping):
    """Best parameters found. ``solution`` maps names to values; ``score`` is theirs.

    ``n_evaluations`` is the number of real score calls (never above ``budget``);
    ``history`` lists every evaluated point with its score, in order.
    """

    success: bool
    status: Literal["converged", "budget_exhausted", "failed"]
    message: str
    solution: Params
    score: float
    n_evaluations: int
    budget: int
    history: list[tuple[Params, float]] = field(default_factory=list)


def _space(
    space: Sequence[ParameterSpec] | Mapping[str, tuple[float, float]] | None,
) -> list[ParameterSpec]:
    if space is None:
        return list(DEFAULT_SPACE.values())
    if isinstance(space, Mapping):
        specs = []
        for name, bounds in space.items():
            base = DEFAULT_SPACE.get(name)
            specs.append(
                ParameterSpec(
                    name, float(bounds[0]), float(bounds[1]), base.integer if base else False
                )
            )
        return specs
    return list(space)


def search_parameters(
    score_function: Callable[[Params], float],
    budget: int,
    space: Sequence[ParameterSpec] | Mapping[str, tuple[float, float]] | None = None,
    initial: Mapping[str, float] | None = None,
    maximize: bool = True,
    exploration: float = 0.5,
    seed: int = 0,
) -> ParameterSearchResult:
    """Find parameters that maximise (or minimise) ``score_function`` in ``budget`` calls.

    Args:
        score_function: called with a dict of parameter values; returns a float. NaN or
            an infinity counts as the worst possible score (and still uses budget).
        budget: the maximum number of calls; never exceeded.
        space: ``ParameterSpec``s, or a mapping name -> (low, high) (``steps`` is then an
            integer, as in ``DEFAULT_SPACE``); None uses ``DEFAULT_SPACE``.
        initial: a starting point (e.g. the current settings), evaluated first.
        maximize: True to maximise the score (the usual case), False to minimise it.
        exploration: share of the budget spent on the Sobol exploration.
        seed: seed of the Sobol scrambling.
    """
    if budget < 1:
        raise InvalidInputError(f"budget must be at least 1 evaluation, got {budget}")
    if not 0.0 <= exploration <= 1.0:
        raise InvalidInputError("exploration is a share of the budget in 0..1")
    specs = _space(space)
    if not specs:
        raise InvalidInputError("no parameters to search")
    sign = -1.0 if maximize else 1.0
    counted: CountedFunction[Params] = CountedFunction(
        score_function, budget, sign, reject_non_finite=False
    )
    cache: dict[tuple[float, ...], float] = {}
    history: list[tuple[Params, float]] = []

    def evaluate(values: Sequence[float]) -> float:
        """Minimisation-sense score of a point (cached); raises BudgetExhausted."""
        point = tuple(s.snap(v) for s, v in zip(specs, values, strict=True))
        if point not in cache:
            params = {s.name: v for s, v in zip(specs, point, strict=True)}
            value = counted(params)
            cache[point] = value if math.isfinite(value) else math.inf
            history.append((params, sign * value if math.isfinite(value) else math.nan))
        return cache[point]

    status: Literal["converged", "budget_exhausted", "failed"] = "converged"
    try:
        if initial is not None:
            unknown = set(initial) - {s.name for s in specs}
            if unknown:
                raise InvalidInputError(f"initial has unknown parameters {sorted(unknown)}")
            evaluate([initial.get(s.name, (s.low + s.high) / 2.0) for s in specs])
        n_explore = max(1, round(budget * exploration)) - len(history)
        if n_explore > 0:
            sobol = qmc.Sobol(d=len(specs), scramble=True, seed=seed)
            samples = sobol.random(2 ** math.ceil(math.log2(max(n_explore, 1))))[:n_explore]
            lows = np.array([s.low for s in specs])
            highs = np.array([s.high for s in specs])
            for row in lows + samples * (highs - lows):
                evaluate(list(row))
        _compass(evaluate, specs, cache)
    except BudgetExhausted:
        status = "budget_exhausted"
    if not cache or all(math.isinf(v) for v in cache.values()):
        return ParameterSearchResult(
            success=False,
            status="failed",
            message="no evaluation returned a finite score",
            solution={},
            score=math.nan,
            n_evaluations=counted.calls,
            budget=budget,
            history=history,
        )
    best_point = min(cache, key=lambda k: cache[k])
    best = {s.name: v for s, v in zip(specs, best_point, strict=True)}
    done = "budget spent" if status == "budget_exhausted" else "search converged"
    return ParameterSearchResult(
        success=True,
        status=status,
        message=f"{done} after {counted.calls} of {budget} evaluations",
        solution=best,
        score=sign * cache[best_point],
        n_evaluations=counted.calls,
        budget=budget,
        history=history,
    )


def _compass(
    evaluate: Callable[[Sequence[float]], float],
    specs: Sequence[ParameterSpec],
    cache: Mapping[tuple[float, ...], float],
) -> None:
    """Compass search from the best cached point until steps fall below resolution."""
    start: tuple[float, ...] = min(cache, key=lambda k: cache[k])
    best: list[float] = list(start)
    best_value = cache[start]
    steps = [(s.high - s.low) / 4.0 for s in specs]
    floors = [1.0 if s.integer else (s.high - s.low) * 1e-3 for s in specs]
    while any(st >= fl and st > 0 for st, fl in zip(steps, floors, strict=True)):
        improved = False
        for i, spec in enumerate(specs):
            if steps[i] < floors[i] or steps[i] <= 0:
                continue
            for direction in (1.0, -1.0):
                trial = list(best)
                trial[i] = spec.snap(best[i] + direction * steps[i])
                if trial[i] == best[i]:
                    continue
                value = evaluate(trial)
                if value < best_value:
                    best, best_value, improved = trial, value, True
                    break
        if not improved:
            steps = [st / 2.0 for st in steps]
