"""A store on a PostgreSQL server: connections, the store's mark, the write lock, and what makes
the read side's SQL (written for SQLite) run there unchanged.

Imported only for a postgresql:// store, so that reading an SQLite store never pays for psycopg.

Everything atmptrack keeps on a server lives in one schema, `atmptrack`: its tables, views and
the few functions below. Nothing outside that schema is ever written, and the schema is rebuilt
only when its `meta` table says it is ours.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from atmptrack.errors import StoreError
from atmptrack.store import Server

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Connection, Engine

SCHEMA = "atmptrack"
# pg_advisory_xact_lock key of loads: "ATMP" again, as on SQLite's application_id. One lock per
# database: two loads into one server schema serialise, whichever machines they run on.
LOCK_KEY = 0x41544D50


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            "a PostgreSQL store needs the psycopg driver: pip install 'atmptrack[postgresql]'"
        ) from exc
    return psycopg


def connect(server: Server) -> psycopg.Connection[Any]:
    """A connection whose unqualified names are the store's: search_path is our schema alone."""
    driver = _psycopg()
    try:
        conn: psycopg.Connection[Any] = driver.connect(
            server.conninfo,
            options=f"-c search_path={SCHEMA}",
            # Values are bound client-side, as literals: PostgreSQL then infers their types
            # from the context, as SQLite does, so the read side's SQL needs no casts.
            cursor_factory=driver.ClientCursor,
            connect_timeout=10,
        )
    except driver.Error as exc:
        raise StoreError(f"cannot connect to the store {server}: {_reason(exc)}") from exc
    return conn


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# ---------------------------------------------------------------- the store's mark


def ours(conn: psycopg.Connection[Any]) -> bool | None:
    """True: our schema with our meta table; None: no schema of that name yet; False: taken."""
    found = conn.execute(
        "SELECT n.oid FROM pg_namespace n WHERE n.nspname = %s", (SCHEMA,)
    ).fetchone()
    if found is None:
        return None
    meta = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'meta' AND c.relkind = 'r'",
        (SCHEMA,),
    ).fetchone()
    if meta is None:
        empty = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s",
            (SCHEMA,),
        ).fetchone()
        return None if empty and empty[0] == 0 else False
    keys = conn.execute(f"SELECT key FROM {SCHEMA}.meta WHERE key = 'atmptrack_version'")
    return keys.fetchone() is not None


def check_owned(server: Server) -> None:
    """Refuse a database whose `atmptrack` schema holds something that is not our store."""
    conn = connect(server)
    try:
        with conn.transaction():
            mine = ours(conn)
    finally:
        conn.close()
    if mine is False:
        raise StoreError(
            f"the schema '{SCHEMA}' in {server} holds another application's tables, not an "
            "atmptrack store; it was left as it was: choose another database"
        )


def peek(server: Server) -> dict[str, str]:
    """The store's `meta` table; {} when the database has no store yet."""
    conn = connect(server)
    try:
        with conn.transaction():
            if not ours(conn):
                return {}
            rows = conn.execute(f"SELECT key, value FROM {SCHEMA}.meta").fetchall()
    except _psycopg().Error as exc:
        raise StoreError(f"cannot read the store {server}: {_reason(exc)}") from exc
    finally:
        conn.close()
    return {str(k): str(v) for k, v in rows}


# ---------------------------------------------------------------- reading


@contextmanager
def reading(server: Server) -> Iterator[Reader]:
    """One read-only snapshot for the whole command: a load is seen whole or not at all."""
    driver = _psycopg()
    conn = connect(server)
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if not ours(conn):
            raise StoreError(f"{server} holds no atmptrack store yet: run `atmptrack load`")
        yield Reader(conn)
        conn.execute("COMMIT")
    except driver.Error as exc:
        raise StoreError(f"cannot read the store {server}: {_reason(exc)}") from exc
    finally:
        conn.close()


