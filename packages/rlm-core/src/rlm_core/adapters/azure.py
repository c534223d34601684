"""Adapter for Azure OpenAI deployments."""

from __future__ import annotations

from typing import ClassVar, Unpack
from urllib.parse import quote, urlsplit, urlunsplit

from rlm_core.adapters._openai_format import TokenLimitParam
from rlm_core.adapters.http import ChatOptions, GenericChatAdapter
from rlm_core.adapters.openai_compat import env_value, openai_payload_options
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


def is_v1_endpoint(endpoint: str) -> bool:
    """Whether ``endpoint`` already names the OpenAI-style v1 API (``.../openai/v1``)."""
    return urlsplit(endpoint.strip()).path.rstrip("/").endswith("/v1")


def _without_openai_suffix(endpoint: str) -> str:
    """``https://x.openai.azure.com/openai`` -> ``https://x.openai.azure.com`` (no doubled path)."""
    parts = urlsplit(endpoint.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/openai"):
        path = path[: -len("/openai")]
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class AzureOpenAIAdapter(GenericChatAdapter):
    """Chat completions from an Azure OpenAI deployment.

    With a resource endpoint (``https://<resource>.openai.azure.com``) requests go
    to ``{endpoint}/openai/deployments/{deployment}/chat/completions`` with the
    ``api-version`` query parameter. With an endpoint that ends in ``/openai/v1``
    (Azure's OpenAI-compatible v1 API) they go to ``{endpoint}/chat/completions``
    with the deployment as ``model`` in the body. The key is sent in an
    ``api-key`` header. ``deployment`` defaults to ``model``. Missing values are
    read from ``AZURE_OPENAI_API_KEY``, ``OPENAI_ENDPOINT`` (or
    ``AZURE_ACCOUNT_NAME``) and ``AZURE_OPENAI_API_VERSION`` (default
    ``2024-10-21``).

    The output limit is sent as ``max_completion_tokens``, which every current
    deployment accepts and reasoning deployments (o-series, gpt-5, gpt-5.1)
    require; those also get no ``temperature``. ``token_limit_param`` and
    ``send_temperature`` override both choices. Other options are those of
    ``GenericChatAdapter``.
    """

    auth_hint: ClassVar[str] = f"check the API key: pass api_key=... or set {API_KEY_ENV_VAR}"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        endpoint: str | None = None,
        api_version: str | None = None,
        deployment: str | None = None,
        *,
        token_limit_param: TokenLimitParam | None = None,
        send_temperature: bool | None = None,
        **options: Unpack[ChatOptions],
    ) -> None:
        key = api_key or env_value(API_KEY_ENV_VAR)
        base_url = _require_settings(key, resolve_endpoint(endpoint))
        self.deployment = deployment or model
        if not isinstance(self.deployment, str) or not self.deployment.strip():
            raise ConfigError("AzureOpenAIAdapter needs a model or deployment name")
        self.api_version = (
            api_version or env_value(API_VERSION_ENV_VAR) or DEFAULT_AZURE_API_VERSION
        )
        v1 = is_v1_endpoint(base_url)
        options = openai_payload_options(
            options,
            model,
            self.deployment,
            token_limit_param=token_limit_param,
            send_temperature=send_temperature,
            default_token_limit_param="max_completion_tokens",
            model_in_body=self.deployment if v1 else False,
        )
        if v1:
            path = "/chat/completions"
        else:
            base_url = _without_openai_suffix(base_url)
            path = (
                f"/openai/deployments/{quote(self.deployment, safe='')}/chat/completions"
                f"?api-version={quote(self.api_version, safe='')}"
            )
        super().__init__(base_url, path, model=model, api_key=key, **options)

    def _auth_headers(self) -> dict[str, str]:
        return {"api-key": self._api_key} if self._api_key else {}


def _require_settings(api_key: str | None, endpoint: str | None) -> str:
    """``endpoint``, or ``ConfigError`` naming every missing setting."""
    missing = []
    if not api_key:
        missing.append(f"an API key (pass api_key=... or set {API_KEY_ENV_VAR})")
    if not endpoint:
        missing.append(
            f"an endpoint (pass endpoint=..., or set {ENDPOINT_ENV_VAR} to "
            f"'https://<resource>.openai.azure.com', or set {ACCOUNT_ENV_VAR} to the resource name)"
        )
    if missing or not endpoint:
        raise ConfigError("AzureOpenAIAdapter needs " + " and ".join(missing))
    return endpoint
