"""The Reference Understanding Engine: understanding a reference = reconstructing it from
partial observations, measured against a trivial filler and an oracle.

``learn_reference`` splits the masking strategies into *training* strategies (what the
learner is shown) and *held-out* strategies (what it is tested on): by default every second
strategy of the list is held out. Each attempt shows the learner one more training
observation (half hidden, a new seed); what it learns is a description of the reference
(background colour and every object it has seen whole, with its box: a Pakati layout, the
"pathway") inferred analytically from the union of the pixels it has seen. It then
reconstructs every held-out observation with the model (keep-mask sampling) under that
description, and each reconstruction is scored on the hidden pixels only
(``pakati_engine.understanding.scoring``). Per observation the level is
``(S_learner - S_trivial) / (S_oracle - S_trivial)``, clipped to [0, 1], where the trivial
filler is biharmonic inpainting and the oracle is the model given the true description
(``metadata["scene"]`` when the reference has one, else the description read from the whole
reference). The understanding level is the mean over held-out observations; mastery is
declared when its one-sided 95% lower bound reaches ``MASTERY`` (0.85). Learning stops at
mastery or after ``max_attempts``; Ctrl-C keeps the best attempt so far.

``use_understood_reference`` turns an understanding into guidance for a new picture (see
``pakati.transfer``). Not done here: textual inversion (a learned token), so lighting and
style do not transfer; SD latent-space reconstruction is untested (the same code runs, but
its masks act on 8x8 latent cells).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pakati.transfer import IterativeRefinementEngine, UnderstoodGuidance, make_guidance
from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.errors import InvalidInputError
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.understanding import (
    MASKING_STRATEGIES,
    Observation,
    SceneDescription,
    check_strategies,
    infer_description,
    lower_bound,
    observe,
    reconstruct,
    score_hidden,
    trivial_fill,
    understanding_level,
)

MASTERY = 0.85
TRAINING_DIFFICULTY = 0.5
Progress = Callable[[str], None]

__all__ = [
    "MASKING_STRATEGIES",
    "MASTERY",
    "IterativeRefinementEngine",
    "ReferenceImage",
    "ReferenceUnderstanding",
    "ReferenceUnderstandingEngine",
]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class ReferenceUnderstanding:
    """What ``learn_reference`` found; ``to_dict()`` is its JSON form."""

    reference_id: str
    reference_path: str
    understanding_level: float
    level_lower_bound: float
    mastery_achieved: bool
    training_strategies: list[str]
    held_out_strategies: list[str]
    strategy_scores: dict[str, dict[str, Any]]
    attempts: list[dict[str, Any]]
    description: SceneDescription
    oracle_description: SceneDescription
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_id": self.reference_id,
            "reference": self.reference_path,
            "understanding_level": round(self.understanding_level, 4),
            "level_lower_bound": round(self.level_lower_bound, 4),
            "mastery_achieved": self.mastery_achieved,
            "training_strategies": self.training_strategies,
            "held_out_strategies": self.held_out_strategies,
            "strategy_scores": self.strategy_scores,
            "attempts": self.attempts,
            "pathway": self.description.to_dict(),
            "oracle_description": self.oracle_description.to_dict(),
            "notes": self.notes,
            "interrupted": self.interrupted,
        }


@dataclass
class _Case:
    observation: Observation
    trivial: float
    oracle: float


class ReferenceUnderstandingEngine:
    """Learns references by reconstruction (see the module docstring).

    Args:
        canvas_interface: a canvas whose model and size are used (``load()``, ``width``,
            ``height``); or give ``model`` (a ``ModelBundle``) and ``size``.
        difficulties: held-out difficulty levels (fractions hidden).
        eval_seeds: held-out mask seeds (training masks use other seeds).
        steps: denoising steps per reconstruction (None: the model's recommendation).
        progress: called with one line per attempt (default: printed to stderr).
    """

    def __init__(
        self,
        canvas_interface: Any = None,
        *,
        model: ModelBundle | None = None,
        size: int = 128,
        difficulties: Sequence[float] = (0.5,),
        eval_seeds: Sequence[int] = (0,),
        steps: int | None = None,
        progress: Progress | None = _stderr,
    ) -> None:
        if canvas_interface is None and model is None:
            raise InvalidInputError("give canvas_interface= (a canvas) or model= (a ModelBundle)")
        self.canvas = canvas_interface
        self._model = model
        self.size = (
            (canvas_interface.width, canvas_interface.height) if canvas_interface else (size, size)
        )
        self.difficulties = tuple(difficulties)
        self.eval_seeds = tuple(eval_seeds)
        self.steps = steps
        self.progress = progress or (lambda message: None)
        self.understood: dict[str, ReferenceUnderstanding] = {}

    @property
    def bundle(self) -> ModelBundle:
        if self._model is None:
            self._model = self.canvas.load()
        return self._model

    # Helpers ---------------------------------------------------------------------------

    def _image(self, reference: ReferenceImage, notes: list[str]) -> NDArray[np.uint8]:
        image = reference.to_pil()
        if image.size != self.size:
            notes.append(
                f"the reference is {image.width}x{image.height}; resized to "
                f"{self.size[0]}x{self.size[1]} (the canvas size)"
            )
            image = image.resize(self.size)
        return np.asarray(image, dtype=np.uint8)

    def _layout_settings(self) -> dict[str, Any]:
        recommended = self.bundle.recommended
        settings: dict[str, Any] = {
            k: recommended[k] for k in ("guidance_scale", "scheduler") if k in recommended
        }
        if self.steps is not None:
            settings["steps"] = self.steps
        return settings

    def _reconstruct(self, description: SceneDescription, obs: Observation) -> NDArray[np.uint8]:
        width, height = self.size
        layout = description.to_layout(
            width, height, self.bundle.source, seed=obs.seed, **self._layout_settings()
        )
        return reconstruct(self.bundle, obs, layout)

    @staticmethod
    def split(strategies: Sequence[str]) -> tuple[list[str], list[str]]:
        """(training, held-out): every second strategy is held out; one strategy is both."""
        names = list(strategies)
        if len(names) == 1:
            return names, names
        return names[0::2], names[1::2]

    # Learning --------------------------------------------------------------------------

    def learn_reference(
        self,
        reference: ReferenceImage | str | Path,
        masking_strategies: Sequence[str] = MASKING_STRATEGIES,
        max_attempts: int = 15,
        seed: int = 0,
    ) -> ReferenceUnderstanding:
        """Learn ``reference`` until mastery or ``max_attempts`` (see the module docstring)."""
        if not isinstance(reference, ReferenceImage):
            reference = ReferenceImage(Path(reference))
        strategies = check_strategies(list(masking_strategies))
        if max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be at least 1, got {max_attempts}")
        notes: list[str] = []
        image = self._image(reference, notes)
        self._truth_image = image
        everything = np.ones(image.shape[:2], bool)
        if "scene" in reference.metadata:
            oracle = SceneDescription.from_dict(reference.metadata["scene"])
        else:
            oracle = infer_description(image, everything)
            notes.append(
                "no metadata['scene']: the oracle is the description read from the reference"
            )
        training, held_out = self.split(strategies)
        if training == held_out:
            notes.append("one strategy: it is both trained on and tested on (nothing held out)")
        cases = self._cases(image, oracle, held_out, seed)
        seen = np.zeros(image.shape[:2], bool)
        attempts: list[dict[str, Any]] = []
        best: tuple[float, SceneDescription, list[float]] | None = None
        interrupted = False
        cache: dict[tuple[Any, ...], float] = {}
        try:
            for attempt in range(max_attempts):
                strategy = training[attempt % len(training)]
                shown = observe(image, strategy, TRAINING_DIFFICULTY, seed + 1000 + attempt)
                if shown.inpaint:
                    seen |= ~shown.hidden
                description = (
                    infer_description(image, seen)
                    if seen.any()
                    else SceneDescription(oracle.background)
                )
                levels = self._levels(description, cases, oracle, cache)
                level = float(np.mean(levels)) if levels else 0.0
                bound = lower_bound(levels) if levels else 0.0
                attempts.append(
                    {
                        "attempt": attempt + 1,
                        "shown": strategy,
                        "seen_fraction": round(float(seen.mean()), 4),
                        "objects_known": len(description.objects),
                        "level": round(level, 4),
                        "lower_bound": round(bound, 4),
                    }
                )
                self.progress(
                    f"attempt {attempt + 1}/{max_attempts}: shown {strategy}, seen "
                    f"{seen.mean():.0%}, level {level:.3f} (lower bound {bound:.3f})"
                )
                if (
                    best is None
                    or bound > best[0]
                    or (bound == best[0] and level > np.mean(best[2] or [0]))
                ):
                    best = (bound, description, levels)
                if bound >= MASTERY:
                    break
        except KeyboardInterrupt:
            interrupted = True
            notes.append("interrupted: the best attempt so far is kept")
        if best is None:
            raise InvalidInputError("learning was interrupted before the first attempt finished")
        bound, description, levels = best
        level = float(np.mean(levels)) if levels else 0.0
        scores = self._strategy_scores(
            image, oracle, description, strategies, held_out, seed, cases, cache
        )
        result = ReferenceUnderstanding(
            reference_id=reference.sha256[:12],
            reference_path=str(reference.path),
            understanding_level=level,
            level_lower_bound=bound,
            mastery_achieved=bound >= MASTERY,
            training_strategies=training,
            held_out_strategies=held_out,
            strategy_scores=scores,
            attempts=attempts,
            description=description,
            oracle_description=oracle,
            notes=notes,
            interrupted=interrupted,
        )
        self.understood[result.reference_id] = result
        return result

    def use_understood_reference(
        self,
        reference_id: str,
        target_prompt: str = "",
        transfer_aspects: Sequence[str] = ("color_harmony", "composition"),
    ) -> UnderstoodGuidance:
        """Guidance for ``EnhancedPakatiCanvas.generate_with_understanding`` (see
        ``pakati.transfer`` for what each aspect transfers)."""
        if reference_id not in self.understood:
            known = ", ".join(self.understood) or "none yet"
            raise InvalidInputError(
                f"no understood reference {reference_id!r} (understood: {known}); "
                "call learn_reference first"
            )
        return make_guidance(
            self.understood[reference_id], target_prompt, tuple(transfer_aspects), self.size
        )

    def _cases(
        self,
        image: NDArray[np.uint8],
        oracle: SceneDescription,
        strategies: Sequence[str],
        seed: int,
    ) -> list[_Case]:
        cases = []
        for strategy in strategies:
            for difficulty in self.difficulties:
                for eval_seed in self.eval_seeds:
                    obs = observe(image, strategy, difficulty, seed + eval_seed)
                    trivial = score_hidden(trivial_fill(obs), image, obs.hidden, oracle).score
                    told = self._reconstruct(oracle, obs)
                    best = score_hidden(told, image, obs.hidden, oracle).score
                    cases.append(_Case(obs, trivial, best))
        return cases

    def _levels(
        self,
        description: SceneDescription,
        cases: Sequence[_Case],
        oracle: SceneDescription,
        cache: dict[tuple[Any, ...], float],
    ) -> list[float]:
        image_levels = []
        for case in cases:
            obs = case.observation
            key = (repr(description), obs.strategy, obs.difficulty, obs.seed)
            if key not in cache:
                reference = self._truth_image
                rebuilt = self._reconstruct(description, obs)
                cache[key] = score_hidden(rebuilt, reference, obs.hidden, oracle).score
            level = understanding_level(cache[key], case.trivial, case.oracle)
            if level is not None:
                image_levels.append(float(np.clip(level, 0.0, 1.0)))
        return image_levels

    def _strategy_scores(
        self,
        image: NDArray[np.uint8],
        oracle: SceneDescription,
        description: SceneDescription,
        strategies: Sequence[str],
        held_out: Sequence[str],
        seed: int,
        cases: list[_Case],
        cache: dict[tuple[Any, ...], float],
    ) -> dict[str, dict[str, Any]]:
        trained = [s for s in strategies if s not in held_out]
        all_cases = cases + self._cases(image, oracle, trained, seed)
        out: dict[str, dict[str, Any]] = {}
        for strategy in strategies:
            mine = [c for c in all_cases if c.observation.strategy == strategy]
            by_difficulty: dict[str, Any] = {}
            levels = []
            for case in mine:
                level = self._levels(description, [case], oracle, cache)
                key = (
                    repr(description),
                    strategy,
                    case.observation.difficulty,
                    case.observation.seed,
                )
                by_difficulty[f"{case.observation.difficulty}@seed{case.observation.seed}"] = {
                    "hidden_fraction": round(case.observation.hidden_fraction, 4),
                    "learner": round(cache[key], 4),
                    "trivial": round(case.trivial, 4),
                    "oracle": round(case.oracle, 4),
                    "level": round(level[0], 4) if level else None,
                }
                levels.extend(level)
            out[strategy] = {
                "held_out": strategy in held_out,
                "level": round(float(np.mean(levels)), 4) if levels else None,
                "by_difficulty": by_difficulty,
            }
        return out
