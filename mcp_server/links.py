"""Which upstream session serves a client's request.

- An HTTP upstream: a handshake-era client session (``initialize``) gets an upstream session of
  its own, opened on its first forwarded request with the protocol and capabilities that client
  declared, and closed when the client's session ends.  Whatever that upstream session sends
  (requests, log messages, list changes, resource updates, task status) therefore belongs to that
  one client, and subscriptions live in the upstream session of the client that made them.  2026-07-28 clients have no session: requests that declare the same capabilities share
  one upstream session (at most ``MAX_SHARED`` capability sets; the start-up session serves the
  rest).
- A stdio upstream is one process with one client by design, and its state (whatever it keeps
  between calls) must stay one for all the gateway's clients: they all share the start-up
  session, and ``relay.py`` routes what it sends by the calls in flight.

The start-up session, which declares sampling, elicitation and roots, answers the gateway's own
questions (the tool listing at start-up, output schemas) and carries the upstream's change
notifications to 2026-07-28 listeners (``listen.py``).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.connection import Connection

from mcp_server.relay import Ctx, Relay, connection_of, modern
from mcp_server.upstream import Callbacks, UpstreamLink

MAX_SHARED = 16  # distinct capability sets of 2026-07-28 clients with an upstream session each


def callbacks(relay: Relay) -> Callbacks:
    return Callbacks(
        sampling=relay.sampling,
        elicitation=relay.elicitation,
        roots=relay.roots,
        logging=relay.logging,
        messages=relay.messages,
    )


class Links:
    def __init__(self, first: UpstreamLink, first_relay: Relay) -> None:
        self.first = first
        self.first_relay = first_relay
        self._own: weakref.WeakKeyDictionary[Connection, tuple[UpstreamLink, Relay]] = (
            weakref.WeakKeyDictionary()
        )
        self._shared: dict[str, tuple[UpstreamLink, Relay]] = {}
        # Set by listen.py: keep the start-up session's upstream listen wanting these keys
        # ("uri:<uri>" for a resource) while the count given is held (+1 / -1).
        self.watch: Callable[[list[str], int], Awaitable[None]] | None = None

    def for_request(self, ctx: Ctx | None) -> tuple[UpstreamLink, Relay]:
        if ctx is None or self.first.spec.kind == "command":
            return self.first, self.first_relay
        connection = connection_of(ctx)
        if connection is not None and not modern(ctx):
            return self._own.get(connection) or self._open_own(connection)
        caps = ctx.session.client_capabilities
        key = json.dumps(
            caps.model_dump(mode="json", exclude_none=True) if caps is not None else None,
            sort_keys=True,
        )
        found = self._shared.get(key)
        if found is not None:
            return found
        if len(self._shared) >= MAX_SHARED:
            return self.first, self.first_relay
        relay = Relay(client=None, bus=None)  # the start-up session publishes the changes
        found = self._shared[key] = (
            self.first.sibling(callbacks(relay), caps, legacy=False),
            relay,
        )
        return found

    def _open_own(self, connection: Connection) -> tuple[UpstreamLink, Relay]:
        relay = Relay(client=connection)
        link = self.first.sibling(callbacks(relay), connection.client_capabilities, legacy=True)
        self._own[connection] = (link, relay)

        def closed(*_exc: Any) -> None:  # the client's session ended: so does its upstream one
            self._own.pop(connection, None)
            link.close()

        connection.exit_stack.push(closed)
        return link, relay

    def sessions(self) -> int:
        """Upstream sessions held for clients now (the start-up one not counted)."""
        return len(self._own) + len(self._shared)
