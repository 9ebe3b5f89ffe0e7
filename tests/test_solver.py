"""Solver: generic LP/NLP with known optima, layout, palettes, feathering, parameter search."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import LinearConstraint
from skimage.color import rgb2lab

from pakati_engine.errors import InvalidInputError
from pakati_engine.solver import (
    PlacementSpec,
    Relation,
    Solver,
    harmonize_palettes,
    search_parameters,
    solve_feather,
    solve_layout,
)

# --- generic problems ---------------------------------------------------------------


def test_lp_reaches_the_known_vertex() -> None:
    # max x + 2y  s.t.  x + y <= 4,  x + 3y <= 6,  x, y >= 0   ->  (3, 1), value 5
    res = Solver().solve(
        problem_type="linear",
        objective_function=[1.0, 2.0],
        constraints=[
            {"coefficients": [1, 1], "type": "<=", "rhs": 4},
            {"coefficients": [1, 3], "type": "<=", "rhs": 6},
        ],
        sense="maximize",
    )
    assert res.success and res.status == "optimal"
    assert res["solution"] == pytest.approx([3.0, 1.0], abs=1e-7)
    assert res.objective == pytest.approx(5.0)


def test_lp_accepts_scipy_constraints_and_equalities() -> None:
    # min x + y  s.t.  x - y == 1,  x in [0, 10], y in [2, 10]  ->  (3, 2)
    res = Solver().solve(
        "linear",
        objective_function=[1.0, 1.0],
        constraints=[LinearConstraint([[1.0, -1.0]], 1.0, 1.0)],
        bounds=[(0, 10), (2, 10)],
    )
    assert res.success
    assert res.solution == pytest.approx([3.0, 2.0])


def test_infeasible_and_unbounded_lps_say_so() -> None:
    infeasible = Solver().solve(
        "linear", objective_function=[1, 1], constraints=[{"coefficients": [1, 1], "rhs": -1}]
    )
    assert not infeasible.success and infeasible.status == "infeasible"
    assert infeasible.solution == [] and "infeasible" in infeasible.message
    unbounded = Solver().solve("linear", objective_function=[-1.0, 0.0])
    assert not unbounded.success and unbounded.status == "unbounded"


def test_product_description_example_with_interior_minimum() -> None:
    def f(x: np.ndarray) -> float:
        return float((x[0] - 9.0) ** 2 + ((x[1] - 30.0) / 10.0) ** 2)

    solution = Solver().solve(
        problem_type="nonlinear",
        objective_function=f,
        initial_guess=[7.5, 50],
        bounds=[(5.0, 15.0), (20, 100)],
        sense="minimize",
    )
    assert solution["success"] and solution["feasible"]
    assert solution["solution"][0] == pytest.approx(9.0, abs=1e-3)
    assert solution["solution"][1] == pytest.approx(30.0, abs=1e-2)
    assert solution["objective"] == pytest.approx(0.0, abs=1e-6)
    assert dict(solution)["n_evaluations"] > 0


def test_quadratic_with_minimum_outside_the_box_stops_at_the_bound() -> None:
    res = Solver().solve(
        "nonlinear",
        objective_function=lambda x: (x[0] - 20.0) ** 2 + (x[1] - 10.0) ** 2,
        initial_guess=[7.5, 50],
        bounds=[(5.0, 15.0), (20, 100)],
        sense="minimize",
    )
    assert res.success
    assert res.solution == pytest.approx([15.0, 20.0], abs=1e-6)


def test_the_descriptions_call_maximises_a_quality_score() -> None:
    """``objective_function=quality_score`` as the product description writes it finds the
    best quality, not the worst; a cost needs ``sense="minimize"``, and results say which."""

    def quality_score(x: np.ndarray) -> float:  # best at guidance 9, 30 steps
        return float(1.0 - (x[0] - 9.0) ** 2 / 100 - ((x[1] - 30.0) / 100) ** 2)

    best = Solver().solve(
        problem_type="nonlinear",
        objective_function=quality_score,
        initial_guess=[7.5, 50],
        bounds=[(5.0, 15.0), (20, 100)],
    )
    assert best["sense"] == "maximize"
    assert best["solution"] == pytest.approx([9.0, 30.0], abs=1e-2)
    assert best["objective"] == pytest.approx(1.0, abs=1e-6)
    worst = Solver().solve(
        "nonlinear",
        objective_function=quality_score,
        initial_guess=[7.5, 50],
        bounds=[(5.0, 15.0), (20, 100)],
        sense="minimize",
    )
    assert worst.sense == "minimize" and worst.objective < best.objective
    assert Solver().solve("linear", objective_function=[1.0], bounds=[(0, 1)]).sense == "minimize"
    with pytest.raises(InvalidInputError, match="sense must be"):
        Solver().solve(
            "nonlinear", objective_function=quality_score, initial_guess=[1, 1], sense="up"
        )


def test_maximise_reports_the_maximum() -> None:
    res = Solver().solve(
        "nonlinear",
        objective_function=lambda x: -((x[0] - 2.0) ** 2) + 3.0,
        initial_guess=[0.0],
        bounds=[(-5, 5)],
        sense="maximize",
    )
    assert res.solution == pytest.approx([2.0], abs=1e-4)
    assert res.objective == pytest.approx(3.0, abs=1e-6)


def test_constrained_minimum_and_infeasible_constraints() -> None:
    ok = Solver().solve(
        "nonlinear",
        objective_function=lambda x: x[0] ** 2 + x[1] ** 2,
        initial_guess=[3.0, 0.0],
        constraints=[{"type": "ineq", "fun": lambda x: x[0] + x[1] - 2.0}],
        sense="minimize",
    )
    assert ok.success and ok.solution == pytest.approx([1.0, 1.0], abs=1e-4)
    bad = Solver().solve(
        "nonlinear",
        objective_function=lambda x: x[0] ** 2,
        initial_guess=[0.5],
        bounds=[(0.0, 1.0)],
        constraints=[{"type": "ineq", "fun": lambda x: x[0] - 2.0}],
        sense="minimize",
    )
    assert not bad.success and not bad.feasible and bad.status == "infeasible"
    assert "constraint[0]" in bad.violations


def test_nonlinear_budget_is_never_exceeded() -> None:
    calls = 0

    def f(x: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return float(np.sum((x - 3.0) ** 2))

    res = Solver().solve(
        "nonlinear",
        objective_function=f,
        initial_guess=[0.0] * 4,
        max_evaluations=7,
        sense="minimize",
    )
    assert calls <= 7 and res.n_evaluations == calls
    assert res.status == "budget_exhausted" and res.feasible


def test_non_finite_objective_is_a_clear_failure() -> None:
    res = Solver().solve("nonlinear", objective_function=lambda x: math.nan, initial_guess=[1.0])
    assert not res.success and "finite" in res.message


def test_unknown_problem_type() -> None:
    with pytest.raises(InvalidInputError, match="unknown problem_type"):
        Solver().solve("quantum", objective_function=None)


# --- layout -------------------------------------------------------------------------

W, H = 1024, 768


def _holds(
    rel: Relation, boxes: dict[str, tuple[float, float, float, float]], tol: float = 0.5
) -> bool:
    a = boxes[rel.a]
    b = boxes[rel.b] if rel.b else (0.0, 0.0, float(W), float(H))
    gap = rel.gap or 0.0
    if rel.kind == "left_of":
        return a[2] + gap <= b[0] + tol
    if rel.kind == "right_of":
        return b[2] + gap <= a[0] + tol
    if rel.kind == "above":
        return a[3] + gap <= b[1] + tol
    if rel.kind == "below":
        return b[3] + gap <= a[1] + tol
    if rel.kind == "inside":
        return (
            a[0] >= b[0] - tol and a[1] >= b[1] - tol and a[2] <= b[2] + tol and a[3] <= b[3] + tol
        )
    if rel.kind == "centred":
        return (
            abs((a[0] + a[2]) - (b[0] + b[2])) / 2 <= tol
            and abs((a[1] + a[3]) - (b[1] + b[3])) / 2 <= tol
        )
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return abs(area(a) / area(b) - rel.ratio) <= rel.ratio * rel.tolerance + 1e-3


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def test_satisfiable_six_region_layout_holds_every_relation() -> None:
    requested = {
        "sky": (0, 0, 1024, 420),
        "mountain": (0, 300, 1024, 768),
        "sun": (600, 40, 760, 200),
        "tree": (80, 380, 320, 700),
        "house": (260, 430, 520, 700),
        "lake": (480, 480, 1000, 760),
    }
    relations = [
        Relation("above", "sky", "mountain"),
        Relation("inside", "sun", "sky"),
        Relation("left_of", "tree", "house"),
        Relation("left_of", "house", "lake"),
        Relation("centred", "sun", axis="x"),
        Relation("relative_size", "lake", "house", ratio=2.0, tolerance=0.1),
    ]
    overlap_ok = {("tree", "mountain"), ("house", "mountain"), ("lake", "mountain")}
    res = solve_layout(requested, (W, H), relations, margin=8, allow_overlap=overlap_ok)
    assert res.success and res.feasible and res.status == "optimal" and res.relaxed == []
    boxes = res.solution
    for rel in relations:
        if rel.kind == "centred":
            sun = boxes["sun"]
            assert abs((sun[0] + sun[2]) / 2 - W / 2) <= 0.5
        else:
            assert _holds(rel, boxes), rel.label
    for (n1, b1), (n2, b2) in itertools.combinations(boxes.items(), 2):
        pair = {n1, n2}
        if any(pair == set(p) for p in overlap_ok) or pair == {"sun", "sky"}:
            continue
        assert _overlap(b1, b2) == 0.0, pair
    for x0, y0, x1, y1 in boxes.values():
        assert 8 - 0.5 <= x0 < x1 <= W - 8 + 0.5 and 8 - 0.5 <= y0 < y1 <= H - 8 + 0.5
    # The layout stays close to the request: the sun only needed centring.
    assert boxes["sun"][1] == pytest.approx(40, abs=1) and boxes["sun"][3] == pytest.approx(
        200, abs=1
    )


def test_feasible_request_is_returned_unchanged() -> None:
    requested = {"a": (10.0, 10.0, 100.0, 100.0), "b": (200.0, 10.0, 300.0, 100.0)}
    res = solve_layout(requested, (400, 300), ["a left_of b"])
    assert res.feasible
    for name, box in requested.items():
        assert res.solution[name] == pytest.approx(box, abs=1e-4)


def test_contradictory_relations_are_relaxed_and_named() -> None:
    requested = {"a": (0, 0, 100, 100), "b": (50, 0, 150, 100)}
    res = solve_layout(requested, (400, 300), ["a left_of b", "b left_of a"])
    assert res.success and not res.feasible and res.status == "relaxed"
    assert len(res.relaxed) == 1 and res.relaxed[0] in ("left_of(a, b)", "left_of(b, a)")
    assert res.relaxed[0] in res.message
    kept = Relation.parse("b left_of a" if res.relaxed[0] == "left_of(a, b)" else "a left_of b")
    assert _holds(kept, res.solution)
    # Relaxing gives the constraint up; it does not squash the boxes to shrink the violation.
    for x0, y0, x1, y1 in res.solution.values():
        assert x1 - x0 > 50 and y1 - y0 > 50


def test_areas_that_cannot_fit_are_reported() -> None:
    regions = [
        PlacementSpec(n, (i * 100.0, 0.0, i * 100.0 + 90.0, 90.0), min_area=0.5)
        for i, n in enumerate("xyz")
    ]
    res = solve_layout(regions, (300, 300), [])
    assert res.success and not res.feasible
    assert any(label.startswith(("min_area", "no_overlap")) for label in res.relaxed)


def test_hard_infeasibility_returns_no_layout() -> None:
    res = solve_layout([PlacementSpec("big", (0, 0, 10, 10), min_size=500)], (400, 300))
    assert not res.success and res.status == "infeasible" and res.solution == {}
    assert "min_size" in res.message


def test_fixed_region_does_not_move() -> None:
    regions = [
        PlacementSpec("locked", (100, 100, 200, 200), fixed=True),
        PlacementSpec("free", (150, 150, 250, 250)),
    ]
    res = solve_layout(regions, (400, 400))
    assert res.feasible and res.solution["locked"] == pytest.approx((100, 100, 200, 200))
    # SLSQP may stop ~1e-10 px past the edge (seen on some CPUs): a 1e-6 px^2 tolerance.
    assert _overlap(res.solution["locked"], res.solution["free"]) < 1e-6


def test_layout_errors_name_the_problem() -> None:
    with pytest.raises(InvalidInputError, match="unknown region 'moon'"):
        solve_layout({"sky": (0, 0, 10, 10)}, (100, 100), ["moon above sky"])
    with pytest.raises(InvalidInputError, match="x1 > x0"):
        solve_layout({"sky": (10, 0, 0, 10)}, (100, 100))


def test_layout_through_the_solver_facade() -> None:
    res = Solver().solve(
        "layout",
        initial_guess={"a": (0, 0, 50, 50), "b": (0, 0, 50, 50)},
        bounds=(200, 100),
        constraints=["a right_of b"],
    )
    assert res["feasible"] and res["solution"]["a"][0] >= res["solution"]["b"][2] - 0.5


# --- colour coherence ---------------------------------------------------------------


def _hue(rgb: tuple[int, int, int]) -> float:
    lab = rgb2lab(np.array([[rgb]], dtype=float) / 255.0)[0, 0]
    return math.degrees(math.atan2(lab[2], lab[1])) % 360.0


def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    return rgb2lab(np.array([[rgb]], dtype=float) / 255.0)[0, 0]


def test_complementary_scheme_puts_hues_180_degrees_apart() -> None:
    palettes = {"sky": [(70, 110, 190)], "field": [(190, 150, 60)]}
    res = harmonize_palettes(palettes, scheme="complementary", max_delta=100.0)
    assert res.success and res.status == "optimal"
    diff = abs(_hue(res.solution["sky"][0]) - _hue(res.solution["field"][0])) % 360.0
    assert min(diff, 360 - diff) == pytest.approx(180.0, abs=3.0)


def test_change_per_colour_is_bounded() -> None:
    palettes = {"a": [(200, 40, 40), (40, 200, 40)], "b": [(40, 40, 200), (120, 120, 120)]}
    res = harmonize_palettes(palettes, scheme="monochromatic", base_hue=0.0, max_delta=5.0)
    assert res.status == "bounded" and "max_delta" in res.message
    for name, colors in palettes.items():
        for old, new in zip(colors, res.solution[name], strict=True):
            assert np.linalg.norm(_lab(old) - _lab(new)) <= 5.0 + 1.0  # + uint8 rounding
    assert res.solution["b"][1] == (120, 120, 120)  # neutral grey is left alone


def test_reference_scheme_moves_toward_the_reference_palette() -> None:
    reference = [(230, 150, 40), (60, 40, 120)]
    palettes = {"sky": [(200, 130, 80)]}
    res = harmonize_palettes(
        palettes, scheme="reference", reference_palette=reference, max_delta=8.0
    )
    before = np.linalg.norm(_lab((200, 130, 80)) - _lab(reference[0]))
    after = np.linalg.norm(_lab(res.solution["sky"][0]) - _lab(reference[0]))
    assert after < before - 6.0


# --- feathering ---------------------------------------------------------------------


def _half_mask(n: int = 96) -> np.ndarray:
    mask = np.zeros((n, n), bool)
    mask[:, n // 2 :] = True
    return mask


def test_flat_colours_get_the_widest_feather() -> None:
    a = np.full((96, 96, 3), (40, 60, 200), np.uint8)
    b = np.full((96, 96, 3), (220, 180, 40), np.uint8)
    res = solve_feather(a, b, _half_mask(), bounds=(0, 20))
    assert res.solution == pytest.approx(20.0) and res.cost < res.hard_cost / 5


def test_unrelated_textures_with_equal_mean_keep_a_hard_edge() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    res = solve_feather(a, b, _half_mask(), bounds=(0, 20))
    assert res.solution == pytest.approx(0.0, abs=0.5)


def test_textures_with_different_tone_get_an_interior_optimum() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random((96, 96, 3)) * 60 + 30).astype(np.uint8)
    b = (rng.random((96, 96, 3)) * 60 + 160).astype(np.uint8)
    res = Solver().solve("blending", image_a=a, image_b=b, mask=_half_mask(), bounds=(0, 24))
    assert 1.0 < res.solution < 24.0
    assert res.cost <= min(res.curve.values()) + 1e-12
    assert res.cost < res.hard_cost


# --- parameter search ---------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 5, 17, 40])
def test_parameter_search_never_exceeds_its_budget(budget: int) -> None:
    calls = 0

    def score(p: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return (
            -((p["guidance_scale"] - 6.5) ** 2)
            - ((p["steps"] - 42) / 10) ** 2
            - (p["strength"] - 0.6) ** 2
        )

    res = search_parameters(
        score, budget=budget, initial={"guidance_scale": 7.5, "steps": 50, "strength": 0.8}
    )
    assert calls <= budget and res.n_evaluations == calls and len(res.history) == calls
    assert res.success and float(res.solution["steps"]).is_integer()
    if budget >= 40:
        assert res.solution["guidance_scale"] == pytest.approx(6.5, abs=1.0)
        assert res.solution["steps"] == pytest.approx(42, abs=10)


def test_repeated_points_do_not_spend_budget() -> None:
    calls = 0

    def score(p: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return p["steps"]

    res = Solver().solve(
        "parameters", objective_function=score, bounds={"steps": (10, 12)}, budget=50
    )
    assert calls <= 3 and res.solution == {"steps": 12.0} and res.status == "converged"


def test_nan_scores_count_as_worst_and_still_use_budget() -> None:
    res = search_parameters(
        lambda p: math.nan if p["guidance_scale"] > 8 else p["guidance_scale"],
        budget=12,
        space={"guidance_scale": (1.0, 15.0)},
    )
    assert res.n_evaluations <= 12
    assert res.solution["guidance_scale"] <= 8.0
