"""Where the store lives, whether it is up to date, and read connections through stdlib sqlite3.

The write side (SQLModel, SQLAlchemy) is imported only when the YAML changed: a read command
on a fresh store pays for sqlite3 alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from atmptrack.datadir import fingerprint
from atmptrack.errors import Diagnostic, StoreError, UsageError

# Bump when a table or column in tables.py changes: a store written with another number is rebuilt.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 30_000


@dataclass(slots=True)
class LoadResult:
    loaded: bool
    counts: dict[str, int]
    warnings: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


def resolve_store(option: str | None, data_dir: Path) -> Path:
    """--db / ATMPTRACK_DB as a path or sqlite URL; by default one store per data directory."""
    if option:
        if "://" in option:
            parts = urlsplit(option)
            if parts.scheme not in ("sqlite", "sqlite+pysqlite"):
                raise UsageError(
                    f"unsupported database URL scheme '{parts.scheme}'; this version stores "
                    "data in SQLite: give a path or a sqlite:///path URL"
                )
            raw = unquote(parts.path)
            # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy reads them.
            path = raw[1:] if raw.startswith("/") else raw
            if not path or path == ":memory:":
                raise UsageError("the store must be a file: an in-memory database would be empty")
            return Path(path).expanduser().resolve()
        return Path(option).expanduser().resolve()
    import hashlib

    from platformdirs import user_data_path

    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return user_data_path("atmptrack", appauthor=False) / "stores" / f"{data_dir.name}-{key}.sqlite"


def _peek(store: Path) -> dict[str, str]:
    if not store.exists():
        return {}
    try:
        conn = sqlite3.connect(store, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = conn.execute("SELECT key, value FROM meta").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise StoreError(f"cannot read the store {store}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{store} is not an atmptrack store ({exc}); remove it or choose another --db"
        ) from exc
    return {str(k): str(v) for k, v in rows}


def ensure_fresh(data_dir: Path, store: Path, *, force: bool = False) -> LoadResult | None:
    """Load the data into the store when any YAML file changed since the last load.

    Returns None when the store was already up to date. Raises DataError, leaving the store
    as it was, when the data is invalid.
    """
    if not data_dir.exists():
        raise UsageError(f"data directory {data_dir} does not exist")
    current = fingerprint(data_dir)
    meta = _peek(store)
    if (
        not force
        and meta.get("fingerprint") == current
        and meta.get("schema_version") == str(SCHEMA_VERSION)
    ):
        return None
    from atmptrack.writer import load

    return load(data_dir, store, fingerprint=current, force=force)


def fetch(conn: sqlite3.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


@contextmanager
def reading(store: Path) -> Iterator[sqlite3.Connection]:
    """A read connection holding one snapshot, so a concurrent load is seen whole or not at all."""
    try:
        conn = sqlite3.connect(store, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {store}: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store {store}: {exc}") from exc
    finally:
        conn.close()
