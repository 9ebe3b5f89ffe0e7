"""Grouped routing (each pixel attends only to the prompts that reach it) computes what the
dense bias over all tokens computes, with a cost that hardly grows with the regions."""

from __future__ import annotations

import pytest
import torch

from pakati_engine.diffusion.attention import (
    RegionalAttentionController,
    cross_attention_names,
    regional_attention,
)
from pakati_engine.diffusion.routing import DenseRouting, GroupedRouting, SampleGroupedRouting
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.masks import pool_masks, stack_masks
from pakati_engine.regions.region import make_box_region, make_polygon_region

SIZE = 64


def _controller(
    base_ratio: float, weights: list[float], grouped: bool, cover_all: bool
) -> RegionalAttentionController:
    a = make_polygon_region([(2, 2), (40, 6), (30, 62), (4, 50)], SIZE, SIZE, region_id="a")
    b = make_box_region((36, 0, 64, 40), SIZE, SIZE, region_id="b")
    c = make_box_region(
        (0, 0, 64, 64) if cover_all else (40, 44, 60, 60), SIZE, SIZE, region_id="c"
    )
    masks = [c.rasterize(), a.rasterize(), b.rasterize()]  # c at the bottom
    stacked = stack_masks(masks)
    return RegionalAttentionController(
        torch.from_numpy(stacked.visible)[None],
        torch.from_numpy(stacked.background)[None],
        tokens_per_prompt=5,
        latent_size=(8, 8),
        base_ratio=base_ratio,
        weights=weights,
        grouped=grouped,
    )


@pytest.mark.parametrize("cover_all", [False, True])
@pytest.mark.parametrize(
    ("base_ratio", "weights"), [(0.2, [1.0, 1.0, 1.0]), (0.0, [1.0, 1.0, 1.0]), (0.3, [0.5, 2, 1])]
)
def test_grouped_attention_equals_the_dense_bias(
    bundle: ModelBundle, base_ratio: float, weights: list[float], cover_all: bool
) -> None:
    outputs = {}
    for grouped in (True, False):
        controller = _controller(base_ratio, weights, grouped, cover_all)
        torch.manual_seed(0)
        with regional_attention(bundle.unet, controller), torch.no_grad():
            results = []
            for name in cross_attention_names(bundle.unet):
                module = bundle.unet.get_submodule(name.removesuffix(".processor"))
                for positions in (64, 16):
                    hidden = torch.randn(2, positions, module.to_q.in_features)
                    embeds = torch.randn(2, 20, module.to_k.in_features)
                    results.append(module(hidden, encoder_hidden_states=embeds))
                    routing = controller.routing(positions, hidden.device, hidden.dtype)
                    kind = GroupedRouting if grouped else DenseRouting
                    assert isinstance(routing, kind)
        outputs[grouped] = results
    for grouped_out, dense_out in zip(outputs[True], outputs[False], strict=True):
        assert torch.allclose(grouped_out, dense_out, atol=1e-5, rtol=1e-4)


def test_grouping_sorts_each_pixel_once_and_edges_as_mixed() -> None:
    controller = _controller(0.2, [1.0, 1.0, 1.0], grouped=True, cover_all=False)
    routing = controller.routing(64, torch.device("cpu"), torch.float32)
    assert isinstance(routing, GroupedRouting)
    assert routing.order is not None and routing.restore is not None
    assert sorted(routing.order.tolist()) == list(range(64))
    assert torch.equal(routing.order[routing.restore], torch.arange(64))
    assert [group for group, _, _ in routing.chunks] == [0, 1, 2, 3, -1]
    starts = [start for _, start, _ in routing.chunks]
    stops = [stop for _, _, stop in routing.chunks]
    assert starts[0] == 0 and stops[-1] == 64 and starts[1:] == stops[:-1]
    mixed = stops[-1] - starts[-1]  # the polygon's slanted edge, the overlaps
    assert routing.mixed_bias is not None and routing.mixed_bias.shape == (1, 1, mixed, 20)
    assert routing.base_share is not None


def test_regions_in_pixel_order_need_no_sorting() -> None:
    controller = RegionalAttentionController(
        torch.ones(1, 1, SIZE, SIZE), torch.zeros(1, SIZE, SIZE), 5, (8, 8)
    )
    routing = controller.routing(64, torch.device("cpu"), torch.float32)
    assert isinstance(routing, GroupedRouting) and routing.order is None
    assert routing.chunks == [(1, 0, 64)]


def test_many_masks_per_sample_or_training_keep_the_dense_bias() -> None:
    visible = torch.rand(20, 1, SIZE, SIZE)
    controller = RegionalAttentionController(visible, 1.0 - visible[:, 0], 5, (8, 8))
    with torch.no_grad():
        assert isinstance(controller.routing(64, torch.device("cpu"), torch.float32), DenseRouting)
    two = RegionalAttentionController(visible[:2], 1.0 - visible[:2, 0], 5, (8, 8))
    assert torch.is_grad_enabled()
    assert isinstance(two.routing(64, torch.device("cpu"), torch.float32), DenseRouting)


