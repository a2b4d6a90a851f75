"""Where the gateway's upstream is, how it is named to people, and the gateway's errors.

Errors::

    GatewayError        the gateway cannot start or serve (one line for people)
    └── UpstreamError   the upstream cannot be reached or did not answer

What the gateway says about its upstream never names its secrets: a URL is shown without its
user, password, query and fragment, a command by its program only, and foreign error text is
scrubbed of every one of those parts before it is logged or sent (``UpstreamSpec.scrub``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from mcp import MCPError, StdioServerParameters

UpstreamKind = Literal["command", "url"]
_MIN_SECRET = 4  # shorter command arguments ("-v", "run") are words, not secrets


class GatewayError(Exception):
    """The gateway cannot start or serve; the message is one line for people."""


class UpstreamError(GatewayError):
    """The upstream cannot be reached or did not answer."""


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """Where the upstream MCP server is and how long to wait for it."""

    target: str  # a shell-like command line, or a streamable-HTTP URL
    kind: UpstreamKind
    timeout: float = 30.0  # seconds for connecting and for every forwarded request
    _secrets: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Named in every forwarded request's timeout message: parsed once, not per call.
    _public: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("upstream timeout must be positive")
        if self.kind == "command" and not shlex.split(self.target):
            raise ValueError("upstream command is empty")
        if self.kind == "url" and not self.target.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL must be http(s): {_public_url(self.target)!r}")
        object.__setattr__(self, "_secrets", _secrets_of(self.target, self.kind))
        object.__setattr__(self, "_public", self._shown())

    def __repr__(self) -> str:  # never the target itself: it may hold credentials
        return f"UpstreamSpec({self.public!r}, {self.kind!r}, {self.timeout!r})"

    @property
    def public(self) -> str:
        """The target as people may see it."""
        return self._public

    def _shown(self) -> str:
        if self.kind == "url":
            return _public_url(self.target)
        program, *args = shlex.split(self.target)
        return os.path.basename(program) + (" …" if args else "")

    @property
    def label(self) -> str:
        return f"upstream {self.public!r}"

    def scrub(self, text: str) -> str:
        """``text`` (foreign error text, say) with every secret part of the target replaced."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def transport(self) -> StdioServerParameters | str:
        if self.kind == "url":
            return self.target
        command, *args = shlex.split(self.target)
        # The operator's command runs as if typed in their shell: the whole environment, not the
        # SDK's short default list (which drops e.g. VIRTUAL_ENV and PYTHONPATH).
        return StdioServerParameters(command=command, args=args, env=dict(os.environ))


def _public_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<unparseable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _secrets_of(target: str, kind: UpstreamKind) -> tuple[str, ...]:
    found: set[str] = {target}
    if kind == "url":
        try:
            parts = urlsplit(target)
        except ValueError:
            return (target,)
        for part in (parts.username, parts.password, parts.query, parts.fragment):
            if part:
                found |= {part, unquote(part)}
        if parts.netloc and "@" in parts.netloc:
            found.add(parts.netloc.rpartition("@")[0])
        found |= {value for _key, value in parse_qsl(parts.query) if value}
    else:
        _program, *args = shlex.split(target)
        found |= {arg for arg in args if len(arg) >= _MIN_SECRET}
        if args:
            found.add(" ".join(args))
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def unwrap(exc: BaseException) -> BaseException:
    """The one failure inside nested single-member exception groups (the SDK's task groups)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def find_gateway_error(exc: BaseException) -> GatewayError | None:
    """The ``GatewayError`` a start-up failure carries, however deep in task groups."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := find_gateway_error(inner)) is not None:
                return found
    return None


def describe(exc: BaseException) -> str:
    """One line naming the cause, looking through the task groups the SDK raises from."""
    exc = unwrap(exc)
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
