"""Settings from a ``.env`` file, read with python-dotenv.

Two uses, kept apart on purpose:

* :func:`read_env_file` gives a file's values to the code that reads keys and base URLs
  (providers, the agent's LLM choice). That code keeps the file's values apart from the
  real environment, because a base URL read from a ``.env`` must not receive a key without
  ``--trust-env-file``. Nothing here logs or prints a value.
* :func:`apply_plain_settings` copies the file's *plain* settings (caches, Pakati's home,
  offline switches: never keys nor base URLs) into ``os.environ`` where the environment
  does not already set them, so ``HF_HUB_CACHE=...`` in ``.env`` is honoured everywhere.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values

#: Settings a ``.env`` may set for the whole process: none of them is a secret or a host.
PLAIN_SETTINGS = (
    "HF_HUB_CACHE",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "PAKATI_HOME",
    "PAKATI_OFFLINE",
    "PAKATI_STAND_IN",
    "PAKATI_MODEL_CARDS",
    "PAKATI_LLM_MODEL",
)


def read_env_file(path: str | Path | None = ".env") -> dict[str, str]:
    """The non-empty ``KEY=value`` settings of a ``.env`` file; {} when there is none.

    python-dotenv's grammar: comments, blank lines, ``export``, single and double quotes
    (escapes in double quotes), ``${VAR}`` expansion from earlier lines and the environment.
    """
    if path is None:
        return {}
    file = Path(path).expanduser()
    if not file.is_file():
        return {}
    return {key: value for key, value in dotenv_values(file).items() if value}


def apply_plain_settings(
    path: str | Path | None = ".env", environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Copy :data:`PLAIN_SETTINGS` from ``path`` into ``environ`` (default ``os.environ``)
    where it has no value yet; returns the names set. Keys and base URLs are left out."""
    target = os.environ if environ is None else environ
    values = read_env_file(path)
    applied = []
    for name in PLAIN_SETTINGS:
        if values.get(name) and not target.get(name):
            target[name] = values[name]
            applied.append(name)
    return applied
