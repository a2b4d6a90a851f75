"""Login lockout: failures counted per user name and per client address over a window.

Counting by name stops guessing one account's password from many addresses; counting by address
stops one address from trying many names.  Once either count reaches the limit, logins for that
name (or from that address) are refused without checking the password for a full window after
the failure that reached it.
"""

from __future__ import annotations

import hashlib

from gate.store import Delete, Get, Incr, Put, Store


def _keys(username: str, address: str) -> tuple[str, str]:
    # Names are hashed: a key must not grow with whatever an attacker types.
    name = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"admin:fail:user:{name}", f"admin:fail:addr:{address}"


class Lockout:
    def __init__(self, store: Store, limit: int, window: float) -> None:
        self.store = store
        self.limit = limit
        self.window = window

    async def locked(self, username: str, address: str) -> bool:
        counts = await self.store.execute([Get(key) for key in _keys(username, address)])
        return any(int(count or 0) >= self.limit for count in counts)

    async def failed(self, username: str, address: str) -> None:
        keys = _keys(username, address)
        counts = await self.store.execute([Incr(key, 1, self.window) for key in keys])
        # The lockout lasts a full window from the failure that reached the limit.
        renew = [
            Put(key, str(count).encode(), self.window)
            for key, count in zip(keys, counts, strict=True)
            if count >= self.limit
        ]
        if renew:
            await self.store.execute(renew)

    async def succeeded(self, username: str, address: str) -> None:
        user_key, _ = _keys(username, address)
        await self.store.execute([Delete(user_key)])
