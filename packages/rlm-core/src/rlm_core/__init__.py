"""rlm-core: a runtime for Recursive Language Models.

The long context lives as variables in a REPL; the model writes code to inspect
it, calls sub-models on pieces, and returns a final answer.
"""

from rlm_core.cache import FileCache
from rlm_core.context import Context, Match
from rlm_core.engine.prompts import BASE_SYSTEM_PROMPT
from rlm_core.errors import (
    AdapterError,
    ConfigError,
    ContextError,
    MaxRecursionExceeded,
    MaxStepsExceeded,
    MaxSubcallsExceeded,
    MaxTokensExceeded,
    PolicyError,
    ReplError,
    RLMError,
    SubcallTooLargeError,
)
from rlm_core.events import Event, EventListener
from rlm_core.options import RLMOptions
from rlm_core.policy import Policy
from rlm_core.repl import ExecResult, REPLProtocol
from rlm_core.retrieval import (
    ListwiseReranker,
    QueryRewriter,
    TournamentReranker,
    ndcg_at_k,
    recall_at_k,
    union_pool,
)
from rlm_core.rlm import RLM
from rlm_core.router import ExecutionProfile, RouterConfig, SmartRouter
from rlm_core.trace import Trace, TraceStep

__version__ = "0.1.0"

__all__ = [
    "BASE_SYSTEM_PROMPT",
    "RLM",
    "AdapterError",
    "ConfigError",
    "Context",
    "ContextError",
    "Event",
    "EventListener",
    "ExecResult",
    "ExecutionProfile",
    "FileCache",
    "ListwiseReranker",
    "Match",
    "MaxRecursionExceeded",
    "MaxStepsExceeded",
    "MaxSubcallsExceeded",
    "MaxTokensExceeded",
    "Policy",
    "PolicyError",
    "QueryRewriter",
    "REPLProtocol",
    "RLMError",
    "RLMOptions",
    "ReplError",
    "RouterConfig",
    "SmartRouter",
    "SubcallTooLargeError",
    "TournamentReranker",
    "Trace",
    "TraceStep",
    "__version__",
    "ndcg_at_k",
    "recall_at_k",
    "union_pool",
]
