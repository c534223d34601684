"""Model adapters: the ``ModelAdapter`` protocol and its implementations."""

from rlm_core.adapters.azure import AzureOpenAIAdapter
from rlm_core.adapters.base import ModelAdapter, ModelResponse, Usage, model_id_of
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.adapters.http import GenericChatAdapter
from rlm_core.adapters.openai_compat import OpenAICompatAdapter

__all__ = [
    "AzureOpenAIAdapter",
    "FakeAdapter",
    "GenericChatAdapter",
    "ModelAdapter",
    "ModelResponse",
    "OpenAICompatAdapter",
    "Usage",
    "model_id_of",
]
