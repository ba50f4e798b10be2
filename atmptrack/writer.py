"""The store's write side: map a validated dataset to rows and replace the store's contents atomically."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from operator import attrgetter, itemgetter
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import SQLModel, create_engine

from atmptrack import __version__, schema, shape, tables
from atmptrack.datadir import changed_files, file_count
from atmptrack.dataset import (
    Changes,
    Dataset,
    Defined,
    LoadedFile,
    Progress,
    check_dataset,
    paused_collector,
)
from atmptrack.errors import Diagnostic, StoreError
from atmptrack.schema import Sourced, _model_in
from atmptrack.shape import Shape, _bound, _stored
from atmptrack.store import (
    APPLICATION_ID,
    BUSY_TIMEOUT_MS,
    Location,
    Server,
    check_owned,
    fingerprint_for,
    schema_version,
)


class Table:
    """The rows of one table, each the values of `columns(name)` in that order.

    A large dataset's rows are all held until they are written, so they are kept in one flat
    list, a row every `width` values: a dict per row costs three times the memory, and even a
    tuple per row 40 bytes more (56 MB at 10,000 initiatives). Read and written as tuples.
    """

    __slots__ = ("values", "width")

    def __init__(self, width: int, rows: Iterable[Sequence[Any]] = ()) -> None:
        self.width = width
        self.values: list[Any] = []
        for row in rows:
            self.append(row)

    def __len__(self) -> int:
        return len(self.values) // self.width

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return zip(*[iter(self.values)] * self.width, strict=True)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        start = index * self.width
        return tuple(self.values[start : start + self.width])

    def __setitem__(self, index: int, row: Sequence[Any]) -> None:
        assert len(row) == self.width
        start = index * self.width
        self.values[start : start + self.width] = row

    def append(self, row: Sequence[Any]) -> None:
        assert len(row) == self.width
        self.values.extend(row)

    def chunks(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows as lists of at most `size` tuples, made one list at a time."""
        step = size * self.width
        for start in range(0, len(self.values), step):
            part = self.values[start : start + step]
            yield list(zip(*[iter(part)] * self.width, strict=True))


Rows = dict[str, Table]  # table name -> its rows


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
    progress: Progress | None = None,
) -> LoadResult:
    """Validate every file, then replace the store's contents in one immediate transaction.

    With force=False the load is skipped when another process brought the store up to date
    while this one waited for the write lock, so parallel refreshes never load twice. When the
    data changed while it was being read, it is read again: a load never commits data older
    than the files, nor over a newer dataset another process committed meanwhile.
    """
    started = time.perf_counter()
    with paused_collector():
        for _attempt in range(_READ_ATTEMPTS):
            # Each file becomes rows as soon as it is read: its records are not kept.
            builder = _Builder(data_dir)
            # Raises DataError before anything is written.
            warnings = check_dataset(data_dir, sink=builder, progress=progress)
            rows = builder.rows
            outcome = write_rows(
                store,
                rows,
                data_dir=data_dir,
                fingerprint=fingerprint,
                force=force,
                wait_ms=wait_ms,
                progress=progress,
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
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )


