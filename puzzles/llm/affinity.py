"""Prefix-affinity routing: send prompts that share a prefix to the backend that saw it last.

Engines with a prefix cache (vLLM, SGLang, the transformers continuous-batching worker) skip the
prefill of a prefix they still hold, and puzzle generation sends thousands of prompts built from
the same template.  The key is a digest of a prompt's first ``prefix_chars`` characters (its
template, in practice); the table remembers which backend served a key recently.

The guard against imbalance: the remembered backend is chosen only while its load (in flight /
cap) is within ``max_imbalance`` of the least-loaded candidate's, so one hot template cannot pile
every request onto one backend while another idles.  Pure and clock-injected, like the scheduler.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["PrefixAffinity", "prefix_key"]


def prefix_key(messages: Iterable[Mapping[str, Any]], prefix_chars: int) -> str | None:
    """Digest of the first ``prefix_chars`` characters of the rendered prompt; ``None`` for a
    prompt shorter than that (nothing worth caching is shared)."""
    parts: list[str] = []
    size = 0
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else repr(content)
        piece = f"{message.get('role', '')}\x1f{text}\x1e"
        parts.append(piece)
        size += len(piece)
        if size >= prefix_chars:
            break
    rendered = "".join(parts)
    if len(rendered) < prefix_chars:
        return None
    return hashlib.blake2b(rendered[:prefix_chars].encode(), digest_size=12).hexdigest()


class PrefixAffinity:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        prefix_chars: int = 512,
        ttl_s: float = 120.0,
        max_entries: int = 4096,
        max_imbalance: float = 0.25,
    ) -> None:
        self.prefix_chars = prefix_chars
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._max_imbalance = max_imbalance
        self._table: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def key(self, messages: Iterable[Mapping[str, Any]]) -> str | None:
        return prefix_key(messages, self.prefix_chars)

    def choose(self, key: str | None, loads: Mapping[str, tuple[int, int]]) -> str | None:
        """The remembered backend for ``key`` if it is among ``loads`` (name -> (in flight, cap)
        of the backends that can take the request now) and not overloaded; else ``None``."""
        if key is None:
            return None
        entry = self._table.get(key)
        if entry is None or self._clock() - entry[1] > self._ttl_s or entry[0] not in loads:
            self.misses += 1
            return None
        least = min(in_flight / cap for in_flight, cap in loads.values())
        in_flight, cap = loads[entry[0]]
        if in_flight / cap - least > self._max_imbalance:
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def remember(self, key: str | None, backend: str) -> None:
        if key is None:
            return
        self._table[key] = (backend, self._clock())
        self._table.move_to_end(key)
        while len(self._table) > self._max_entries:
            self._table.popitem(last=False)
