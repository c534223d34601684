"""rlm-langchain: Recursive Language Models for LangChain.

``RLMRunnable`` drops an RLM into an LCEL pipeline, ``ChatRLM`` stands in for a
chat model, ``RLMRetriever`` selects and orders documents; ``ChatModelAdapter``
and ``LangChainRetrieverAdapter`` let rlm-core use LangChain models and retrievers.
"""

from rlm_langchain.adapter import ChatModelAdapter
from rlm_langchain.chat_model import ChatRLM
from rlm_langchain.engine import RLMResult
from rlm_langchain.progress import RLMProgress
from rlm_langchain.reranker import LLMReranker
from rlm_langchain.retriever import RLMRetriever
from rlm_langchain.retriever_adapter import LangChainRetrieverAdapter, doc_id_of
from rlm_langchain.runnable import RLMQuery, RLMRunnable
from rlm_langchain.sessions import RLMSessions

__version__ = "0.1.0"

__all__ = [
    "ChatModelAdapter",
    "ChatRLM",
    "LLMReranker",
    "LangChainRetrieverAdapter",
    "RLMProgress",
    "RLMQuery",
    "RLMResult",
    "RLMRetriever",
    "RLMRunnable",
    "RLMSessions",
    "__version__",
    "doc_id_of",
]