class Reader:
    """What the read side uses of sqlite3.Connection, over a PostgreSQL connection.

    The queries stay one text for both backends: parameters in SQLite's `:name` and `?` forms
    are translated here, and the few SQLite functions they call exist in our schema
    (`FUNCTIONS`). Values come back as SQLite gives them: amounts as exact text, flags as 0/1.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> _Cursor:
        cursor = self._conn.cursor()
        cursor.execute(translate(sql), params or None)
        return _Cursor(cursor)

    def create_function(self, *_args: Any, **_kwargs: Any) -> None:
        """Our SQL functions are created with the store's schema (see FUNCTIONS)."""


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.description = cursor.description

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._cursor:
            yield tuple(_as_sqlite(v) for v in row)

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else tuple(_as_sqlite(v) for v in row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self)


def _as_sqlite(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # NUMERIC keeps the scale it was given: "2500000.50"
    return value


# A string literal or quoted name (left alone), a `::` cast, a named or positional parameter,
# a percent sign (psycopg's escape), or SQLite's "no limit".
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|:(\w+)|\?|%|\bLIMIT\s+-1\b""", re.I)


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """SQLite-flavoured SQL as psycopg and PostgreSQL read it."""

    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        if match.group(1):
            return f"%({match.group(1)})s"
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if text[0] in "Ll":
            return "LIMIT ALL"
        return text

    return _TOKEN.sub(one, sql)


# ---------------------------------------------------------------- building the schema

# The SQLite functions the read side calls, as PostgreSQL functions in our schema. Text they
# return is of a "C"-collated domain, as every text column is (see `text_type`): comparisons and
# ORDER BY then go byte by byte, as on SQLite, whatever the database's own collation.
FUNCTIONS = (
    'CREATE DOMAIN ctext AS text COLLATE "C"',
    # group_concat(value, separator): SQLite skips NULLs and keeps the input order.
    """CREATE FUNCTION _concat_step(acc ctext, value anyelement, sep text) RETURNS ctext
       LANGUAGE sql IMMUTABLE AS $$
         SELECT CASE WHEN value IS NULL THEN acc WHEN acc IS NULL THEN value::text
                ELSE acc || sep || value::text END $$""",
    "CREATE AGGREGATE group_concat(anyelement, text) (SFUNC = _concat_step, STYPE = ctext)",
    # json_group_array(value): a JSON array as text, which is what SQLite returns.
    """CREATE FUNCTION _json_text(anycompatiblearray) RETURNS ctext LANGUAGE sql IMMUTABLE
       AS $$ SELECT array_to_json($1)::text $$""",
    """CREATE AGGREGATE json_group_array(anycompatible) (SFUNC = array_append,
         STYPE = anycompatiblearray, FINALFUNC = _json_text, INITCOND = '{}')""",
    """CREATE FUNCTION instr(haystack text, needle text) RETURNS integer
       LANGUAGE sql IMMUTABLE AS $$ SELECT strpos(haystack, needle) $$""",
    # Python's casefold(), as far as PostgreSQL 15 can go: lower() in a Unicode-aware collation
    # (a database's own may be "C", which lowers ASCII only; see `_UNICODE_COLLATIONS`), plus the
    # two letters whose case folding differs from their lower case in European names.
    """CREATE FUNCTION atmptrack_fold(value text) RETURNS ctext LANGUAGE sql IMMUTABLE
       AS $$ SELECT translate(replace(lower(value COLLATE {unicode}), 'ß', 'ss'), 'ς', 'σ') $$""",
    # expr.decimal_key of an amount, or of a sum of amounts joined by U+001F (query.amount_key).
    """CREATE FUNCTION atmptrack_amount_key(value text) RETURNS ctext
       LANGUAGE plpgsql IMMUTABLE AS $$
       DECLARE
         total numeric := 0; part text; whole text; fraction text; digits text; e integer;
       BEGIN
         IF value IS NULL THEN RETURN NULL; END IF;
         FOREACH part IN ARRAY string_to_array(value, chr(31)) LOOP
           BEGIN
             total := total + part::numeric;
           EXCEPTION WHEN others THEN
             RETURN NULL;
           END;
         END LOOP;
         IF total = 0 THEN RETURN '1'; END IF;
         whole := ltrim(split_part(abs(total)::text, '.', 1), '0');
         fraction := split_part(abs(total)::text, '.', 2);
         IF whole <> '' THEN
           e := length(whole) - 1;
           digits := rtrim(whole || fraction, '0');
         ELSE
           e := -(length(fraction) - length(ltrim(fraction, '0'))) - 1;
           digits := rtrim(ltrim(fraction, '0'), '0');
         END IF;
         IF abs(e) > 999999 THEN RETURN NULL; END IF;
         IF total > 0 THEN
           RETURN '2' || lpad((e + 1000000)::text, 7, '0') || digits;
         END IF;
         RETURN '0' || lpad((1000000 - e)::text, 7, '0')
           || translate(digits, '0123456789', '9876543210') || '~';
       END $$""",
    """CREATE FUNCTION atmptrack_amount_key(value numeric) RETURNS ctext
       LANGUAGE sql IMMUTABLE AS $$ SELECT atmptrack_amount_key(value::text) $$""",
)


@lru_cache(maxsize=1)  # one compiler hook per process, however many loads it runs
def text_type() -> None:
    """Text columns of our tables are "C"-collated on PostgreSQL, so they sort as on SQLite."""
    from sqlalchemy.ext.compiler import compiles
    from sqlmodel.sql.sqltypes import AutoString

    @compiles(AutoString, "postgresql")
    def _text(_type: Any, _compiler: Any, **_kw: Any) -> str:
        return 'TEXT COLLATE "C"'


# ---------------------------------------------------------------- writing


def engine(server: Server) -> Engine:
    """The write side's engine. References are checked at commit: `tables` declares every
    foreign key DEFERRABLE INITIALLY DEFERRED, as parents may come after children in a file."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    _psycopg()
    text_type()
    return create_engine(
        server.sqlalchemy_url,
        connect_args={"options": f"-c search_path={SCHEMA}", "connect_timeout": 10},
        poolclass=NullPool,  # one load, one connection: nothing to keep open after it
    )


def lock(conn: Connection, server: Server, wait_ms: int) -> None:
    """Hold the store's write lock until the transaction ends; StoreBusy after wait_ms."""
    from atmptrack.writer import StoreBusy

    deadline = time.monotonic() + wait_ms / 1000
    while True:
        got = conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({LOCK_KEY})").scalar()
        if got:
            return
        if time.monotonic() >= deadline:
            raise StoreBusy(f"another process is writing the store {server}")
        time.sleep(0.05)


def meta(conn: Connection) -> dict[str, str] | None:
    """Our meta table's rows; None when the schema is another application's."""
    raw = _driver(conn)
    state = ours(raw)
    if state is False:
        return None
    if state is None:
        return {}
    return {str(k): str(v) for k, v in raw.execute(f"SELECT key, value FROM {SCHEMA}.meta")}


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    raw = conn.connection.driver_connection
    assert raw is not None, "an open SQLAlchemy connection has its driver's"
    return raw  # type: ignore[no-any-return]


# Collations whose lower() maps all of Unicode: ICU's root locale where the server has ICU, else
# glibc's C.UTF-8; the database default (whatever it does) only when neither exists.
_UNICODE_COLLATIONS = ("und-x-icu", "C.utf8", "C.UTF-8")


def _unicode_collation(raw: psycopg.Connection[Any]) -> str:
    found = {
        str(name)
        for (name,) in raw.execute(
            "SELECT collname FROM pg_collation WHERE collname = ANY(%s)",
            (list(_UNICODE_COLLATIONS),),
        )
    }
    name = next((c for c in _UNICODE_COLLATIONS if c in found), "default")
    return f'"{name}"'


def rebuild(conn: Connection, views: Mapping[str, str]) -> None:
    """Drop our schema (only ours: checked by the caller) and create it afresh."""
    from sqlmodel import SQLModel

    raw = _driver(conn)  # statements without parameters: nothing for psycopg to expand
    try:
        raw.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        raw.execute(f"CREATE SCHEMA {SCHEMA}")
        unicode = _unicode_collation(raw)
        for statement in FUNCTIONS:
            raw.execute(statement.replace("{unicode}", unicode))
        SQLModel.metadata.create_all(conn)
        for name, select in views.items():
            raw.execute(f'CREATE VIEW "{name}" AS {select}')
    except _psycopg().Error as exc:
        raise StoreError(f"cannot build the store's schema: {_reason(exc)}") from exc