def update(
    data_dir: Path, store: Location, *, base: str, fingerprint: str, wait_ms: int = BUSY_TIMEOUT_MS
) -> LoadResult | None:
    """Bring the store from the files of fingerprint `base` to those of `fingerprint` by
    reading only the files that changed, in one transaction; None when only a full load can.

    The changed files pass every check of their own records here; the checks across files
    see the whole dataset, the other files as the store holds them. When any check fails,
    or the store or the files moved on meanwhile, nothing is written and the caller loads
    everything, which reports each problem as it always has. Readers see the store before
    or after, whole, as with a load.
    """
    started = time.perf_counter()
    # Rows name their file relative to the real directory: under a path through a symbolic
    # link, the names of the listing would not be theirs.
    real = data_dir.is_dir() and os.path.realpath(data_dir) == str(data_dir)
    delta = changed_files(base, fingerprint) if real else None
    if delta is None:
        return None
    changed, removed = delta
    files = file_count(fingerprint)
    if len(changed) + len(removed) > max(_FEW_FILES, files // 2):
        # A load writes many rows faster (it builds the indexes once, at the end): at 10,000
        # files, an update of 2,000 took 5.7 s, about 2.2 ms a file, and a load 20 s.
        return None
    with paused_collector():
        builder = _Builder(data_dir)
        changes = Changes([data_dir / name for name in changed], builder)
        if not changes.clean:
            return None
        try:
            with _writing(store, wait_ms) as conn:
                meta = _meta(conn, store)
                if (
                    meta.get("schema_version") != schema_version()
                    or meta.get("fingerprint") != base
                ):
                    raise _LoadInstead  # another process wrote the store meanwhile
                if fingerprint_for(store, data_dir) != fingerprint:
                    raise _LoadInstead  # the files changed again while they were read
                gone = {*changed, *removed}
                others, dropped = _defined(conn, gone)
                if not changes.fit(others):
                    raise _LoadInstead
                _delete_files(conn, gone, dropped)
                written = _Written(builder.rows, None)
                for table in tables.TABLES:
                    name = str(table.__tablename__)
                    if builder.rows.get(name):
                        _insert_rows(conn, name, builder.rows[name], written)
                if _referred(conn, set().union(*dropped.values()) - changes.ids()):
                    raise _LoadInstead  # another file still names a record that is gone
                keys = _meta_rows(data_dir, fingerprint, files=files, read=len(changed))
                conn.exec_driver_sql(
                    f"DELETE FROM meta WHERE key IN ({', '.join(_marks(conn.dialect.paramstyle, len(keys)))})",
                    tuple(key for key, _value in keys),
                )
                _insert_rows(conn, "meta", Table(2, keys), _Written({}, None))
                counts = _stored_counts(conn)
        except _LoadInstead:
            return None
    return LoadResult(
        loaded=True, counts=counts, warnings=[], seconds=time.perf_counter() - started
    )


class _LoadInstead(Exception):
    """Ends an update's transaction without writing: the caller loads everything instead."""


# An update of up to this many files, or half of them, costs less than a full load.
_FEW_FILES = 50


def _defined(conn: Connection, gone: set[str]) -> tuple[Defined, dict[str, set[str]]]:
    """What the files that stay define, and the ids of each top-level table in those that go."""
    dropped: dict[str, set[str]] = {table: set() for table in _OWNED}
    kept: dict[str, Any] = {}
    for table in _OWNED:
        parent = ", parent_id" if table == "organisation" else ""
        found = conn.exec_driver_sql(f'SELECT file, id{parent} FROM "{table}"')
        if parent:
            kept[table] = {}
            for file, record_id, parent_id in found:
                if file in gone:
                    dropped[table].add(record_id)
                else:
                    kept[table][record_id] = parent_id
        else:
            kept[table] = set()
            for file, record_id in found:
                (dropped[table] if file in gone else kept[table]).add(record_id)
    return Defined(kept["source"], kept["organisation"], kept["initiative"]), dropped


def _delete_files(conn: Connection, gone: set[str], dropped: dict[str, set[str]]) -> None:
    """The rows of the records of these files, and of everything they hold, deleted."""
    for table, owned in _OWNED.items():
        ids = sorted(dropped[table])
        for name, column in reversed(owned):
            for part in _slices(ids):
                marks = ", ".join(_marks(conn.dialect.paramstyle, len(part)))
                conn.exec_driver_sql(
                    f'DELETE FROM "{name}" WHERE "{column}" IN ({marks})', tuple(part)
                )
        for part in _slices(sorted(gone)):
            marks = ", ".join(_marks(conn.dialect.paramstyle, len(part)))
            conn.exec_driver_sql(f'DELETE FROM "{table}" WHERE file IN ({marks})', tuple(part))


def _referred(conn: Connection, ids: set[str]) -> bool:
    """Whether any row still refers to a record with one of these ids (of a top-level table).

    Every reference across files is a foreign key, so this finds each one; the commit would
    refuse them too, but only as a failure, without saying which.
    """
    if not ids:
        return False
    for table in SQLModel.metadata.sorted_tables:
        for reference in table.foreign_keys:
            if reference.column.table.name not in _OWNED or reference.column.name != "id":
                continue
            for part in _slices(sorted(ids)):
                marks = ", ".join(_marks(conn.dialect.paramstyle, len(part)))
                sql = f'SELECT 1 FROM "{table.name}" WHERE "{reference.parent.name}" IN ({marks}) LIMIT 1'
                if conn.exec_driver_sql(sql, tuple(part)).first() is not None:
                    return True
    return False


def _slices(values: list[str], size: int = 500) -> Iterator[list[str]]:
    # Bounded lists of parameters: SQLite allows 32,766 in one statement, and long lists plan slowly.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stored_counts(conn: Connection) -> dict[str, int]:
    return {
        name: conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one()
        for name, table in _COUNTED.items()
    }


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
    progress: Progress | None = None,
) -> Outcome:
    """Replace the store's contents with rows read from data with this fingerprint.

    "current": the store already holds this data (and force is off), or a newer dataset that
    matches the files as they are now; "stale": the files changed since they were read, so
    these rows must not be written; "written": done, in one transaction. Raises StoreBusy
    when another writer holds the store for longer than `wait_ms`.
    """
    with _writing(store, wait_ms) as conn:
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
        files = file_count(fingerprint)
        rows["meta"] = Table(2, _meta_rows(data_dir, fingerprint, files=files, read=files))
        written = _Written(rows, progress)
        with _indexes_built_after(conn):
            for table in tables.TABLES:
                name = str(table.__tablename__)
                if rows.get(name):
                    _insert_rows(conn, name, rows[name], written)
    return "written"


