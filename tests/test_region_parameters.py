"""``apply_to_region(..., parameters={...})`` as the product description writes it."""

from __future__ import annotations

import numpy as np
import pytest

from pakati import InvalidInputError, PakatiCanvas


def test_parameters_set_per_region_settings_in_latent_mode(sd_bundle) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2, mode="latent")
    left = canvas.create_region(box=(0, 0, 32, 64))
    canvas.apply_to_region(left, prompt="a red apple", parameters={"guidance_scale": 9.0})
    spec = canvas.region_spec(left)
    assert spec.guidance_scale == 9.0 and spec.prompt == "a red apple"
    plain = PakatiCanvas(64, 64, model=sd_bundle, steps=2, mode="latent")
    plain.apply_to_region(plain.create_region(box=(0, 0, 32, 64)), prompt="a red apple")
    # The setting reaches the pixels: the region's own guidance changes the image.
    a = np.asarray(canvas.generate(seed=1).image, dtype=int)
    b = np.asarray(plain.generate(seed=1).image, dtype=int)
    assert np.abs(a - b).sum() > 0


def test_parameters_that_cannot_be_per_region_are_clear_errors(sd_bundle) -> None:
    canvas = PakatiCanvas(64, 64, model=sd_bundle, steps=2)  # attention mode
    region = canvas.create_region(box=(0, 0, 32, 64))
    with pytest.raises(InvalidInputError, match="steps cannot differ between regions"):
        canvas.apply_to_region(region, prompt="x", parameters={"guidance_scale": 9, "steps": 40})
    with pytest.raises(InvalidInputError, match='needs mode="latent"'):
        canvas.apply_to_region(region, prompt="x", parameters={"guidance_scale": 9.0})
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        canvas.apply_to_region(region, prompt="x", parameters={"cfg": 9.0})
    with pytest.raises(InvalidInputError, match="seed given twice"):
        canvas.apply_to_region(region, prompt="x", seed=1, parameters={"seed": 2})
    # What attention mode can hold per region is accepted.
    canvas.apply_to_region(region, prompt="x", parameters={"seed": 5, "weight": 1.5})
    spec = canvas.region_spec(region)
    assert (spec.seed, spec.weight) == (5, 1.5)
