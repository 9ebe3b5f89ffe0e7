"""Watching a running generation's latents, for live previews (the web canvas uses it).

A caller wraps a generation in ``observe_latents(observer)``; after every denoising step
the pipeline calls ``observer(step, total, decode)``, where ``decode()`` turns the current
latents into a PIL image. Decoding is left to the observer (it may skip steps), so a
generation nobody observes pays nothing. The observer lives in a context variable: it
follows the thread (or task) that set it and needs no new argument on any generation call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from PIL import Image

#: ``(step, total, decode)``: ``step`` counts from 0; ``decode()`` gives the preview image.
LatentObserver = Callable[[int, int, Callable[[], Image.Image]], None]

_observer: ContextVar[LatentObserver | None] = ContextVar("pakati_latent_observer", default=None)


@contextmanager
def observe_latents(observer: LatentObserver) -> Iterator[None]:
    """Call ``observer`` after every denoising step of generations run inside this block."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def notify_step(step: int, total: int, decode: Callable[[], Image.Image]) -> None:
    """Tell the current observer, if any, that ``step`` of ``total`` is done."""
    observer = _observer.get()
    if observer is not None:
        observer(step, total, decode)
