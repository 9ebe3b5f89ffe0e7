"""Model cards: what each image model can do, read without loading or calling it.

Cards for the built-in providers ship here (:data:`BUILTIN_CARDS`); a local diffusers
folder gets its card from its own config (:func:`card_from_folder`); users add or override
cards in a JSON file (``PAKATI_MODEL_CARDS``, else ``$PAKATI_HOME/model_cards.json``), a
list of objects with the fields of :class:`ModelCard`. Costs and latencies are rough
published figures for planning, not measurements; ``quality`` is Pakati's own measurement
where it has one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pakati_engine.errors import InvalidInputError
from pakati_engine.providers.types import ImageJob, ProviderUnavailableError, Task

ProviderKind = Literal["local", "openai", "replicate", "huggingface", "none"]
MaskBehaviour = Literal["pixel-exact", "hint", "none"]


class ModelCard(BaseModel):
    """What one model can do and what it needs."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The name a layout's model= uses.")
    aliases: list[str] = Field(default_factory=list, description="Other names for it.")
    provider: ProviderKind
    kind: Literal["image", "planner"] = "image"
    remote_id: str | None = Field(
        default=None, description="The provider's own name (Replicate owner/name, HF repo)."
    )
    tasks: list[Task] = Field(default_factory=list)
    mask: MaskBehaviour = Field(
        default="none", description="pixel-exact: kept outside the mask; hint: may not be."
    )
    sizes: list[tuple[int, int]] = Field(
        default_factory=list, description="Sizes accepted; empty: any multiple up to max_side."
    )
    size_multiple: int = Field(default=8, ge=1)
    max_side: int = Field(default=1024, ge=8)
    native_side: int = Field(default=512, ge=8, description="The side it draws best at.")
    seed: bool = Field(default=False, description="Takes a seed.")
    deterministic: bool = Field(default=False, description="Same job + seed, same pixels.")
    max_prompt_chars: int | None = None
    max_upload_bytes: int | None = None
    output_lifetime_s: int | None = Field(
        default=None, description="How long the provider keeps outputs (download at once)."
    )
    cost_usd: float = Field(default=0.0, ge=0, description="Rough cost of one image.")
    latency_s: float = Field(default=1.0, ge=0, description="Rough seconds per image.")
    offline: bool = Field(default=False, description="Works with no network.")
    key_env: list[str] = Field(default_factory=list, description="Key variables, in order.")
    quality: float | None = Field(
        default=None, ge=0, le=1, description="Pakati's own measured quality, if any."
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="Provider input names (Replicate: prompt, image, mask, seed, width, ...).",
    )
    note: str = ""
    source: Literal["builtin", "folder", "user", "schema"] = "builtin"

    def names(self) -> list[str]:
        return [self.id, *self.aliases]


OPENAI_KEYS = ["PAKATI_API_KEY_OPENAI", "OPENAI_API_KEY"]
REPLICATE_KEYS = ["PAKATI_API_KEY_REPLICATE", "REPLICATE_API_TOKEN"]
HF_KEYS = ["PAKATI_API_KEY_HUGGINGFACE", "HF_TOKEN"]

_LOCAL: dict[str, Any] = {"provider": "local", "offline": True, "seed": True, "deterministic": True}

