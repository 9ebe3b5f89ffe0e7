"""Generic linear and bounded non-linear problems over scipy.optimize.

Both functions check the returned point against the bounds and constraints themselves
(to ``tolerance``), so a result marked feasible is feasible whatever the optimiser said.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, linprog, minimize
from scipy.stats import qmc

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.budget import BudgetExhausted, CountedFunction, NonFiniteObjective
from pakati_engine.solver.types import SolveResult

BoundsLike = Sequence[tuple[float | None, float | None]] | None
Sense = Literal["minimize", "maximize"]
_OPS = {"<=": "<=", "le": "<=", ">=": ">=", "ge": ">=", "==": "==", "=": "==", "eq": "=="}


def _sign(sense: str) -> float:
    if sense not in ("minimize", "maximize"):
        raise InvalidInputError(f"sense must be 'minimize' or 'maximize', got {sense!r}")
    return 1.0 if sense == "minimize" else -1.0


def _bounds_arrays(bounds: BoundsLike, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if bounds is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    if len(bounds) != n:
        raise InvalidInputError(f"got {len(bounds)} bounds for {n} variables")
    lo = np.array([-np.inf if b[0] is None else float(b[0]) for b in bounds])
    hi = np.array([np.inf if b[1] is None else float(b[1]) for b in bounds])
    if np.any(lo > hi):
        bad = int(np.argmax(lo > hi))
        raise InvalidInputError(f"bound {bad} has lower {lo[bad]} > upper {hi[bad]}")
    return lo, hi


def _linear_rows(
    constraints: Sequence[Any], n: int
) -> tuple[list[list[float]], list[float], list[list[float]], list[float]]:
    """Split constraints into A_ub x <= b_ub and A_eq x = b_eq rows."""
    a_ub: list[list[float]] = []
    b_ub: list[float] = []
    a_eq: list[list[float]] = []
    b_eq: list[float] = []
    for k, con in enumerate(constraints):
        if isinstance(con, LinearConstraint):
            matrix = np.atleast_2d(np.asarray(con.A, dtype=float))
            lb = np.broadcast_to(np.asarray(con.lb, dtype=float), (matrix.shape[0],))
            ub = np.broadcast_to(np.asarray(con.ub, dtype=float), (matrix.shape[0],))
            for row, low, high in zip(matrix, lb, ub, strict=True):
                if low == high:
                    a_eq.append(list(row))
                    b_eq.append(float(low))
                    continue
                if np.isfinite(high):
                    a_ub.append(list(row))
                    b_ub.append(float(high))
                if np.isfinite(low):
                    a_ub.append(list(-row))
                    b_ub.append(float(-low))
            continue
        if not isinstance(con, Mapping) or "coefficients" not in con or "rhs" not in con:
            raise InvalidInputError(
                f"linear constraint {k} must be a scipy LinearConstraint or a dict "
                '{"coefficients": [...], "type": "<=" | ">=" | "==", "rhs": value}'
            )
        coef = [float(c) for c in con["coefficients"]]
        if len(coef) != n:
            raise InvalidInputError(f"linear constraint {k} has {len(coef)} coefficients, not {n}")
        op = _OPS.get(str(con.get("type", "<=")))
        if op is None:
            raise InvalidInputError(f"linear constraint {k}: type must be '<=', '>=' or '=='")
        rhs = float(con["rhs"])
        if op == "<=":
            a_ub.append(coef)
            b_ub.append(rhs)
        elif op == ">=":
            a_ub.append([-c for c in coef])
            b_ub.append(-rhs)
        else:
            a_eq.append(coef)
            b_eq.append(rhs)
    return a_ub, b_ub, a_eq, b_eq


def solve_linear(
    cost: Sequence[float],
    constraints: Sequence[Any] = (),
    bounds: BoundsLike = None,
    sense: Sense = "minimize",
    tolerance: float = 1e-7,
) -> SolveResult:
    """Linear program ``min (or max) cost @ x`` subject to linear constraints, via HiGHS.

    ``constraints`` are dicts ``{"coefficients": [...], "type": "<=" | ">=" | "==",
    "rhs": b}`` or ``scipy.optimize.LinearConstraint``. ``bounds`` default to ``x >= 0``
    (linprog's convention); pass ``(None, None)`` per variable for a free one.
    """
    c = np.asarray(cost, dtype=float)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise InvalidInputError("a linear objective is a non-empty vector of finite costs")
    sign = _sign(sense)
    n = c.size
    lp_bounds = [(0.0, None)] * n if bounds is None else list(bounds)
    lo, hi = _bounds_arrays(lp_bounds, n)
    a_ub, b_ub, a_eq, b_eq = _linear_rows(constraints, n)
    res = linprog(
        sign * c,
        A_ub=np.array(a_ub) if a_ub else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=np.array(a_eq) if a_eq else None,
        b_eq=np.array(b_eq) if b_eq else None,
        bounds=list(zip(lo, hi, strict=True)),
        method="highs",
    )
    if res.status in (2, 3) or res.x is None:
        status = {2: "infeasible", 3: "unbounded"}.get(res.status, "failed")
        explain = {
            "infeasible": "no point satisfies all the constraints and bounds",
            "unbounded": "the objective can be made arbitrarily "
            + ("small" if sign > 0 else "large"),
            "failed": str(res.message),
        }[status]
        return SolveResult(
            sense=sense,
            success=False,
            feasible=status == "unbounded",
            status=status,
            message=f"{status}: {explain}",
            solution=[],
            objective=float("nan"),
            iterations=int(getattr(res, "nit", 0)),
        )
    x = np.asarray(res.x, dtype=float)
    violations = _linear_violations(x, lo, hi, a_ub, b_ub, a_eq, b_eq, tolerance)
    feasible = not violations
    return SolveResult(
        sense=sense,
        success=bool(res.status == 0 and feasible),
        feasible=feasible,
        status="optimal" if res.status == 0 and feasible else "failed",
        message="optimal" if res.status == 0 and feasible else str(res.message),
        solution=[float(v) for v in x],
        objective=float(c @ x),
        iterations=int(getattr(res, "nit", 0)),
        violations=violations,
    )


def _linear_violations(
    x: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    a_ub: list[list[float]],
    b_ub: list[float],
    a_eq: list[list[float]],
    b_eq: list[float],
    tol: float,
) -> dict[str, float]:
    out: dict[str, float] = {}
    scale = 1.0 + float(np.max(np.abs(x))) if x.size else 1.0
    for i in range(x.size):
        excess = max(lo[i] - x[i], x[i] - hi[i], 0.0)
        if excess > tol * scale:
            out[f"bound[{i}]"] = float(excess)
    for k, (row, b) in enumerate(zip(a_ub, b_ub, strict=True)):
        excess = float(np.dot(row, x) - b)
        if excess > tol * scale:
            out[f"inequality[{k}]"] = excess
    for k, (row, b) in enumerate(zip(a_eq, b_eq, strict=True)):
        excess = abs(float(np.dot(row, x) - b))
        if excess > tol * scale:
            out[f"equality[{k}]"] = excess
    return out


def _constraint_violations(
    x: NDArray[np.float64], constraints: Sequence[Mapping[str, Any]], tol: float
) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, con in enumerate(constraints):
        values = np.atleast_1d(np.asarray(con["fun"](x), dtype=float))
        if con["type"] == "eq":
            excess = float(np.max(np.abs(values)))
        else:
            excess = float(np.max(-values, initial=0.0))
        if excess > tol:
            out[f"constraint[{k}]"] = excess
    return out


def solve_nonlinear(
    objective: Callable[[NDArray[np.float64]], float],
    initial_guess: Sequence[float] | None = None,
    bounds: BoundsLike = None,
    constraints: Sequence[Mapping[str, Any]] = (),
    sense: Sense = "minimize",
    method: str = "auto",
    max_evaluations: int | None = None,
    n_starts: int = 1,
    tolerance: float = 1e-6,
) -> SolveResult:
    """Minimise (or maximise) a scalar function of a vector within bounds and constraints.

    Args:
        objective: ``f(x) -> float`` with ``x`` a 1-D float array.
        initial_guess: starting point; moved into the bounds if outside. Without one, the
            middle of the bounds.
        bounds: ``(low, high)`` per variable, None for unbounded sides.
        constraints: scipy-style dicts ``{"type": "ineq" | "eq", "fun": g}`` meaning
            ``g(x) >= 0`` or ``g(x) == 0``.
        sense: "minimize" or "maximize".
        method: "auto" (SLSQP with constraints, otherwise L-BFGS-B), or any scipy
            ``minimize`` method name, e.g. "Nelder-Mead" or "Powell" for noisy objectives.
        max_evaluations: hard cap on objective calls (gradients by finite differences
            count too); the best point seen is returned when it is reached.
        n_starts: extra starts from a scrambled Sobol sequence (seeded) inside the bounds,
            for objectives with several local optima; needs finite bounds.
        tolerance: feasibility tolerance of the final check.
    """
    sign = _sign(sense)
    if initial_guess is None and bounds is None:
        raise InvalidInputError("give an initial_guess, bounds, or both")
    n = len(initial_guess) if initial_guess is not None else len(bounds or [])
    lo, hi = _bounds_arrays(bounds, n)
    if initial_guess is None:
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise InvalidInputError("without an initial_guess every bound must be finite")
        x0 = (lo + hi) / 2.0
    else:
        x0 = np.asarray(initial_guess, dtype=float)
        if x0.shape != (n,) or not np.all(np.isfinite(x0)):
            raise InvalidInputError("initial_guess must be a flat sequence of finite numbers")
    x0 = np.clip(x0, lo, hi)
    for k, con in enumerate(constraints):
        if (
            not isinstance(con, Mapping)
            or con.get("type") not in ("ineq", "eq")
            or "fun" not in con
        ):
            raise InvalidInputError(
                f'constraint {k} must be a dict {{"type": "ineq" | "eq", "fun": callable}}'
            )
    starts = [x0]
    if n_starts > 1:
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise InvalidInputError("n_starts > 1 needs finite bounds")
        sobol = qmc.Sobol(d=n, scramble=True, seed=0).random(n_starts - 1)
        starts += list(qmc.scale(sobol, lo, hi)) if n else []
    chosen = method
    if method == "auto":
        chosen = "SLSQP" if constraints else "L-BFGS-B"

    def violations_of(x: NDArray[np.float64]) -> dict[str, float]:
        out = {
            f"bound[{i}]": float(max(lo[i] - x[i], x[i] - hi[i]))
            for i in range(x.size)
            if max(lo[i] - x[i], x[i] - hi[i]) > tolerance * (1 + abs(x[i]))
        }
        out.update(_constraint_violations(x, constraints, tolerance))
        return out

    counted: CountedFunction[NDArray[np.float64]] = CountedFunction(
        lambda x: objective(np.asarray(x, dtype=float)),
        max_evaluations,
        sign,
        accept=lambda x: not violations_of(np.asarray(x, dtype=float)),
    )
    has_bounds = bool(np.any(np.isfinite(lo)) or np.any(np.isfinite(hi)))
    iterations = 0
    candidates: list[tuple[NDArray[np.float64], float, bool, str]] = []
    stopped = ""
    for start_point in starts:
        try:
            res = minimize(
                counted,
                start_point,
                method=chosen,
                bounds=Bounds(lo, hi) if has_bounds else None,
                constraints=list(constraints) if constraints else (),
            )
        except BudgetExhausted:
            stopped = f"budget of {max_evaluations} evaluations exhausted"
            break
        except NonFiniteObjective as err:
            return SolveResult(
                sense=sense,
                success=False,
                feasible=False,
                status="failed",
                message=f"failed: {err}; the objective must return finite numbers",
                solution=[],
                objective=float("nan"),
                n_evaluations=counted.calls,
            )
        iterations += int(getattr(res, "nit", 0))
        x = np.asarray(res.x, dtype=float)
        candidates.append((x, sign * float(res.fun), bool(res.success), str(res.message)))
    return _finish(candidates, counted, sign, violations_of, stopped, iterations)


def _finish(
    candidates: list[tuple[NDArray[np.float64], float, bool, str]],
    counted: CountedFunction[Any],
    sign: float,
    violations_of: Callable[[NDArray[np.float64]], dict[str, float]],
    stopped: str,
    iterations: int,
) -> SolveResult:
    """Pick the best feasible end point (or best feasible evaluation) and report honestly."""
    feasible_ends = [c for c in candidates if not violations_of(c[0])]
    if feasible_ends:
        x, value, converged, note = min(feasible_ends, key=lambda c: sign * c[1])
        if counted.best_point is not None and sign * counted.best_value < sign * value:
            x, value = np.asarray(counted.best_point, dtype=float), counted.best_value
        status = (
            "optimal"
            if converged and not stopped
            else ("budget_exhausted" if stopped else "failed")
        )
        message = {
            "optimal": "converged to a local optimum",
            "budget_exhausted": f"{stopped}; returning the best feasible point seen",
            "failed": f"optimiser did not report convergence ({note}); "
            "best feasible point returned",
        }[status]
        return SolveResult(
            sense="minimize" if sign > 0 else "maximize",
            success=status != "failed",
            feasible=True,
            status=status,
            message=message,
            solution=[float(v) for v in x],
            objective=float(value),
            n_evaluations=counted.calls,
            iterations=iterations,
        )
    if stopped and counted.best_point is not None:
        return SolveResult(
            sense="minimize" if sign > 0 else "maximize",
            success=True,
            feasible=True,
            status="budget_exhausted",
            message=f"{stopped}; returning the best feasible point seen",
            solution=[float(v) for v in np.asarray(counted.best_point, dtype=float)],
            objective=float(counted.best_value),
            n_evaluations=counted.calls,
            iterations=iterations,
        )
    if not candidates:
        return SolveResult(
            sense="minimize" if sign > 0 else "maximize",
            success=False,
            feasible=False,
            status="budget_exhausted" if stopped else "failed",
            message=f"no feasible point found ({stopped or 'no evaluation'})",
            solution=[],
            objective=float("nan"),
            n_evaluations=counted.calls,
            iterations=iterations,
        )
    x, value, _, _ = min(candidates, key=lambda c: sum(violations_of(c[0]).values()))
    violations = violations_of(x)
    return SolveResult(
        sense="minimize" if sign > 0 else "maximize",
        success=False,
        feasible=False,
        status="infeasible",
        message="infeasible: no feasible point found; the closest violates "
        + ", ".join(f"{k} by {v:.3g}" for k, v in violations.items()),
        solution=[float(v) for v in x],
        objective=float(value),
        n_evaluations=counted.calls,
        iterations=iterations,
        violations=violations,
    )
