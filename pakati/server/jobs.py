"""One worker thread that runs long work one job at a time, and the event log it reports to.

The web server never generates on its event loop: a request enqueues a :class:`Job` and
returns its id at once; the :class:`Worker` thread runs jobs in order (one generation at a
time: a model is not shared between concurrent runs), and every job reports what happens
(queued with its position, started, each denoising step with an optional preview, done,
failed, cancelled) as numbered events on the :class:`EventLog`. Server-Sent Events streams
read that log from any sequence number, so a page that reloads mid-run asks for the events
since the current job started and its progress resumes.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pakati.server.errors import http_status, problem

__all__ = ["Cancelled", "EventLog", "Job", "Worker", "http_status"]

JobState = Literal["queued", "running", "done", "failed", "cancelled"]

#: Events kept in memory; older ones are dropped (a page that missed them gets a snapshot).
EVENT_LOG_SIZE = 2000
#: Step events that keep their preview image (a data URL, up to a few hundred kB each);
#: older ones keep their step count only, so the log's memory is bounded in bytes too.
PREVIEWS_KEPT = 16


class Cancelled(Exception):
    """Raised inside a job (from its step callback) when the user cancelled it."""


@dataclass
class Job:
    """A unit of long work: ``run(job)`` returns a JSON-able result."""

    id: str
    kind: str
    run: Callable[[Job], dict[str, Any]]
    state: JobState = "queued"
    step: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    #: The HTTP status a failure maps to (see :func:`http_status`).
    status: int = 200
    created: float = field(default_factory=time.time)
    first_event: int = 0
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def check_cancelled(self) -> None:
        if self.cancel_requested.is_set():
            raise Cancelled(f"job {self.id} was cancelled")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "step": self.step,
            "total": self.total,
            "result": self.result,
            "error": self.error,
            "status": self.status if self.state == "failed" else None,
            "first_event": self.first_event,
        }


class EventLog:
    """Numbered events, bounded; readers wait for new ones without blocking the loop."""

    def __init__(self, size: int = EVENT_LOG_SIZE) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=size)
        self._previews: deque[int] = deque()  # sequence numbers of events with a preview
        self._lock = threading.Lock()
        self._next = 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (readers wait on it)."""
        self._loop = loop
        self._changed = asyncio.Event()

    @property
    def next_seq(self) -> int:
        with self._lock:
            return self._next

    def publish(self, event_type: str, /, **data: Any) -> int:
        """Append an event (from any thread); returns its sequence number."""
        with self._lock:
            seq = self._next
            self._next += 1
            self._events.append({"seq": seq, "type": event_type, "time": time.time(), **data})
            if data.get("preview") is not None:
                self._previews.append(seq)
                if len(self._previews) > PREVIEWS_KEPT:
                    self._drop_preview(self._previews.popleft())
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)
        return seq

    def _drop_preview(self, seq: int) -> None:
        """Replace event ``seq`` by a copy without its preview (readers may hold the old
        one, so it is not changed in place). Events are numbered without gaps."""
        index = seq - self._events[0]["seq"]
        if 0 <= index < len(self._events):
            event = self._events[index]
            self._events[index] = {k: v for k, v in event.items() if k != "preview"}

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Events numbered ``seq`` or later that are still kept."""
        with self._lock:
            return [e for e in self._events if e["seq"] >= seq]

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()

    async def wait(self, seq: int, timeout: float) -> list[dict[str, Any]]:
        """Events from ``seq`` on, waiting up to ``timeout`` seconds for one to come."""
        changed = self._changed
        events = self.since(seq)
        if events or changed is None:
            return events
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return []
        return self.since(seq)


class Worker:
    """Runs queued jobs one at a time on a daemon thread, reporting to ``log``."""

    def __init__(self, log: EventLog, keep: int = 200) -> None:
        self.log = log
        self.jobs: dict[str, Job] = {}
        self._keep = keep
        self._queue: deque[Job] = deque()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._loop, name="pakati-worker", daemon=True)
        self._stopping = False
        self.current: Job | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with self._lock:
            self._stopping = True
            for job in self._queue:
                job.cancel_requested.set()
            if self.current is not None:
                self.current.cancel_requested.set()
            self._lock.notify_all()
        self._thread.join(timeout=10)

    def submit(self, kind: str, run: Callable[[Job], dict[str, Any]]) -> Job:
        with self._lock:
            job = Job(id=f"j{next(self._ids)}", kind=kind, run=run)
            self.jobs[job.id] = job
            self._queue.append(job)
            position = len(self._queue) + (self.current is not None)
            job.first_event = self.log.publish("queued", job=job.id, kind=kind, position=position)
            self._forget_old()
            self._lock.notify_all()
        return job

    def position(self, job: Job) -> int:
        """1 = running or next; 0 = no longer waiting."""
        with self._lock:
            if job is self.current:
                return 1
            if job in self._queue:
                return list(self._queue).index(job) + 1 + (self.current is not None)
            return 0

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            job.cancel_requested.set()
            if job in self._queue:
                self._queue.remove(job)
                job.state = "cancelled"
                job.finished.set()
                self.log.publish("cancelled", job=job.id, kind=job.kind)
                self._announce_positions()
            return job

    def progress(self, job: Job, step: int, total: int, preview: str | None = None) -> None:
        """A job's step callback: count the step, publish it, honour a cancel."""
        job.step, job.total = step, total
        data: dict[str, Any] = {"job": job.id, "step": step, "total": total}
        if preview is not None:
            data["preview"] = preview
        self.log.publish("step", **data)
        job.check_cancelled()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                self.current = job
                self._announce_positions()
            outcome: dict[str, Any] = {}
            try:
                outcome = self._run(job)
            finally:
                with self._lock:
                    self.current = None
                job.finished.set()
                # Announced once the worker is free, so a page that reacts sees it idle.
                self.log.publish(
                    outcome.pop("type", "failed"), job=job.id, kind=job.kind, **outcome
                )

    def _run(self, job: Job) -> dict[str, Any]:
        """Run ``job``; the event that ends it (its type and data)."""
        job.state = "running"
        self.log.publish("started", job=job.id, kind=job.kind)
        try:
            job.check_cancelled()
            job.result = job.run(job)
        except Cancelled:
            job.state = "cancelled"
            return {"type": "cancelled"}
        except Exception as error:  # reported to the page, never raised into the server
            job.state = "failed"
            job.status, job.error = problem(error)
            return {"type": "failed", "error": job.error, "status": job.status}
        job.state = "done"
        return {"type": "done", "result": job.result}

    def _announce_positions(self) -> None:
        for index, waiting in enumerate(self._queue):
            self.log.publish("queued", job=waiting.id, kind=waiting.kind, position=index + 2)

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.state not in ("queued", "running")]
        for job in finished[: max(0, len(self.jobs) - self._keep)]:
            del self.jobs[job.id]
