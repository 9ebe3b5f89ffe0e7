"""The web server's error boundary, the twin of the command line's (``pakati.cli.boundary``).

Every failure, of a request or of a queued job, becomes one JSON problem
(``{"detail": ...}``) with the status that says whose it is: 4xx for what the user can fix
(a bad layout, an image too large, an output that exists, a model that is not there), 502 /
504 for an LLM or image provider that failed or did not answer, 507 for a full disk, 500 for
the server's own I/O. No traceback is ever sent. An exception Pakati does not know is a bug:
the answer says so and names the log file (under ``PAKATI_HOME/logs`` on the server) that
holds its traceback.
"""

from __future__ import annotations

import errno
import sys

from pakati.cli.boundary import classify, write_log
from pakati_engine.errors import (
    ModelNotFoundError,
    OutputExistsError,
    PakatiError,
    ResourceLimitError,
)
from pakati_engine.providers.types import (
    ContentRefusedError,
    ProviderError,
    ProviderUnavailableError,
)

#: The provider packages whose errors are another server's failure (recognised by name).
_PROVIDER_MODULES = ("openai", "anthropic", "httpx", "httpcore", "replicate", "huggingface_hub")


def http_status(error: BaseException) -> int:
    """The HTTP status of an error: 4xx for what the user can fix, 5xx for the rest."""
    if isinstance(error, OutputExistsError):
        return 409
    if isinstance(error, ModelNotFoundError):
        return 404
    if isinstance(error, ResourceLimitError):
        return 413
    if isinstance(error, ProviderError) and not isinstance(
        error, ContentRefusedError | ProviderUnavailableError
    ):
        return 502  # an image provider failed; a refusal or an unusable model is the request's
    if isinstance(error, PakatiError):
        return 400
    for kind in type(error).__mro__:
        if kind.__name__ == "DecompressionBombError" and kind.__module__.startswith("PIL"):
            return 413
        if kind.__module__.split(".")[0] in _PROVIDER_MODULES:
            return 504 if "Timeout" in kind.__name__ else 502
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507
    if isinstance(error, MemoryError):
        return 503
    return 500


def problem(error: BaseException) -> tuple[int, str]:
    """The status and message for ``error``; a bug's traceback goes to a log file."""
    failure = classify(error)
    if not failure.bug:
        return http_status(error), failure.message
    log = write_log(error)
    where = f"; its traceback is in the server's log file {log.name}" if log else ""
    print(
        f"error: {failure.message} (a bug; traceback in {log or 'no log: unwritable'})",
        file=sys.stderr,
        flush=True,
    )
    return 500, (
        f"{failure.message}. This is a bug in Pakati, not something you did wrong{where} "
        "(PAKATI_HOME/logs on the server). Please report it."
    )
