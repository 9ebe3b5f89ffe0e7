"""Reference-guided multi-pass generation (``EnhancedPakatiCanvas.generate_with_refinement``).

Each pass measures, per region and per reference attached to it, the delta analyzer's
similarity on the reference's aspect ("general": the mean of all six), turns the deltas'
suggested adjustments into concrete changes (prompt terms, at most three per pass; the
guidance scale; for colour and general references a palette colour: the reference's main
non-background colour written into the prompt as an adjective, "a circle" -> "a red
circle", see ``pakati_engine.analysis.palette_terms``; a refine strength or a new seed),
and edits only the failing regions with every other pixel kept (regenerate/refine keep
pixels outside the edit byte for byte; regions the user locked are never edited). The best
pass is kept (the canvas goes back to it in its history).

Quality (``target_quality`` is compared with it)::

    quality = (1 - goal_weight) * reference_similarity + goal_weight * goal_alignment

``reference_similarity`` is the mean over regions with references of each region's mean
similarity (weighted by each reference's ``metadata["weight"]``, default 1; canvas-wide
references count as one more "region": the whole image);
``goal_alignment`` is ``goal_scorer(image)`` in [0, 1] when a scorer is given (e.g. the
analytic judge's fraction of correct regions on the shapes world), else the quality is the
reference similarity alone. A region fails when its similarity is below the target.

Strategies (what a pass changes in a failing region):

- ``CONSERVATIVE``: only the single worst failing region per pass, refined (SDEdit) at
  strength 0.35 with the worst aspect's prompt terms; its seed, the guidance and its box
  never change.
- ``ADAPTIVE``: every failing region; a region is first refined at strength 0.6 with prompt
  terms; afterwards it keeps the action (refine or regenerate with a new seed) that raised
  its similarity in its last pass and switches to the other when it did not (chosen per
  region from its measured gains); "change_parameters" suggestions move the guidance scale.
- ``AGGRESSIVE``: every failing region regenerated from scratch with a new seed each pass,
  plus prompt terms and guidance changes.

Box moves (ADAPTIVE and AGGRESSIVE): when a composition reference's delta suggests
``move_region`` (the region's content sits off the reference's position by dx, dy of the
region's size), the region's box is shifted by that much, the layout solver
(``pakati_engine.solver.solve_layout``) keeps it inside the canvas and off the other regions
(which stay fixed), and the region is regenerated at its new box together with the area it
left (drawn from the base prompt), so nothing of the old object stays behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from pakati_engine.analysis.palette_terms import object_colour, recolour_prompt
from pakati_engine.analysis.types import AspectDelta
from pakati_engine.errors import InvalidInputError

if TYPE_CHECKING:
    from pakati.enhanced import EnhancedPakatiCanvas

GoalScorer = Callable[[Image.Image], float]
CONSERVATIVE_STRENGTH = 0.35
ADAPTIVE_STRENGTH = 0.6
MAX_TERMS_PER_PASS = 3
GUIDANCE_RANGE = (1.5, 12.0)
WHOLE = "<canvas>"


class RefinementStrategy(StrEnum):
    CONSERVATIVE = "conservative"
    ADAPTIVE = "adaptive"
    AGGRESSIVE = "aggressive"

    @classmethod
    def parse(cls, value: RefinementStrategy | str) -> RefinementStrategy:
        try:
            return cls(str(value).lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise InvalidInputError(
                f"unknown refinement strategy {value!r}; choose from {valid}"
            ) from None


@dataclass
class RefinementPass:
    index: int
    quality: float
    reference_similarity: float
    goal_alignment: float | None
    region_scores: dict[str, float]
    changes: list[dict[str, Any]] = field(default_factory=list)
    """What was changed to make this pass (empty for the first generation)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pass": self.index,
            "quality": round(self.quality, 4),
            "reference_similarity": round(self.reference_similarity, 4),
            "goal_alignment": None
            if self.goal_alignment is None
            else round(self.goal_alignment, 4),
            "region_scores": {k: round(v, 4) for k, v in self.region_scores.items()},
            "changes": self.changes,
        }


