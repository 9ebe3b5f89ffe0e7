"""Independent remote regions are requested together; the image is the one-by-one image."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pakati import PakatiCanvas
from pakati.openai_images import OpenAIImages
from pakati_engine.diffusion.keeping import KeepSpec
from pakati_engine.errors import PakatiError
from pakati_engine.providers.cache import ResultCache
from pakati_engine.providers.cards import BUILTIN_CARDS
from pakati_engine.providers.compose import Prepared, draw_region, prepare_region
from pakati_engine.providers.keys import provider_access
from pakati_engine.providers.parallel import draw_regions
from pakati_engine.providers.registry import Registry
from tests.provider_fakes import FakeImageServer

SECRET = "sk-parallel-SECRET-7"
DALLE2 = next(c for c in BUILTIN_CARDS if c.id == "dall-e-2")
LOCAL = next(c for c in BUILTIN_CARDS if c.id == "tiny-random")

# Four regions, one per quadrant of a 256x256 canvas: no crop reaches another's changes.
QUADRANTS = [(12, 12, 92, 92), (164, 12, 244, 92), (12, 164, 92, 244), (164, 164, 244, 244)]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKATI_HOME", str(tmp_path / "home"))


def canvas_image() -> Image.Image:
    rng = np.random.default_rng(5)
    return Image.fromarray(rng.integers(0, 255, (256, 256, 3), np.uint8))


def box_mask(box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((256, 256), np.float32)
    mask[box[1] : box[3], box[0] : box[2]] = 1.0
    return mask


def provider(fake: FakeImageServer) -> OpenAIImages:
    env = {"PAKATI_API_KEY_OPENAI": SECRET, "OPENAI_BASE_URL": f"{fake.url}/v1"}
    return OpenAIImages(DALLE2, provider_access("openai", env, None), timeout_s=10)


def jobs(
    fake: FakeImageServer, boxes: list[tuple[int, int, int, int]], cache: ResultCache | None = None
) -> list[Callable[[Image.Image], Prepared]]:
    remote = provider(fake)
    return [
        partial(
            prepare_region,
            mask=box_mask(box),
            card=DALLE2,
            provider=remote,
            prompt=f"object {number}",
            label=f"r{number}",
            cache=cache,
        )
        for number, box in enumerate(boxes)
    ]


def one_by_one(fake: FakeImageServer, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    image = canvas_image()
    remote = provider(fake)
    for number, box in enumerate(boxes):
        image, _record = draw_region(
            image, box_mask(box), DALLE2, remote, prompt=f"object {number}", label=f"r{number}"
        )
    return image


def test_independent_regions_are_requested_together_and_pasted_in_z_order() -> None:
    # Answers come back out of order (the first is the slowest); the fake scrambles pixels
    # outside its mask too, so any crop taken from the wrong image would show. Every answer
    # takes at least 1 s, so all four are in flight at once even on a busy machine.
    with FakeImageServer("scramble", latencies=(1.6, 1.0, 1.3, 1.1)) as fake:
        together, drawn = draw_regions(canvas_image(), jobs(fake, QUADRANTS), concurrency=4)
        assert fake.most_in_flight == 4
    with FakeImageServer("scramble") as fake:
        expected = one_by_one(fake, QUADRANTS)
        assert fake.most_in_flight == 1
    assert np.array_equal(np.asarray(together), np.asarray(expected))
    assert [d.draw.region for d in drawn] == ["r0", "r1", "r2", "r3"]
    assert [d.together for d in drawn] == [4, 4, 4, 4]
    assert all(d.draw.calls == 1 and d.draw.task == "edit" for d in drawn)


def test_concurrency_is_bounded() -> None:
    with FakeImageServer(latency_s=0.8) as fake:
        _image, drawn = draw_regions(canvas_image(), jobs(fake, QUADRANTS), concurrency=2)
        assert fake.most_in_flight == 2 and len(fake.posts("/v1/images/edits")) == 4
    assert [d.together for d in drawn] == [2, 2, 2, 2]


def test_regions_whose_crops_meet_are_drawn_one_after_another() -> None:
    # The second region's crop reaches the first's feather band: it must see the first drawn.
    boxes = [(40, 40, 120, 120), (128, 40, 208, 120), (12, 164, 92, 244)]
    with FakeImageServer("scramble", latency_s=0.1) as fake:
        image, drawn = draw_regions(canvas_image(), jobs(fake, boxes), concurrency=4)
        assert len(fake.posts("/v1/images/edits")) == 3
    with FakeImageServer("scramble") as fake:
        expected = one_by_one(fake, boxes)
    assert np.array_equal(np.asarray(image), np.asarray(expected))
    # r0 alone; r1 waits for r0 and then goes together with r2, whose crop is clear of it.
    assert [(d.draw.region, d.together) for d in drawn] == [("r0", 1), ("r1", 2), ("r2", 2)]
    # Outside every region's feathered mask the canvas's bytes, whatever the fake sent back.
    keep = np.ones((256, 256), bool)
    for box in boxes:
        keep &= KeepSpec(canvas_image(), box_mask(box), feather=8).protected()
    assert (np.asarray(image)[keep] == np.asarray(canvas_image())[keep]).all()


def test_a_failed_request_among_several_is_a_clear_error() -> None:
    with FakeImageServer("500") as fake, pytest.raises(PakatiError, match="Not retried"):
        draw_regions(canvas_image(), jobs(fake, QUADRANTS[:2]), concurrency=2)


def test_a_cached_region_costs_no_request(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    with FakeImageServer() as fake:
        first, _ = draw_regions(canvas_image(), jobs(fake, QUADRANTS, cache), concurrency=4)
        again, drawn = draw_regions(canvas_image(), jobs(fake, QUADRANTS, cache), concurrency=4)
        assert len(fake.posts()) == 4
    assert all(d.draw.cached for d in drawn)
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_two_remote_regions_of_a_canvas_go_together() -> None:
    def canvas(concurrency: int, registry: Registry) -> PakatiCanvas:
        made = PakatiCanvas(128, 128, "pakati-shapes", base_prompt="a grey background")
        for name, box in (("a", (4, 4, 30, 30)), ("b", (98, 98, 124, 124))):
            made.create_region(box=box, name=name)
            made.apply_to_region(name, f"a {name} square", model="dall-e-2")
        made.model_registry = registry
        made.provider_concurrency = concurrency
        return made

    with FakeImageServer("scramble", latency_s=1.0) as fake:
        env = {"PAKATI_API_KEY_OPENAI": SECRET, "OPENAI_BASE_URL": f"{fake.url}/v1"}
        registry = Registry(env=env, dotenv=None, user_cards=False)
        both = canvas(4, registry).generate(seed=3)
        assert fake.most_in_flight == 2
    with FakeImageServer("scramble") as fake:
        env = {"PAKATI_API_KEY_OPENAI": SECRET, "OPENAI_BASE_URL": f"{fake.url}/v1"}
        registry = Registry(env=env, dotenv=None, user_cards=False)
        alone = canvas(1, registry).generate(seed=3)
        assert fake.most_in_flight == 1
    assert np.array_equal(np.asarray(both.image), np.asarray(alone.image))
    assert [m["together"] for m in both.models] == [2, 2]
    assert [m["together"] for m in alone.models] == [1, 1]
