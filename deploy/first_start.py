"""First start of the compose deployment: create the secrets it needs in its ``gate-secrets`` volume.

    python /opt/gate/first_start.py /var/lib/gate-secrets

- ``signing-key.pem`` (0600): the Ed25519 key that signs passes, shared by every gate replica
  (GATE_SIGNING_KEY_FILE);
- ``postgres-password`` (0644, read by the postgres container's own user through
  POSTGRES_PASSWORD_FILE): ``POSTGRES_PASSWORD`` from the environment when set (a deployment whose
  database was created with it), else 32 random bytes;
- ``pgpass`` (0600): the same password for the gates' PostgreSQL driver (PGPASSFILE), so the
  password is never in GATE_DATABASE_URL, the environment or the compose file.

A file that exists is kept: later starts change nothing, and a key or password an operator put in
the volume is used as it is.  Runs as the image's user (uid 10001), which owns the volume.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def _write(path: Path, text: str, mode: int) -> bool:
    """Create ``path`` with ``mode``; False (and nothing written) when it exists already."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, mode)  # whatever the umask took away
    return True


def ensure_secrets(folder: Path, *, password: str | None = None) -> list[str]:
    """Create what is missing in ``folder``; returns the names created."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gate.keys import write_private_key

    created: list[str] = []
    key = folder / "signing-key.pem"
    if not key.exists():
        write_private_key(key, Ed25519PrivateKey.generate())  # 0600, never over a file
        created.append(key.name)
    stored = folder / "postgres-password"
    if _write(stored, password or secrets.token_urlsafe(32), 0o644):
        created.append(stored.name)
    value = stored.read_text().strip()
    # host:port:database:user:password, the services' one connection (compose's names)
    if _write(folder / "pgpass", f"postgres:5432:gate:gate:{value}\n", 0o600):
        created.append("pgpass")
    return created


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/var/lib/gate-secrets")
    created = ensure_secrets(folder, password=os.environ.get("POSTGRES_PASSWORD") or None)
    print(
        f"secrets in {folder}: " + (f"created {', '.join(created)}" if created else "all present")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
