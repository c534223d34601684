"""rlm-core: a runtime for Recursive Language Models.

The long context lives as variables in a REPL; the model writes code to inspect
it, calls sub-models on pieces, and returns a final answer.

Public names are imported on first use (PEP 562), so importing one submodule never loads the
whole library.
"""

from typing import TYPE_CHECKING

from rlm_core._lazy import lazy_exports

if TYPE_CHECKING:
    from rlm_core.adapters.base import Message, ModelAdapter, ModelResponse
    from rlm_core.cache import FileCache
    from rlm_core.context import Context, Match
    from rlm_core.engine.prompts import BASE_SYSTEM_PROMPT, PromptParts
    from rlm_core.engine.session import Session
    from rlm_core.engine.session_pool import SessionPool
    from rlm_core.engine.tokens import count_tokens, estimate_tokens
    from rlm_core.errors import (
        AdapterError,
        ConfigError,
        ConsecutiveErrorsExceeded,
        ContextError,
        MaxCostExceeded,
        MaxRecursionExceeded,
        MaxStepsExceeded,
        MaxSubcallsExceeded,
        MaxTimeExceeded,
        MaxTokensExceeded,
        OutputValidationError,
        PolicyError,
        ReplError,
        RLMError,
        SessionError,
        SubcallTooLargeError,
    )
    from rlm_core.events import Event, EventListener, current_step
    from rlm_core.options import RLMOptions
    from rlm_core.pieces import AnswerTap, AnswerText, PieceSink, pieces_to, report_piece
    from rlm_core.policy import Policy
    from rlm_core.profiles import PROFILES, Profile
    from rlm_core.repl.base import ExecResult, REPLProtocol
    from rlm_core.retrieval import (
        ListwiseReranker,
        QueryRewriter,
        RetrieverProtocol,
        TournamentReranker,
        ndcg_at_k,
        recall_at_k,
        union_pool,
    )
    from rlm_core.rlm import RLM
    from rlm_core.router import ExecutionProfile, RouterConfig, SmartRouter
    from rlm_core.trace import Trace, TraceFormatError, TraceStep
    from rlm_core.usage import Usage

__version__ = "0.1.0"

__all__ = [
    "BASE_SYSTEM_PROMPT",
    "PROFILES",
    "RLM",
    "AdapterError",
    "AnswerTap",
    "AnswerText",
    "ConfigError",
    "ConsecutiveErrorsExceeded",
    "Context",
    "ContextError",
    "Event",
    "EventListener",
    "ExecResult",
    "ExecutionProfile",
    "FileCache",
    "ListwiseReranker",
    "Match",
    "MaxCostExceeded",
    "MaxRecursionExceeded",
    "MaxStepsExceeded",
    "MaxSubcallsExceeded",
    "MaxTimeExceeded",
    "MaxTokensExceeded",
    "Message",
    "ModelAdapter",
    "ModelResponse",
    "OutputValidationError",
    "PieceSink",
    "Policy",
    "PolicyError",
    "Profile",
    "PromptParts",
    "QueryRewriter",
    "REPLProtocol",
    "RLMError",
    "RLMOptions",
    "ReplError",
    "RetrieverProtocol",
    "RouterConfig",
    "Session",
    "SessionError",
    "SessionPool",
    "SmartRouter",
    "SubcallTooLargeError",
    "TournamentReranker",
    "Trace",
    "TraceFormatError",
    "TraceStep",
    "Usage",
    "__version__",
    "count_tokens",
    "current_step",
    "estimate_tokens",
    "ndcg_at_k",
    "pieces_to",
    "recall_at_k",
    "report_piece",
    "union_pool",
]

# Where each public name is defined (kept equal to __all__ by a test).
_EXPORTS: dict[str, str] = {
    "Message": "rlm_core.adapters.base",
    "ModelAdapter": "rlm_core.adapters.base",
    "ModelResponse": "rlm_core.adapters.base",
    "Usage": "rlm_core.usage",
    "RetrieverProtocol": "rlm_core.retrieval",
    "count_tokens": "rlm_core.engine.tokens",
    "estimate_tokens": "rlm_core.engine.tokens",
    "current_step": "rlm_core.events",
    "SessionPool": "rlm_core.engine.session_pool",
    "AnswerTap": "rlm_core.pieces",
    "AnswerText": "rlm_core.pieces",
    "PieceSink": "rlm_core.pieces",
    "pieces_to": "rlm_core.pieces",
    "report_piece": "rlm_core.pieces",
    "FileCache": "rlm_core.cache",
    "Context": "rlm_core.context",
    "Match": "rlm_core.context",
    "BASE_SYSTEM_PROMPT": "rlm_core.engine.prompts",
    "PromptParts": "rlm_core.engine.prompts",
    "AdapterError": "rlm_core.errors",
    "ConfigError": "rlm_core.errors",
    "ContextError": "rlm_core.errors",
    "MaxRecursionExceeded": "rlm_core.errors",
    "MaxStepsExceeded": "rlm_core.errors",
    "MaxSubcallsExceeded": "rlm_core.errors",
    "MaxTokensExceeded": "rlm_core.errors",
    "PolicyError": "rlm_core.errors",
    "ReplError": "rlm_core.errors",
    "RLMError": "rlm_core.errors",
    "ConsecutiveErrorsExceeded": "rlm_core.errors",
    "MaxCostExceeded": "rlm_core.errors",
    "MaxTimeExceeded": "rlm_core.errors",
    "OutputValidationError": "rlm_core.errors",
    "SessionError": "rlm_core.errors",
    "Session": "rlm_core.engine.session",
    "SubcallTooLargeError": "rlm_core.errors",
    "TraceFormatError": "rlm_core.trace",
    "Event": "rlm_core.events",
    "EventListener": "rlm_core.events",
    "RLMOptions": "rlm_core.options",
    "Policy": "rlm_core.policy",
    "PROFILES": "rlm_core.profiles",
    "Profile": "rlm_core.profiles",
    "ExecResult": "rlm_core.repl.base",
    "REPLProtocol": "rlm_core.repl.base",
    "ListwiseReranker": "rlm_core.retrieval",
    "QueryRewriter": "rlm_core.retrieval",
    "TournamentReranker": "rlm_core.retrieval",
    "ndcg_at_k": "rlm_core.retrieval",
    "recall_at_k": "rlm_core.retrieval",
    "union_pool": "rlm_core.retrieval",
    "RLM": "rlm_core.rlm",
    "ExecutionProfile": "rlm_core.router",
    "RouterConfig": "rlm_core.router",
    "SmartRouter": "rlm_core.router",
    "Trace": "rlm_core.trace",
    "TraceStep": "rlm_core.trace",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
