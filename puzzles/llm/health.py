"""Each backend's run-time state in the pool, and when a backend counts as down.

* connection refused / DNS / reset: the backend is marked down for ``cooldown_s`` at once;
* timeout, 5xx, an error event in the stream, a malformed stream: ``down_after`` such failures in
  a row mark it down;
* 429: it stays up (it is busy, not broken);
* a successful call or health probe marks it up again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from puzzles.llm.backends import Backend
from puzzles.llm.errors import LLMError, LLMRateLimited, LLMTimeout

__all__ = ["BackendState", "HealthPolicy", "read_queue"]


class BackendState:
    """Mutable run-time state of one backend; only the pool touches it."""

    def __init__(self, backend: Backend, client: openai.AsyncOpenAI) -> None:
        self.backend = backend
        self.client = client
        self.in_flight = 0
        self.failures = 0  # consecutive retryable failures
        self.down_until: float | None = None
        self.queue: dict[str, Any] | None = None  # last /queue answer of a gate worker

    def is_up(self, now: float) -> bool:
        return self.down_until is None or now >= self.down_until

    @property
    def free(self) -> int:
        return self.backend.max_in_flight - self.in_flight

    @property
    def external_load(self) -> int:
        """Requests a gate worker reports beyond ours: other clients sharing it."""
        if self.queue is None:
            return 0
        reported = _int_field(self.queue, "running") + _int_field(self.queue, "waiting")
        return max(0, reported - self.in_flight)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """The pool's rule for marking backends down and up again."""

    cooldown_s: float
    down_after: int
    clock: Callable[[], float]

    def mark_up(self, state: BackendState) -> None:
        state.failures = 0
        state.down_until = None

    def mark_down(self, state: BackendState) -> None:
        state.down_until = self.clock() + self.cooldown_s

    def note_failure(self, state: BackendState, error: LLMError, cause: Exception) -> None:
        if isinstance(error, LLMRateLimited):
            return  # busy, not broken
        state.failures += 1
        # Refused connections mean nobody is listening: stop sending traffic there right away.
        refused = isinstance(cause, openai.APIConnectionError | httpx2.TransportError) and not (
            isinstance(error, LLMTimeout)
        )
        if refused or state.failures >= self.down_after:
            self.mark_down(state)

    async def probe(self, state: BackendState) -> bool:
        """GET {base_url}/models: up if it answers, down if not."""
        try:
            await state.client.models.list(timeout=state.backend.timeout)
        except (openai.OpenAIError, httpx2.HTTPError):
            self.mark_down(state)
            return False
        self.mark_up(state)
        return True


async def read_queue(state: BackendState, client: httpx2.AsyncClient) -> dict[str, Any] | None:
    """A gate worker's ``GET {root}/queue`` answer, or None when it cannot be read."""
    try:
        response = await client.get(state.backend.queue_url, timeout=state.backend.timeout)
        response.raise_for_status()
        answer = response.json()
    except (httpx2.HTTPError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _int_field(answer: Mapping[str, Any], name: str) -> int:
    value = answer.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
