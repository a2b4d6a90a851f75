"""``subscriptions/listen`` for 2026-07-28 clients, fed by the gateway's start-up upstream session.

The SDK's ``ListenHandler`` serves each client stream from a bus; this module keeps the upstream
telling the gateway what the open streams want, for as long as one wants it:

- a handshake-era upstream sends list changes on its own; a resource's updates are asked for with
  ``resources/subscribe`` while some stream wants that URI (``resources/unsubscribe`` after);
- a 2026-07-28 upstream gets one ``subscriptions/listen`` of the gateway's own, for everything
  the open streams want together, opened again whenever that changes; its events also reach the
  handshake-era clients of the start-up session (list changes; updates of the resources they
  subscribed to), which that upstream would otherwise never tell.

Events from the upstream are published on the bus (``relay.py`` for handshake-era notifications,
this module for the upstream's listen stream); each client stream gets those its filter asks for.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp_types.version import is_version_at_least

from mcp_server.links import Links
from mcp_server.relay import Ctx
from mcp_server.spec import describe

log = logging.getLogger(__name__)

_KINDS = ("tools_list_changed", "prompts_list_changed", "resources_list_changed")
_RETRY = 1.0  # seconds before the gateway listens upstream again after its stream was lost


def _wants(notifications: types.SubscriptionFilter) -> list[str]:
    kinds = [kind for kind in _KINDS if getattr(notifications, kind)]
    return kinds + [f"uri:{uri}" for uri in notifications.resource_subscriptions or ()]


def _modern(client: Client) -> bool:
    return is_version_at_least(client.protocol_version, "2026-07-28")


class ListenRelay:
    def __init__(self, links: Links, bus: InMemorySubscriptionBus) -> None:
        self.links = links
        self.bus = bus
        self._handler = ListenHandler(bus)
        self._wanted: Counter[str] = Counter()
        self._changed = anyio.Event()
        self._opened = anyio.Event()  # the upstream listen is open for the latest wants
        self._watching = False
        # Handshake-era clients of the start-up session hear of changes too: from a 2026-07-28
        # upstream only through the gateway's listen stream, which then always wants the lists
        # (and the resources they subscribe to, ``Forwarder.subscribe``).
        links.watch = self._want
        links.first_relay.on_session = lambda: links.first.start_soon(self.lists_for_legacy)

    async def lists_for_legacy(self) -> None:
        await self._want(list(_KINDS), +1)

    async def __call__(
        self, ctx: Ctx, params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        wants = _wants(params.notifications)
        await self._want(wants, +1)
        try:
            return await self._handler(ctx, params)
        finally:
            # The client's stream usually ends by cancellation: the upstream is told regardless.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.links.first.spec.timeout):
                await self._want(wants, -1)

    async def _want(self, wants: list[str], change: int) -> None:
        before = {key for key, count in self._wanted.items() if count > 0}
        for key in wants:
            self._wanted[key] += change
        self._wanted = +self._wanted  # drop what nobody wants any more
        after = set(self._wanted)
        if before == after:
            return
        opened = self._opened = anyio.Event()
        self._changed.set()
        try:
            client = (await self.links.first.connection()).client
        except Exception as exc:  # the upstream is down: the streams stay open, quietly
            log.info("listen: upstream unavailable: %s", describe(exc))
            return
        if client is None:
            return
        if _modern(client):
            if not self._watching:
                self._watching = True
                self.links.first.start_soon(self._watch)
            if change > 0:  # what happens upstream from now on is heard
                with anyio.move_on_after(self.links.first.spec.timeout):
                    await opened.wait()
            return
        for key in sorted(after - before) + sorted(before - after):
            if key.startswith("uri:"):
                await self._subscribe(client, key[4:], on=key in after)

    async def _subscribe(self, client: Client, uri: str, *, on: bool) -> None:
        request: Any = (
            types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
            if on
            else types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri))
        )
        try:
            with anyio.fail_after(self.links.first.spec.timeout):
                await client.session.send_request(request, types.EmptyResult)
        except Exception as exc:  # an upstream without subscriptions: no updates, no failure
            log.info("listen: %s %r upstream: %s", request.method, uri, describe(exc))

    async def _watch(self) -> None:
        """Keep one upstream listen stream open for what the client streams want together."""
        while True:
            self._changed = anyio.Event()
            wanted = set(self._wanted)
            if not wanted:
                await self._changed.wait()
                continue
            changed = self._changed
            try:
                client = (await self.links.first.connection()).client
                assert client is not None
                async with anyio.create_task_group() as group:

                    async def restart(changed: anyio.Event = changed) -> None:
                        await changed.wait()
                        group.cancel_scope.cancel()

                    group.start_soon(restart)
                    async with client.listen(
                        **{kind: kind in wanted for kind in _KINDS},
                        resource_subscriptions=sorted(
                            key[4:] for key in wanted if key.startswith("uri:")
                        ),
                    ) as subscription:
                        self._opened.set()
                        async for event in subscription:
                            await self.bus.publish(event)
                            await self.links.first_relay.announce(event)
                    group.cancel_scope.cancel()
                if not changed.is_set():  # the upstream closed it: listen again, unhurried
                    await anyio.sleep(_RETRY)
            except Exception as exc:
                log.info("listen: upstream stream lost: %s", describe(exc))
                await anyio.sleep(_RETRY)
