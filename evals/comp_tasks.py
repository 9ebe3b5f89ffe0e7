"""Cases of ``pakati eval compositional``: seeded shapes-world scenes, one task each.

Tasks modelled on GenEval and the LMD benchmark (single object, two objects, counting up to
six, colours, position, colour attribution, spatial relations, sizes, negation), plus
Pakati's regional tasks (leakage between regions, locked-region byte identity, edit
locality). Case ``index`` of a task is drawn from ``default_rng([seed, task number,
index])``, so a case is the same whatever ``--n`` or shard it is run with, and its id
(``counting-0007``) is stable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pakati_engine.errors import InvalidInputError
from pakati_engine.world.colors import COLOR_NAMES, article
from pakati_engine.world.sampling import SHAPES, SceneSpec, sample_scene_spec
from pakati_engine.world.scene import object_position, spec_caption

COMPOSITIONAL_TASKS = (
    "single_object",
    "two_objects",
    "counting",
    "colors",
    "position",
    "color_attribution",
    "spatial_relation",
    "sizes",
    "negation",
)
REGIONAL_TASKS = ("leakage", "locked_identity", "edit_locality")
TASKS = COMPOSITIONAL_TASKS + REGIONAL_TASKS
EDIT_TASKS = ("locked_identity", "edit_locality")
"""Tasks that edit a generated canvas: only arms with regions can run them."""


@dataclass(frozen=True)
class Case:
    """One prompt of one task, with everything its verdict needs."""

    id: str
    task: str
    index: int
    seed: int
    """Generation seed."""
    spec: SceneSpec
    caption: str
    """The whole-scene caption (the plain arm's prompt)."""
    negated: str | None = None
    """negation: the colour no object may have."""
    relation: tuple[int, str, int] | None = None
    """spatial_relation: (object a, "left of" / "right of" / "above" / "below", object b)."""
    target: int | None = None
    """Edit tasks: the object redrawn (the others are kept); sizes: the small object."""
    new_color: str | None = None
    """edit_locality: the colour the edited object is given."""


def _distinct(
    rng: np.random.Generator, spec: SceneSpec, field: str, pool: tuple[str, ...]
) -> SceneSpec:
    """``spec`` with its objects' ``field`` (shape or color) made distinct, drawn from ``pool``."""
    if field == "color":
        pool = tuple(c for c in pool if c != spec.background)
    chosen = rng.choice(len(pool), size=len(spec.objects), replace=False)
    objects = tuple(
        dataclasses.replace(o, color=pool[int(k)])
        if field == "color"
        else dataclasses.replace(o, shape=pool[int(k)])
        for o, k in zip(spec.objects, chosen, strict=True)
    )
    return dataclasses.replace(spec, objects=objects)


def _relation(spec: SceneSpec) -> tuple[int, str, int]:
    a, b = spec.objects[0], spec.objects[1]
    dx, dy = b.cx - a.cx, b.cy - a.cy
    if abs(dx) >= abs(dy):
        return (0, "left of" if dx > 0 else "right of", 1)
    return (0, "above" if dy > 0 else "below", 1)


def make_case(task: str, index: int, seed: int, size: int = 128) -> Case:
    """Case ``index`` of ``task`` for ``seed`` (deterministic)."""
    if task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    rng = np.random.default_rng([seed, TASKS.index(task), index])
    extra: dict[str, object] = {}
    if task in ("single_object", "colors", "position"):
        spec = sample_scene_spec(rng, size, size, 1)
    elif task in ("two_objects", "spatial_relation"):
        spec = _distinct(rng, sample_scene_spec(rng, size, size, 2), "shape", SHAPES)
        if task == "spatial_relation":
            extra["relation"] = _relation(spec)
    elif task == "color_attribution":
        spec = _distinct(rng, sample_scene_spec(rng, size, size, 2), "shape", SHAPES)
        spec = _distinct(rng, spec, "color", COLOR_NAMES)
    elif task == "counting":
        count = int(rng.integers(2, 7))
        spec = sample_scene_spec(rng, size, size, count)
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        spec = dataclasses.replace(
            spec, objects=tuple(dataclasses.replace(o, shape=shape) for o in spec.objects)
        )
    elif task == "sizes":
        for _ in range(50):  # exactly one small object of two
            spec = sample_scene_spec(rng, size, size, 2, small_fraction=0.5)
            small = [o.size < 0.2 * size for o in spec.objects]
            big_enough = [o.size >= 0.3 * size for o in spec.objects]
            if sum(small) == 1 and sum(big_enough) == 1:
                break
        extra["target"] = int(np.argmin([o.size for o in spec.objects]))
    elif task == "negation":
        spec = sample_scene_spec(rng, size, size, int(rng.integers(2, 4)))
        used = {o.color for o in spec.objects} | {spec.background}
        free = [c for c in COLOR_NAMES if c not in used]
        extra["negated"] = free[int(rng.integers(len(free)))]
    elif task == "leakage":
        spec = _distinct(
            rng, sample_scene_spec(rng, size, size, int(rng.integers(2, 5))), "color", COLOR_NAMES
        )
    else:  # locked_identity, edit_locality
        spec = sample_scene_spec(rng, size, size, int(rng.integers(2, 4)))
        target = int(rng.integers(len(spec.objects)))
        extra["target"] = target
        if task == "edit_locality":
            old = spec.objects[target].color
            free = [c for c in COLOR_NAMES if c not in (old, spec.background)]
            extra["new_color"] = free[int(rng.integers(len(free)))]
    caption = case_caption(task, spec, extra)
    return Case(
        id=f"{task}-{index:04d}",
        task=task,
        index=index,
        seed=int(rng.integers(2**31)),
        spec=spec,
        caption=caption,
        **extra,  # type: ignore[arg-type]
    )


def case_caption(task: str, spec: SceneSpec, extra: dict[str, object]) -> str:
    """The whole caption: the world's own caption (what the model was trained on; it names
    every object, so it also states the count), with the negation appended."""
    caption = spec_caption(spec)
    if task == "negation":
        colour = str(extra["negated"])
        caption += f", and no {colour} objects"
    return caption


def object_words(spec: SceneSpec, index: int) -> str:
    """ "a red circle on the left" (for reports)."""
    o = spec.objects[index]
    return f"{article(o.color)} {o.color} {o.shape} ({object_position(o, spec.width, spec.height)})"


def sample_cases(n: int, seed: int, tasks: tuple[str, ...] = TASKS, size: int = 128) -> list[Case]:
    """``n`` cases of each task, in a fixed order (task, then index)."""
    if n < 1:
        raise InvalidInputError(f"--n must be at least 1, got {n}")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise InvalidInputError(
            f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}"
        )
    return [make_case(task, i, seed, size) for task in tasks for i in range(n)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` (0 <= i < N) to (i, N)."""
    try:
        left, right = text.split("/")
        index, count = int(left), int(right)
    except ValueError:
        raise InvalidInputError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise InvalidInputError(f"--shard {text}: need 0 <= i < N and N >= 1")
    return index, count


def shard_cases(cases: list[Case], index: int, count: int) -> list[Case]:
    """The deterministic slice ``index`` of ``count``: every ``count``-th case."""
    return [c for k, c in enumerate(cases) if k % count == index]
