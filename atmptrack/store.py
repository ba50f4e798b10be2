"""Where the store lives, whether a database is ours, and read connections through stdlib sqlite3.

Nothing here imports the write side (SQLModel, SQLAlchemy): `refresh` does that, and only when
the YAML changed, so a read command on a fresh store pays for sqlite3 alone.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from atmptrack.errors import StoreError, UsageError

BUSY_TIMEOUT_MS = 30_000
# SQLite's `PRAGMA application_id`, stamped in the file header of every store: "ATMP" in ASCII.
# A database without it is another application's, and is never written to.
APPLICATION_ID = 0x41544D50
_SQLITE_MAGIC = b"SQLite format 3\x00"


# postgresql://, postgres:// and SQLAlchemy's postgresql+psycopg://: the schemes of a server.
_PG_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+psycopg)?://", re.IGNORECASE)


class Server:
    """A store on a PostgreSQL server, named by its URL (SQLAlchemy's or libpq's form)."""

    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Server) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __str__(self) -> str:
        # Messages name the store; a password in its URL must never reach a terminal or a log.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.url)

    __repr__ = __str__

    @property
    def conninfo(self) -> str:
        """The URL as libpq reads it: without SQLAlchemy's `+driver` part."""
        return _PG_SCHEME.sub("postgresql://", self.url)

    @property
    def sqlalchemy_url(self) -> str:
        return _PG_SCHEME.sub("postgresql+psycopg://", self.url)


# Where a store lives: an SQLite file, or a schema on a PostgreSQL server.
Location = Path | Server


def schema_version() -> str:
    """Names the layout of the store: it changes with any edit of `tables` or `shape`.

    Derived, not bumped by hand, so that adding a field cannot forget it; a store written with
    another layout is rebuilt. A checksum of two small files costs far less than importing
    the tables (SQLModel), or even the shapes, on every read.
    """
    import zlib

    here = Path(__file__).parent
    checksum = 0
    for name in ("tables.py", "shape.py"):
        checksum = zlib.crc32((here / name).read_bytes(), checksum)
    return f"3-{checksum:08x}"


def fingerprint_for(store: Location, data_dir: Path) -> str:
    """What tells whether a store holds the data as it is now.

    For a file on this machine, the files' stats (`datadir.fingerprint`): one stat per file.
    A server is shared by clones on other machines, whose files have other stats: there it is
    the files' contents, which are the same in every clone of the same commit.
    """
    from atmptrack import datadir

    if isinstance(store, Server):
        return datadir.content_fingerprint(data_dir)
    return datadir.fingerprint(data_dir)


def stores_dir() -> Path:
    """Where the default stores live: one per data directory, in the user data directory."""
    from platformdirs import user_data_path

    return user_data_path("atmptrack", appauthor=False) / "stores"


def describe(store: Location) -> dict[str, Any]:
    """What `atmptrack store` tells of a store: where, how big, what it holds, when loaded."""
    info: dict[str, Any] = {"store": str(store), "exists": True}
    if isinstance(store, Path) and not store.exists():
        return info | {"exists": False}
    check_owned(store)
    meta = peek(store)
    if isinstance(store, Server):
        info["exists"] = bool(meta)  # our schema, loaded
    else:
        files = [store, *(store.with_name(store.name + s) for s in ("-wal", "-shm"))]
        info["bytes"] = sum(f.stat().st_size for f in files if f.exists())
    if not meta:
        return info  # nothing loaded yet: no tables to count
    info |= {
        k: meta.get(k) for k in ("data_dir", "loaded_at", "atmptrack_version", "schema_version")
    }
    # How many files the dataset has, and how many the last refresh read: all, or those changed.
    for key in ("files", "files_read"):
        if key in meta:  # a store written before they were kept
            info[key] = int(meta[key])
    with reading(store) as conn:
        for table in ("source", "organisation", "initiative", "membership"):
            info[f"{table}s"] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    return info


def prune(*, dry_run: bool) -> list[Path]:
    """Remove the default stores whose data directory no longer exists; the ones removed.

    Only files in the stores directory that carry atmptrack's mark are considered.
    """
    removed = []
    folder = stores_dir()
    for store in sorted(folder.glob("*.sqlite")) if folder.is_dir() else []:
        try:
            check_owned(store)
            data_dir = peek(store).get("data_dir")
        except StoreError:
            continue
        if data_dir is None or Path(data_dir).exists():
            continue
        removed.append(store)
        if not dry_run:
            for path in (store, *(store.with_name(store.name + s) for s in ("-wal", "-shm"))):
                path.unlink(missing_ok=True)
    return removed


