"""Model adapters: the ``ModelAdapter`` protocol and its implementations."""

from rlm_core.adapters.base import ModelAdapter, ModelResponse, Usage, model_id_of
from rlm_core.adapters.fake import FakeAdapter

__all__ = ["FakeAdapter", "ModelAdapter", "ModelResponse", "Usage", "model_id_of"]
