"""ReferenceImage: validation on load, clear errors, RGB access and the stored dict form."""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati_engine.analysis.references import ReferenceImage
from pakati_engine.errors import InvalidInputError, PakatiError


def _png(
    path: Path, size: tuple[int, int] = (40, 30), color: tuple[int, ...] = (200, 80, 20)
) -> Path:
    mode = "RGBA" if len(color) == 4 else "RGB"
    Image.new(mode, size, color).save(path)
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels (no real image data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def test_valid_reference_exposes_size_format_hash_and_rgb(tmp_path: Path) -> None:
    ref = ReferenceImage(_png(tmp_path / "sky.png"), "warm golden hour lighting", aspect="lighting")
    assert (ref.width, ref.height, ref.format) == (40, 30, "PNG")
    assert len(ref.sha256) == 64
    arr = ref.to_array()
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8
    assert tuple(arr[0, 0]) == (200, 80, 20)


def test_transparent_pixels_are_composited_over_white(tmp_path: Path) -> None:
    ref = ReferenceImage(_png(tmp_path / "a.png", color=(0, 0, 0, 0)))
    assert tuple(ref.to_array()[5, 5]) == (255, 255, 255)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        ReferenceImage(tmp_path / "nope.png")


def test_error_is_part_of_the_pakati_family(tmp_path: Path) -> None:
    with pytest.raises(PakatiError):
        ReferenceImage(tmp_path / "nope.png")
    with pytest.raises(ValueError):
        ReferenceImage(tmp_path / "nope.png")


def test_truncated_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    full = tmp_path / "full.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    broken = tmp_path / "broken.png"
    broken.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        ReferenceImage(broken)


def test_garbage_bytes_are_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(InvalidInputError, match="not a recognised image"):
        ReferenceImage(path)


def test_unsupported_format_names_the_format(tmp_path: Path) -> None:
    path = tmp_path / "img.ppm"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    with pytest.raises(InvalidInputError, match="unsupported image format PPM"):
        ReferenceImage(path)


def test_header_claiming_huge_size_is_refused_before_decoding(tmp_path: Path) -> None:
    # 9000 x 9000 = 81 MP: above Pakati's 64 MP limit, below Pillow's warning threshold.
    path = _png_header_only(tmp_path / "bomb.png", 9000, 9000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidInputError, match="decompression bomb"):
            ReferenceImage(path)


def test_header_above_pillows_limit_is_a_clear_error_not_a_warning(tmp_path: Path) -> None:
    path = _png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidInputError, match="decompression bomb"):
            ReferenceImage(path)


def test_pixel_limit_can_be_lowered(tmp_path: Path) -> None:
    path = _png(tmp_path / "small.png", size=(100, 100))
    with pytest.raises(InvalidInputError, match="exceeds the limit of 5000"):
        ReferenceImage(path, max_pixels=5000)
    assert ReferenceImage(path, max_pixels=10_000).width == 100


def test_aspect_is_validated_and_colour_is_accepted(tmp_path: Path) -> None:
    path = _png(tmp_path / "x.png")
    assert ReferenceImage(path, aspect="colour").aspect == "color"
    with pytest.raises(InvalidInputError, match="unknown reference aspect 'smell'"):
        ReferenceImage(path, aspect="smell")


def test_metadata_must_be_json_serialisable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="JSON"):
        ReferenceImage(_png(tmp_path / "x.png"), metadata={"bad": object()})


def test_dict_round_trip_with_relative_path(tmp_path: Path) -> None:
    (tmp_path / "refs").mkdir()
    ref = ReferenceImage(
        _png(tmp_path / "refs" / "m.png"),
        "rocky texture",
        aspect="texture",
        region="mountain",
        metadata={"complexity": "high", "weights": [1, 2]},
    )
    stored = json.loads(json.dumps(ref.to_dict(relative_to=tmp_path)))
    assert stored["path"] == "refs/m.png"
    again = ReferenceImage.from_dict(stored, base_dir=tmp_path)
    assert again.to_dict(relative_to=tmp_path) == stored
    assert (again.aspect, again.region, again.metadata) == ("texture", "mountain", ref.metadata)
    assert np.array_equal(again.to_array(), ref.to_array())


def test_changed_file_is_detected_on_load(tmp_path: Path) -> None:
    path = _png(tmp_path / "m.png")
    stored = ReferenceImage(path).to_dict()
    _png(path, color=(0, 0, 255))
    with pytest.raises(InvalidInputError, match="changed since it was stored"):
        ReferenceImage.from_dict(stored)
    assert ReferenceImage.from_dict(stored, verify_hash=False).sha256 != stored["sha256"]


def test_from_dict_rejects_foreign_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="'path'"):
        ReferenceImage.from_dict({"file": "x.png"})
    with pytest.raises(InvalidInputError, match="version"):
        ReferenceImage.from_dict({"path": str(_png(tmp_path / "x.png")), "version": 99})


def test_with_region_attaches_a_copy(tmp_path: Path) -> None:
    ref = ReferenceImage(_png(tmp_path / "x.png"), "sky", aspect="color")
    sky = ref.with_region("sky")
    assert sky.region == "sky" and ref.region is None and sky.sha256 == ref.sha256
