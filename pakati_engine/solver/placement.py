"""Layout solver: the nearest arrangement of region boxes that honours the requested relations.

Formulation. Coordinates are divided by ``S = max(width, height)`` so that distances are
isotropic and of order 1. The variables are the 4 coordinates of every box plus one slack
``s_k >= 0`` per soft constraint ``g_k(z) >= 0``, which is posed as ``g_k(z) + s_k >= 0``.
SLSQP minimises

    sum over boxes of |z - requested|^2  +  M * sum_k s_k        (M = 100)

The L1 penalty is exact: when the soft constraints can all hold, the optimum has every
slack at 0 and is the nearest feasible layout (in squared distance); when they cannot,
only a few slacks become positive and those name the constraints that were relaxed.

Hard constraints (never relaxed): boxes inside the canvas, widths/heights at least
``min_size``, fixed regions unchanged. Soft constraints: the relations, region area
limits, the canvas margin and non-overlap.

Non-overlap of two boxes is a disjunction (a left of b, or right of, or above, or below),
which no smooth solver can express. Each pair gets the side that needs the least movement
from the requested boxes, and a local search then tries the other three sides for every
pair whose separation had to be relaxed, keeping any change that lowers the penalised
objective. The final layout is verified constraint by constraint; anything violated by more
than half a pixel (or 0.1 % of the canvas area for area limits) is reported as relaxed, so
the reported state is the measured state of the returned boxes, not the solver's belief.

Performance note: SLSQP's small dense linear algebra goes through OpenBLAS. On a busy
2-core machine OpenBLAS's threads make a 6-region solve about 20x slower (0.5 s instead of
0.03 s); run with ``OPENBLAS_NUM_THREADS=1`` (set before numpy is imported) for layout work.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.placement_constraints import (
    MAX_RELAX_ROUNDS,
    PENALTY,
    SIDES,
    X0,
    X1,
    Y0,
    Y1,
    LayoutProblem,
    Row,
    evaluate_rows,
    rows_jacobian,
)
from pakati_engine.solver.placement_types import Box, LayoutResult, PlacementSpec, Relation


def _solve_once(
    prob: LayoutProblem, rows: Sequence[Row], start: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """Minimise distance + penalty * slack for fixed rows; return (boxes, penalised cost)."""
    # One slack per constraint label (all rows of e.g. "inside(sun, sky)" share it): fewer
    # variables make each SLSQP iteration much cheaper.
    labels = list(dict.fromkeys(r.label for r in rows))
    share = np.zeros((len(rows), len(labels)))
    for k, row in enumerate(rows):
        share[k, labels.index(row.label)] = 1.0
    n4, m = 4 * prob.n, len(labels)
    bounds: list[tuple[float | None, float | None]] = []
    for i, spec in enumerate(prob.specs):
        for coord in range(4):
            extent = prob.wn if coord in (X0, X1) else prob.hn
            if spec.fixed:
                value = prob.ref[4 * i + coord]
                bounds.append((value, value))
            else:
                bounds.append((0.0, extent))
    bounds += [(0.0, None)] * m
    min_sizes = np.array([s.min_size / prob.scale for s in prob.specs])
    movable = [i for i, s in enumerate(prob.specs) if not s.fixed]

    def objective(v: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        dz = v[:n4] - prob.ref
        qdz = prob.quad @ dz
        grad = np.concatenate([2.0 * qdz, np.full(m, PENALTY)])
        return float(dz @ qdz + PENALTY * v[n4:].sum()), grad

    def soft(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return evaluate_rows(rows, v[:n4]) + share @ v[n4:]

    def soft_jac(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.hstack([rows_jacobian(rows, v[:n4]), share])

    def hard(v: NDArray[np.float64]) -> NDArray[np.float64]:
        boxes = v[:n4].reshape(-1, 4)[movable]
        sizes = min_sizes[movable]
        return np.concatenate(
            [boxes[:, X1] - boxes[:, X0] - sizes, boxes[:, Y1] - boxes[:, Y0] - sizes]
        )

    hard_jac = np.zeros((2 * len(movable), n4 + m))  # constant: sizes are linear
    for r, i in enumerate(movable):
        hard_jac[r, 4 * i + X0], hard_jac[r, 4 * i + X1] = -1.0, 1.0
        k = r + len(movable)
        hard_jac[k, 4 * i + Y0], hard_jac[k, 4 * i + Y1] = -1.0, 1.0

    slack0 = np.zeros(m)
    if m:
        need = np.maximum(0.0, -evaluate_rows(rows, start))
        slack0 = (share * need[:, None]).max(axis=0)
    constraints = []
    if rows:
        constraints.append({"type": "ineq", "fun": soft, "jac": soft_jac})
    if movable:
        constraints.append({"type": "ineq", "fun": hard, "jac": lambda v: hard_jac})
    res = minimize(
        objective,
        np.concatenate([start, slack0]),
        jac=True,
        method="SLSQP",
        bounds=bounds,
        constraints=constraints,
        options={"maxiter": 500, "ftol": 1e-12},
    )
    z = np.asarray(res.x[:n4], dtype=np.float64)
    return z, prob.cost(z, rows)


def _start_point(prob: LayoutProblem) -> NDArray[np.float64]:
    z = prob.ref.copy().reshape(-1, 4)
    for i, spec in enumerate(prob.specs):
        size = spec.min_size / prob.scale
        for lo, hi, extent in ((X0, X1, prob.wn), (Y0, Y1, prob.hn)):
            a, b = np.clip([z[i, lo], z[i, hi]], 0.0, extent)
            if b - a < size:
                centre = np.clip((a + b) / 2.0, size / 2.0, extent - size / 2.0)
                a, b = centre - size / 2.0, centre + size / 2.0
            z[i, lo], z[i, hi] = a, b
    return z.ravel()


def _pairs_to_separate(
    prob: LayoutProblem,
    relations: Sequence[Relation],
    allow_overlap: bool | Iterable[tuple[str, str]],
) -> list[tuple[int, int]]:
    if allow_overlap is True:
        return []
    allowed = set()
    if allow_overlap is not False:
        allowed = {frozenset(p) for p in allow_overlap}
    for rel in relations:
        if rel.b is not None and rel.kind in (*SIDES, "inside"):
            allowed.add(frozenset((rel.a, rel.b)))
    pairs = []
    for i, j in itertools.combinations(range(prob.n), 2):
        if frozenset((prob.names[i], prob.names[j])) in allowed:
            continue
        if prob.specs[i].fixed and prob.specs[j].fixed:
            continue
        pairs.append((i, j))
    return pairs


def _best_side(prob: LayoutProblem, i: int, j: int) -> int:
    """Index into SIDES of the separation needing the least movement from the request."""
    a, b = prob.ref[4 * i : 4 * i + 4], prob.ref[4 * j : 4 * j + 4]
    need = [a[X1] - b[X0], b[X1] - a[X0], a[Y1] - b[Y0], b[Y1] - a[Y0]]
    return int(np.argmin(need))


def _overlap_rows(
    prob: LayoutProblem, pairs: Sequence[tuple[int, int]], sides: Sequence[int]
) -> list[Row]:
    rows: list[Row] = []
    for (i, j), side in zip(pairs, sides, strict=True):
        label = f"no_overlap({prob.names[i]}, {prob.names[j]})"
        rows += prob.side(label, SIDES[side], i, j, prob.margin)
    return rows


def _as_box(value: Sequence[float]) -> Box:
    if len(value) != 4:
        raise InvalidInputError(f"a box is (x0, y0, x1, y1), got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]), float(value[3]))


def _to_specs(regions: Sequence[PlacementSpec] | Mapping[str, Box]) -> list[PlacementSpec]:
    if isinstance(regions, Mapping):
        specs = [PlacementSpec(name=str(k), box=_as_box(v)) for k, v in regions.items()]
    else:
        specs = list(regions)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"region names must be unique, got {names}")
    if not specs:
        raise InvalidInputError("no regions to lay out")
    return specs


def _hard_problems(prob: LayoutProblem) -> list[str]:
    problems = []
    for spec in prob.specs:
        x0, y0, x1, y1 = spec.box
        if spec.min_size > min(prob.width, prob.height):
            problems.append(f"{spec.name}: min_size {spec.min_size:g} px exceeds the canvas")
        if spec.fixed and (x0 < 0 or y0 < 0 or x1 > prob.width or y1 > prob.height):
            problems.append(f"{spec.name}: fixed box {spec.box} lies outside the canvas")
        if spec.fixed and min(x1 - x0, y1 - y0) < spec.min_size:
            problems.append(f"{spec.name}: fixed box is smaller than its min_size")
    return problems


def solve_layout(
    regions: Sequence[PlacementSpec] | Mapping[str, Box],
    canvas: tuple[float, float],
    relations: Sequence[Relation | str] = (),
    margin: float = 0.0,
    allow_overlap: bool | Iterable[tuple[str, str]] = False,
    max_rounds: int = 3,
) -> LayoutResult:
    """Place or resize region boxes inside a ``(width, height)`` canvas.

    Args:
        regions: ``PlacementSpec``s, or a mapping of region name to requested box.
        canvas: (width, height) in pixels.
        relations: ``Relation``s or strings such as ``"sky above ground"``.
        margin: minimum distance (px) from the canvas edge and between separated boxes.
        allow_overlap: True to allow any overlap, or pairs of names that may overlap
            (pairs related by ``inside`` may always overlap).
        max_rounds: rounds of the non-overlap side search.

    Returns:
        A :class:`LayoutResult`; see the module docstring for the method.

    Raises:
        InvalidInputError: malformed boxes, unknown region names, bad canvas or margin.
    """
    if canvas[0] <= 0 or canvas[1] <= 0:
        raise InvalidInputError(f"canvas size must be positive, got {canvas}")
    if margin < 0:
        raise InvalidInputError(f"margin must be >= 0, got {margin}")
    specs = _to_specs(regions)
    rels = [Relation.parse(r) if isinstance(r, str) else r for r in relations]
    prob = LayoutProblem(specs, canvas, margin)
    for rel in rels:
        for name in (rel.a, rel.b):
            if name is not None and name not in prob.index:
                raise InvalidInputError(
                    f"relation {rel.label} names unknown region {name!r}; regions: {prob.names}"
                )
    hard = _hard_problems(prob)
    if hard:
        return LayoutResult(
            success=False,
            feasible=False,
            status="infeasible",
            message="infeasible: the hard constraints cannot hold: " + "; ".join(hard),
            solution={},
        )

    base_rows = [row for rel in rels for row in prob.relation_rows(rel)] + prob.region_rows()
    pairs = _pairs_to_separate(prob, rels, allow_overlap)
    sides = [_best_side(prob, i, j) for i, j in pairs]
    dropped: set[str] = set()
    z = _start_point(prob)
    solves = 0
    for _ in range(MAX_RELAX_ROUNDS):
        rows = [r for r in base_rows + _overlap_rows(prob, pairs, sides) if r.label not in dropped]
        z, sides, n = _search_sides(prob, rows, base_rows, pairs, sides, dropped, z, max_rounds)
        solves += n
        rows = [r for r in base_rows + _overlap_rows(prob, pairs, sides) if r.label not in dropped]
        violated = _violated(rows, z)
        if not violated:
            break
        # Drop the constraints that had to give way and find the nearest layout for the
        # rest: relaxing means giving a constraint up, not squeezing every box to shrink
        # its violation.
        dropped |= violated
    all_rows = base_rows + _overlap_rows(prob, pairs, sides)
    return _report(prob, all_rows, z, solves)


def _violated(rows: Sequence[Row], z: NDArray[np.float64]) -> set[str]:
    if not rows:
        return set()
    g = evaluate_rows(rows, z)
    return {row.label for row, value in zip(rows, g, strict=True) if -value > row.tol}


def _search_sides(
    prob: LayoutProblem,
    rows: list[Row],
    base_rows: Sequence[Row],
    pairs: Sequence[tuple[int, int]],
    sides: list[int],
    dropped: set[str],
    start: NDArray[np.float64],
    max_rounds: int,
) -> tuple[NDArray[np.float64], list[int], int]:
    """Solve, then try other separation sides for pairs whose separation was violated."""

    def rows_for(s: Sequence[int]) -> list[Row]:
        all_rows = list(base_rows) + _overlap_rows(prob, pairs, s)
        return [r for r in all_rows if r.label not in dropped]

    z, cost = _solve_once(prob, rows, start)
    solves = 1
    for _ in range(max_rounds):
        improved = False
        g = evaluate_rows(_overlap_rows(prob, pairs, sides), z) if pairs else np.zeros(0)
        for p in [k for k in range(len(pairs)) if g[k] < -0.5 / prob.scale]:
            for alternative in range(4):
                if alternative == sides[p]:
                    continue
                trial = [*sides[:p], alternative, *sides[p + 1 :]]
                z_t, cost_t = _solve_once(prob, rows_for(trial), z)
                solves += 1
                if cost_t < cost - 1e-9:
                    z, cost, sides, improved = z_t, cost_t, trial, True
        if not improved:
            break
    return z, sides, solves


def _report(
    prob: LayoutProblem, rows: Sequence[Row], z: NDArray[np.float64], solves: int
) -> LayoutResult:
    boxes = z.reshape(-1, 4) * prob.scale
    boxes[:, [X0, X1]] = np.clip(boxes[:, [X0, X1]], 0.0, prob.width)
    boxes[:, [Y0, Y1]] = np.clip(boxes[:, [Y0, Y1]], 0.0, prob.height)
    hard = [
        spec.name
        for spec, box in zip(prob.specs, boxes, strict=True)
        if min(box[X1] - box[X0], box[Y1] - box[Y0]) < spec.min_size - 1e-3
    ]
    if hard:
        return LayoutResult(
            success=False,
            feasible=False,
            status="infeasible",
            message="infeasible: the solver could not keep minimum sizes of " + ", ".join(hard),
            solution={},
            solves=solves,
        )
    g = evaluate_rows(rows, boxes.ravel() / prob.scale) if rows else np.zeros(0)
    violations: dict[str, float] = {}
    for row, value in zip(rows, g, strict=True):
        if -value > row.tol:
            violations[row.label] = max(violations.get(row.label, 0.0), float(-value * row.unit))
    solution = {
        name: tuple(float(c) for c in box) for name, box in zip(prob.names, boxes, strict=True)
    }
    ref = prob.ref.reshape(-1, 4) * prob.scale
    moved = {
        name: float(np.linalg.norm(b - r))
        for name, b, r in zip(prob.names, boxes, ref, strict=True)
    }
    relaxed = sorted(violations)
    if relaxed:
        details = ", ".join(f"{k} by {violations[k]:.3g}" for k in relaxed)
        message = f"no layout satisfies every constraint; nearest layout relaxes: {details}"
    else:
        message = f"all {len({r.label for r in rows})} constraints hold"
    return LayoutResult(
        success=True,
        feasible=not relaxed,
        status="relaxed" if relaxed else "optimal",
        message=message,
        solution=solution,  # type: ignore[arg-type]
        relaxed=relaxed,
        violations=violations,
        displacement=moved,
        solves=solves,
    )