BUILTIN_CARDS: list[ModelCard] = [
    ModelCard(
        id="pakati-shapes",
        **_LOCAL,
        tasks=["text-to-image", "edit", "image-to-image"],
        mask="pixel-exact",
        native_side=128,
        latency_s=1.0,
        note="Pakati's embedded shapes-world model (CPU).",
    ),
    ModelCard(
        id="tiny-random",
        **_LOCAL,
        tasks=["text-to-image", "edit", "image-to-image"],
        mask="pixel-exact",
        native_side=64,
        latency_s=0.5,
        quality=0.0,
        note="Random weights: for tests of the plumbing only.",
    ),
    ModelCard(
        id="stable-diffusion-xl",
        aliases=["sdxl", "stabilityai/stable-diffusion-xl-base-1.0"],
        **_LOCAL,
        tasks=["text-to-image", "edit", "image-to-image"],
        mask="pixel-exact",
        native_side=1024,
        max_side=2048,
        latency_s=60.0,
        note="Local SDXL weights in the Hugging Face cache.",
    ),
    ModelCard(
        id="stable-diffusion-1.5",
        aliases=["sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5"],
        **_LOCAL,
        tasks=["text-to-image", "edit", "image-to-image"],
        mask="pixel-exact",
        native_side=512,
        latency_s=20.0,
        note="Local SD 1.5 weights in the Hugging Face cache.",
    ),
    ModelCard(
        id="gpt-image-1",
        aliases=["gpt-image"],
        provider="openai",
        tasks=["text-to-image", "edit"],
        mask="hint",
        sizes=[(1024, 1024), (1536, 1024), (1024, 1536)],
        max_side=1536,
        native_side=1024,
        max_prompt_chars=32000,
        max_upload_bytes=50 * 2**20,
        cost_usd=0.04,
        latency_s=30.0,
        key_env=OPENAI_KEYS,
        note="Masks are prompt-based hints; Pakati composites inside the region's mask.",
    ),
    ModelCard(
        id="dall-e-3",
        aliases=["dalle-3", "dalle3", "dall-e3"],
        provider="openai",
        tasks=["text-to-image"],
        sizes=[(1024, 1024), (1792, 1024), (1024, 1792)],
        max_side=1792,
        native_side=1024,
        max_prompt_chars=4000,
        cost_usd=0.04,
        latency_s=15.0,
        key_env=OPENAI_KEYS,
        note="No edits: a region is drawn as text-to-image of its crop.",
    ),
    ModelCard(
        id="dall-e-2",
        aliases=["dalle-2", "dalle2"],
        provider="openai",
        tasks=["text-to-image", "edit"],
        mask="hint",
        sizes=[(256, 256), (512, 512), (1024, 1024)],
        native_side=1024,
        max_prompt_chars=1000,
        max_upload_bytes=4 * 2**20,
        cost_usd=0.02,
        latency_s=10.0,
        key_env=OPENAI_KEYS,
    ),
    ModelCard(
        id="replicate-sdxl",
        aliases=["replicate/stability-ai/sdxl"],
        provider="replicate",
        remote_id="stability-ai/sdxl",
        tasks=["text-to-image", "edit"],
        mask="hint",
        native_side=1024,
        seed=True,
        output_lifetime_s=3600,
        cost_usd=0.004,
        latency_s=10.0,
        key_env=REPLICATE_KEYS,
        inputs={
            "prompt": "prompt",
            "negative_prompt": "negative_prompt",
            "image": "image",
            "mask": "mask",
            "seed": "seed",
            "width": "width",
            "height": "height",
            "strength": "prompt_strength",
        },
        note="Replicate's SDXL: its mask is white where it paints.",
    ),
    ModelCard(
        id="hf-sdxl",
        aliases=["huggingface/stable-diffusion-xl"],
        provider="huggingface",
        remote_id="stabilityai/stable-diffusion-xl-base-1.0",
        tasks=["text-to-image", "image-to-image"],
        native_side=1024,
        seed=True,
        cost_usd=0.0,
        latency_s=10.0,
        key_env=HF_KEYS,
        note="Hugging Face Inference: no masks, so a region is an image-to-image of its crop.",
    ),
    ModelCard(
        id="midjourney",
        aliases=["mj"],
        provider="none",
        note="Midjourney has no public API: Pakati cannot call it. Choose another image model "
        "(pakati models lists them).",
    ),
    ModelCard(
        id="claude",
        aliases=["claude-3", "claude-3-5-sonnet-latest", "anthropic"],
        provider="none",
        kind="planner",
        key_env=["PAKATI_API_KEY_ANTHROPIC"],
        note="Claude is a planner/critic model, not an image model: it plans layouts and "
        "judges results (pakati agent --provider anthropic) but makes no pixels.",
    ),
]


