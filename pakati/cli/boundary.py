"""The command line's one error boundary: every exception a command raises becomes one
message that says what is wrong and what to do, and an exit status.

- 0: done; 1: the run failed (bad input file, missing model, provider or I/O error, corrupt
  checkpoint, ...); 2: usage error (an argument out of range, an output that exists);
  130: interrupted.
- ``--debug`` (or ``PAKATI_DEBUG=1``) prints the traceback as well.
- An exception Pakati does not know is reported as a bug; its traceback goes to a log file
  under ``PAKATI_HOME/logs`` whose path the message gives.
"""

# Only the standard library at module level: the CLI must start without torch or LangChain.
# Exception classes of optional packages (pydantic, PIL, the LLM clients) are recognised by
# their module and class names, so none of them is imported here.

from __future__ import annotations

import errno
import os
import sqlite3
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from pakati_engine.errors import OutputExistsError, PakatiError, UsageError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: What to do about an operating-system error, by errno.
_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or write somewhere else",
    errno.EDQUOT: "the disk quota is used up: free some space or write somewhere else",
    errno.EROFS: "that file system is read-only: choose a folder you can write to",
    errno.EACCES: "permission denied: choose a file or folder you may use",
    errno.EPERM: "not permitted: choose a file or folder you may use",
    errno.ENOENT: "no such file or folder: check the path",
    errno.EISDIR: "that is a folder, not a file: give a file path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: check the path",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter one",
}


@dataclass(frozen=True)
class Failure:
    """What the boundary reports: the exit status and the message (without ``error: ``)."""

    status: int
    message: str
    bug: bool = False


def classify(error: BaseException) -> Failure:
    """The exit status and message for ``error``; unknown exceptions are bugs."""
    if isinstance(error, KeyboardInterrupt):
        return Failure(EXIT_INTERRUPTED, "interrupted")
    if isinstance(error, UsageError | OutputExistsError):
        return Failure(EXIT_USAGE, str(error))
    if isinstance(error, FileExistsError) and not isinstance(error, PakatiError):
        return Failure(EXIT_USAGE, _os_message(error))
    if isinstance(error, PakatiError):
        return Failure(EXIT_FAILED, str(error))
    if isinstance(error, MemoryError):
        return Failure(EXIT_FAILED, "out of memory: try a smaller canvas (--size) or fewer regions")
    if isinstance(error, sqlite3.Error):
        return Failure(
            EXIT_FAILED,
            f"the checkpoint database failed ({error}): it may be corrupt or locked by another "
            "run; give a new --checkpoint file",
        )
    if isinstance(error, RecursionError):
        return Failure(EXIT_FAILED, "an input is nested too deeply to read; check the file")
    named = _by_name(error)
    if named is not None:
        return named
    if isinstance(error, OSError):
        return Failure(EXIT_FAILED, _os_message(error))
    return Failure(EXIT_FAILED, f"{type(error).__name__}: {error}", bug=True)


def _by_name(error: BaseException) -> Failure | None:
    """Exceptions of packages the CLI does not import up front, recognised by name."""
    for kind in type(error).__mro__:
        module, name = kind.__module__, kind.__name__
        if name == "DecompressionBombError" and module.startswith("PIL"):
            return Failure(
                EXIT_FAILED,
                f"the image is too large to read safely ({error}); use a smaller image",
            )
        if name == "ValidationError" and module.startswith("pydantic"):
            lines = [f"invalid {getattr(error, 'title', 'value')}:"]
            for problem in error.errors():  # type: ignore[attr-defined]
                where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
                lines.append(f"  - {where}: {problem['msg']}")
            # User input is validated where it is read (and wrapped in InvalidInputError);
            # a raw ValidationError reaching here is a value Pakati built itself.
            return Failure(EXIT_FAILED, "\n".join(lines), bug=True)
        if module.split(".")[0] in ("openai", "anthropic", "httpx", "httpcore"):
            return Failure(
                EXIT_FAILED,
                f"the LLM provider failed ({type(error).__name__}: {error}); check that the "
                "server is up and reachable, raise --timeout, or use --provider offline",
            )
    return None


def _os_message(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    reason = error.strerror or str(error)
    hint = _OS_HINTS.get(error.errno or -1)
    if isinstance(error, FileExistsError):
        hint = "choose another output or pass --overwrite"
    return f"{where}{reason}" + (f" ({hint})" if hint else "")


def debug_requested(flag: bool) -> bool:
    return flag or os.environ.get("PAKATI_DEBUG", "") not in ("", "0")


def report(error: BaseException, *, debug: bool) -> int:
    """Print the message for ``error`` (and with ``debug`` its traceback); the exit status."""
    failure = classify(error)
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    if not failure.bug:
        print(f"error: {failure.message}", file=sys.stderr)
        return failure.status
    if debug:
        print(
            f"error: {failure.message}\nThis is a bug in Pakati; please report it.", file=sys.stderr
        )
        return failure.status
    log = write_log(error)
    where = f"; the traceback is in {log}" if log else ""
    print(
        f"error: {failure.message}\nThis is a bug in Pakati, not something you did wrong"
        f"{where}. Please report it (rerun with --debug to see the traceback).",
        file=sys.stderr,
    )
    return failure.status


def write_log(error: BaseException) -> Path | None:
    """The traceback of an unexpected error, in ``PAKATI_HOME/logs``; None if unwritable."""
    folder = Path(os.environ.get("PAKATI_HOME", "~/.cache/pakati")).expanduser() / "logs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A server can meet several bugs in one second: each log gets a file of its own.
        handle, name = tempfile.mkstemp(
            prefix=f"error-{stamp}-{os.getpid()}-", suffix=".log", dir=folder
        )
        with os.fdopen(handle, "w", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return Path(name)
