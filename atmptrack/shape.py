"""The store's shape, declared once: each entity's table, key, derived columns and lists.

The writer maps validated records to rows through it, and `show` and `diff` read rows back
into records through it, so a new field of the data format is added to the input model
(`schema`), its table (`tables`) and its entity's columns (`query`), and nowhere else.
Plain data and plain functions: read commands import this module without SQLModel.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

Record = dict[str, Any]
Row = dict[str, Any]

# Where a record sits (file, line, order in its list) is bookkeeping, not something it says.
BOOKKEEPING = frozenset({"file", "line", "position"})


@dataclass(frozen=True, slots=True)
class Link:
    """A list-valued field kept in its own table, one row per item, in order."""

    field: str  # the field on the input model and in records read back
    table: str
    keys: tuple[str, ...]  # the owner's key columns, as this table names them
    column: str  # the column holding the item


@dataclass(frozen=True, slots=True)
class Shape:
    """How one kind of record is stored.

    Columns are named after the model's fields unless `paths` says otherwise; a record read
    back names its fields after the columns unless `names` says otherwise.
    """

    entity: str  # the record kind that provenance, `show` and `diff` use
    table: str
    key: tuple[str, ...]  # the columns that identify a row (and its citations: `owner`)
    parent: tuple[str, ...] = ()  # key columns filled from the enclosing record
    paths: Mapping[str, str] = field(default_factory=dict)  # column -> dotted attribute path
    names: Mapping[str, str] = field(default_factory=dict)  # column -> field read back
    # Columns computed from the record at load (an effective value, a bound): never read back.
    derived: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Partial dates: the column, then the columns of the earliest and latest day it can mean.
    dates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    nested: tuple[tuple[str, Shape], ...] = ()  # lists of records read back inside this one
    children: tuple[tuple[str, Shape], ...] = ()  # lists of records that are entities of their own
    cited: bool = True  # carries sources and inferred fields

    @property
    def amounts(self) -> frozenset[str]:
        """Columns holding an exact amount: each has its `<column>_cents` beside it."""
        return frozenset(c.removesuffix("_cents") for c in self.derived if c.endswith("_cents"))

    @property
    def owner(self) -> tuple[str, ...]:
        """How a provenance table names the key of the record it belongs to: `id` and
        `position` take the entity's name (`person_id`), the other key columns keep theirs."""
        return tuple(f"{self.entity}_{c}" if c in ("id", "position") else c for c in self.key)

    @property
    def citations(self) -> str:
        """The table of this record kind's cited sources: one row per source, in order."""
        return f"{self.table}_citation"

    @property
    def inferences(self) -> str:
        """The table of this record kind's inferred fields, with the reason of each."""
        return f"{self.table}_inferred"

    @property
    def hidden(self) -> frozenset[str]:
        """Columns a record read back leaves out."""
        bounds = {column for pair in self.dates.values() for column in pair}
        return BOOKKEEPING | bounds | set(self.derived)


def record_key(values: Iterable[object]) -> str:
    """A record's key for people and `diff` (`geneh/kick-off`): its key columns joined by `/`.

    Only a name: the store keys every row, citations included, by its key columns.
    """
    return "/".join(str(value) for value in values)


