"""Hot reload of the policy file: on change (polled) and on request (SIGHUP).

A new file is parsed and validated as a whole before anything changes; an invalid one keeps the
running policy and the reason is logged.  ``apply`` may refuse a valid policy too (raise
``ConfigError``), with the same effect.  The runtime's ``apply`` stores the document as a new
policy version, which every replica then applies (see ``serving.runtime``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gate.errors import ConfigError
from gate.policy import Policy, parse_policy

log = logging.getLogger("reasoning_gate.policy")

Apply = Callable[[Policy, str, str], Awaitable[None]]  # (policy, document text, actor)


class PolicyWatcher:
    def __init__(self, path: Path, apply: Apply, *, interval: float = 2.0) -> None:
        self.path = path
        self.apply = apply
        self.interval = interval
        self._seen: str | None = None  # digest of the last file content looked at
        self._wake = asyncio.Event()
        self._actor = "file-watch"

    def request_reload(self, actor: str = "sighup") -> None:
        """Ask for a reload now (safe to call from a signal handler on the loop)."""
        self._actor = actor
        self._seen = None
        self._wake.set()

    async def reload(self, actor: str = "file-watch") -> bool:
        """Load, validate and apply the file if it changed; True when a new policy was applied."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            log.error("policy %s unreadable (%s); keeping the running policy", self.path, exc)
            return False
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest == self._seen:
            return False
        self._seen = digest
        try:
            policy = parse_policy(text, source=str(self.path))
            await self.apply(policy, text, actor)
        except ConfigError as exc:
            log.error("policy not applied, keeping the running one: %s", exc)
            return False
        except Exception:
            # Storing failed (the database is down): look at the same content again next time.
            self._seen = None
            log.exception("policy %s not applied, keeping the running one", self.path)
            return False
        log.info("policy %s applied (%s, %s)", self.path, policy.digest, actor)
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            actor, self._actor = self._actor, "file-watch"
            await self.reload(actor)

    def mark_loaded(self, text: str) -> None:
        """Record the content applied at start-up so the first poll does not apply it again."""
        self._seen = hashlib.sha256(text.encode()).hexdigest()
