"""Retrying a create request only when the server said so.

A POST that creates an image may have been carried out even if its answer was lost (a 500,
a dropped connection, a timeout), and repeating it would pay twice. So a create is repeated
only on 429 (the server refused it unprocessed), after the ``Retry-After`` it gave, and only
while that wait fits in the caller's budget; every other failure is reported at once.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")

#: Longest total wait for ``Retry-After`` before giving up with a clear error.
MAX_RETRY_WAIT_S = 60.0
MAX_ATTEMPTS = 4
#: When a 429 gives no ``Retry-After``: wait this long.
DEFAULT_WAIT_S = 1.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class RateLimited(Exception):
    """Raised by a create call that got 429; carries the server's wait (None: not given)."""

    def __init__(self, wait_s: float | None, detail: str = "") -> None:
        super().__init__(detail or "rate limited")
        self.wait_s = wait_s
        self.detail = detail


def create_with_retry(
    create: Callable[[], T],
    *,
    give_up: Callable[[RateLimited, float], Exception],
    max_wait_s: float = MAX_RETRY_WAIT_S,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``create``; on :class:`RateLimited` wait as told and try again.

    ``give_up(error, waited)`` makes the error raised when the budget or attempts run out.
    """
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            return create()
        except RateLimited as limited:
            wait = DEFAULT_WAIT_S if limited.wait_s is None else limited.wait_s
            if attempt == attempts or waited + wait > max_wait_s:
                raise give_up(limited, waited) from limited
            sleep(wait)
            waited += wait
    raise AssertionError("unreachable")
