"""Model cards for Replicate models, derived from their published input schema.

Every Replicate model version publishes an ``openapi_schema``; its ``Input`` object says
which inputs the model takes. From it a card is derived: a ``prompt`` makes it
text-to-image, an image input makes it image-to-image, an image and a mask make it an edit
(the mask treated as a hint: Pakati composites inside the region's mask anyway), a ``seed``
input means seeds are taken, ``width``/``height`` give the sizes (an enum) or the largest
side and the multiple. The card's ``inputs`` map Pakati's names to the model's own, which
:class:`~pakati_engine.providers.replicate_images.ReplicateImages` sends. Layouts name such
a model ``replicate:owner/name``; ``pakati models --add-replicate owner/name`` saves its card.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pakati_engine.errors import InvalidInputError
from pakati_engine.providers.cards import REPLICATE_KEYS, ModelCard
from pakati_engine.providers.keys import ProviderAccess
from pakati_engine.providers.types import ProviderError, Task

PREFIX = "replicate:"

#: Pakati's input name -> the model input names that mean it, most common first.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "negative_prompt": ("negative_prompt",),
    "image": ("image", "input_image", "init_image"),
    "mask": ("mask", "mask_image", "inpaint_mask"),
    "seed": ("seed",),
    "width": ("width",),
    "height": ("height",),
    "strength": ("prompt_strength", "strength", "denoising_strength"),
}


def card_from_openapi(
    remote_id: str, schema: Mapping[str, Any], *, version: str | None = None
) -> ModelCard:
    """The card of Replicate model ``remote_id`` (owner/name) from its ``openapi_schema``."""
    schemas = schema.get("components", {}).get("schemas", {}) if isinstance(schema, Mapping) else {}
    properties = (
        schemas.get("Input", {}).get("properties") if isinstance(schemas, Mapping) else None
    )
    if not isinstance(properties, Mapping) or not properties:
        raise InvalidInputError(
            f"Replicate model {remote_id!r}: its openapi_schema has no Input properties, so "
            "Pakati cannot tell what it takes; write its card by hand (PAKATI_MODEL_CARDS)"
        )
    inputs = {
        ours: next(name for name in names if name in properties)
        for ours, names in SYNONYMS.items()
        if any(name in properties for name in names)
    }
    if "prompt" not in inputs:
        raise InvalidInputError(
            f"Replicate model {remote_id!r} takes no prompt (inputs: {', '.join(properties)}); "
            "Pakati draws regions from prompts, so it cannot use this model"
        )
    tasks: list[Task] = ["text-to-image"]
    if "image" in inputs:
        tasks.append("image-to-image")
        if "mask" in inputs:
            tasks.insert(1, "edit")
    card: dict[str, Any] = {}
    sides = [_resolved(properties[inputs[k]], schemas) for k in ("width", "height") if k in inputs]
    enums = [side.get("enum") for side in sides]
    if len(sides) == 2 and all(isinstance(e, list) and e for e in enums):
        assert isinstance(enums[0], list) and isinstance(enums[1], list)
        card["sizes"] = [(int(w), int(h)) for w in enums[0] for h in enums[1]]
        card["max_side"] = max(max(enums[0]), max(enums[1]))
    elif sides:
        maxima = [int(s["maximum"]) for s in sides if isinstance(s.get("maximum"), int | float)]
        if maxima:
            card["max_side"] = max(8, min(maxima))
        multiples = [int(s["multipleOf"]) for s in sides if isinstance(s.get("multipleOf"), int)]
        if multiples:
            card["size_multiple"] = max(multiples)
        defaults = [int(s["default"]) for s in sides if isinstance(s.get("default"), int)]
        if defaults:
            card["native_side"] = max(8, max(defaults))
    owner_name = remote_id.removeprefix(PREFIX)
    found = ", ".join(f"{ours}={theirs}" for ours, theirs in inputs.items())
    size_note = "" if sides else "; it takes no width/height, so the crop's size is not sent"
    return ModelCard(
        id=f"{PREFIX}{owner_name}",
        provider="replicate",
        remote_id=owner_name,
        tasks=tasks,
        mask="hint" if "edit" in tasks else "none",
        seed="seed" in inputs,
        deterministic=False,  # a schema cannot promise it
        output_lifetime_s=3600,
        key_env=list(REPLICATE_KEYS),
        inputs=inputs,
        note=f"derived from the openapi_schema of {owner_name}"
        f"{f' version {version[:12]}' if version else ''} (inputs {found}){size_note}",
        source="schema",
        **card,
    )


def _resolved(prop: Any, schemas: Mapping[str, Any]) -> dict[str, Any]:
    """A property with its ``allOf``/``$ref`` (how Cog writes enums) merged in."""
    if not isinstance(prop, Mapping):
        return {}
    merged = dict(prop)
    refs = [prop] + [p for p in prop.get("allOf", []) if isinstance(p, Mapping)]
    for part in refs:
        ref = part.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = schemas.get(ref.rsplit("/", 1)[1])
            if isinstance(target, Mapping):
                merged = {**target, **merged}
    return merged


def fetch_card(access: ProviderAccess, remote_id: str, *, timeout_s: float = 30.0) -> ModelCard:
    """Read the latest version's schema of ``remote_id`` through the official client (one
    GET to Replicate's API with the token) and derive its card."""
    import httpx
    import replicate
    from replicate.exceptions import ReplicateError

    owner_name = remote_id.removeprefix(PREFIX)
    if owner_name.count("/") != 1 or not all(owner_name.split("/")):
        raise InvalidInputError(
            f"{remote_id!r}: name a Replicate model as replicate:owner/name, e.g. "
            "replicate:stability-ai/sdxl"
        )
    if access.key is None:
        raise ProviderError(
            f"reading {owner_name}'s schema needs a Replicate token: set "
            "PAKATI_API_KEY_REPLICATE (or REPLICATE_API_TOKEN)"
        )
    client = replicate.Client(
        api_token=access.key.get_secret_value(),
        base_url=access.base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
    )
    access.announce()
    try:
        with client._client:  # the client's own connection pool, closed after the one GET
            model = client.models.get(owner_name)
    except ReplicateError as error:
        detail = error.detail or error.title or str(error)
        raise ProviderError(
            f"Replicate model {owner_name}: Replicate answered {error.status}: {detail}"
        ) from error
    except httpx.HTTPError as error:
        raise ProviderError(
            f"Replicate model {owner_name}: could not read its schema from {access.base_url} "
            f"({type(error).__name__}); check the network or REPLICATE_BASE_URL"
        ) from error
    version = model.latest_version
    if version is None:
        raise ProviderError(f"Replicate model {owner_name} has no published version")
    return card_from_openapi(owner_name, version.openapi_schema, version=version.id)