@dataclass
class RefinementResult:
    image: Image.Image
    passes: list[RefinementPass]
    best_pass: int
    target_quality: float
    strategy: RefinementStrategy

    @property
    def quality(self) -> float:
        return self.passes[self.best_pass].quality

    @property
    def reached_target(self) -> bool:
        return self.quality >= self.target_quality

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.value,
            "target_quality": self.target_quality,
            "quality": round(self.quality, 4),
            "reached_target": self.reached_target,
            "best_pass": self.best_pass,
            "passes": [p.to_dict() for p in self.passes],
        }


def _similarity(delta: AspectDelta) -> float:
    return float(delta.similarity)


def _weight(reference: Any) -> float:
    """A reference's weight in the similarity: ``metadata["weight"]`` (default 1; e.g. an
    understood reference's understanding level), never below a small positive floor."""
    try:
        return max(1e-6, float(reference.metadata.get("weight", 1.0)))
    except (TypeError, ValueError):
        return 1.0


class _Refiner:
    def __init__(
        self,
        canvas: EnhancedPakatiCanvas,
        strategy: RefinementStrategy,
        target: float,
        goal_scorer: GoalScorer | None,
        goal_weight: float,
        progress: Callable[[str], None],
    ) -> None:
        self.canvas = canvas
        self.strategy = strategy
        self.target = target
        self.goal_scorer = goal_scorer
        self.goal_weight = goal_weight if goal_scorer is not None else 0.0
        self.progress = progress
        self.last_action: dict[str, str] = {}
        self.gain: dict[str, float] = {}

    def measure(
        self, index: int, changes: list[dict[str, Any]]
    ) -> tuple[RefinementPass, dict[str, list[AspectDelta]]]:
        canvas = self.canvas
        scores: dict[str, float] = {}
        deltas: dict[str, list[AspectDelta]] = {}
        keys: list[str | None] = [r.name for r in canvas.regions if canvas.references_for(r.name)]
        if canvas.references_for(None):
            keys.append(None)
        for key in keys:
            measured = canvas.analyze_deltas(region=key)
            found = [d.delta for d in measured]
            name = WHOLE if key is None else key
            deltas[name] = sorted(found, key=_similarity)
            weights = [_weight(d.reference) for d in measured]
            scores[name] = sum(
                w * _similarity(d) for w, d in zip(weights, found, strict=True)
            ) / sum(weights)
        similarity = sum(scores.values()) / len(scores)
        assert canvas.image is not None
        goal = None if self.goal_scorer is None else float(self.goal_scorer(canvas.image))
        quality = (
            similarity
            if goal is None
            else (1 - self.goal_weight) * similarity + self.goal_weight * goal
        )
        return RefinementPass(index, quality, similarity, goal, scores, changes), deltas

    def failing(self, record: RefinementPass) -> list[str]:
        locked = set(self.canvas.locked)
        names = [r.name for r in self.canvas.regions if r.name not in locked]
        out: list[str] = []
        for name, score in sorted(record.region_scores.items(), key=lambda kv: kv[1]):
            if score >= self.target:
                continue
            if name == WHOLE:  # canvas-wide references: every unlocked region is a suspect
                out.extend(n for n in names if n is not None and n not in out)
            elif name in names and name not in out:
                out.append(name)
        if self.strategy is RefinementStrategy.CONSERVATIVE:
            return out[:1]
        return out

    def apply(self, name: str, deltas: list[AspectDelta], seed: int) -> dict[str, Any]:
        canvas = self.canvas
        prompt = canvas.region_spec(name).prompt
        change: dict[str, Any] = {
            "region": name,
            "worst_aspect": deltas[0].aspect if deltas else None,
        }
        terms: list[str] = []
        guidance = 0.0
        colour = self.palette_colour(name)
        if colour is not None and colour not in prompt.lower().split():
            prompt = recolour_prompt(prompt, colour)
            change["palette_colour"] = colour
        for delta in deltas:
            if delta.aspect == "color" and "palette_colour" in change:
                continue  # the palette rewrite is this aspect's change
            for adjustment in delta.adjustments:
                if adjustment.kind == "add_prompt_terms":
                    terms.extend(t for t in adjustment.terms if t not in prompt and t not in terms)
                elif adjustment.kind == "change_parameters":
                    guidance += float(adjustment.changes.get("guidance_scale", 0.0))
        terms = terms[:MAX_TERMS_PER_PASS]
        if terms:
            prompt = prompt + ", " + ", ".join(terms)
            change["added_terms"] = terms
        if prompt != canvas.region_spec(name).prompt:
            canvas._update_region(name, prompt=prompt)
            change["prompt"] = prompt
        if guidance and self.strategy is not RefinementStrategy.CONSERVATIVE:
            low, high = GUIDANCE_RANGE
            before = float(canvas.guidance_scale or 0.0) or float(
                canvas.load().recommended.get("guidance_scale", 7.5)
            )
            canvas.guidance_scale = min(high, max(low, before + guidance))
            change["guidance_scale"] = [before, canvas.guidance_scale]
        moved = self.move(name, deltas, seed)
        if moved is not None:
            change.update(moved)
            self.last_action[name] = "regenerate"
            return change
        action = self.choose(name)
        if action == "refine":
            strength = (
                CONSERVATIVE_STRENGTH
                if self.strategy is RefinementStrategy.CONSERVATIVE
                else ADAPTIVE_STRENGTH
            )
            canvas.refine(name, strength=strength)
            change.update(action="refine", strength=strength)
        else:
            canvas.regenerate(name, seed=seed)
            change.update(action="regenerate", seed=seed)
        self.last_action[name] = action
        return change

    def move(self, name: str, deltas: list[AspectDelta], seed: int) -> dict[str, Any] | None:
        """Shift ``name``'s box as a composition delta asks (see the module docstring) and
        regenerate it with the area it left; what was done, or None when nothing moved."""
        if self.strategy is RefinementStrategy.CONSERVATIVE:
            return None
        shifts = [
            a.changes
            for d in deltas
            if d.aspect == "composition"
            for a in d.adjustments
            if a.kind == "move_region"
        ]
        canvas = self.canvas
        spec = canvas.region_spec(name)
        if not shifts or spec.box is None:
            return None
        from pakati_engine.solver import PlacementSpec, solve_layout

        x0, y0, x1, y1 = (float(v) for v in spec.box)
        dx = float(shifts[0].get("dx", 0.0)) * (x1 - x0)
        dy = float(shifts[0].get("dy", 0.0)) * (y1 - y0)
        others = []
        for region in canvas.regions:
            other = canvas.region_spec(region)
            if region.name != name and other.box is not None:
                box = tuple(float(v) for v in other.box)
                others.append(PlacementSpec(other.name, box, fixed=True))  # type: ignore[arg-type]
        pairs = [(a.name, b.name) for i, a in enumerate(others) for b in others[i + 1 :]]
        solved = solve_layout(
            [PlacementSpec(name, (x0 + dx, y0 + dy, x1 + dx, y1 + dy)), *others],
            (canvas.width, canvas.height),
            allow_overlap=pairs,
        )
        if not solved.success:
            return {"box_move": f"refused by the layout solver: {solved.message}"}
        new = [round(v) for v in solved.solution[name]]
        old = [int(v) for v in spec.box]
        if new == old:
            return None
        layout = canvas.to_layout()
        vacated = f"{name}-vacated"
        regions = []
        for entry in layout.regions:
            if entry.name == name:
                regions.append(
                    entry.model_copy(
                        update={"box": tuple(old), "prompt": canvas.base_prompt or "background"}
                    ).model_copy(update={"name": vacated, "seed": None})
                )
                regions.append(entry.model_copy(update={"box": tuple(new)}))
            else:
                regions.append(entry)
        canvas.set_layout(layout.model_copy(update={"regions": regions}))
        canvas.regenerate(name, vacated, seed=seed)
        canvas.set_layout(layout.model_copy(update={
            "regions": [r for r in regions if r.name != vacated]
        }))  # fmt: skip
        return {"action": "regenerate", "seed": seed, "box": [old, new]}

    def palette_colour(self, name: str) -> str | None:
        """The object colour of the region's colour/general references (the first one)."""
        for reference in self.canvas.references_for(name) + self.canvas.references_for(None):
            if reference.aspect in ("color", "general"):
                return object_colour(np.asarray(reference.to_pil()))
        return None

    def choose(self, name: str) -> str:
        if self.strategy is RefinementStrategy.CONSERVATIVE:
            return "refine"
        if self.strategy is RefinementStrategy.AGGRESSIVE:
            return "regenerate"
        last, gained = self.last_action.get(name), self.gain.get(name)
        if last is None:
            return "refine"
        if gained is not None and gained > 0:
            return last  # keep what raised the region's similarity
        return "regenerate" if last == "refine" else "refine"


