"""Choose the challenge body by ``Accept``: JSON for programs, HTML for browsers, Markdown for agents."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

Flavor = Literal["json", "html", "text", "plain"]  # text: Markdown; plain: the same, as text/plain

_FLAVORS: dict[str, Flavor] = {
    "application/json": "json",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "text",
    "text/plain": "plain",
}


@lru_cache(maxsize=1024)  # clients send a handful of distinct Accept headers
def negotiate(accept: str | None) -> Flavor:
    """The flavour with the highest q-value; ties keep header order; JSON when nothing matches.

    JSON is the fallback because clients that send no ``Accept`` or ``*/*`` are overwhelmingly
    programs, and JSON is what they can parse.
    """
    best: tuple[float, int, Flavor] | None = None
    for position, item in enumerate((accept or "").split(",")):
        media, _, params = item.strip().partition(";")
        flavor = _FLAVORS.get(media.strip().lower())
        if flavor is None:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidate = (quality, -position, flavor)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else "json"