def _attribute(record: Any, path: str) -> Any:
    value = record
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _stored(value: Any) -> Any:
    """A model value as a column value: enums by value, dates as written, amounts exact."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)  # partial dates


def _bound(value: Any, which: str) -> str | None:
    day = getattr(value, which)() if value is not None else None
    return day.isoformat() if day else None


def row_of(shape: Shape, record: Any, columns: Sequence[str], context: Mapping[str, Any]) -> Row:
    """The row of one validated record; `context` fills parent keys, position, file and line."""
    bounds = {lo: (name, "earliest") for name, (lo, _hi) in shape.dates.items()}
    bounds |= {hi: (name, "latest") for name, (_lo, hi) in shape.dates.items()}
    row: Row = {}
    for column in columns:
        if column in context:
            row[column] = context[column]
        elif column in shape.derived:
            row[column] = shape.derived[column](record)
        elif column in bounds:
            name, which = bounds[column]
            row[column] = _bound(_attribute(record, shape.paths.get(name, name)), which)
        else:
            row[column] = _stored(_attribute(record, shape.paths.get(column, column)))
    return row


def records(
    conn: sqlite3.Connection,
    shape: Shape,
    provenance: Provenance | None = None,
    *,
    where: Mapping[str, Any] | None = None,
) -> dict[str, Record]:
    """The records of one shape, keyed by `record_key` (`geneh/kick-off`), with links and nested lists.

    `where` narrows to the rows whose key columns have these values (one initiative's members).
    """
    return {
        record_key(row[c] for c in shape.key): record
        for row, record in _read(conn, shape, provenance, dict(where or {}))
    }


def _read(
    conn: sqlite3.Connection, shape: Shape, provenance: Provenance | None, where: dict[str, Any]
) -> list[tuple[Row, Record]]:
    # The same narrowing in the tables that hang off this one: by key position.
    position = {column: index for index, column in enumerate(shape.key)}

    def narrowed(keys: Sequence[str]) -> dict[str, Any]:
        return {keys[position[c]]: v for c, v in where.items() if c in position}

    linked = {link.field: _linked(conn, link, narrowed(link.keys)) for link in shape.links}
    nested = {
        name: _nested(conn, child, provenance, narrowed(child.parent))
        for name, child in shape.nested
    }
    cited = shape.cited and provenance is not None
    if cited:
        assert provenance is not None
        provenance.read(shape, where)  # one query for every record read here
    hidden = shape.hidden
    out = []
    for row in _rows(conn, shape.table, where):
        key = record_key(row[c] for c in shape.key)
        record: Record = {}
        for column, value in row.items():
            if column in hidden:
                continue
            record[shape.names.get(column, column)] = value
        for name, groups in (*linked.items(), *nested.items()):
            record[name] = groups.get(key, [])
        if cited:
            assert provenance is not None
            provenance.attach(record, shape, tuple(row[c] for c in shape.key))
        out.append((row, record))
    return out


def _where(columns: Mapping[str, str]) -> str:
    """` WHERE "a" = :a AND ...` over declared column names (never input), values bound."""
    if not columns:
        return ""
    return " WHERE " + " AND ".join(f'"{column}" = :{name}' for name, column in columns.items())


def _rows(conn: sqlite3.Connection, table: str, where: Mapping[str, Any]) -> list[Row]:
    from atmptrack.store import fetch

    found = fetch(conn, f'SELECT * FROM "{table}"' + _where({c: c for c in where}), **where)
    if found and "position" in found[0]:
        found.sort(key=lambda r: r["position"])  # stable: the order within each owner
    return found


def _linked(conn: sqlite3.Connection, link: Link, where: Mapping[str, Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for row in _rows(conn, link.table, where):
        groups.setdefault(record_key(row[c] for c in link.keys), []).append(row[link.column])
    return groups


def _nested(
    conn: sqlite3.Connection, child: Shape, provenance: Provenance | None, where: dict[str, Any]
) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for row, record in _read(conn, child, provenance, where):
        for column in child.parent:
            record.pop(child.names.get(column, column), None)
        groups.setdefault(record_key(row[c] for c in child.parent), []).append(record)
    return groups


Key = tuple[Any, ...]  # a record's key columns, in the order its shape declares them


class Provenance:
    """Citations and inferred fields, read from each entity's own tables as records need them.

    `show` reads one initiative's, `diff` every one: each read is one query per table, narrowed
    by key columns, and a record whose provenance was not read yet is read on its own.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cited: dict[tuple[str, Key], list[str]] = {}
        self.inferred: dict[tuple[str, Key], dict[str, str]] = {}
        self._done: dict[str, list[dict[str, Any]]] = {}  # entity -> the narrowings read

    def read(self, stored: Shape, where: Mapping[str, Any] | None = None) -> None:
        """Read the provenance of the records of `stored` whose key columns have these values."""
        from atmptrack.store import fetch

        wanted = dict(where or {})
        if self._covered(stored, wanted):
            return
        owner = dict(zip(stored.key, stored.owner, strict=True))
        narrowing = {name: owner[name] for name in wanted}
        columns = ", ".join(f'"{c}"' for c in stored.owner)
        for row in fetch(
            self.conn,
            f'SELECT {columns}, source_id FROM "{stored.citations}"{_where(narrowing)} '
            f"ORDER BY {columns}, position",
            **wanted,
        ):
            key = tuple(row[c] for c in stored.owner)
            self.cited.setdefault((stored.entity, key), []).append(row["source_id"])
        for row in fetch(
            self.conn,
            f'SELECT {columns}, field, reason FROM "{stored.inferences}"{_where(narrowing)} '
            "ORDER BY field",
            **wanted,
        ):
            key = tuple(row[c] for c in stored.owner)
            self.inferred.setdefault((stored.entity, key), {})[row["field"]] = row["reason"]
        self._done.setdefault(stored.entity, []).append(wanted)

    def _covered(self, stored: Shape, where: Mapping[str, Any]) -> bool:
        return any(
            all(where.get(column) == value for column, value in done.items())
            for done in self._done.get(stored.entity, [])
        )

    def attach(self, record: Record, stored: Shape, key: Key) -> Record:
        """The record with its `sources` and `inferred` fields."""
        self.read(stored, dict(zip(stored.key, key, strict=True)))
        record["sources"] = list(self.cited.get((stored.entity, key), []))
        record["inferred"] = dict(self.inferred.get((stored.entity, key), {}))
        return record


def _cents(field: str) -> Callable[[Any], int | None]:
    """An amount in cents, rounded half to even: what SQL tools sort and sum. The exact amount
    stays in its own column as text."""

    def value(record: Any) -> int | None:
        amount = getattr(record, field)
        if amount is None:
            return None
        return int((Decimal(amount) * 100).to_integral_value())

    return value


def _declared(initiative: Any) -> Any:
    return initiative.partner_counts[-1] if initiative.partner_counts else None


def _from_declared(name: str) -> Callable[[Any], Any]:
    def value(initiative: Any) -> Any:
        declared = _declared(initiative)
        return _stored(getattr(declared, name)) if declared is not None else None

    return value


# ---------------------------------------------------------------- the declarations

_IN_INITIATIVE = {"initiative_id": "initiative"}

ORGANISATION = Shape(
    "organisation",
    "organisation",
    key=("id",),
    paths={
        "parent_id": "parent",
        "pic": "ids.pic",
        "ror": "ids.ror",
        "vat": "ids.vat",
        "helix": "effective_helix",
    },
    names={"parent_id": "parent"},
    derived={"helix_stated": lambda org: org.helix is not None},
    links=(Link("other_names", "organisation_other_name", ("organisation_id",), "name"),),
)

PARTNER_COUNT = Shape(
    "partner_count",
    "partner_count",
    key=("initiative_id", "position"),
    parent=("initiative_id",),
    names=_IN_INITIATIVE,
)

MEMBER = Shape(
    "member",
    "membership",
    key=("initiative_id", "organisation_id"),
    parent=("initiative_id",),
    paths={"organisation_id": "organisation"},
    names={**_IN_INITIATIVE, "organisation_id": "organisation"},
    derived={
        "ec_contribution_cents": _cents("ec_contribution"),
        "net_ec_contribution_cents": _cents("net_ec_contribution"),
    },
)

PERSON = Shape(
    "person",
    "person",
    key=("initiative_id", "id"),
    parent=("initiative_id",),
    paths={"organisation_id": "organisation"},
    names={**_IN_INITIATIVE, "organisation_id": "organisation"},
)

WORKGROUP = Shape(
    "workgroup",
    "workgroup",
    key=("initiative_id", "id"),
    parent=("initiative_id",),
    names=_IN_INITIATIVE,
    links=(
        Link("leads", "workgroup_lead", ("initiative_id", "workgroup_id"), "organisation_id"),
        Link(
            "coordinators", "workgroup_coordinator", ("initiative_id", "workgroup_id"), "person_id"
        ),
    ),
)

MILESTONE = Shape(
    "milestone",
    "milestone",
    key=("initiative_id", "id"),
    parent=("initiative_id",),
    names=_IN_INITIATIVE,
    derived={"precision": lambda ms: ms.date.precision},
    dates={"date": ("date_lo", "date_hi"), "end_date": ("end_lo", "end_hi")},
    links=(Link("speakers", "milestone_speaker", ("initiative_id", "milestone_id"), "person_id"),),
)

REPORTED_AMOUNT = Shape(
    "reported_amount",
    "reported_amount",
    key=("initiative_id", "funding_id", "position"),
    parent=("initiative_id", "funding_id"),
    derived={"amount_cents": _cents("amount")},
    links=(
        Link(
            "sources",
            "reported_amount_source",
            ("initiative_id", "funding_id", "reported_position"),
            "source_id",
        ),
    ),
    cited=False,
)

FUNDING = Shape(
    "funding",
    "funding",
    key=("initiative_id", "id"),
    parent=("initiative_id",),
    names=_IN_INITIATIVE,
    derived={"amount_cents": _cents("amount")},
    dates={"start": ("start_lo", "start_hi"), "end": ("end_lo", "end_hi")},
    nested=(("also_reported", REPORTED_AMOUNT),),
)

RELATION = Shape(
    "relation",
    "relation",
    key=("initiative_id", "kind", "target_id"),
    parent=("initiative_id",),
    paths={"target_id": "initiative"},
    names={**_IN_INITIATIVE, "target_id": "target"},
)

INITIATIVE = Shape(
    "initiative",
    "initiative",
    key=("id",),
    paths={"cordis_id": "ids.cordis", "grant_doi": "ids.grant_doi"},
    derived={
        "declared_partners": _from_declared("count"),
        "declared_qualifier": _from_declared("qualifier"),
        "declared_countries": _from_declared("countries"),
    },
    dates={"start": ("start_lo", "start_hi"), "end": ("end_lo", "end_hi")},
    links=(
        Link("aims", "initiative_aim", ("initiative_id",), "aim"),
        Link("therapy_areas", "initiative_therapy_area", ("initiative_id",), "therapy_area"),
    ),
    nested=(("partner_counts", PARTNER_COUNT),),
    children=(
        ("members", MEMBER),
        ("workgroups", WORKGROUP),
        ("milestones", MILESTONE),
        ("people", PERSON),
        ("funding", FUNDING),
        ("relations", RELATION),
    ),
)

SOURCE = Shape(
    "source",
    "source",
    key=("id",),
    cited=False,
    dates={"published": ("published_lo", "published_hi")},
)

# Every entity `diff` compares, in the order it reports them.
ENTITIES: tuple[Shape, ...] = (
    SOURCE,
    ORGANISATION,
    INITIATIVE,
    MEMBER,
    WORKGROUP,
    MILESTONE,
    PERSON,
    FUNDING,
    RELATION,
)


def walk(shape: Shape) -> Iterator[Shape]:
    """A shape and every shape stored beneath it."""
    yield shape
    for _name, child in (*shape.nested, *shape.children):
        yield from walk(child)


# Every record kind with sources and inferred fields: each has its two provenance tables.
CITED: tuple[Shape, ...] = tuple(
    stored for top in (SOURCE, ORGANISATION, INITIATIVE) for stored in walk(top) if stored.cited
)
# Those that belong to an initiative: their key starts with `initiative_id`.
IN_INITIATIVE: tuple[Shape, ...] = tuple(
    stored for stored in CITED if stored.owner[0] == "initiative_id"
)