def _meta_rows(data_dir: Path, fingerprint: str, *, files: int, read: int) -> list[tuple[str, str]]:
    """What the store says of the dataset it holds: which files, as of when, read how."""
    return [
        ("schema_version", schema_version()),
        ("fingerprint", fingerprint),
        ("data_dir", str(data_dir)),
        ("atmptrack_version", __version__),
        ("loaded_at", datetime.now(UTC).isoformat(timespec="seconds")),
        ("files", str(files)),
        # How many of them the last write read: all of them, or those an update changed.
        ("files_read", str(read)),
    ]


@contextmanager
def _writing(store: Location, wait_ms: int) -> Iterator[Connection]:
    """One write transaction on the store, holding its write lock; committed at the end.

    Raises StoreBusy when another writer holds the store for longer than `wait_ms`, and
    StoreError (or StoreReadOnly) with the driver's reason when the write fails.
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
                yield conn
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


# What a load says it loaded: the number of rows of each of these tables.
_COUNTED = {
    "sources": "source",
    "organisations": "organisation",
    "initiatives": "initiative",
    "members": "membership",
}


def _counts(rows: Rows) -> dict[str, int]:
    return {name: len(rows.get(table, [])) for name, table in _COUNTED.items()}


@contextmanager
def _indexes_built_after(conn: Connection) -> Iterator[None]:
    """The store's secondary indexes dropped for the inserts and built again after them.

    One sort per index instead of an insert at a random place of it for every row: a quarter
    of the write at 10,000 initiatives. It is all in the transaction: a failure leaves them as
    they were. Primary keys stay, and with them every lookup the foreign keys make.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    found = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in found:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _name, sql in found:
        conn.exec_driver_sql(sql)


