"""The server's event log is bounded in bytes: only the newest step events keep their
preview images, older ones keep their step counts."""

from __future__ import annotations

from pakati.server.jobs import PREVIEWS_KEPT, EventLog


def test_only_the_newest_previews_are_kept() -> None:
    log = EventLog(size=100)
    log.publish("started", job="j1")
    held = log.since(0)  # what a reader is sending right now
    for step in range(1, 41):
        preview = f"data:image/png;base64,{step:04d}" if step % 2 else None
        log.publish("step", job="j1", step=step, total=40, preview=preview)
    steps = [e for e in log.since(0) if e["type"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 41))  # every step still there
    with_preview = [e["step"] for e in steps if e.get("preview")]
    assert len(with_preview) == PREVIEWS_KEPT
    assert with_preview == [s for s in range(1, 41) if s % 2][-PREVIEWS_KEPT:]
    assert not any(e.get("preview") for e in steps if e["step"] < with_preview[0])
    assert held[0]["type"] == "started"  # events already handed out are not changed
    # Once old events fall out of the log, trimming still finds the right ones.
    for step in range(41, 301):
        log.publish("step", job="j2", step=step, total=300, preview=f"p{step}")
    kept = [e for e in log.since(0) if "preview" in e]
    assert [e["step"] for e in kept] == list(range(285, 301))
    assert len(log.since(0)) == 100
