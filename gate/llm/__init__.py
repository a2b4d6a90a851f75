"""Clients for the LLMs that generate clues offline: backend configuration, the pool, usage.

Framework-free like the rest of the core: the pool speaks to OpenAI-compatible servers through the
``openai`` async client and nothing else.
"""

from __future__ import annotations

from gate.llm.backends import ENV_VAR, KNOWN_CAPABILITIES, Backend, backends_from_env, load_backends
from gate.llm.pool import (
    CHARS_PER_TOKEN,
    Completion,
    LLMBadResponse,
    LLMError,
    LLMPool,
    LLMRateLimited,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    estimate_prompt_tokens,
    estimate_tokens,
)
from gate.llm.usage import CallTags, JobClass, Usage, UsageLedger, UsageSnapshot

__all__ = [
    "CHARS_PER_TOKEN",
    "ENV_VAR",
    "KNOWN_CAPABILITIES",
    "Backend",
    "CallTags",
    "Completion",
    "JobClass",
    "LLMBadResponse",
    "LLMError",
    "LLMPool",
    "LLMRateLimited",
    "LLMRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "Usage",
    "UsageLedger",
    "UsageSnapshot",
    "backends_from_env",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "load_backends",
]
