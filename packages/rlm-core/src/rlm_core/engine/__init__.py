"""The engine: root loop, sub-calls and REPL helpers (internal; use ``rlm_core.RLM``)."""
