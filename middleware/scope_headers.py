"""Reading an ASGI scope's request headers (names arrive lower-cased, values as latin-1 bytes)."""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["header_values", "headers_of"]


def headers_of(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def header_values(scope: Scope, wanted: bytes) -> list[str]:
    return [value.decode("latin-1") for name, value in scope["headers"] if name == wanted]
