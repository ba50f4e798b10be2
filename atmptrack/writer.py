"""The store's write side: map a validated dataset to rows and replace the store's contents atomically."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import SQLModel, create_engine

from atmptrack import __version__, shape, tables
from atmptrack.dataset import Dataset, read_dataset
from atmptrack.errors import Diagnostic, StoreError
from atmptrack.schema import Sourced
from atmptrack.shape import Shape, _stored, row_of
from atmptrack.store import (
    APPLICATION_ID,
    BUSY_TIMEOUT_MS,
    Location,
    Server,
    check_owned,
    fingerprint_for,
    schema_version,
)

Rows = dict[str, list[dict[str, Any]]]  # table name -> rows


@dataclass(slots=True)
class LoadResult:
    loaded: bool
    counts: dict[str, int]
    warnings: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


def load(
    data_dir: Path,
    store: Location,
    *,
    fingerprint: str,
    force: bool,
    wait_ms: int = BUSY_TIMEOUT_MS,
) -> LoadResult:
    """Validate every file, then replace the store's contents in one immediate transaction.

    With force=False the load is skipped when another process brought the store up to date
    while this one waited for the write lock, so parallel refreshes never load twice. When the
    data changed while it was being read, it is read again: a load never commits data older
    than the files, nor over a newer dataset another process committed meanwhile.
    """
    started = time.perf_counter()
    for _attempt in range(_READ_ATTEMPTS):
        dataset = read_dataset(data_dir)  # raises DataError before anything is written
        rows = build_rows(dataset)
        outcome = write_rows(
            store, rows, data_dir=data_dir, fingerprint=fingerprint, force=force, wait_ms=wait_ms
        )
        if outcome != "stale":
            break
        fingerprint = fingerprint_for(store, data_dir)
    else:
        raise StoreError(
            f"the data in {data_dir} kept changing while it was read; load again when it is still"
        )
    return LoadResult(
        loaded=outcome == "written",
        counts=_counts(rows),
        warnings=dataset.warnings,
        seconds=time.perf_counter() - started,
    )


class StoreBusy(StoreError):
    """Another writer held the store's write lock for longer than this load would wait."""


class StoreReadOnly(StoreError):
    """The server's role for this user may read the store but not write it."""


# A data directory rewritten this many times during one load is being edited: stop and say so.
_READ_ATTEMPTS = 3
Outcome = Literal["written", "current", "stale"]


