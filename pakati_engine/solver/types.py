"""Result types shared by every solver.

Each result is a frozen dataclass that is also a read-only mapping of its fields, so both
``result.solution`` and the product description's ``result["solution"]`` work. Every result
has ``success`` (a usable answer was found), ``message`` (what happened, in words) and
``solution`` (the answer, whose type depends on the problem).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class ResultMapping(Mapping[str, Any]):
    """Mixin giving a dataclass read-only ``dict``-style access to its fields."""

    def __getitem__(self, key: str) -> Any:
        if key in self._field_names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._field_names())

    def __len__(self) -> int:
        return len(self._field_names())

    def _field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the fields (arrays and nested results converted to lists/dicts)."""
        return {name: _plain(getattr(self, name)) for name in self._field_names()}


def _plain(value: Any) -> Any:
    if isinstance(value, ResultMapping):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, eq=False)
class SolveResult(ResultMapping):
    """Result of a generic ``linear`` or ``nonlinear`` problem.

    ``solution`` is the best point found as a list of floats (in the order of
    ``initial_guess`` / the cost vector); ``objective`` its objective value (in the
    caller's sense: maximised problems report the maximum). ``feasible`` says whether the
    point satisfies the bounds and constraints (checked after the solver, to a tolerance);
    ``success`` is ``feasible`` and the optimiser converged (or stopped at its budget with a
    feasible point, see ``message``). ``status`` is a short machine-readable word:
    "optimal", "infeasible", "unbounded", "budget_exhausted", "failed". ``sense`` says
    whether the objective was minimised or maximised.
    """

    success: bool
    feasible: bool
    status: str
    message: str
    solution: list[float]
    objective: float
    n_evaluations: int = 0
    iterations: int = 0
    violations: dict[str, float] = field(default_factory=dict)
    #: "minimize" or "maximize": which way ``objective`` was optimised.
    sense: str = "minimize"
