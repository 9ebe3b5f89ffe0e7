"""API keys and base URLs of the image providers, from the environment or ``.env``.

Each provider's key is read from ``PAKATI_API_KEY_<PROVIDER>``, else the ecosystem's own
name (``OPENAI_API_KEY``, ``REPLICATE_API_TOKEN``, ``HF_TOKEN`` / ``HUGGING_FACE_HUB_TOKEN``);
the environment wins over ``.env`` (read with python-dotenv). Base URLs use each client's own
variable (``OPENAI_BASE_URL``, ``REPLICATE_BASE_URL``, ``HF_INFERENCE_ENDPOINT``). A key goes
only to the official host unless the user set another base URL in their own environment:
a base URL read from a ``.env`` file is not combined with a key unless ``trust_env_file``.
Keys are ``SecretStr``; :meth:`ProviderAccess.notice` names a non-official host before the
first keyed request.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pakati_engine.env_file import read_env_file
from pakati_engine.errors import InvalidInputError

KEY_NAMES: dict[str, tuple[str, ...]] = {
    "openai": ("PAKATI_API_KEY_OPENAI", "OPENAI_API_KEY"),
    "replicate": ("PAKATI_API_KEY_REPLICATE", "REPLICATE_API_TOKEN"),
    "huggingface": ("PAKATI_API_KEY_HUGGINGFACE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
}
URL_NAMES = {
    "openai": "OPENAI_BASE_URL",
    "replicate": "REPLICATE_BASE_URL",
    "huggingface": "HF_INFERENCE_ENDPOINT",
}
OFFICIAL_URLS = {
    "openai": "https://api.openai.com/v1",
    "replicate": "https://api.replicate.com",
    "huggingface": "https://router.huggingface.co/hf-inference",
}

_announced: set[tuple[str, str]] = set()
_announcing = threading.Lock()  # regions may be requested from several threads at once


@dataclass(frozen=True)
class ProviderAccess:
    """Where a provider's requests go and with which key (never printed)."""

    provider: str
    key: SecretStr | None
    key_name: str | None
    base_url: str

    @property
    def official(self) -> bool:
        return self.base_url.rstrip("/") == OFFICIAL_URLS[self.provider].rstrip("/")

    def notice(self) -> str | None:
        if self.official:
            return None
        carries = f"your {self.key_name}" if self.key is not None else "no API key"
        return f"{self.provider} image requests ({carries}) go to {self.base_url}, set by you"

    def announce(self) -> None:
        """Print :meth:`notice` once per process and host, before a keyed request."""
        text = self.notice()
        with _announcing:
            if text and (self.provider, self.base_url) not in _announced:
                _announced.add((self.provider, self.base_url))
                print(f"note: {text}", file=sys.stderr)


def provider_access(
    provider: str,
    env: Mapping[str, str] | None = None,
    dotenv: str | Path | None = ".env",
    *,
    trust_env_file: bool = False,
) -> ProviderAccess:
    """The key and base URL for ``provider``; refuses a ``.env`` URL that would take a key."""
    if provider not in KEY_NAMES:
        raise InvalidInputError(f"unknown image provider {provider!r}")
    from_file = read_env_file(dotenv)
    from_env = {k: v for k, v in (os.environ if env is None else env).items() if v}
    settings = {**from_file, **from_env}
    key_name = next((name for name in KEY_NAMES[provider] if settings.get(name)), None)
    url_name = URL_NAMES[provider]
    base_url = settings.get(url_name) or OFFICIAL_URLS[provider]
    access = ProviderAccess(
        provider=provider,
        key=SecretStr(settings[key_name]) if key_name else None,
        key_name=key_name,
        base_url=base_url,
    )
    if (
        access.key is not None
        and not access.official
        and url_name not in from_env
        and not trust_env_file
    ):
        raise InvalidInputError(
            f"{url_name}={base_url} comes from {dotenv}, and your {key_name} would be sent "
            "there. If you trust that file, pass --trust-env-file (trust_env_file=True); "
            f"otherwise remove {url_name} from it, or set it in your environment yourself"
        )
    return access