def resolve_store(option: str | None, data_dir: Path) -> Location:
    """--db / ATMPTRACK_DB as a path, a sqlite URL or a PostgreSQL URL; by default one SQLite
    store per data directory."""
    if option:
        if "://" in option:
            parts = urlsplit(option)
            if _PG_SCHEME.match(option):
                return Server(option)
            if parts.scheme not in ("sqlite", "sqlite+pysqlite"):
                raise UsageError(
                    f"unsupported database URL scheme '{parts.scheme}': give a file path, a "
                    "sqlite:///path URL or a postgresql://user@host/dbname URL"
                )
            raw = unquote(parts.path)
            # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy reads them.
            path = raw[1:] if raw.startswith("/") else raw
            if not path or path == ":memory:":
                raise UsageError("the store must be a file: an in-memory database would be empty")
            return Path(path).expanduser().resolve()
        return Path(option).expanduser().resolve()
    import hashlib

    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return stores_dir() / f"{data_dir.name}-{key}.sqlite"


def check_owned(store: Location) -> None:
    """Refuse, before anything is written, a store that holds something not ours.

    Ours: no file yet, an SQLite database stamped with our application id, or one without
    tables at all. A store of an earlier version (no stamp, but our `meta` table) counts as
    ours too. Everything else (another application's database, any other file, a directory)
    raises StoreError, and its bytes are left exactly as they were. On PostgreSQL: the
    `atmptrack` schema, absent, empty or holding our store (see `postgres`).
    """
    if isinstance(store, Server):
        from atmptrack import postgres

        postgres.check_owned(store)
        return
    if not store.exists() and not store.is_symlink():
        return
    if store.is_dir():
        raise StoreError(f"{store} is a directory, not an atmptrack store; choose another --db")
    if not store.is_file():  # a FIFO or a device: reading it could block or never end
        raise StoreError(
            f"{store} is not a regular file, not an atmptrack store; choose another --db"
        )
    header = _header(store)
    if not header:
        # SQLite creates a store's file empty and writes its header a moment later: another
        # atmptrack may be creating this one. Give it that moment before calling it foreign.
        deadline = time.monotonic() + _CREATION_GRACE_S
        while not header and time.monotonic() < deadline:
            time.sleep(0.05)
            header = _header(store)
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 100:
        what = "an empty file" if not header else "not an SQLite database"
        raise StoreError(
            f"{store} is {what}, not an atmptrack store; it was left as it was: "
            "remove it or choose another --db"
        )
    if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return
    tables = _table_names(store)
    if not tables or ("meta" in tables and "atmptrack_version" in peek(store)):
        return
    shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
    raise StoreError(
        f"{store} is another application's database (tables: {shown}), not an atmptrack "
        "store; it was left as it was: choose another --db"
    )


_CREATION_GRACE_S = 0.5  # SQLite writes the header within milliseconds of creating the file


def _header(store: Path) -> bytes:
    try:
        with store.open("rb") as handle:
            return handle.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read the store {store}: {exc.strerror or exc}") from exc


def _table_names(store: Path) -> set[str]:
    # Read-only, so that looking at a foreign database changes none of its bytes.
    try:
        conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(
            f"{store} is not a readable SQLite database ({exc}); choose another --db"
        ) from exc
    return {str(name) for (name,) in rows}


def _open(store: Path) -> sqlite3.Connection:
    """A connection for reading, without needing write access when nothing has to be written.

    SQLite's WAL mode creates a shared-memory file beside the store even to read; in a
    directory the user cannot write, the store is opened immutable instead: nobody with the
    same rights can be changing it.
    """
    conn = sqlite3.connect(store, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if os.access(store.parent, os.W_OK):
            raise
    return sqlite3.connect(f"{store.as_uri()}?immutable=1", uri=True, isolation_level=None)


def peek(store: Location) -> dict[str, str]:
    """The store's `meta` table: its fingerprint, layout version and load time; {} if none."""
    if isinstance(store, Server):
        from atmptrack import postgres

        return postgres.peek(store)
    if not store.exists():
        return {}
    try:
        conn = _open(store)
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


def fetch(conn: sqlite3.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    return list(stream(conn, sql, **params))


def stream(conn: sqlite3.Connection, sql: str, **params: Any) -> Iterator[dict[str, Any]]:
    """The same rows one at a time, as the database hands them out: long output is written
    while it is read, never held whole. `fetch` goes through here, so this is the one place
    that runs read queries."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


@contextmanager
def reading(store: Location) -> Iterator[sqlite3.Connection]:
    """A read connection holding one snapshot, so a concurrent load is seen whole or not at all.

    On PostgreSQL it is a `postgres.Reader`, which reads the same SQL as sqlite3 does; typed as
    sqlite3's connection, whose methods it offers, so that the read side stays one code path.
    """
    if isinstance(store, Server):
        from atmptrack import postgres

        with postgres.reading(store) as reader:
            yield reader  # type: ignore[misc]
        return
    try:
        conn = _open(store)
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
