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

Learning is also textual inversion (``inversion``, on by default for SD1.x-shaped models):
each attempt runs a round of optimisation of a new token ``<ref-ID>`` on the pixels seen so
far (``pakati_engine.understanding.inversion``), with the token in the pathway's base prompt,
and the held-out reconstructions are drawn with it; the learning curve is that of the
description and the token together. The result reports what the token adds: held-out scores
and whole-image reproduction of the pathway with and without it (``token_report``,
``pathway_reproduction``), and the token's nearest vocabulary words.

Understandings are saved by reference id (``pakati.understanding_store``: JSON plus the
token as diffusers-format safetensors) and found again in another process.
``use_understood_reference`` turns an understanding into guidance for a new picture (see
``pakati.transfer``).
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
from pakati.understanding_store import UnderstandingStore
from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.diffusion.pipeline import RegionalDiffusionPipeline
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
from pakati_engine.understanding.inversion import InversionSettings, LearnedToken, token_for
from pakati_engine.understanding.knowledge import knowledge

MASTERY = 0.85
DEFAULT_INVERSION = InversionSettings()
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
    model: str = ""
    token: str | None = None
    """The learned token (``<ref-ID>``), None when none was learned."""
    embedding_path: str | None = None
    """Where the token's embedding is saved (diffusers textual-inversion safetensors)."""
    token_report: dict[str, Any] = field(default_factory=dict)
    pathway_reproduction: dict[str, Any] = field(default_factory=dict)
    knowledge: dict[str, Any] = field(default_factory=dict)
    """Palette, object boxes and composition centroid (``understanding.knowledge``)."""

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
            "model": self.model,
            "token": self.token,
            "embedding": self.embedding_path,
            "token_report": self.token_report,
            "pathway_reproduction": self.pathway_reproduction,
            "knowledge": self.knowledge,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceUnderstanding:
        """The inverse of ``to_dict`` (for stored understandings)."""
        return cls(
            reference_id=str(data["reference_id"]),
            reference_path=str(data["reference"]),
            understanding_level=float(data["understanding_level"]),
            level_lower_bound=float(data["level_lower_bound"]),
            mastery_achieved=bool(data["mastery_achieved"]),
            training_strategies=list(data["training_strategies"]),
            held_out_strategies=list(data["held_out_strategies"]),
            strategy_scores=dict(data["strategy_scores"]),
            attempts=list(data["attempts"]),
            description=SceneDescription.from_dict(data["pathway"]),
            oracle_description=SceneDescription.from_dict(data["oracle_description"]),
            notes=list(data.get("notes", [])),
            interrupted=bool(data.get("interrupted", False)),
            model=str(data.get("model", "")),
            token=data.get("token"),
            embedding_path=data.get("embedding"),
            token_report=dict(data.get("token_report", {})),
            pathway_reproduction=dict(data.get("pathway_reproduction", {})),
            knowledge=dict(data.get("knowledge", {})),
        )


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
        inversion: how the token is learned each attempt; None learns no token.
        store: where understandings are saved and found by id (default: the user's store,
            ``$PAKATI_HOME/understood``); ``save=False`` keeps them in memory only.
        reproduction_seeds: seeds of the whole-image reproductions of the pathway.
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
        inversion: InversionSettings | None = DEFAULT_INVERSION,
        store: UnderstandingStore | str | Path | None = None,
        save: bool = True,
        reproduction_seeds: Sequence[int] = (0, 1),
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
        self.inversion = inversion
        self.store = store if isinstance(store, UnderstandingStore) else UnderstandingStore(store)
        self.save = save
        self.reproduction_seeds = tuple(reproduction_seeds)
        self.tokens: dict[str, LearnedToken] = {}

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

    def _layout(
        self, description: SceneDescription, seed: int, token: LearnedToken | None = None
    ) -> Any:
        """The pathway layout, with ``token`` at the end of its base prompt."""
        width, height = self.size
        layout = description.to_layout(
            width, height, self.bundle.source, seed=seed, **self._layout_settings()
        )
        if token is not None:
            layout = layout.model_copy(update={"base_prompt": f"{layout.base_prompt} {token.text}"})
        return layout

    def _reconstruct(
        self, description: SceneDescription, obs: Observation, token: LearnedToken | None = None
    ) -> NDArray[np.uint8]:
        bundle = token.bundle if token is not None else self.bundle
        return reconstruct(bundle, obs, self._layout(description, obs.seed, token))

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
        reference_id = reference.sha256[:12]
        everything = np.ones(image.shape[:2], bool)
        if "scene" in reference.metadata:
            oracle = SceneDescription.from_dict(reference.metadata["scene"])
        else:
            oracle = infer_description(image, everything)
            notes.append(
                "no metadata['scene']: the oracle is the description read from the reference"
            )
        token = self._new_token(reference_id, notes)
        training, held_out = self.split(strategies)
        if training == held_out:
            notes.append("one strategy: it is both trained on and tested on (nothing held out)")
        cases = self._cases(image, oracle, held_out, seed)
        seen = np.zeros(image.shape[:2], bool)
        attempts: list[dict[str, Any]] = []
        best: tuple[float, SceneDescription, list[float], Any] | None = None
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
                loss = None
                if token is not None and seen.any():
                    layout = self._layout(description, seed + attempt, token)
                    loss = token.train_round(image, seen, layout)
                levels = self._levels(description, cases, oracle, cache, token)
                level = float(np.mean(levels)) if levels else 0.0
                bound = lower_bound(levels) if levels else 0.0
                attempts.append(
                    {
                        "attempt": attempt + 1,
                        "shown": strategy,
                        "seen_fraction": round(float(seen.mean()), 4),
                        "objects_known": len(description.objects),
                        "token_steps": token.steps_done if token is not None else 0,
                        "token_loss": None if loss is None else round(loss, 6),
                        "level": round(level, 4),
                        "lower_bound": round(bound, 4),
                    }
                )
                self.progress(
                    f"attempt {attempt + 1}/{max_attempts}: shown {strategy}, seen "
                    f"{seen.mean():.0%}, level {level:.3f} (lower bound {bound:.3f})"
                    + (f", token loss {loss:.5f}" if loss is not None else "")
                )
                if (
                    best is None
                    or bound > best[0]
                    or (bound == best[0] and level > np.mean(best[2] or [0]))
                ):
                    vectors = token.vectors.detach().clone() if token is not None else None
                    best = (bound, description, levels, vectors)
                if bound >= MASTERY:
                    break
        except KeyboardInterrupt:
            interrupted = True
            notes.append("interrupted: the best attempt so far is kept")
        if best is None:
            raise InvalidInputError("learning was interrupted before the first attempt finished")
        bound, description, levels, vectors = best
        if token is not None and vectors is not None:
            token.vectors.data.copy_(vectors)
        level = float(np.mean(levels)) if levels else 0.0
        scores = self._strategy_scores(
            image, oracle, description, strategies, held_out, seed, cases, cache, token
        )
        result = ReferenceUnderstanding(
            reference_id=reference_id,
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
            model=self.bundle.source,
            token=token.token if token is not None else None,
        )
        result.pathway_reproduction = self._reproduction(image, description, oracle, token)
        result.knowledge = knowledge(image, description)
        if token is not None:
            result.knowledge["token_nearest_words"] = token.nearest_words(5)
        if token is not None:
            result.token_report = self._token_report(description, cases, oracle, cache, token)
        self.understood[result.reference_id] = result
        if token is not None:
            self.tokens[result.reference_id] = token
        if self.save:
            folder = self.store.save(result, token)
            self.progress(f"saved {result.reference_id} to {folder}")
        return result

    def _new_token(self, reference_id: str, notes: list[str]) -> LearnedToken | None:
        if self.inversion is None:
            return None
        if self.bundle.kind != "sd":
            notes.append(
                f"no token learned: textual inversion needs an SD1.x-shaped model, "
                f"{self.bundle.source!r} is {self.bundle.kind.upper()}"
            )
            return None
        return LearnedToken(self.bundle, token_for(reference_id), "background", self.inversion)

    def _reproduction(
        self,
        image: NDArray[np.uint8],
        description: SceneDescription,
        oracle: SceneDescription,
        token: LearnedToken | None,
    ) -> dict[str, Any]:
        """Whole-image reproduction of the reference by its pathway (generated from noise,
        every pixel scored), with and without the token, and by the token alone."""
        from pakati_engine.generation import request_from_layout

        everything = np.ones(image.shape[:2], bool)
        arms: dict[str, tuple[SceneDescription, LearnedToken | None]] = {
            "pathway": (description, None)
        }
        if token is not None:
            arms["pathway_with_token"] = (description, token)
            arms["token_only"] = (SceneDescription(description.background), token)
        out: dict[str, Any] = {"seeds": list(self.reproduction_seeds)}
        for name, (words, learned) in arms.items():
            scores = []
            for seed in self.reproduction_seeds:
                layout = self._layout(words, seed, learned)
                if name == "token_only" and learned is not None:
                    layout = layout.model_copy(update={"base_prompt": learned.text})
                bundle = learned.bundle if learned is not None else self.bundle
                drawn = RegionalDiffusionPipeline(bundle)(
                    request_from_layout(layout, bundle.recommended)
                ).image
                picture = np.asarray(drawn.convert("RGB"), dtype=np.uint8)
                scores.append(score_hidden(picture, image, everything, oracle).score)
            out[name] = round(float(np.mean(scores)), 4)
        return out

    def _token_report(
        self,
        description: SceneDescription,
        cases: Sequence[_Case],
        oracle: SceneDescription,
        cache: dict[tuple[Any, ...], float],
        token: LearnedToken,
    ) -> dict[str, Any]:
        """What the token adds on the held-out observations, and what it is near."""
        from pakati_engine.world.colors import COLOR_NAMES
        from pakati_engine.world.sampling import SHAPES

        self._levels(description, cases, oracle, cache, None)
        self._levels(description, cases, oracle, cache, token)
        without = [cache[self._key(description, c.observation, None)] for c in cases]
        with_token = [cache[self._key(description, c.observation, token)] for c in cases]
        world = [*COLOR_NAMES, *SHAPES, "background"]
        return {
            "token": token.token,
            "vectors": token.settings.vectors,
            "steps": token.steps_done,
            "round_losses": [round(v, 6) for v in token.losses],
            "held_out_score_pathway": round(float(np.mean(without)), 4) if without else None,
            "held_out_score_pathway_with_token": (
                round(float(np.mean(with_token)), 4) if with_token else None
            ),
            "nearest_words": token.nearest_words(5),
            "nearest_world_words": token.nearest_words(3, world),
        }

    def use_understood_reference(
        self,
        reference_id: str,
        target_prompt: str = "",
        transfer_aspects: Sequence[str] = ("color_harmony", "composition"),
        token_weight: float = 1.0,
    ) -> UnderstoodGuidance:
        """Guidance for ``EnhancedPakatiCanvas.generate_with_understanding`` (see
        ``pakati.transfer`` for what each aspect transfers); the learned token enters the
        base prompt at ``token_weight`` (prompt weighting, ``(<ref-ID>:w)``)."""
        return make_guidance(
            self.understanding(reference_id),
            target_prompt,
            tuple(transfer_aspects),
            self.size,
            token_weight,
        )

    def understanding(self, reference_id: str) -> ReferenceUnderstanding:
        """The understanding of ``reference_id``: learned in this engine, else loaded from
        the store (learned by another process); a clear error when there is none."""
        if reference_id not in self.understood:
            self.understood[reference_id] = self.store.load(reference_id)
        return self.understood[reference_id]

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
        token: LearnedToken | None = None,
    ) -> list[float]:
        image_levels = []
        for case in cases:
            obs = case.observation
            key = self._key(description, obs, token)
            if key not in cache:
                reference = self._truth_image
                rebuilt = self._reconstruct(description, obs, token)
                cache[key] = score_hidden(rebuilt, reference, obs.hidden, oracle).score
            level = understanding_level(cache[key], case.trivial, case.oracle)
            if level is not None:
                image_levels.append(float(np.clip(level, 0.0, 1.0)))
        return image_levels

    @staticmethod
    def _key(
        description: SceneDescription, obs: Observation, token: LearnedToken | None
    ) -> tuple[Any, ...]:
        """A reconstruction's cache key: the token changes with every round it trains."""
        learned = (
            None
            if token is None
            else (token.token, token.steps_done, round(float(token.vectors.detach().sum()), 6))
        )
        return (repr(description), obs.strategy, obs.difficulty, obs.seed, repr(learned))

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
        token: LearnedToken | None = None,
    ) -> dict[str, dict[str, Any]]:
        trained = [s for s in strategies if s not in held_out]
        all_cases = cases + self._cases(image, oracle, trained, seed)
        out: dict[str, dict[str, Any]] = {}
        for strategy in strategies:
            mine = [c for c in all_cases if c.observation.strategy == strategy]
            by_difficulty: dict[str, Any] = {}
            levels = []
            for case in mine:
                level = self._levels(description, [case], oracle, cache, token)
                key = self._key(description, case.observation, token)
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
