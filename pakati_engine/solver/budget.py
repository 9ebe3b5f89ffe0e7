"""Counting wrappers that make an evaluation budget impossible to exceed."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class BudgetExhausted(Exception):
    """Raised by a :class:`CountedFunction` instead of making one call too many."""


class NonFiniteObjective(Exception):
    """The objective returned NaN or an infinity."""

    def __init__(self, point: Any, value: float) -> None:
        super().__init__(f"objective returned {value} at {point}")
        self.point = point
        self.value = value


class CountedFunction(Generic[T]):
    """Wrap ``fn`` so that it is called at most ``budget`` times and remember the best call.

    The check happens before the call, so the wrapped function is never entered once the
    budget is spent. Only points that pass ``accept`` (e.g. a feasibility check) can become
    the best point. ``sign`` is +1 to minimise, -1 to maximise: ``best_value`` is kept in
    the caller's sense while ``__call__`` returns ``sign * value`` for a minimiser.
    """

    def __init__(
        self,
        fn: Callable[[T], float],
        budget: int | None = None,
        sign: float = 1.0,
        reject_non_finite: bool = True,
        accept: Callable[[T], bool] | None = None,
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError("budget must be >= 0")
        self.fn = fn
        self.budget = budget
        self.sign = sign
        self.reject_non_finite = reject_non_finite
        self.accept = accept
        self.calls = 0
        self.best_point: T | None = None
        self.best_value = math.nan

    @property
    def remaining(self) -> int | None:
        """Calls left, or None without a budget."""
        return None if self.budget is None else self.budget - self.calls

    def __call__(self, point: T) -> float:
        if self.budget is not None and self.calls >= self.budget:
            raise BudgetExhausted(f"evaluation budget of {self.budget} calls spent")
        self.calls += 1
        value = float(self.fn(point))
        if not math.isfinite(value):
            if self.reject_non_finite:
                raise NonFiniteObjective(point, value)
            return value
        better = math.isnan(self.best_value) or self.sign * value < self.sign * self.best_value
        if better and (self.accept is None or self.accept(point)):
            self.best_value = value
            self.best_point = copy.copy(point)
        return self.sign * value
