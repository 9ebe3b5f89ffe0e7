"""Delta analyzer on synthetic images whose differences are known by construction."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.color import lab2rgb, rgb2lab

from pakati_engine.analysis import ASPECTS, AspectDelta, Severity, analyze_deltas
from pakati_engine.errors import InvalidInputError

Array = NDArray[np.uint8]


def _to_uint8(img: NDArray[np.floating]) -> Array:
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def scene(size: int = 192, seed: int = 0, object_x: float = 0.3) -> Array:
    """A warm textured backdrop (vertical gradient + fine noise) with one blue object."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    img[..., 0] = 0.80 - 0.30 * y
    img[..., 1] = 0.50 - 0.20 * y
    img[..., 2] = 0.20 + 0.10 * y
    img += gaussian_filter(rng.standard_normal((size, size)), 1.0)[..., None] * 0.2
    box = (np.abs(x - object_x) < 0.1) & (np.abs(y - 0.5) < 0.12)
    img[box] = (0.2, 0.35, 0.75)
    return _to_uint8(img)


def rotate_hue(img: Array, degrees: float) -> Array:
    """Rotate the CIELAB hue at constant lightness and chroma."""
    lab = rgb2lab(img / 255.0)
    t = np.radians(degrees)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1] = a * np.cos(t) - b * np.sin(t)
    lab[..., 2] = a * np.sin(t) + b * np.cos(t)
    return _to_uint8(lab2rgb(lab))


def blur(img: Array, sigma: float) -> Array:
    return (
        np.stack([gaussian_filter(img[..., c].astype(float), sigma) for c in range(3)], axis=-1)
        .round()
        .astype(np.uint8)
    )


def terms(delta: AspectDelta, kind: str = "add_prompt_terms") -> set[str]:
    return {t for a in delta.adjustments if a.kind == kind for t in a.terms}


@pytest.fixture(scope="module")
def reference() -> Array:
    return scene()


def test_identical_images_are_similar_in_every_aspect(reference: Array) -> None:
    report = analyze_deltas(reference.copy(), reference)
    assert list(report.aspects) == list(ASPECTS)
    for name, delta in report.aspects.items():
        assert delta.similarity > 0.999, name
        assert delta.severity is Severity.NONE, name
    assert report.adjustments() == []


def test_hue_shift_is_a_colour_delta_with_the_right_sign_and_not_texture(
    reference: Array,
) -> None:
    cooler = rotate_hue(reference, 120.0)  # orange -> teal
    report = analyze_deltas(cooler, reference)
    color = report["color"]
    assert color.severity in (Severity.MEDIUM, Severity.HIGH)
    assert color.measured["warmth_delta"] < -10
    assert any("warmer" in t for t in terms(color))
    texture = report["texture"]
    assert texture.severity is Severity.NONE and texture.similarity > 0.95
    assert not terms(texture)

    # The other way round, the sign flips.
    back = analyze_deltas(reference, cooler, aspects=["color", "texture"])
    assert back["color"].measured["warmth_delta"] > 10
    assert any("cooler" in t for t in terms(back["color"]))
    assert back["texture"].severity is Severity.NONE


def test_blur_is_a_texture_delta_asking_for_detail(reference: Array) -> None:
    report = analyze_deltas(blur(reference, 2.0), reference)
    texture = report["texture"]
    assert texture.severity in (Severity.MEDIUM, Severity.HIGH)
    assert texture.measured["hf_ratio_delta"] < 0
    assert texture.measured["glcm_contrast_image"] < texture.measured["glcm_contrast_reference"]
    assert {"sharp focus", "fine detail"} <= terms(texture)
    assert "blurry" in terms(texture, "add_negative_terms")
    assert any(a.changes.get("steps", 0) > 0 for a in texture.adjustments)
    assert report["color"].similarity > report["texture"].similarity
    assert report["color"].severity in (Severity.NONE, Severity.LOW)


def test_sharper_than_reference_reads_the_other_way(reference: Array) -> None:
    texture = analyze_deltas(reference, blur(reference, 2.0), aspects="texture")["texture"]
    assert texture.measured["hf_ratio_delta"] > 0
    assert "grainy" in terms(texture, "add_negative_terms")


@pytest.mark.parametrize(
    ("offset", "word", "sign"), [(45, "darker", 1), (-45, "brighter lighting", -1)]
)
def test_brightness_change_is_a_lighting_delta_with_direction(
    reference: Array, offset: int, word: str, sign: int
) -> None:
    changed = np.clip(reference.astype(int) + offset, 0, 255).astype(np.uint8)
    report = analyze_deltas(changed, reference)
    lighting = report["lighting"]
    assert lighting.severity in (Severity.MEDIUM, Severity.HIGH)
    assert sign * lighting.measured["lightness_mean_delta"] > 0.1
    assert word in terms(lighting)
    assert report["texture"].severity is Severity.NONE