def write_rows(
    store: Location,
    rows: Rows,
    *,
    data_dir: Path,
    fingerprint: str,
    force: bool,
    wait_ms: int = BUSY_TIMEOUT_MS,
) -> Outcome:
    """Replace the store's contents with rows read from data with this fingerprint.

    "current": the store already holds this data (and force is off), or a newer dataset that
    matches the files as they are now; "stale": the files changed since they were read, so
    these rows must not be written; "written": done, in one transaction. Raises StoreBusy
    when another writer holds the store for longer than `wait_ms`.
    """
    if isinstance(store, Path):
        store.parent.mkdir(parents=True, exist_ok=True)
    check_owned(store)  # again: reading the data took a while, and a file may have appeared
    # Ctrl-C waits until the transaction is over and the connection closed: interrupting
    # SQLite or the pool halfway gains nothing and leaves noise. kill -9 is the journal's job.
    with _interrupts_held():
        engine = _engine(store, wait_ms)
        try:
            with engine.begin() as conn:
                if isinstance(store, Server):
                    from atmptrack import postgres

                    postgres.lock(conn, store, wait_ms)
                meta = _meta(conn, store)
                same_version = meta.get("schema_version") == schema_version()
                if not force and same_version and meta.get("fingerprint") == fingerprint:
                    return "current"
                # Under the write lock: did the files change since they were read?
                now = fingerprint_for(store, data_dir)
                if now != fingerprint:
                    return "current" if same_version and meta.get("fingerprint") == now else "stale"
                _reset(conn, store, rebuild=not same_version)
                if isinstance(store, Path):
                    # The mark that tells our stores from other databases (see check_owned).
                    conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
                rows["meta"] = [
                    {"key": "schema_version", "value": schema_version()},
                    {"key": "fingerprint", "value": fingerprint},
                    {"key": "data_dir", "value": str(data_dir)},
                    {"key": "atmptrack_version", "value": __version__},
                    {"key": "loaded_at", "value": datetime.now(UTC).isoformat(timespec="seconds")},
                ]
                for table in tables.TABLES:
                    name = str(table.__tablename__)
                    if rows.get(name):
                        # One executemany per table: row-at-a-time ORM inserts are ~40x slower.
                        conn.execute(SQLModel.metadata.tables[name].insert(), rows[name])
        except OperationalError as exc:
            if isinstance(store, Path) and "locked" in str(exc.orig):
                raise StoreBusy(f"another process is writing the store {store}") from exc
            raise StoreError(f"cannot write the store {store}: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501":
                raise StoreReadOnly(f"this role may not write the store {store}") from exc
            # The driver's own words, without the statement and its thousands of parameters.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"cannot write the store {store}: {reason}") from exc
        finally:
            engine.dispose()
    return "written"


@contextmanager
def _interrupts_held() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _engine(store: Location, wait_ms: int) -> Engine:
    if isinstance(store, Server):
        from atmptrack import postgres

        return postgres.engine(store)
    engine = create_engine(f"sqlite:///{store}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin() emit our own BEGIN IMMEDIATE: the driver's implicit BEGIN
        # would take the write lock only at the first write, inviting "database is locked".
        dbapi.isolation_level = None
        dbapi.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        dbapi.execute("PRAGMA journal_mode = WAL")
        dbapi.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        # Parents may come after children in a file: check references at commit, not per row.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")

    return engine


def _meta(conn: Connection, store: Location) -> dict[str, str]:
    if isinstance(store, Server):
        from atmptrack import postgres

        found = postgres.meta(conn)
        if found is None:  # taken since check_owned looked: never write over it
            raise StoreError(f"the schema '{postgres.SCHEMA}' in {store} is not an atmptrack store")
        return found
    exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"))
    if exists.first() is None:
        return {}
    return {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM meta"))}


def _reset(conn: Connection, store: Location, *, rebuild: bool) -> None:
    if rebuild and isinstance(store, Server):
        from atmptrack import postgres

        postgres.rebuild(conn, tables.VIEWS)
        return
    if rebuild:
        # A store of another schema version (or none) is rebuilt, never misread.
        found = conn.execute(
            text(
                "SELECT type, name FROM sqlite_master "
                "WHERE type IN ('view', 'table') AND name NOT LIKE 'sqlite_%' ORDER BY type DESC"
            )
        )
        for kind, name in list(found):  # views first: they name the tables
            conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        SQLModel.metadata.create_all(conn)
        for name, select in tables.VIEWS.items():
            conn.exec_driver_sql(f'CREATE VIEW "{name}" AS {select}')
        return
    for table in reversed(tables.TABLES):
        conn.execute(SQLModel.metadata.tables[str(table.__tablename__)].delete())


def _counts(rows: Rows) -> dict[str, int]:
    return {
        "sources": len(rows.get("source", [])),
        "organisations": len(rows.get("organisation", [])),
        "initiatives": len(rows.get("initiative", [])),
        "members": len(rows.get("membership", [])),
    }


def _columns(table: str) -> list[str]:
    return [column.name for column in SQLModel.metadata.tables[table].columns]


class _Builder:
    """Rows of every table, built by walking the declared shapes (see `shape`)."""

    def __init__(self) -> None:
        self.rows: Rows = {str(table.__tablename__): [] for table in tables.TABLES}
        self.columns = {name: _columns(name) for name in self.rows}

    def add(self, entity: Shape, record: Any, context: dict[str, Any]) -> None:
        row = row_of(entity, record, self.columns[entity.table], context)
        self.rows[entity.table].append(row)
        key = [row[c] for c in entity.key]
        if entity.cited:
            self._provenance(entity, key, record)
        for link in entity.links:
            for position, item in enumerate(getattr(record, link.field)):
                self.rows[link.table].append(
                    {
                        **dict(zip(link.keys, key, strict=True)),
                        link.column: _stored(item),
                        "position": position,
                    }
                )
        for name, child in (*entity.nested, *entity.children):
            for position, item in enumerate(getattr(record, name)):
                self.add(
                    child, item, {**dict(zip(child.parent, key, strict=True)), "position": position}
                )

    def _provenance(self, entity: Shape, key: list[Any], record: Sourced) -> None:
        # Keyed by the record's own key columns, in its entity's tables (see Shape.owner).
        owner = dict(zip(entity.owner, key, strict=True))
        self.rows[entity.citations].extend(
            {**owner, "source_id": source, "position": position}
            for position, source in enumerate(record.sources)
        )
        self.rows[entity.inferences].extend(
            {**owner, "field": field, "reason": reason, "position": position}
            for position, (field, reason) in enumerate(record.inferred.items())
        )


def build_rows(dataset: Dataset) -> Rows:
    """Explicit mapping from input models to rows: SQLModel tables do not validate on their own."""
    builder = _Builder()
    for loaded in dataset.files:
        doc = loaded.document
        # Recorded relative to the data directory, so the store does not depend on the cwd.
        file = Path(os.path.relpath(Path(doc.path).resolve(), dataset.root)).as_posix()
        for entity, kind, items in (
            (shape.SOURCE, "sources", loaded.model.sources),
            (shape.ORGANISATION, "organisations", loaded.model.organisations),
            (shape.INITIATIVE, "initiatives", loaded.model.initiatives),
        ):
            for index, item in enumerate(items):
                builder.add(entity, item, {"file": file, "line": doc.mark((kind, index)).line})
    return builder.rows
