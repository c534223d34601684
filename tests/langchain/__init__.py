"""Tests of rlm-langchain."""