def test_warm_light_cast_gives_a_colour_temperature_delta() -> None:
    neutral = np.full((64, 64, 3), 170, np.uint8)
    neutral[:32] = 220
    warm = np.clip(neutral * np.array([1.0, 0.9, 0.7]), 0, 255).astype(np.uint8)
    lighting = analyze_deltas(warm, neutral, aspects="lighting")["lighting"]
    assert lighting.measured["mireds_delta"] > 20
    assert lighting.measured["cct_kelvin_image"] < lighting.measured["cct_kelvin_reference"]
    assert "cooler light" in terms(lighting)


def test_light_direction_is_read_from_gradients() -> None:
    ramp = np.linspace(0.2, 0.9, 128)
    from_left = _to_uint8(np.repeat(ramp[::-1][None, :, None], 128, 0).repeat(3, 2))
    from_right = from_left[:, ::-1].copy()
    lighting = analyze_deltas(from_left, from_right, aspects="lighting")["lighting"]
    assert lighting.measured["light_dx_image"] < 0 < lighting.measured["light_dx_reference"]
    assert "light coming from the right" in terms(lighting)


def test_moved_object_shifts_the_composition_centroid() -> None:
    background = np.full((160, 160, 3), 30, np.uint8)
    ref, img = background.copy(), background.copy()
    ref[60:100, 20:60] = (240, 200, 60)
    img[60:100, 100:140] = (240, 200, 60)
    comp = analyze_deltas(img, ref, aspects="composition")["composition"]
    assert comp.measured["centroid_x_delta"] > 0.3
    assert abs(comp.measured["centroid_y_delta"]) < 0.05
    assert comp.severity in (Severity.MEDIUM, Severity.HIGH)
    move = [a for a in comp.adjustments if a.kind == "move_region"]
    assert move and move[0].changes["dx"] < -0.3
    assert "subject on the left" in terms(comp)


def test_horizon_line_position_is_compared() -> None:
    def landscape(h: float) -> Array:
        img = np.zeros((120, 160, 3), np.uint8)
        img[: int(h * 120)] = (120, 170, 230)
        img[int(h * 120) :] = (60, 110, 50)
        return img

    comp = analyze_deltas(landscape(0.3), landscape(0.65), aspects="composition")["composition"]
    assert comp.measured["horizon_y_image"] == pytest.approx(0.3, abs=0.03)
    assert comp.measured["horizon_y_reference"] == pytest.approx(0.65, abs=0.03)
    assert "low horizon line" in terms(comp)


def test_mask_restricts_the_analysis_to_the_region(reference: Array) -> None:
    image = reference.copy()
    image[:, 96:] = rotate_hue(reference, 150.0)[:, 96:]
    left = np.zeros(image.shape[:2], bool)
    left[:, :96] = True
    kept = analyze_deltas(image, reference, aspects="color", mask=left, reference_mask=left)
    changed = analyze_deltas(image, reference, aspects="color", mask=~left, reference_mask=~left)
    assert kept["color"].similarity > 0.97
    assert changed["color"].severity in (Severity.MEDIUM, Severity.HIGH)
    assert kept.region_box == (0, 0, 96, 192)


def test_different_sizes_and_input_types_are_accepted(reference: Array) -> None:
    small = Image.fromarray(reference).resize((96, 96), Image.Resampling.LANCZOS)
    report = analyze_deltas(Image.fromarray(reference), small)
    assert report.reference_size == (96, 96)
    assert report.working_size == (96, 96)
    for name in ("color", "lighting", "composition", "general"):
        assert report[name].similarity > 0.9, name
    floats = analyze_deltas(reference / 255.0, reference, aspects="general")
    assert floats["general"].similarity > 0.999


def test_report_serialises_to_the_cli_json_shape(reference: Array) -> None:
    report = analyze_deltas(rotate_hue(reference, 90.0), reference)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data["aspects"]) == set(ASPECTS)
    for entry in data["aspects"].values():
        assert 0.0 <= entry["similarity"] <= 1.0
        assert isinstance(entry["findings"], list) and entry["findings"]
        assert isinstance(entry["adjustments"], list)
    assert data["aspects"]["color"]["adjustments"][0]["kind"] == "add_prompt_terms"


def test_bad_inputs_are_clear_errors(reference: Array) -> None:
    with pytest.raises(InvalidInputError, match="mask has shape"):
        analyze_deltas(reference, reference, mask=np.ones((10, 10), bool))
    with pytest.raises(InvalidInputError, match="selects 0 pixels"):
        analyze_deltas(reference, reference, mask=np.zeros(reference.shape[:2], bool))
    with pytest.raises(InvalidInputError, match="unknown aspect 'smell'"):
        analyze_deltas(reference, reference, aspects=["smell"])
    with pytest.raises(InvalidInputError, match=r"0\.\.1"):
        analyze_deltas(reference * 2.0, reference)
    only = analyze_deltas(reference, reference, aspects=["colour", "style"])
    assert list(only.aspects) == ["color", "style"]


def test_full_size_pair_is_fast() -> None:
    rng = np.random.default_rng(3)
    big = _to_uint8(gaussian_filter(rng.random((1024, 1024, 3)), (2, 2, 0)))
    other = np.roll(big, 200, axis=1)
    start = time.perf_counter()
    analyze_deltas(big, other)
    # The benchmark measures the real figure; this only guards against a gross regression.
    assert time.perf_counter() - start < 3.0
