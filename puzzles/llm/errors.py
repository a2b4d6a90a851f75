"""What can go wrong with an LLM call, and how a backend's failure maps onto it.

``translate`` is the one place that reads the ``openai`` and ``httpx2`` exceptions of an attempt;
the pool's failure policy (fail over, retry, back off, mark down, raise at once) decides on the
kinds below, never on a client library's types.
"""

from __future__ import annotations

import math

import httpx2
import openai

from gate.errors import GateError

__all__ = [
    "LLMBadResponse",
    "LLMError",
    "LLMRateLimited",
    "LLMRejected",
    "LLMShed",
    "LLMTimeout",
    "LLMUnavailable",
    "translate",
]


class LLMError(GateError):
    """An LLM call failed."""


class LLMUnavailable(LLMError):
    """No backend could serve the call: all are down, or every attempt failed."""


class LLMTimeout(LLMUnavailable):
    """The backend did not answer (or stopped streaming) within its timeout."""


class LLMRateLimited(LLMUnavailable):
    """The backend answered 429; ``retry_after`` is its hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMRejected(LLMError):
    """The backend refused the request as invalid (a 4xx other than 429); retrying cannot help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class LLMBadResponse(LLMError):
    """The backend's stream could not be understood."""


class LLMShed(LLMError):
    """The pool refused the call because its deadline cannot be met: the queue ahead of it is
    expected to take longer.  Nothing was sent; the caller may retry later or elsewhere."""

    def __init__(self, message: str, *, estimated_wait_s: float, deadline_s: float) -> None:
        super().__init__(message)
        self.estimated_wait_s = estimated_wait_s
        self.deadline_s = deadline_s


def translate(exc: Exception, backend: str) -> LLMError:
    """Map whatever one attempt raised onto the pool's own errors (the caller chains the cause)."""
    where = f"LLM backend {backend!r}"
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return LLMTimeout(f"{where} timed out")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return LLMUnavailable(f"{where} is unreachable: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(f"{where} is rate limiting (429)", _retry_after(exc.response))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return LLMUnavailable(f"{where} failed with HTTP {exc.status_code}")
        return LLMRejected(
            f"{where} rejected the request with HTTP {exc.status_code}: {exc.message}",
            exc.status_code,
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return LLMUnavailable(f"{where} reported an error mid-stream: {exc.message}")
    if isinstance(exc, ValueError | TypeError | AttributeError):
        return LLMBadResponse(f"{where} sent a malformed stream: {exc}")
    if isinstance(exc, openai.OpenAIError | httpx2.HTTPError):
        return LLMError(f"{where} call failed: {exc}")
    raise exc  # a bug of ours, not a backend failure: let it surface unchanged


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from LLM servers, and the backoff still applies
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
