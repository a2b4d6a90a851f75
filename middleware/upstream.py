"""The upstream a ``ReverseProxy`` serves, and where the upstream's redirects may send a client.

Redirects stay on the site: a ``Location`` on the upstream's origin is rewritten to a path on the
proxy's; relative ones pass; any other origin is refused (the proxy answers 502,
``offsite_redirect``) unless listed in ``allowed_redirect_origins`` (say, the site's single
sign-on).  Passing it on would let the upstream send paying clients anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx2

from gate.errors import ConfigError
from middleware.redirects import safe_next

__all__ = ["Upstream"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Upstream:
    """``http[s]://host[:port][/base]`` (no query, fragment or credentials: ConfigError)."""

    def __init__(self, text: str, allowed_redirect_origins: Iterable[str] = ()) -> None:
        self.url = _parse_upstream(text)
        self.origin = _origin(self.url.scheme, self.url.host, self.url.port)
        self.base_path = self.url.raw_path.rstrip(b"/")
        ws_scheme = "wss" if self.url.scheme == "https" else "ws"
        self.ws_origin = f"{ws_scheme}://{self.url.netloc.decode('ascii')}"
        self.allowed_origins = frozenset(
            _parse_origin(origin) for origin in allowed_redirect_origins
        )

    def location(self, location: str) -> str | None:
        """The same-site form of an upstream ``Location``, or None when it leaves the site."""
        location = location.strip()
        if _CONTROL.search(location) or "\\" in location:
            return None
        parts = urlsplit(location)
        if not parts.scheme and not parts.netloc:
            if location.startswith("/"):
                return safe_next(location, default="") or None  # refuses '//host' and '/\host'
            return location  # relative to the current URL: same site
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        try:
            origin = _origin(parts.scheme, parts.hostname, parts.port)
        except ValueError:  # a port out of range
            return None
        if origin in self.allowed_origins:
            return location
        if origin != self.origin:
            return None
        path = parts.path or "/"
        base = self.base_path.decode("latin-1")
        if base:  # the upstream lives under a base path: the client sees the path without it
            if path != base and not path.startswith(base + "/"):
                return None
            path = path[len(base) :] or "/"
        rewritten = path + (f"?{parts.query}" if parts.query else "")
        rewritten += f"#{parts.fragment}" if parts.fragment else ""
        return safe_next(rewritten, default="") or None


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    default = 443 if scheme == "https" else 80
    return scheme, host.lower().rstrip("."), port or default


def _parse_origin(text: str) -> tuple[str, str, int]:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"redirect origin must be http(s)://host[:port], got {text!r}")
    return _origin(parts.scheme, parts.hostname, parts.port)


def _parse_upstream(text: str) -> httpx2.URL:
    try:
        url = httpx2.URL(text)
    except httpx2.InvalidURL as exc:
        raise ConfigError(f"upstream URL {text!r} is invalid: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"upstream must be an http(s)://host[:port][/path] URL, got {text!r}")
    if url.query or url.fragment or url.userinfo:
        raise ConfigError(f"upstream URL must not carry a query, fragment or credentials: {text!r}")
    return url