def test_a_few_masks_per_sample_are_grouped_row_by_row(sd_bundle: ModelBundle) -> None:
    """Latent mode's batch: rows [negatives, positives] of passes with their own masks."""
    one = _controller(0.2, [1.0, 1.0, 1.0], grouped=True, cover_all=False)
    two = _controller(0.3, [0.5, 2.0, 1.0], grouped=True, cover_all=True)
    visible = torch.cat([one.visible, two.visible, one.visible, two.visible])  # (4, 3, H, W)
    background = torch.cat([one.background, two.background] * 2)  # (4, H, W)
    weights = torch.tensor([[1.0, 1.0, 1.0], [0.5, 2.0, 1.0]] * 2)  # (4, 3)
    outputs = {}
    for grouped in (True, False):
        controller = RegionalAttentionController(
            visible, background, 5, (8, 8), 0.25, weights, grouped=grouped
        )
        with torch.no_grad():
            routing = controller.routing(64, torch.device("cpu"), torch.float32)
        if grouped:
            assert isinstance(routing, SampleGroupedRouting)
            assert [rows.tolist() for rows, _ in routing.parts] == [[0, 2], [1, 3]]
        else:
            assert isinstance(routing, DenseRouting)
        name = cross_attention_names(sd_bundle.unet)[0]
        module = sd_bundle.unet.get_submodule(name.removesuffix(".processor"))
        torch.manual_seed(0)
        hidden = torch.randn(4, 64, module.to_q.in_features)
        embeds = torch.randn(4, 20, module.to_k.in_features)
        with regional_attention(sd_bundle.unet, controller), torch.no_grad():
            outputs[grouped] = module(hidden, encoder_hidden_states=embeds)
    assert torch.allclose(outputs[True], outputs[False], atol=1e-5, rtol=1e-4)


def _uniform_negative_embeds(features: int, rows: int = 2) -> torch.Tensor:
    """(rows, 20, features): row 0 one span repeated 4 times (a shared negative prompt),
    the other rows four different spans."""
    negative = torch.randn(1, 5, features).repeat(1, 4, 1)  # (1, 20, D)
    return torch.cat([negative, torch.randn(rows - 1, 20, features)])


@pytest.mark.parametrize("cover_all", [False, True])
def test_a_row_of_one_repeated_prompt_gets_plain_attention_once_projected(
    bundle: ModelBundle, cover_all: bool
) -> None:
    """Under guidance the negative row usually repeats one prompt in every span: it is
    attended as plain attention over one span (projected once), which equals the routed
    result; the routed row still equals the dense bias, and regions stay exact."""
    name = cross_attention_names(bundle.unet)[0]
    module = bundle.unet.get_submodule(name.removesuffix(".processor"))
    torch.manual_seed(0)
    hidden = torch.randn(2, 64, module.to_q.in_features)
    embeds = _uniform_negative_embeds(module.to_k.in_features)
    projected: list[int] = []
    handle = module.to_k.register_forward_hook(
        lambda mod, args, out: projected.append(args[0].shape[-2])
    )
    outputs = {}
    try:
        for grouped in (True, False):
            controller = _controller(0.2, [1.0, 1.0, 1.0], grouped, cover_all)
            with regional_attention(bundle.unet, controller), torch.no_grad():
                outputs[grouped] = module(hidden, encoder_hidden_states=embeds)
                again = module(hidden, encoder_hidden_states=embeds)  # cached projections
                assert torch.equal(again, outputs[grouped])
                if grouped:  # region c's prompt changed: its row changes inside c only
                    changed = embeds.clone()
                    changed[1, 5:10] += 1.0
                    moved = module(hidden, encoder_hidden_states=changed)
    finally:
        handle.remove()
    # grouped: row 1's 20 tokens and one span of row 0 in one call (for embeds, then for
    # changed); dense: (2, 20)
    assert projected == [20 + 5, 20 + 5, 20]
    assert torch.allclose(outputs[True], outputs[False], atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # the layer's own processor (restored), over one span
        stock = module(hidden[:1], encoder_hidden_states=embeds[:1, :5])
    assert torch.allclose(outputs[True][:1], stock, atol=1e-5, rtol=1e-4)
    c_visible = pool_masks(controller.visible[0, :1], (8, 8)).flatten()  # (64,)
    assert torch.equal(moved[0], outputs[True][0])  # the negative row does not read c
    assert torch.equal(moved[1, c_visible == 0], outputs[True][1, c_visible == 0])
    assert (moved[1, c_visible > 0.5] != outputs[True][1, c_visible > 0.5]).any(dim=-1).all()
