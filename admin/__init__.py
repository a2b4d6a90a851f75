"""The admin dashboard: prices and policy, payers, the puzzle bank and the LLM pool.

``create_admin_app(runtime)`` builds the ASGI app; ``gate admin serve`` runs it alone, and the
gateway can mount it under a prefix (``mount_admin``).  Names load on first use (PEP 562), so
``gate --help`` (which imports ``admin.cli``) does not pay for Starlette and Jinja.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from admin.app import AdminApp, create_admin_app, mount_admin

__all__ = ["AdminApp", "create_admin_app", "mount_admin"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'admin' has no attribute {name!r}")
    value = getattr(import_module("admin.app"), name)
    globals()[name] = value
    return value
