"""Clients for the LLMs that generate clues offline: backend configuration, the pool, usage.

Framework-free like the rest of the core: the pool speaks to OpenAI-compatible servers through the
``openai`` async client and nothing else.
"""

from __future__ import annotations

from puzzles.llm.affinity import PrefixAffinity
from puzzles.llm.backends import (
    ENV_VAR,
    KNOWN_CAPABILITIES,
    KNOWN_KINDS,
    Backend,
    backends_from_env,
    load_backends,
)
from puzzles.llm.errors import (
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMRejected,
    LLMShed,
    LLMTimeout,
    LLMUnavailable,
)
from puzzles.llm.flows import FlowStats, jain_index
from puzzles.llm.pool import LLMPool
from puzzles.llm.scheduler import FairScheduler
from puzzles.llm.snapshot import (
    pool_snapshot,
    publish_every,
    publish_snapshot,
    read_pool_snapshots,
)
from puzzles.llm.stream import CHARS_PER_TOKEN, Completion, estimate_prompt_tokens, estimate_tokens
from puzzles.llm.tenants import TENANTS_ENV_VAR, FairnessSettings, fairness_from_env, load_fairness
from puzzles.llm.usage import CallTags, JobClass, Usage, UsageLedger, UsageSnapshot

__all__ = [
    "CHARS_PER_TOKEN",
    "ENV_VAR",
    "KNOWN_CAPABILITIES",
    "KNOWN_KINDS",
    "TENANTS_ENV_VAR",
    "Backend",
    "CallTags",
    "Completion",
    "FairScheduler",
    "FairnessSettings",
    "FlowStats",
    "JobClass",
    "LLMBadResponse",
    "LLMError",
    "LLMPool",
    "LLMRateLimited",
    "LLMRejected",
    "LLMShed",
    "LLMTimeout",
    "LLMUnavailable",
    "PrefixAffinity",
    "Usage",
    "UsageLedger",
    "UsageSnapshot",
    "backends_from_env",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "fairness_from_env",
    "jain_index",
    "load_backends",
    "load_fairness",
    "pool_snapshot",
    "publish_every",
    "publish_snapshot",
    "read_pool_snapshots",
]
