"""``apply_to_region(..., parameters={...})``: the product description's per-region settings.

The description passes a region's sampling settings as one dict, e.g.
``parameters={"guidance_scale": 9.0, "steps": 40}``. Pakati's per-region settings are
keyword arguments of ``apply_to_region``; this maps the dict onto them and says clearly
what a region cannot have on its own.
"""

from __future__ import annotations

from typing import Any

from pakati_engine.errors import InvalidInputError

#: Keys a region's ``parameters`` may hold: they are ``apply_to_region``'s keyword arguments.
REGION_PARAMETERS = ("guidance_scale", "step_window", "seed", "weight")
#: Keyword defaults: a keyword left at its default does not conflict with ``parameters``.
_DEFAULTS: dict[str, Any] = {
    "guidance_scale": None,
    "step_window": (0.0, 1.0),
    "seed": None,
    "weight": 1.0,
}
#: Modes that run each region in its own UNet pass, so that it can have its own guidance.
_PER_REGION_MODES = ("latent",)


def split_parameters(
    parameters: dict[str, Any], given: dict[str, Any], label: str, mode: str
) -> dict[str, Any]:
    """The per-region settings of ``parameters`` merged with the keywords ``given``.

    Raises InvalidInputError for ``steps`` (every region shares the canvas's denoising
    steps), an unknown key, a key also given as a different keyword, or a per-region
    guidance scale or step window in a mode that runs all regions in one pass.
    """
    if not isinstance(parameters, dict):
        raise InvalidInputError(
            f"region {label!r}: parameters must be a dict such as "
            f'{{"guidance_scale": 9.0}}, got {type(parameters).__name__}'
        )
    if "steps" in parameters or "num_inference_steps" in parameters:
        raise InvalidInputError(
            f"region {label!r}: steps cannot differ between regions (they denoise together, "
            "step by step); set the canvas's steps (canvas.steps = N or generate(steps=N)), "
            'or in mode="latent" give this region "step_window": (start, end) to limit when '
            "its prompt acts"
        )
    unknown = sorted(set(parameters) - set(REGION_PARAMETERS))
    if unknown:
        raise InvalidInputError(
            f"region {label!r}: unknown parameter(s) {', '.join(unknown)}; a region takes "
            f"{', '.join(REGION_PARAMETERS)}"
        )
    chosen = dict(given)
    for key, value in parameters.items():
        if given[key] != _DEFAULTS[key] and given[key] != value:
            raise InvalidInputError(
                f"region {label!r}: {key} given twice ({given[key]!r} as a keyword, {value!r} "
                "in parameters); give it once"
            )
        chosen[key] = value
    per_region = [k for k in ("guidance_scale", "step_window") if k in parameters]
    if per_region and mode not in _PER_REGION_MODES:
        raise InvalidInputError(
            f"region {label!r}: a per-region {' and '.join(per_region)} needs "
            f'mode="latent" (mode {mode!r} runs all regions in one pass with the canvas\'s '
            "settings); create the canvas with mode='latent' or drop it from parameters"
        )
    return chosen
