"""The gateway's upstream sessions: one live link each, reopened on demand after it dies.

A link declares to the upstream the capabilities of the client it serves (``capabilities``), so
the upstream offers that client what it would offer it directly; the start-up link, which serves
no one client, declares sampling, elicitation and roots.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp import Client, MCPError
from mcp.client import advertise
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.spec import (
    GatewayError,
    UpstreamError,
    UpstreamSpec,
    describe,
    find_gateway_error,
    unwrap,
)

__all__ = [
    "Callbacks",
    "Connection",
    "GatewayError",
    "UpstreamError",
    "UpstreamLink",
    "UpstreamSpec",
    "describe",
    "find_gateway_error",
]

log = logging.getLogger(__name__)


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
        # A streamable-HTTP upstream's client, endpoint and session id: what the fast path of
        # tools/call (lean.py) sends on, beside the SDK's transport, as that transport would.
        self.http: Any = None
        self.url: str | None = None
        self.session_id: str | None = None

    async def on_response(self, response: Any) -> None:
        """httpx response hook: a 404 to a request that carried our session id means the upstream
        no longer knows the session (the protocol's "start a new session"); so does a 400 whose
        body says the session is unknown (servers built on the TypeScript SDK answer that)."""
        if (issued := response.headers.get("mcp-session-id")) and self.session_id is None:
            self.session_id = issued  # the one the SDK's transport adopts too (initialize's)
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
        self,
        spec: UpstreamSpec,
        owners: TaskGroup,
        callbacks: Callbacks | None = None,
        capabilities: types.ClientCapabilities | None = None,
        *,
        legacy: bool = False,
    ) -> None:
        self.spec = spec
        self.callbacks = callbacks or Callbacks()
        # What this link declares (None: sampling, elicitation and roots), and whether it speaks
        # the handshake-era protocol whatever the upstream offers (it serves such a client).
        self.capabilities = capabilities
        self.legacy = legacy
        self._owners = owners  # where the connections' owner tasks run
        self._connection: Connection | None = None
        self._scope: anyio.CancelScope | None = None  # the live connection's owner task
        self._lock = anyio.Lock()

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
            inner = unwrap(group)
            if isinstance(inner, Exception) and not isinstance(inner, BaseExceptionGroup):
                raise inner from None
            raise
        if failure is not None:
            raise failure

    def sibling(
        self, callbacks: Callbacks, capabilities: types.ClientCapabilities | None, *, legacy: bool
    ) -> UpstreamLink:
        """Another link to the same upstream, opened on first use, kept until ``close``."""
        return UpstreamLink(self.spec, self._owners, callbacks, capabilities, legacy=legacy)

    def start_soon(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``task`` beside the links' owner tasks (it ends with them)."""
        self._owners.start_soon(task)

    def close(self) -> None:
        self._connection = None
        if self._scope is not None:
            self._scope.cancel()

    @property
    def current(self) -> Client | None:
        return self._connection.client if self._connection is not None else None

    def live(self, client: Client) -> Connection | None:
        """The live connection whose client is ``client`` (None once it was replaced)."""
        live = self._connection
        return live if live is not None and live.client is client and not live.ended else None

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
        inner = unwrap(exc)
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

    def _declared(self) -> dict[str, Any]:
        """The client's callbacks: exactly those of the capabilities this link declares."""
        calls, caps = self.callbacks, self.capabilities
        declared: dict[str, Any] = {
            "logging_callback": calls.logging,
            "message_handler": calls.messages,
        }
        if caps is None or caps.sampling is not None:
            declared["sampling_callback"] = calls.sampling
            declared["sampling_capabilities"] = caps.sampling if caps is not None else None
        if caps is None or caps.elicitation is not None:
            declared["elicitation_callback"] = calls.elicitation
        if caps is None or caps.roots is not None:
            declared["list_roots_callback"] = calls.roots
        extensions = []
        for identifier, settings in ((caps.extensions if caps else None) or {}).items():
            try:
                extensions.append(advertise(identifier, dict(settings or {})))
            except (ValueError, TypeError):  # not a valid identifier: the upstream could not use it
                log.debug("client extension %r not passed upstream", identifier)
        if extensions:
            declared["extensions"] = extensions
        return declared

    @asynccontextmanager
    async def _transport(self, connection: Connection) -> AsyncIterator[Any]:
        def ended() -> None:
            connection.ended = True

        target = self.spec.transport()
        if isinstance(target, str):
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client()
            http.event_hooks["response"].append(connection.on_response)
            connection.http, connection.url = http, target
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
        try:
            with scope:
                # cache=None: a proxy must never answer from a stale copy of the upstream's lists.
                async with Client(
                    self._transport(connection),
                    mode="legacy" if self.legacy else "auto",
                    cache=None,
                    **self._declared(),
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
