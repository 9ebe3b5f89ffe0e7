"""Which chat model plans and refines: OpenAI, Anthropic, an OpenAI-compatible server, or offline.

Settings come from the environment, then from a ``.env`` file read with python-dotenv
(environment wins): ``PAKATI_API_KEY_OPENAI`` (else ``OPENAI_API_KEY``),
``PAKATI_API_KEY_ANTHROPIC`` (else ``ANTHROPIC_API_KEY``), ``PAKATI_OPENAI_BASE_URL`` (Ollama,
vLLM, llama.cpp server) and ``PAKATI_LLM_MODEL`` (else :data:`DEFAULT_MODELS`). With no key
and no base URL the offline rule-based model is used. Keys are held as ``SecretStr`` and
never logged, printed or written to outputs; ``ProviderConfig.describe()`` is the safe way
to show the choice. Client libraries are imported only when a model is made, so that
reading the choice (the CLI's argument parser does) stays cheap.

Keys go only where the user meant them to: a base URL read from a ``.env`` file is not
combined with a key from the real environment unless ``trust_env_file`` (CLI:
``--trust-env-file``) says so (a ``.env`` in a project folder must not redirect the user's
key to another server), and ``ProviderConfig.notice()`` names any base URL that is not the
provider's official one, for the caller to show before a request carries a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, SecretStr

from pakati_engine.env_file import read_env_file
from pakati_engine.errors import InvalidInputError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

ProviderName = Literal["offline", "openai", "anthropic", "openai-compatible"]
PROVIDERS: tuple[str, ...] = ("offline", "openai", "anthropic", "openai-compatible")
#: The one place the default chat models are chosen (``PAKATI_LLM_MODEL`` or ``--model``
#: override them); both are current models of the pinned clients' model lists.
DEFAULT_MODELS = {"openai": "gpt-5.4-mini", "anthropic": "claude-sonnet-5-5"}
#: Where each key is read: Pakati's own name first, then the provider's usual one.
KEY_NAMES = {
    "openai": ("PAKATI_API_KEY_OPENAI", "OPENAI_API_KEY"),
    "anthropic": ("PAKATI_API_KEY_ANTHROPIC", "ANTHROPIC_API_KEY"),
}
#: Where each provider's own client sends requests when no base URL is given.
OFFICIAL_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
#: Seconds an LLM request may take, and how often a failed one is retried.
DEFAULT_TIMEOUT_S = 60.0
MAX_RETRIES = 1
ENV_KEYS = (
    "PAKATI_API_KEY_OPENAI",
    "OPENAI_API_KEY",
    "PAKATI_API_KEY_ANTHROPIC",
    "ANTHROPIC_API_KEY",
    "PAKATI_OPENAI_BASE_URL",
    "PAKATI_LLM_MODEL",
)


class ProviderConfig(BaseModel):
    """A resolved provider choice."""

    provider: ProviderName
    model: str | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=3600)
    max_retries: int = Field(default=MAX_RETRIES, ge=0, le=5)
    #: Whether ``api_key`` is the user's own (not a placeholder for a keyless server).
    real_key: bool = False

    def describe(self) -> str:
        """A printable description that never contains the key."""
        where = f" at {self.base_url}" if self.base_url else ""
        model = f" model {self.model}" if self.model else ""
        return f"{self.provider}{model}{where}"

    def notice(self) -> str | None:
        """A line naming where requests go, when that is not the provider's official API."""
        if self.provider == "offline" or self.base_url is None:
            return None
        if self.base_url.rstrip("/") == OFFICIAL_URLS.get(self.provider):
            return None
        carries = "your API key" if self.real_key else "no API key"
        return f"LLM requests ({carries}) go to {self.base_url}, not the provider's official API"


