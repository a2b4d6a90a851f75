"""The admin dashboard: prices and policy, payers, the puzzle bank and the LLM pool.

``create_admin_app(runtime)`` builds the ASGI app; ``gate admin serve`` runs it alone, and the
gateway can mount it under a prefix (``mount_admin``).
"""

from admin.app import AdminApp, create_admin_app, mount_admin

__all__ = ["AdminApp", "create_admin_app", "mount_admin"]
