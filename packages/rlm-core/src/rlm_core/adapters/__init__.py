"""Model adapters: the ``ModelAdapter`` protocol and its implementations."""

from rlm_core.adapters._http_checks import LOCAL_SERVER_TIMEOUT_S, is_local_url
from rlm_core.adapters.azure import AzureOpenAIAdapter
from rlm_core.adapters.base import Message, ModelAdapter, ModelResponse, Usage, model_id_of
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.adapters.http import GenericChatAdapter
from rlm_core.adapters.llama_cpp import LlamaCppAdapter, LlamaServer
from rlm_core.adapters.openai_compat import OpenAICompatAdapter
from rlm_core.adapters.replay import ReplayAdapter, replay_adapters

__all__ = [
    "LOCAL_SERVER_TIMEOUT_S",
    "AzureOpenAIAdapter",
    "FakeAdapter",
    "GenericChatAdapter",
    "LlamaCppAdapter",
    "LlamaServer",
    "Message",
    "ModelAdapter",
    "ModelResponse",
    "OpenAICompatAdapter",
    "ReplayAdapter",
    "Usage",
    "is_local_url",
    "model_id_of",
    "replay_adapters",
]
