"""The model registry: which image models are usable now, and choosing one per task.

Selection is two stages, each stated: hard filters (an image model; usable now: weights
present, key set, not offline; the task; the mask behaviour needed; the size), then a
ranking of what is left in a fixed order: the user's preference, Pakati's own measured
quality (measured models first), cost, then latency. The choice comes with a sentence
saying why, and every rejected model with the reason it was rejected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.providers.cards import BUILTIN_CARDS, ModelCard, card_from_folder
from pakati_engine.providers.keys import KEY_NAMES, ProviderAccess, provider_access
from pakati_engine.providers.types import ImageProvider, Task


@dataclass(frozen=True)
class Availability:
    card: ModelCard
    available: bool
    reason: str


@dataclass(frozen=True)
class Need:
    """What a task needs. ``tasks``: acceptable tasks, best first."""

    tasks: tuple[Task, ...] = ("edit", "image-to-image", "text-to-image")
    mask: str = "any"  # "pixel-exact" or "any"
    size: tuple[int, int] | None = None
    local_only: bool = False
    preference: tuple[str, ...] = ()


@dataclass
class Choice:
    card: ModelCard
    reason: str
    rejected: dict[str, str] = field(default_factory=dict)


class Registry:
    """Cards (built-in, then the user's, which override by id) and their availability."""

    def __init__(
        self,
        cards: Sequence[ModelCard] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        dotenv: str | Path | None = ".env",
        trust_env_file: bool = False,
        offline: bool | None = None,
        user_cards: bool = True,
    ) -> None:
        by_id: dict[str, ModelCard] = {}
        base = list(BUILTIN_CARDS if cards is None else cards)
        if user_cards:
            from pakati_engine.providers.cards import load_user_cards

            base += load_user_cards()
        for card in base:
            by_id[card.id] = card
        self.cards = list(by_id.values())
        self.env = dict(os.environ if env is None else env)
        self.dotenv = dotenv
        self.trust_env_file = trust_env_file
        flag = self.env.get("PAKATI_OFFLINE", "").strip().lower() in ("1", "true", "yes")
        self.offline = flag if offline is None else offline
        self._measured: dict[str, float | None] = {}
        self._derived: dict[str, ModelCard] = {}

    # Cards ------------------------------------------------------------------------------

    def card(self, name: str) -> ModelCard | None:
        """The card of ``name`` (an id or alias, any case); ``replicate:owner/name`` derived
        from the model's published schema; else of a local model folder."""
        lowered = name.strip().lower()
        for card in self.cards:
            if lowered in (n.lower() for n in card.names()):
                return card
        if lowered.startswith("replicate:"):
            return self._replicate_card(name.strip())
        try:
            from pakati_engine.models.catalog import resolve_model

            location = resolve_model(name)
        except (ModelNotFoundError, InvalidInputError, OSError):
            return None
        if location.is_dir():
            return card_from_folder(name, location)
        return ModelCard(
            id=name,
            provider="local",
            offline=True,
            seed=True,
            deterministic=True,
            tasks=["text-to-image", "edit", "image-to-image"],
            mask="pixel-exact",
            note=f"single-file checkpoint {location}",
            source="folder",
        )

    def _replicate_card(self, name: str) -> ModelCard:
        """The card derived from the model's ``openapi_schema`` (one GET, remembered); with
        no token or offline, a card saying so (its availability names the reason)."""
        from pakati_engine.providers.replicate_cards import PREFIX, fetch_card

        remote_id = name[len(PREFIX) :]
        if name not in self._derived:
            try:
                access = None if self.offline else self.access("replicate")
            except InvalidInputError:  # a .env base URL not trusted: availability says so
                access = None
            if access is None or access.key is None:
                return ModelCard(
                    id=f"{PREFIX}{remote_id}",
                    provider="replicate",
                    remote_id=remote_id,
                    key_env=list(KEY_NAMES["replicate"]),
                    note="its inputs are read from Replicate when a token is set",
                    source="schema",
                )
            self._derived[name] = fetch_card(access, remote_id)
        return self._derived[name]

    def require(self, name: str) -> ModelCard:
        card = self.card(name)
        if card is None:
            known = ", ".join(c.id for c in self.cards)
            raise InvalidInputError(
                f"unknown model {name!r}: not a known card ({known}) nor a local model folder, "
                "checkpoint or cached hub id. Add a card (PAKATI_MODEL_CARDS) or fix the name"
            )
        return card

    def access(self, provider: str) -> ProviderAccess:
        return provider_access(provider, self.env, self.dotenv, trust_env_file=self.trust_env_file)

    # Availability -----------------------------------------------------------------------

    def availability(self, card: ModelCard) -> Availability:
        def no(reason: str) -> Availability:
            return Availability(card, False, reason)

        if card.kind != "image":
            return no(card.note or "not an image model")
        if card.provider == "none":
            return no(card.note or "no API Pakati can call")
        if card.provider == "local":
            return self._local_availability(card)
        if self.offline:
            return no("offline (PAKATI_OFFLINE is set): a remote service is not called")
        try:
            access = self.access(card.provider)
        except InvalidInputError as error:
            return no(str(error))
        if access.key is None:
            names = " or ".join(KEY_NAMES[card.provider])
            return no(f"no key: set {names} (environment or .env)")
        where = "" if access.official else f" at {access.base_url}"
        return Availability(card, True, f"key {access.key_name}{where}")

    def _local_availability(self, card: ModelCard) -> Availability:
        if card.source == "folder":
            return Availability(card, True, card.note or "local model")
        if card.id == "tiny-random":
            return Availability(card, True, "built locally on first use")
        from pakati_engine.models.catalog import resolve_model

        try:
            location = resolve_model(card.id)
        except ModelNotFoundError as error:
            return Availability(card, False, f"no weights: {error}")
        return Availability(card, True, f"weights at {location}")

    def list(self) -> list[Availability]:
        return [self.availability(self.measured(card)) for card in self.cards]

    def measured(self, card: ModelCard) -> ModelCard:
        """``card`` with Pakati's own measured quality where its local folder records one
        (the embedded model's ``pakati.json``), so ranking can use it."""
        if card.provider != "local" or card.quality is not None or card.source != "builtin":
            return card
        if card.id not in self._measured:
            from pakati_engine.models.catalog import resolve_model

            quality = None
            try:
                location = resolve_model(card.id)
                if location.is_dir() and (location / "pakati.json").is_file():
                    quality = card_from_folder(card.id, location).quality
            except (ModelNotFoundError, InvalidInputError, OSError):
                pass
            self._measured[card.id] = quality
        quality = self._measured[card.id]
        return card if quality is None else card.model_copy(update={"quality": quality})

    # Selection --------------------------------------------------------------------------

    def select(self, need: Need, candidates: Sequence[ModelCard] | None = None) -> Choice:
        """The best usable model for ``need``; InvalidInputError naming why none is."""
        rejected: dict[str, str] = {}
        usable: list[ModelCard] = []
        for card in self.cards if candidates is None else candidates:
            card = self.measured(card)
            why = self._rejection(card, need)
            if why is None:
                usable.append(card)
            else:
                rejected[card.id] = why
        if not usable:
            reasons = "; ".join(f"{k}: {v}" for k, v in rejected.items())
            raise InvalidInputError(f"no image model can do this task here ({reasons})")
        preference = [p.lower() for p in need.preference]

        def rank(card: ModelCard) -> tuple[Any, ...]:
            names = [n.lower() for n in card.names()]
            place = min((preference.index(n) for n in names if n in preference), default=99)
            # Measured and good first, then unmeasured, then measured as useless (random
            # weights, quality 0): a model nobody measured may still draw something.
            tier = 1 if card.quality is None else (0 if card.quality > 0 else 2)
            return (place, tier, -(card.quality or 0.0), card.cost_usd, card.latency_s)

        ordered = sorted(usable, key=rank)
        best = ordered[0]
        return Choice(best, self._reason(best, ordered, rank), rejected)

    def _rejection(self, card: ModelCard, need: Need) -> str | None:
        if need.local_only and card.provider != "local":
            return "not a local model"
        if card.tasks and not set(need.tasks) & set(card.tasks):
            return f"does none of {', '.join(need.tasks)}"
        status = self.availability(card)
        if not status.available:
            return status.reason
        if not set(need.tasks) & set(card.tasks):
            return f"does none of {', '.join(need.tasks)}"
        if need.mask == "pixel-exact" and card.mask != "pixel-exact":
            return f"its mask is {card.mask}, not pixel-exact"
        if need.size is not None and not card.sizes and max(need.size) > card.max_side:
            return f"sides up to {card.max_side} px, {need.size[0]}x{need.size[1]} asked"
        return None

    @staticmethod
    def _reason(best: ModelCard, ordered: Sequence[ModelCard], rank: Any) -> str:
        place = rank(best)[0]
        others = len(ordered) - 1
        if place != 99:
            why = f"your preference #{place + 1}"
        elif best.quality is not None:
            why = f"best measured quality ({best.quality:.2f})"
        else:
            why = f"cheapest and fastest (${best.cost_usd:g}, ~{best.latency_s:g} s)"
        return f"{best.id}: {why} among {others + 1} usable model{'s' if others else ''}"

    # Providers --------------------------------------------------------------------------

    def provider(
        self, card: ModelCard, *, timeout_s: float | None = None, **local: Any
    ) -> ImageProvider:
        """The provider that runs ``card`` (no network until it is run); OpenAI's lives above
        the engine (:func:`pakati.foreign.make_provider`)."""
        options: dict[str, Any] = {} if timeout_s is None else {"timeout_s": timeout_s}
        if card.provider == "local":
            from pakati_engine.providers.local_images import LocalDiffusers

            return LocalDiffusers(card, local.get("model"), loader=local.get("loader"))
        access = self.access(card.provider)
        if card.provider == "openai":  # the engine imports no LLM package; openai is one
            raise InvalidInputError(
                f"{card.id}: OpenAI models run through pakati.foreign.make_provider"
            )
        if card.provider == "replicate":
            from pakati_engine.providers.replicate_images import ReplicateImages

            return ReplicateImages(card, access, **options)
        if card.provider == "huggingface":
            from pakati_engine.providers.hf_images import HuggingFaceImages

            return HuggingFaceImages(card, access, **options)
        raise InvalidInputError(f"{card.id}: {card.note or 'no provider can run it'}")
