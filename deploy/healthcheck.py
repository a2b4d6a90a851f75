"""Container health check: exit 0 when the URL answers with any status below 500.

Usage: ``python healthcheck.py [URL]`` (default ``$HEALTHCHECK_URL``, else the gate's discovery
document on port 8080).  A 401, 404 or 406 still proves the server is serving; a refused
connection, a timeout or a 5xx does not.  Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/.well-known/reasoning-gate"


def healthy(url: str, timeout: float = 4.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HEALTHCHECK_URL", DEFAULT_URL)
    sys.exit(0 if healthy(target) else 1)