def resolve_provider(
    provider: str | None = None,
    model: str | None = None,
    env: Mapping[str, str] | None = None,
    dotenv: str | Path | None = ".env",
    *,
    trust_env_file: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ProviderConfig:
    """Choose a provider: explicit ``provider`` first, else the first key that is set.

    A base URL from ``dotenv`` with a key from ``env`` is refused unless ``trust_env_file``.
    """
    from_file = read_env_file(dotenv)
    from_env = {k: v for k, v in (os.environ if env is None else env).items() if v}
    settings = {**from_file, **from_env}
    config = _resolve(provider, model, settings, timeout_s)
    url_key = (
        "PAKATI_ANTHROPIC_BASE_URL" if config.provider == "anthropic" else "PAKATI_OPENAI_BASE_URL"
    )
    names = KEY_NAMES["anthropic" if config.provider == "anthropic" else "openai"]
    key_name = next((name for name in names if settings.get(name)), names[0])
    url_from_file = config.base_url is not None and url_key not in from_env
    key_from_env = config.real_key and key_name in from_env
    if url_from_file and key_from_env and not trust_env_file:
        where = Path(dotenv) if dotenv else ".env"
        raise InvalidInputError(
            f"{url_key}={config.base_url} comes from {where}, and your {key_name} from the "
            "environment would be sent there. If you trust that file, pass --trust-env-file "
            f"(trust_env_file=True); otherwise remove {url_key} from it, or set it in the "
            "environment yourself"
        )
    return config


def _resolve(
    provider: str | None, model: str | None, settings: Mapping[str, str], timeout_s: float
) -> ProviderConfig:
    openai_key = _key(settings, "openai")
    anthropic_key = _key(settings, "anthropic")
    base_url = settings.get("PAKATI_OPENAI_BASE_URL")
    model = model or settings.get("PAKATI_LLM_MODEL")
    if provider is None:
        if base_url:
            provider = "openai-compatible"
        elif openai_key:
            provider = "openai"
        elif anthropic_key:
            provider = "anthropic"
        else:
            provider = "offline"
    if provider not in PROVIDERS:
        raise InvalidInputError(
            f"unknown provider {provider!r}; choose from {', '.join(PROVIDERS)}"
        )
    if provider == "offline":
        return ProviderConfig(provider="offline")
    if provider == "openai-compatible":
        if not base_url:
            raise InvalidInputError("provider openai-compatible needs PAKATI_OPENAI_BASE_URL")
        key = openai_key or "not-needed"
        return ProviderConfig(
            provider="openai-compatible",
            model=model or "default",
            api_key=SecretStr(key),
            base_url=base_url,
            timeout_s=timeout_s,
            real_key=bool(openai_key),
        )
    api_key = openai_key if provider == "openai" else anthropic_key
    if not api_key:
        names = " or ".join(KEY_NAMES[provider])
        raise InvalidInputError(f"provider {provider} needs {names} (environment or .env)")
    return ProviderConfig(
        provider=provider,  # type: ignore[arg-type]
        model=model or DEFAULT_MODELS[provider],
        api_key=SecretStr(api_key),
        base_url=base_url if provider == "openai" else settings.get("PAKATI_ANTHROPIC_BASE_URL"),
        timeout_s=timeout_s,
        real_key=True,
    )


def _key(settings: Mapping[str, str], provider: str) -> str | None:
    return next((settings[n] for n in KEY_NAMES[provider] if settings.get(n)), None)


def make_chat_model(config: ProviderConfig) -> BaseChatModel:
    """The LangChain chat model for a resolved provider (no network until it is invoked).

    Each provider's client is imported only when that provider is chosen: the others may
    be slow to import, and none is needed offline.
    """
    if config.provider == "offline":
        from pakati.agents.offline import OfflinePlannerModel

        return OfflinePlannerModel()
    assert config.api_key is not None and config.model is not None
    if config.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        return ChatAnthropic(  # type: ignore[call-arg]
            model=config.model,
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=config.model,
        api_key=config.api_key,
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


def structured_method(config: ProviderConfig) -> str | None:
    """How to ask for structured output: OpenAI-compatible servers rarely support
    ``response_format: json_schema``, so they get function calling."""
    return "function_calling" if config.provider == "openai-compatible" else None
