"""Writing outputs so that nothing of the user's is lost.

- :func:`check_targets`: before any work, refuse an output that exists (unless
  ``overwrite``) and, always, one that is also one of the run's inputs.
- :func:`write_files`: several files (a PNG and its sidecar) written as one: every payload
  goes to a temporary file first, so a full disk leaves the old files (or none) in place, and
  the renames that follow are undone if one fails.
- :func:`output_lock`: one writer per output at a time; a second run gets a clear error.
  :func:`write_files` takes the same lock (waiting a little for it), so two writers in
  Python, even with ``overwrite=True``, never mix their pairs; a thread that already holds
  an output's lock (a CLI run saving its result) takes it again freely.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from pakati_engine.errors import OutputExistsError


def check_targets(
    targets: Iterable[str | Path], *, overwrite: bool, inputs: Iterable[str | Path] = ()
) -> None:
    """Raise ``OutputExistsError`` for a target that is an input, or exists without
    ``overwrite``."""
    paths = [Path(t) for t in targets]
    read = {_identity(Path(p)) for p in inputs}
    clash = [str(p) for p in paths if _identity(p) in read]
    if clash:
        raise OutputExistsError(
            f"{', '.join(clash)} would replace one of this run's own inputs; choose another "
            "output name (--overwrite never replaces an input)"
        )
    taken = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if taken and not overwrite:
        raise OutputExistsError(
            f"{', '.join(taken)} already exist(s); choose another output name or pass "
            "--overwrite (overwrite=True) to replace"
        )


def _identity(path: Path) -> tuple[int, int] | str:
    """What makes two paths the same file: device and inode if it exists, else the path."""
    try:
        info = path.stat()
    except OSError:
        return str(path.resolve())
    return (info.st_dev, info.st_ino)


#: Seconds a Python writer waits for another writer of the same output to finish.
WRITE_LOCK_WAIT_S = 30.0


def write_files(payloads: Mapping[Path, bytes], *, overwrite: bool = False) -> None:
    """Write every ``path: bytes`` or none of them (existing files are kept on failure),
    holding the first path's output lock: one writer of a pair at a time."""
    if not payloads:
        return
    with output_lock(next(iter(payloads)), wait_s=WRITE_LOCK_WAIT_S):
        check_targets(payloads, overwrite=overwrite)
        staged: dict[Path, str] = {}
        try:
            for path, payload in payloads.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                staged[path] = _stage(path, payload)
            _commit(staged)
        finally:
            for temp in staged.values():
                Path(temp).unlink(missing_ok=True)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write one file whole or not at all: staged beside ``path``, then renamed over it."""
    temp = _stage(path, payload)
    try:
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _stage(path: Path, payload: bytes) -> str:
    """``payload`` in a fsynced temporary file beside ``path`` (usual permissions)."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below; the caller renames it)
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return handle.name


def _commit(staged: Mapping[Path, str]) -> None:
    """Rename the staged files over their targets; on a failure, put back what was there."""
    backups: dict[Path, str | None] = {}
    try:
        for path, temp in staged.items():
            backups[path] = _backup(path)
            os.replace(temp, path)
    except BaseException:
        for path, backup in backups.items():
            if backup is not None:
                os.replace(backup, path)
                # rename() between two links of one file does nothing: drop the backup.
                Path(backup).unlink(missing_ok=True)
            else:
                path.unlink(missing_ok=True)
        raise
    for backup in backups.values():
        if backup is not None:
            Path(backup).unlink(missing_ok=True)


def _backup(path: Path) -> str | None:
    """A hard link to the file at ``path`` (so it can be restored), or None if none."""
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.{os.getpid()}.bak")
    backup.unlink(missing_ok=True)
    os.link(path, backup)
    return str(backup)


#: Output locks held in this process: lock file -> the thread holding it.
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def output_lock(path: str | Path, *, wait_s: float = 0.0) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``path`` while writing ``path``. Another holder (a
    process or a thread) makes this fail with a clear error, at once or after ``wait_s``
    seconds; the thread that holds it may take it again."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(f".{target.name}.lock")
    key = str(lock_path.parent.resolve() / lock_path.name)
    me = threading.get_ident()
    with _HELD_GUARD:
        reentrant = _HELD.get(key) == me
    if reentrant:
        yield lock_path
        return
    descriptor = _acquire(lock_path, target, time.monotonic() + wait_s)
    with _HELD_GUARD:
        _HELD[key] = me
    try:
        yield lock_path
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        lock_path.unlink(missing_ok=True)
        os.close(descriptor)


def _acquire(lock_path: Path, target: Path, deadline: float) -> int:
    """An open, locked descriptor of ``lock_path`` (the file the path names now)."""
    while True:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            if time.monotonic() >= deadline:
                raise OutputExistsError(
                    f"another Pakati run is writing {target} right now (it holds {lock_path}); "
                    "wait for it to finish or choose another output"
                ) from None
            time.sleep(0.02)
            continue
        except BaseException:
            os.close(descriptor)
            raise
        # The holder before us removes the file when done: a lock on a file no longer
        # at lock_path locks nothing, so try again on the one there now.
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)
