"""The gateway's side of the upstream: where it is, how it is named to people, and one live link.

Errors::

    GatewayError        the gateway cannot start or serve (one line for people)
    └── UpstreamError   the upstream cannot be reached or did not answer

What the gateway says about its upstream never names its secrets: a URL is shown without its
user, password, query and fragment, a command by its program only, and foreign error text is
scrubbed of every one of those parts before it is logged or sent (``UpstreamSpec.scrub``).
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

log = logging.getLogger(__name__)

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

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("upstream timeout must be positive")
        if self.kind == "command" and not shlex.split(self.target):
            raise ValueError("upstream command is empty")
        if self.kind == "url" and not self.target.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL must be http(s): {_public_url(self.target)!r}")
        object.__setattr__(self, "_secrets", _secrets_of(self.target, self.kind))

    def __repr__(self) -> str:  # never the target itself: it may hold credentials
        return f"UpstreamSpec({self.public!r}, {self.kind!r}, {self.timeout!r})"

    @property
    def public(self) -> str:
        """The target as people may see it."""
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


def _unwrap(exc: BaseException) -> BaseException:
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
    exc = _unwrap(exc)
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(slots=True)
class Callbacks:
    """What the upstream may send the gateway's client: relayed by the gateway (``relay.py``)."""

    sampling: Any = None
    elicitation: Any = None
    roots: Any = None
    logging: Any = None
    messages: Any = None


class _Watched:
    """A transport's read stream that reports its end: a stdio upstream that exits while idle
    is forgotten at once, so the next call starts a new one instead of failing."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _Watched:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __getattr__(self, name: str) -> Any:  # last_context and the like
        return getattr(self._inner, name)


class Connection:
    """One upstream session: its client, and whether the upstream has forgotten it."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.session_lost = False  # the HTTP upstream answered 404 to this session (it restarted)
        self.ended = False  # the transport's read stream ended (a stdio upstream exited)

    async def on_response(self, response: Any) -> None:
        """httpx response hook: a 404 to a request that carried our session id means the upstream
        no longer knows the session (the protocol's "start a new session"); so does a 400 whose
        body says the session is unknown (servers built on the TypeScript SDK answer that)."""
        if "mcp-session-id" not in response.request.headers:
            return
        if response.status_code == 404:
            self.session_lost = True
        elif response.status_code == 400:
            body = (await response.aread()).decode("utf-8", "replace").lower()
            if "session" in body:
                self.session_lost = True


class UpstreamLink:
    """One live connection to the upstream, reopened on demand after it dies.

    ``mcp.Client`` must be left in the task that entered it, and a dying HTTP upstream makes its
    internal task group cancel that task; so each connection lives in an owner task of its own,
    where the failure is caught, instead of in the server's task.
    """

    def __init__(
        self, spec: UpstreamSpec, owners: TaskGroup, callbacks: Callbacks | None = None
    ) -> None:
        self.spec = spec
        self.callbacks = callbacks or Callbacks()
        self._owners = owners  # where the connections' owner tasks run
        self._connection: Connection | None = None
        self._scope: anyio.CancelScope | None = None  # the live connection's owner task
        self._lock = anyio.Lock()
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, spec: UpstreamSpec, callbacks: Callbacks | None = None
    ) -> AsyncIterator[UpstreamLink]:
        """Open the first connection (``UpstreamError`` if it fails) and keep the link until exit."""
        failure: UpstreamError | None = None
        try:
            async with anyio.create_task_group() as owners:
                link = cls(spec, owners, callbacks)
                try:
                    await link.connection()
                except UpstreamError as exc:
                    failure = exc  # raised below, outside the task group, so it stays unwrapped
                else:
                    try:
                        yield link
                    finally:
                        link.close()
                owners.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # What the caller's own block raised comes back as itself, not inside a group.
            inner = _unwrap(group)
            if isinstance(inner, Exception) and not isinstance(inner, BaseExceptionGroup):
                raise inner from None
            raise
        if failure is not None:
            raise failure

    def close(self) -> None:
        self._connection = None
        if self._scope is not None:
            self._scope.cancel()

    @property
    def current(self) -> Client | None:
        return self._connection.client if self._connection is not None else None

    async def connection(self) -> Connection:
        """The live connection, reconnecting first if the last one died."""
        live = self._connection
        if live is not None and not live.ended:
            return live
        async with self._lock:  # concurrent callers share one reconnection
            if self._connection is None or self._connection.ended:
                self.close()
                await self._open()
            assert self._connection is not None
            return self._connection

    def mark_dead(self, connection: Connection) -> None:
        """Forget ``connection`` (its transport closed or its session is gone)."""
        if self._connection is connection:
            self.close()

    def _startup_cause(self, exc: Exception) -> str:
        inner = _unwrap(exc)
        closed = isinstance(inner, MCPError) and inner.code == types.CONNECTION_CLOSED
        if closed and self.spec.kind == "command":
            return "the command exited before completing the MCP handshake"
        return self.spec.scrub(describe(exc))

    async def _open(self) -> None:
        outcome: dict[str, Any] = {}
        ready = anyio.Event()
        scope = anyio.CancelScope()
        connection = Connection()
        self._owners.start_soon(self._own, connection, ready, scope, outcome)
        try:
            with anyio.fail_after(self.spec.timeout):
                await ready.wait()
        except TimeoutError:
            scope.cancel()  # also ends a handshake that is still waiting
            raise UpstreamError(
                f"{self.spec.label} did not answer within {self.spec.timeout:g}s"
            ) from None
        if "error" in outcome:
            raise UpstreamError(f"cannot connect to {self.spec.label}: {outcome['error']}")
        self._connection, self._scope = connection, scope

    @asynccontextmanager
    async def _transport(self, connection: Connection) -> AsyncIterator[Any]:
        def ended() -> None:
            connection.ended = True

        target = self.spec.transport()
        if isinstance(target, str):
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client()
            http.event_hooks["response"].append(connection.on_response)
            async with http, streamable_http_client(target, http_client=http) as (read, write):
                yield _Watched(read, ended), write
        else:
            async with stdio_client(target) as (read, write):
                yield _Watched(read, ended), write

    async def _own(
        self,
        connection: Connection,
        ready: anyio.Event,
        scope: anyio.CancelScope,
        outcome: dict[str, Any],
    ) -> None:
        calls = self.callbacks
        try:
            with scope:
                # cache=None: a proxy must never answer from a stale copy of the upstream's lists.
                async with Client(
                    self._transport(connection),
                    mode="auto",
                    cache=None,
                    sampling_callback=calls.sampling,
                    elicitation_callback=calls.elicitation,
                    list_roots_callback=calls.roots,
                    logging_callback=calls.logging,
                    message_handler=calls.messages,
                ) as client:
                    connection.client = client
                    outcome["client"] = client
                    ready.set()
                    await anyio.sleep_forever()
        except Exception as exc:
            if not ready.is_set():
                outcome["error"] = self._startup_cause(exc)
            else:
                log.warning(
                    "%s: connection lost: %s", self.spec.label, self.spec.scrub(describe(exc))
                )
        finally:
            ready.set()
            connection.ended = True
            self.mark_dead(connection)