def card_from_folder(name: str, folder: Path) -> ModelCard:
    """The card of a local diffusers folder, from its ``model_index.json`` and ``pakati.json``."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        extra_path = folder / "pakati.json"
        extra = json.loads(extra_path.read_text(encoding="utf-8")) if extra_path.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{str(folder)!r}: unreadable model config ({error})") from error
    sdxl = bool(index.get("text_encoder_2")) and index.get("text_encoder_2") != [None, None]
    native = int(extra.get("width", 1024 if sdxl else 512))
    evaluation = extra.get("training", {}).get("eval", {}) if isinstance(extra, dict) else {}
    quality = evaluation.get("accuracy_both")
    seconds = evaluation.get("seconds_per_image")
    return ModelCard(
        id=name,
        **_LOCAL,
        tasks=["text-to-image", "edit", "image-to-image"],
        mask="pixel-exact",
        native_side=native,
        max_side=max(2048, native),
        quality=float(quality) if isinstance(quality, int | float) else None,
        latency_s=float(seconds) if isinstance(seconds, int | float) else 20.0,
        note=f"{'SDXL' if sdxl else 'SD'} diffusers folder {folder}",
        source="folder",
    )


def user_cards_path() -> Path:
    explicit = os.environ.get("PAKATI_MODEL_CARDS")
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("PAKATI_HOME", "~/.cache/pakati")).expanduser() / "model_cards.json"


def load_user_cards(path: Path | None = None) -> list[ModelCard]:
    """Cards from the user's file (none if it does not exist); a bad file is a clear error."""
    path = user_cards_path() if path is None else path
    if not path.is_file():
        if os.environ.get("PAKATI_MODEL_CARDS"):
            raise InvalidInputError(
                f"PAKATI_MODEL_CARDS={path} does not exist; point it at a JSON list of model "
                "cards or unset it"
            )
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"model card file {str(path)!r} is not JSON ({error})") from error
    if not isinstance(data, list):
        raise InvalidInputError(f"model card file {str(path)!r} must hold a JSON list of cards")
    cards = []
    for number, item in enumerate(data, 1):
        try:
            card = ModelCard.model_validate(item)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'card'}: {e['msg']}"
                for e in error.errors()
            )
            raise InvalidInputError(
                f"model card {number} in {str(path)!r} is not valid: {problems}"
            ) from error
        cards.append(card.model_copy(update={"source": "user"}))
    return cards


def check_job(card: ModelCard, job: ImageJob) -> None:
    """Refuse, before sending, what the model would refuse."""
    who = f"region {job.label!r}: " if job.label else ""
    if job.task not in card.tasks:
        offered = ", ".join(card.tasks) or "nothing"
        extra = " (OpenAI offers no edits for dall-e-3)" if card.id == "dall-e-3" else ""
        raise ProviderUnavailableError(
            f"{who}{card.id} cannot do {job.task}{extra}; it offers {offered}. Nothing was "
            "sent. Choose a model with edits (gpt-image-1, dall-e-2) or let Pakati draw the "
            "region as text-to-image of its crop"
        )
    if card.sizes and tuple(job.size) not in {tuple(s) for s in card.sizes}:
        allowed = ", ".join(f"{w}x{h}" for w, h in card.sizes)
        raise ProviderUnavailableError(
            f"{who}{card.id} takes sizes {allowed}, not {job.size[0]}x{job.size[1]}"
        )
    if card.max_prompt_chars is not None and len(job.prompt) > card.max_prompt_chars:
        raise ProviderUnavailableError(
            f"{who}the prompt has {len(job.prompt)} characters; {card.id} takes at most "
            f"{card.max_prompt_chars}: shorten it"
        )
