"""Alembic revisions of the gate's SQL schema (a package so that it ships with the wheel)."""