def generate_with_refinement(
    canvas: EnhancedPakatiCanvas,
    max_passes: int = 5,
    target_quality: float = 0.85,
    strategy: RefinementStrategy | str = RefinementStrategy.ADAPTIVE,
    seed: int | None = None,
    goal_scorer: GoalScorer | None = None,
    goal_weight: float = 0.3,
    progress: Callable[[str], None] | None = None,
) -> RefinementResult:
    """Generate, then refine failing regions until ``target_quality`` or ``max_passes``
    passes (the first generation counts as pass 0 and is not among them)."""
    chosen = RefinementStrategy.parse(strategy)
    if max_passes < 0:
        raise InvalidInputError(f"max_passes must be >= 0, got {max_passes}")
    if not 0.0 <= target_quality <= 1.0:
        raise InvalidInputError(f"target_quality must be in [0, 1], got {target_quality}")
    if not 0.0 <= goal_weight <= 1.0:
        raise InvalidInputError(f"goal_weight must be in [0, 1], got {goal_weight}")
    if not canvas.references:
        raise InvalidInputError(
            "no references: add_reference_image first (refinement measures against them)"
        )
    say = progress or (lambda message: None)
    refiner = _Refiner(canvas, chosen, target_quality, goal_scorer, goal_weight, say)
    canvas.generate(seed=seed)
    record, deltas = refiner.measure(0, [])
    passes = [record]
    entries = [canvas.history.head]
    say(f"pass 0: quality {record.quality:.3f}")
    base_seed = int(canvas.seed or 0)
    for index in range(1, max_passes + 1):
        if record.quality >= target_quality:
            break
        failing = refiner.failing(record)
        if not failing:
            break
        changes = [
            refiner.apply(
                name, deltas.get(name, deltas.get(WHOLE, [])), base_seed + 7919 * index + i
            )
            for i, name in enumerate(failing)
        ]
        previous = record
        record, deltas = refiner.measure(index, changes)
        for name in failing:
            if name in record.region_scores and name in previous.region_scores:
                refiner.gain[name] = record.region_scores[name] - previous.region_scores[name]
        passes.append(record)
        entries.append(canvas.history.head)
        say(f"pass {index}: quality {record.quality:.3f} ({len(failing)} region(s) changed)")
    best = max(range(len(passes)), key=lambda i: passes[i].quality)
    if entries[best] != canvas.history.head and entries[best] is not None:
        canvas.history.head = entries[best]
        entry = canvas.history.current
        assert entry is not None
        canvas._restore(entry)
    assert canvas.image is not None
    return RefinementResult(canvas.image, passes, best, target_quality, chosen)
