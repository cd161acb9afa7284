"""Scratch PostgreSQL databases for the benchmarks: created fresh, dropped after."""

from __future__ import annotations

import re

import psycopg


def admin_url(url: str) -> tuple[str, str]:
    """(URL of the server's `postgres` database, the database name) of a database URL."""
    base, name = url.rsplit("/", 1)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing odd database name {name!r}")
    return base + "/postgres", name


def recreate_database(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