class _Written:
    """Counts the rows written, for the progress of a long write."""

    def __init__(self, rows: Rows, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = sum(len(table) for table in rows.values())

    def add(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress("writing the store", self.done, self.total)


# Rows per executemany: a large table goes in several, so that progress can be told between
# them (each costs SQLite nothing more: one transaction, one prepared statement).
_CHUNK = 50_000


def _insert_rows(conn: Connection, table: str, rows: Table, written: _Written) -> None:
    """Executemany of plain tuples through the driver: ORM inserts are ~40x slower, and
    SQLAlchemy's own insert of dicts spends more time on the parameters than SQLite on the rows.

    A row that refers to a row of its own table further on (a child organisation before its
    parent) is inserted without the reference, which is set once the table is in: while any
    reference dangles, even deferred, SQLite looks for the rows that point at each row
    inserted, and `organisation.parent_id` has no index (30 s of scans at 30,000 organisations).
    """
    paramstyle = conn.dialect.paramstyle
    names = columns(table)
    updates = []
    for child, parent in _self_references(table):
        rows, ahead = _forward_references(rows, names, child, parent)
        updates.append((child, parent, ahead))
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join(_marks(paramstyle, len(names)))
    insert = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'
    for chunk in rows.chunks(_CHUNK):
        conn.exec_driver_sql(insert, chunk)
        written.add(len(chunk))
    for child, parent, ahead in updates:
        if ahead:
            to, where = _marks(paramstyle, 2)
            sql = f'UPDATE "{table}" SET "{child}" = {to} WHERE "{parent}" = {where}'
            conn.exec_driver_sql(sql, ahead)


def _forward_references(
    rows: Table, names: tuple[str, ...], child: str, parent: str
) -> tuple[Table, list[tuple[Any, Any]]]:
    """The rows with each reference to a later row left empty, and (reference, row) of each."""
    own, ref = names.index(parent), names.index(child)
    out = rows
    ahead = []
    inserted: set[Any] = set()
    for i, row in enumerate(rows):
        value = row[ref]
        if value is not None and value not in inserted:
            if out is rows:  # copied at the first change: the caller's rows stay as they are
                out = Table(rows.width)
                out.values = list(rows.values)
            out.values[i * rows.width + ref] = None
            ahead.append((value, row[own]))
        inserted.add(row[own])
    return out, ahead


@cache
def _self_references(table: str) -> tuple[tuple[str, str], ...]:
    """(column, referred column) of each foreign key of a table to itself."""
    found = SQLModel.metadata.tables[table].foreign_keys
    return tuple((fk.parent.name, fk.column.name) for fk in found if fk.column.table.name == table)


def _marks(paramstyle: str, count: int) -> list[str]:
    """The driver's placeholders for count positional parameters."""
    if paramstyle == "qmark":
        return ["?"] * count
    if paramstyle == "numeric":
        return [f":{i}" for i in range(1, count + 1)]
    return ["%s"] * count  # format, pyformat


def columns(table: str) -> tuple[str, ...]:
    """The columns of a table's rows, in the order of the values of each row."""
    return _layout()[table]


@cache
def _layout() -> dict[str, tuple[str, ...]]:
    layout: dict[str, tuple[str, ...]] = {"meta": ("key", "value")}
    for maker in _makers().values():
        for made in maker.walk():
            layout[made.shape.table] = made.columns
            if made.shape.cited:
                owner = made.shape.owner
                layout[made.shape.citations] = (*owner, "source_id", "position")
                layout[made.shape.inferences] = (*owner, "field", "reason", "position")
            for link in made.shape.links:
                layout[link.table] = (*link.keys, link.column, "position")
    for table in SQLModel.metadata.sorted_tables:
        declared = {column.name for column in table.columns}
        # A column declared in `tables` but not in the shapes would silently stay empty.
        assert set(layout[table.name]) == declared, table.name
    return layout


def _value(value: Any) -> Any:
    """A model value as a column value (see shape._stored); text and numbers as they are."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, Enum):
        return value.value
    return _stored(value)


class _Maker:
    """How one shape's records become rows, worked out once rather than for every record.

    A row's values come in this order: the context (the parent's key and the position in its
    list, or the file and line of a top-level record), the record's attributes that are stored
    as they are (text, numbers), those that are converted (vocabulary, amounts, dates), the
    derived columns, then the bounds of its dates.
    """

    def __init__(self, shape: Shape, model: type[BaseModel], context: tuple[str, ...]) -> None:
        self.shape = shape
        declared = [column.name for column in SQLModel.metadata.tables[shape.table].columns]
        bounds = {lo: (name, "earliest") for name, (lo, _hi) in shape.dates.items()}
        bounds |= {hi: (name, "latest") for name, (_lo, hi) in shape.dates.items()}
        rest = [c for c in declared if c not in context]
        derived = [c for c in rest if c in shape.derived]
        bounded = [c for c in rest if c in bounds]
        attributes = [c for c in rest if c not in shape.derived and c not in bounds]
        as_is = [c for c in attributes if _stored_as_is(model, shape.paths.get(c, c))]
        converted = [c for c in attributes if c not in as_is]
        self.columns = (*context, *as_is, *converted, *derived, *bounded)
        # One C call fetches all the attributes of a kind.
        self.as_is = _getter([shape.paths.get(c, c) for c in as_is])
        self.converted = _getter([shape.paths.get(c, c) for c in converted])
        self.derived = tuple(shape.derived[c] for c in derived)
        self.bounds = tuple(
            (attrgetter(shape.paths.get(bounds[c][0], bounds[c][0])), bounds[c][1]) for c in bounded
        )
        key = [self.columns.index(c) for c in shape.key]
        # The row's key, as a tuple: itemgetter of one index returns the value alone.
        self.key_of: Callable[[tuple[Any, ...]], tuple[Any, ...]] = (
            itemgetter(*key) if len(key) > 1 else _one(itemgetter(*key))
        )
        self.children = tuple(
            (name, _Maker(child, _model_of(model, name), (*child.parent, "position")))
            for name, child in (*shape.nested, *shape.children)
        )

    def row(self, record: Any, context: tuple[Any, ...]) -> tuple[Any, ...]:
        # Lists, not generators, for the optional parts: cheaper for a handful of values.
        return (
            *context,
            *self.as_is(record),
            *map(_value, self.converted(record)),
            *[derive(record) for derive in self.derived],
            *[_bound(get(record), which) for get, which in self.bounds],
        )

    def walk(self) -> Iterator[_Maker]:
        yield self
        for _name, child in self.children:
            yield from child.walk()


def _one(get: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    return lambda value: (get(value),)


def _getter(paths: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The values at these attribute paths of a record, as a tuple."""
    if not paths:
        return lambda _record: ()
    if len(paths) == 1:
        get = attrgetter(paths[0])
        return lambda record: (get(record),)
    return attrgetter(*paths)  # of several names, attrgetter returns a tuple


def _model_of(model: type[BaseModel], name: str) -> type[BaseModel]:
    found = _model_in(model.model_fields[name].annotation)
    assert found is not None, f"{model.__name__}.{name} holds no records"
    return found


def _stored_as_is(model: type[BaseModel], path: str) -> bool:
    """Whether the model declares the attribute at path as text, a number or nothing: a value
    a column takes as it is. Anything else, or a property, goes through `_value`."""
    annotation: Any = None
    current: type[BaseModel] | None = model
    for part in path.split("."):
        field = current.model_fields.get(part) if current is not None else None
        if field is None:
            return False
        annotation = field.annotation
        current = _model_in(annotation)
    return current is None and _only_plain(annotation)


def _only_plain(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _only_plain(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return all(_only_plain(arg) for arg in get_args(annotation))
    return annotation in (str, int, type(None))


@cache
def _makers() -> dict[str, _Maker]:
    """The top-level shapes by the list of a data file that holds their records."""
    return {
        "sources": _Maker(shape.SOURCE, schema.Source, ("file", "line")),
        "organisations": _Maker(shape.ORGANISATION, schema.Organisation, ("file", "line")),
        "initiatives": _Maker(shape.INITIATIVE, schema.Initiative, ("file", "line")),
    }


def _owned() -> dict[str, tuple[tuple[str, str], ...]]:
    """Each top-level table (a record of a file), with the tables of everything its records
    hold and the column of each that names the record's id."""
    owned = {}
    for maker in _makers().values():
        top = maker.shape
        column = f"{top.entity}_id"  # as children, provenance and list tables name it
        held = []
        for made in maker.walk():
            names = [] if made is maker else [made.shape.table]
            if made.shape.cited:
                names += [made.shape.citations, made.shape.inferences]
            names += [link.table for link in made.shape.links]
            for name in names:
                assert columns(name)[0] == column, (name, columns(name))
                held.append((name, column))
        owned[top.table] = tuple(held)
    every = {name for held in owned.values() for name, _ in held} | owned.keys() | {"meta"}
    # A table no file's record holds would keep its rows when their file goes.
    assert every == set(SQLModel.metadata.tables), set(SQLModel.metadata.tables) - every
    return owned


class _Builder:
    """Rows of every table, built by walking the declared shapes (see `shape`), file by file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: Rows = {}
        self.start()

    def start(self) -> None:
        self.rows = {name: Table(len(columns(name))) for name in _layout()}

    def add(self, loaded: LoadedFile) -> None:
        # Recorded relative to the data directory, so the store does not depend on the cwd;
        # as Path.resolve() and as_posix() give it, in string operations.
        file = os.path.relpath(os.path.realpath(loaded.path), self.root).replace(os.sep, "/")
        for kind, maker in _makers().items():
            lines = loaded.lines.get(kind, [])
            for index, item in enumerate(getattr(loaded.model, kind)):
                self._add(maker, item, (file, lines[index]))

    def _add(self, maker: _Maker, record: Any, context: tuple[Any, ...]) -> None:
        made = maker.shape
        row = maker.row(record, context)
        self.rows[made.table].values.extend(row)
        key = maker.key_of(row)
        if made.cited:
            self._provenance(made, key, record)
        for link in made.links:
            items = getattr(record, link.field)
            if items:
                values = self.rows[link.table].values
                for position, item in enumerate(items):
                    values.extend((*key, _value(item), position))
        for name, child in maker.children:
            for position, item in enumerate(getattr(record, name)):
                self._add(child, item, (*key, position))

    def _provenance(self, entity: Shape, key: tuple[Any, ...], record: Sourced) -> None:
        # Keyed by the record's own key columns, in its entity's tables (see Shape.owner).
        values = self.rows[entity.citations].values
        for position, source in enumerate(record.sources):
            values.extend((*key, source, position))
        if record.inferred:
            values = self.rows[entity.inferences].values
            for position, (name, reason) in enumerate(record.inferred.items()):
                values.extend((*key, name, reason, position))


def build_rows(dataset: Dataset) -> Rows:
    """Explicit mapping from input models to rows: SQLModel tables do not validate on their own."""
    builder = _Builder(dataset.root)
    for loaded in dataset.files:
        builder.add(loaded)
    return builder.rows


# Built at import: the writer is imported only to write, and every write needs it.
_OWNED = _owned()
