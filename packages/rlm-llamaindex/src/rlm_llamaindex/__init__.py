"""rlm-llamaindex: Recursive Language Models as LlamaIndex query engines and retrievers.

- ``RLMQueryEngine``: a ``BaseQueryEngine`` over documents, nodes, an index or a retriever.
- ``RLMRetriever``: a ``BaseRetriever`` whose results an RLM run chooses and orders.
- ``ListwiseLLMRerank``: rlm-core's LLM rerankers as a node postprocessor.
- ``RLMLLM``: an RLM as a LlamaIndex ``LLM`` (``Settings.llm``, chat engines), keeping one
  REPL per conversation (``ChatSessions``).
- ``LlamaIndexLLMAdapter`` / ``LlamaIndexRetrieverAdapter``: LlamaIndex LLMs and retrievers
  as rlm-core's model adapters and document index.
- ``RLMStepEvent`` / ``RLMRunEvent``: instrumentation events emitted for every run.
"""

from rlm_llamaindex.callbacks import CallbackBridge
from rlm_llamaindex.conversations import ChatSessions
from rlm_llamaindex.instrumentation import InstrumentationBridge, RLMRunEvent, RLMStepEvent
from rlm_llamaindex.llm import LlamaIndexLLMAdapter, usage_of
from rlm_llamaindex.query_engine import RLMQueryEngine
from rlm_llamaindex.rerank import ListwiseLLMRerank
from rlm_llamaindex.retriever import RLMRetriever
from rlm_llamaindex.retriever_adapter import LlamaIndexRetrieverAdapter
from rlm_llamaindex.rlm_llm import RLMLLM

__version__ = "0.1.0"

__all__ = [
    "RLMLLM",
    "CallbackBridge",
    "ChatSessions",
    "InstrumentationBridge",
    "ListwiseLLMRerank",
    "LlamaIndexLLMAdapter",
    "LlamaIndexRetrieverAdapter",
    "RLMQueryEngine",
    "RLMRetriever",
    "RLMRunEvent",
    "RLMStepEvent",
    "__version__",
    "usage_of",
]
