"""Constraint rows of the layout problem: normalised coordinates, soft constraints g(z) >= 0.

Coordinates are divided by ``S = max(width, height)``. Each soft constraint is a ``Row``:
either linear in the box coordinates or linear in the box areas; the layout solver adds
slacks to them (see ``layout``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver.placement_types import PlacementSpec, Relation

PENALTY = 100.0
SIZE_WEIGHT = 2.0
MAX_RELAX_ROUNDS = 4
X0, Y0, X1, Y1 = 0, 1, 2, 3
SIDES = ("left_of", "right_of", "above", "below")


@dataclass
class Row:
    """One soft constraint g(z) >= 0: linear (coef @ z + const) or in box areas."""

    label: str
    const: float
    unit: float  # multiply a normalised violation by this to report it
    tol: float  # normalised violation tolerated
    coef: NDArray[np.float64] | None = None
    area_terms: tuple[tuple[int, float], ...] = ()


class LayoutProblem:
    """Normalised problem data and the constraint builders."""

    def __init__(
        self, specs: Sequence[PlacementSpec], canvas: tuple[float, float], margin: float
    ) -> None:
        self.specs = list(specs)
        self.names = [s.name for s in specs]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.width, self.height = float(canvas[0]), float(canvas[1])
        self.scale = max(self.width, self.height)
        self.wn, self.hn = self.width / self.scale, self.height / self.scale
        self.margin = margin / self.scale
        self.n = len(specs)
        self.ref = np.array([c for s in specs for c in s.box], dtype=np.float64) / self.scale
        self.area_unit = self.scale**2 / (self.width * self.height)
        # Distance metric: |Δcentre|^2 + SIZE_WEIGHT * |Δsize|^2 per axis, as a quadratic
        # form in the corner coordinates (x0, x1): Δc = (d0 + d1)/2, Δw = d1 - d0.
        q = np.array(
            [[0.25 + SIZE_WEIGHT, 0.25 - SIZE_WEIGHT], [0.25 - SIZE_WEIGHT, 0.25 + SIZE_WEIGHT]]
        )
        self.quad = np.zeros((4 * self.n, 4 * self.n))
        for i in range(self.n):
            for lo, hi in ((X0, X1), (Y0, Y1)):
                idx = np.array([4 * i + lo, 4 * i + hi])
                self.quad[np.ix_(idx, idx)] = q

    def cost(self, z: NDArray[np.float64], rows: Sequence[Row]) -> float:
        """Distance to the request plus the penalty on the violations of ``rows``."""
        dz = z - self.ref
        viol = np.maximum(0.0, -evaluate_rows(rows, z)) if rows else np.zeros(0)
        return float(dz @ self.quad @ dz + PENALTY * viol.sum())

    def linear(self, label: str, terms: Mapping[tuple[int, int], float], const: float) -> Row:
        coef = np.zeros(4 * self.n)
        for (region, coord), value in terms.items():
            coef[4 * region + coord] += value
        return Row(label, const, self.scale, 0.5 / self.scale, coef=coef)

    def area(self, label: str, terms: Sequence[tuple[int, float]], fraction: float) -> Row:
        """Row sum(c_i * area_i) + fraction-of-canvas constant >= 0."""
        const = fraction / self.area_unit
        return Row(label, const, self.area_unit, 1e-3 / self.area_unit, area_terms=tuple(terms))

    def side(self, label: str, kind: str, a: int, b: int | None, gap: float) -> list[Row]:
        """``a`` entirely ``kind`` of ``b`` (left_of/right_of/above/below), ``gap`` apart."""
        if b is None:
            raise InvalidInputError(f"{label} needs a second region")
        first, second = (a, b) if kind in ("left_of", "above") else (b, a)
        lo, hi = (X0, X1) if kind in ("left_of", "right_of") else (Y0, Y1)
        return [self.linear(label, {(second, lo): 1.0, (first, hi): -1.0}, -gap)]

    def relation_rows(self, rel: Relation) -> list[Row]:
        a = self.index[rel.a]
        b = None if rel.b is None else self.index[rel.b]
        label = rel.label
        if rel.kind in SIDES:
            gap = self.margin if rel.gap is None else rel.gap / self.scale
            return self.side(label, rel.kind, a, b, gap)
        if rel.kind == "centred":
            rows = []
            for axis, lo, hi, extent in (("x", X0, X1, self.wn), ("y", Y0, Y1, self.hn)):
                if rel.axis not in (axis, "both"):
                    continue
                terms = {(a, lo): 0.5, (a, hi): 0.5}
                const = -extent / 2.0
                if b is not None:
                    terms = {(a, lo): 0.5, (a, hi): 0.5, (b, lo): -0.5, (b, hi): -0.5}
                    const = 0.0
                rows.append(self.linear(label, terms, const))
                rows.append(self.linear(label, {k: -v for k, v in terms.items()}, -const))
            return rows
        if rel.kind == "inside":
            gap = 0.0 if rel.gap is None else rel.gap / self.scale
            if b is None:
                return [
                    self.linear(label, {(a, X0): 1.0}, -gap),
                    self.linear(label, {(a, Y0): 1.0}, -gap),
                    self.linear(label, {(a, X1): -1.0}, self.wn - gap),
                    self.linear(label, {(a, Y1): -1.0}, self.hn - gap),
                ]
            return [
                self.linear(label, {(a, X0): 1.0, (b, X0): -1.0}, -gap),
                self.linear(label, {(a, Y0): 1.0, (b, Y0): -1.0}, -gap),
                self.linear(label, {(b, X1): 1.0, (a, X1): -1.0}, -gap),
                self.linear(label, {(b, Y1): 1.0, (a, Y1): -1.0}, -gap),
            ]
        assert b is not None  # relative_size
        low, high = rel.ratio * (1 - rel.tolerance), rel.ratio * (1 + rel.tolerance)
        return [
            self.area(label, [(a, 1.0), (b, -low)], 0.0),
            self.area(label, [(a, -1.0), (b, high)], 0.0),
        ]

    def region_rows(self) -> list[Row]:
        rows: list[Row] = []
        for i, spec in enumerate(self.specs):
            if spec.fixed:
                continue
            if spec.min_area is not None:
                rows.append(self.area(f"min_area({spec.name})", [(i, 1.0)], -spec.min_area))
            if spec.max_area is not None:
                rows.append(self.area(f"max_area({spec.name})", [(i, -1.0)], spec.max_area))
            if self.margin > 0:
                m, label = self.margin, f"margin({spec.name})"
                rows += [
                    self.linear(label, {(i, X0): 1.0}, -m),
                    self.linear(label, {(i, Y0): 1.0}, -m),
                    self.linear(label, {(i, X1): -1.0}, self.wn - m),
                    self.linear(label, {(i, Y1): -1.0}, self.hn - m),
                ]
        return rows


def evaluate_rows(rows: Sequence[Row], z: NDArray[np.float64]) -> NDArray[np.float64]:
    """g(z) for every row."""
    boxes = z.reshape(-1, 4)
    areas = (boxes[:, X1] - boxes[:, X0]) * (boxes[:, Y1] - boxes[:, Y0])
    out = np.empty(len(rows))
    for k, row in enumerate(rows):
        if row.coef is not None:
            out[k] = row.coef @ z + row.const
        else:
            out[k] = sum(c * areas[i] for i, c in row.area_terms) + row.const
    return out


def rows_jacobian(rows: Sequence[Row], z: NDArray[np.float64]) -> NDArray[np.float64]:
    """d g / d z, shape (rows, 4n)."""
    boxes = z.reshape(-1, 4)
    jac = np.zeros((len(rows), z.size))
    for k, row in enumerate(rows):
        if row.coef is not None:
            jac[k] = row.coef
            continue
        for i, c in row.area_terms:
            w = boxes[i, X1] - boxes[i, X0]
            h = boxes[i, Y1] - boxes[i, Y0]
            jac[k, 4 * i : 4 * i + 4] += c * np.array([-h, -w, h, w])
    return jac
