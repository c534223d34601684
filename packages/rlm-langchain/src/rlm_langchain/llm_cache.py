"""When a ``ChatRLM`` reply may come from (and go to) LangChain's LLM cache.

The cache keys a reply by the messages and the model's identifying parameters. Two kinds
of run depend on more than that, so the cache would answer them wrongly:

* a turn of a session conversation (``sessions=`` and a ``session_id`` / ``thread_id``):
  it runs in the conversation's REPL, whose variables earlier turns changed, and a reply
  served from the cache would skip the turn, leaving the REPL behind;
* a run that searches a retriever, whose index can change between calls while the key
  stays the same. Setting ``cache=True`` (or a cache object) on the model opts in anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlm_langchain.sessions import conversation_id_of


def uses_llm_cache(
    cache: Any, *, sessions: Any, retriever: Any, run_metadata: Mapping[str, Any] | None
) -> bool:
    """Whether a run of a ``ChatRLM`` with these settings may use the LLM cache."""
    if cache is False:
        return False
    if sessions is not None and conversation_id_of(run_metadata) is not None:
        return False
    return retriever is None or cache is not None
