"""Adapter for Azure OpenAI deployments."""

from __future__ import annotations

from typing import ClassVar, Unpack
from urllib.parse import quote

from rlm_core.adapters.http import ChatOptions, GenericChatAdapter
from rlm_core.adapters.openai_compat import env_value
from rlm_core.errors import ConfigError

DEFAULT_AZURE_API_VERSION = "2024-10-21"
API_KEY_ENV_VAR = "AZURE_OPENAI_API_KEY"
ENDPOINT_ENV_VAR = "OPENAI_ENDPOINT"
ACCOUNT_ENV_VAR = "AZURE_ACCOUNT_NAME"
API_VERSION_ENV_VAR = "AZURE_OPENAI_API_VERSION"


def resolve_endpoint(endpoint: str | None = None) -> str | None:
    """``endpoint``, else ``OPENAI_ENDPOINT``, else one built from ``AZURE_ACCOUNT_NAME``."""
    if endpoint:
        return endpoint
    explicit = env_value(ENDPOINT_ENV_VAR)
    if explicit:
        return explicit
    account = env_value(ACCOUNT_ENV_VAR)
    return f"https://{account}.openai.azure.com" if account else None


class AzureOpenAIAdapter(GenericChatAdapter):
    """Chat completions from an Azure OpenAI deployment.

    Requests go to ``{endpoint}/openai/deployments/{deployment}/chat/completions``
    with the ``api-version`` query parameter and the key in an ``api-key`` header.
    ``deployment`` defaults to ``model``. Missing values are read from
    ``AZURE_OPENAI_API_KEY``, ``OPENAI_ENDPOINT`` (or ``AZURE_ACCOUNT_NAME``) and
    ``AZURE_OPENAI_API_VERSION`` (default ``2024-10-21``). Other options are
    those of ``GenericChatAdapter``.
    """

    auth_hint: ClassVar[str] = f"check the API key: pass api_key=... or set {API_KEY_ENV_VAR}"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        endpoint: str | None = None,
        api_version: str | None = None,
        deployment: str | None = None,
        **options: Unpack[ChatOptions],
    ) -> None:
        key = api_key or env_value(API_KEY_ENV_VAR)
        base_url = resolve_endpoint(endpoint)
        _require_settings(key, base_url)
        self.deployment = deployment or model
        if not isinstance(self.deployment, str) or not self.deployment.strip():
            raise ConfigError("AzureOpenAIAdapter needs a model or deployment name")
        self.api_version = (
            api_version or env_value(API_VERSION_ENV_VAR) or DEFAULT_AZURE_API_VERSION
        )
        path = (
            f"/openai/deployments/{quote(self.deployment, safe='')}/chat/completions"
            f"?api-version={quote(self.api_version, safe='')}"
        )
        super().__init__(base_url or "", path, model=model, api_key=key, **options)

    def _auth_headers(self) -> dict[str, str]:
        return {"api-key": self._api_key} if self._api_key else {}


def _require_settings(api_key: str | None, endpoint: str | None) -> None:
    missing = []
    if not api_key:
        missing.append(f"an API key (pass api_key=... or set {API_KEY_ENV_VAR})")
    if not endpoint:
        missing.append(
            f"an endpoint (pass endpoint=..., or set {ENDPOINT_ENV_VAR} to "
            f"'https://<resource>.openai.azure.com', or set {ACCOUNT_ENV_VAR} to the resource name)"
        )
    if missing:
        raise ConfigError("AzureOpenAIAdapter needs " + " and ".join(missing))
