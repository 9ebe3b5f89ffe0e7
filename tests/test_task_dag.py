"""The product description's Task form, and independent tasks of the DAG run together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pakati.agents.executor import draw_plan
from pakati.agents.schemas import Plan, Task
from pakati.tools.session import CanvasSession


def test_the_descriptions_task_is_accepted_and_mapped_onto_a_region() -> None:
    task = Task(
        id="lion",
        task_type="generation",
        region=[(100, 100), (300, 100), (300, 300), (100, 300)],  # Polygon vertices
        prompt="a majestic lion",
        model_name="stable-diffusion-xl",
        parameters={"guidance_scale": 7.5, "steps": 50},
    )
    plan = Plan(width=1024, height=1024, tasks=[task])
    (region,) = plan.regions
    assert (region.name, region.prompt, region.model) == (
        "lion",
        "a majestic lion",
        "stable-diffusion-xl",
    )
    assert region.polygon == [(100, 100), (300, 100), (300, 300), (100, 300)]
    assert (plan.steps, plan.guidance_scale) == (50, 7.5)
    (mapped,) = plan.tasks
    assert mapped.regions == ["lion"] and mapped.parameters == {} and mapped.region is None
    again = Plan.model_validate(plan.model_dump())  # the mapped form round-trips unchanged
    assert again.regions == plan.regions and again.tasks == plan.tasks
    layout = plan.to_layout("tiny-random")
    assert layout.regions[0].polygon == region.polygon and layout.steps == 50


def test_description_form_errors_say_what_to_fix() -> None:
    lion = {"id": "lion", "task_type": "generation", "region": [(0, 0), (9, 0), (9, 9)]}
    with pytest.raises(ValidationError, match="needs both region"):
        Plan(width=64, height=64, tasks=[lion])
    with pytest.raises(ValidationError, match="unknown parameters \\['cfg'\\]"):
        Plan(width=64, height=64, tasks=[{**lion, "prompt": "x", "parameters": {"cfg": 7}}])
    other = {**lion, "id": "sky", "prompt": "sky", "parameters": {"steps": 20}}
    with pytest.raises(ValidationError, match="one pass"):
        Plan(
            width=64,
            height=64,
            tasks=[{**lion, "prompt": "lion", "parameters": {"steps": 30}}, other],
        )
    with pytest.raises(ValidationError, match="outside"):
        Plan(
            width=64, height=64, tasks=[{**lion, "prompt": "lion", "region": _square(0, 0, 99, 9)}]
        )


def _square(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _dag(second_overlaps: bool) -> Plan:
    right = (16, 16, 64, 48) if second_overlaps else (40, 32, 64, 64)
    return Plan(
        width=64,
        height=64,
        steps=2,
        base_prompt="a white background",
        tasks=[
            Task(id="base", task_type="generation"),
            Task(id="left", task_type="inpainting", region=_square(0, 0, 32, 32),
                 prompt="a red circle", depends_on=["base"]),
            Task(id="right", task_type="inpainting", region=_square(*right),
                 prompt="a blue square", depends_on=["base"]),
            Task(id="touch-up", task_type="refinement", regions=["left"],
                 parameters={"strength": 0.3}, depends_on=["left", "right"]),
        ],
    )  # fmt: skip


class _Recording(CanvasSession):
    """A real session that notes which regions each redraw asked for."""

    calls: list[tuple[str, ...]]

    def regenerate(self, canvas_id: str, regions: Sequence[str], *args: Any, **kw: Any) -> Path:
        self.calls.append(tuple(regions))
        return super().regenerate(canvas_id, regions, *args, **kw)


@pytest.mark.parametrize(("overlap", "expected"), [(False, [("left", "right")]),
                                                   (True, [("left",), ("right",)])])  # fmt: skip
def test_independent_tasks_on_separate_pixels_are_redrawn_together(
    sd_bundle, tmp_path, overlap, expected
) -> None:
    plan = _dag(second_overlaps=overlap)
    batches = [[t.id for t in batch] for batch in plan.execution_batches()]
    together = [["base"], ["left", "right"], ["touch-up"]]
    assert batches == (together if not overlap else [["base"], ["left"], ["right"], ["touch-up"]])
    session = _Recording(tmp_path / "run", model=sd_bundle)
    session.calls = []
    path = draw_plan(session, plan, "pass.png")
    assert session.calls == expected
    assert session.resolve(path).is_file()


def test_a_task_that_depends_on_another_is_not_merged_with_it() -> None:
    plan = _dag(second_overlaps=False)
    tasks = [t.model_dump() for t in plan.tasks]
    tasks[2]["depends_on"] = ["left"]
    chained = Plan.model_validate({**plan.model_dump(), "tasks": tasks})
    assert [[t.id for t in b] for b in chained.execution_batches()] == [
        ["base"],
        ["left"],
        ["right"],
        ["touch-up"],
    ]
