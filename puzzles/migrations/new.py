"""Write the next migration revision from the models (a developer's tool, not an operator's).

    python -m puzzles.migrations.new "what changed" [--database-url URL]

Brings a scratch database to the newest revision (a temporary SQLite file unless ``--database-url``
names an empty one, e.g. a PostgreSQL schema: its rendering of defaults is the cleaner), compares it
with the models and writes ``versions/NNNN_<slug>.py`` with the next number.  Review the file before
committing it: autogenerate misses renames and data moves.  ``tests/test_migrations.py`` fails until
the models and the revisions agree again.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import Script
from sqlalchemy.engine import Connection

from puzzles.db import create_engine
from puzzles.migrations import alembic_config, script_directory, upgrade


def next_revision_id() -> str:
    numbers = [int(s.revision) for s in script_directory().walk_revisions() if s.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


async def write_revision(message: str, url: str) -> Path:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        revision_id = next_revision_id()
        slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]

        def generate(connection: Connection) -> object:
            config = alembic_config()
            config.attributes["connection"] = connection
            config.set_main_option("file_template", f"%%(rev)s_{slug}")
            return command.revision(config, message, autogenerate=True, rev_id=revision_id)

        async with engine.begin() as connection:
            script = await connection.run_sync(generate)
    finally:
        await engine.dispose()
    assert isinstance(script, Script)  # one revision asked for, one written
    return Path(script.path)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the next migration revision.")
    parser.add_argument("message")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{scratch}/scratch.db"
        path = asyncio.run(write_revision(args.message, url))
    print(f"wrote {path}; review it, then run tests/test_migrations.py")


if __name__ == "__main__":
    main()
