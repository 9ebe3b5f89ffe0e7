"""Foreign regions in z-order, with independent remote requests in flight together.

Drawing regions one after another, each on the image the previous one left, is the
definition of the result. Two remote regions may be requested at once when the later one's
crop does not reach what the earlier one may change (its mask's box grown by the feather
band): the later crop is then the same bytes either way. Answers are pasted in z-order, so
the image equals the one-by-one result exactly, whatever order the answers arrive in. Local
models run on the calling thread, after everything pending before them is pasted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from pakati_engine.providers.compose import Prepared, RegionDraw, fetch, paste

#: Remote requests in flight at once, at most.
DEFAULT_CONCURRENCY = 4


@dataclass
class Drawn:
    """What :func:`draw_regions` did for one region: its record and how many requests
    were in flight with its own (1: alone)."""

    draw: RegionDraw
    together: int


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_regions(
    image: Image.Image,
    prepare: Sequence[Callable[[Image.Image], Prepared]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> tuple[Image.Image, list[Drawn]]:
    """``image`` with each region drawn in the order given (bottom to top).

    ``prepare[i](image)`` builds region i's job from the image it would see one by one;
    up to ``concurrency`` independent remote jobs are sent together.
    """
    concurrency = max(1, concurrency)
    drawn: list[Drawn] = []
    pending: list[Prepared] = []

    def flush(current: Image.Image) -> Image.Image:
        if not pending:
            return current
        if len(pending) == 1:
            answers = [fetch(pending[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(pending)) as pool:
                futures = [pool.submit(fetch, job) for job in pending]
                answers = [future.result() for future in futures]  # the first error, in order
        for job, answer in zip(pending, answers, strict=True):
            current, record = paste(current, job, answer)
            drawn.append(Drawn(record, len(pending)))
        pending.clear()
        return current

    for make in prepare:
        job = make(image)
        remote = job.card.provider != "local"
        blocked = any(overlaps(job.box, earlier.changes) for earlier in pending)
        if pending and (not remote or blocked or len(pending) >= concurrency):
            image = flush(image)
            job = make(image)  # its crop from the image with the earlier regions drawn
        if remote:
            pending.append(job)
        else:
            image, record = paste(image, job, fetch(job))
            drawn.append(Drawn(record, 1))
    return flush(image), drawn
