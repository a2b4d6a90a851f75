"""Where a solved challenge may send a browser: only back into this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """Return ``target`` when it is a same-site absolute path, else ``default``.

    Refuses scheme-relative (``//evil``), backslash tricks (``/\\evil``, which browsers treat as
    ``//``), absolute URLs, control characters and anything that parses with a host.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x20 or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
