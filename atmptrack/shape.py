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
    key: tuple[str, ...]  # the columns that identify a row; the provenance key joins them
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
    def hidden(self) -> frozenset[str]:
        """Columns a record read back leaves out."""
        bounds = {column for pair in self.dates.values() for column in pair}
        return BOOKKEEPING | bounds | set(self.derived)


def provenance_key(values: Iterable[object]) -> str:
    """The key of a record's citations and inferred fields: its key columns joined by `/`."""
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
    """The records of one shape, keyed by their provenance key, with links and nested lists.

    `where` narrows to the rows whose key columns have these values (one initiative's members).
    """
    return {
        provenance_key(row[c] for c in shape.key): record
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
    hidden = shape.hidden
    out = []
    for row in _rows(conn, shape.table, where):
        key = provenance_key(row[c] for c in shape.key)
        record: Record = {}
        for column, value in row.items():
            if column in hidden:
                continue
            record[shape.names.get(column, column)] = value
        for name, groups in (*linked.items(), *nested.items()):
            record[name] = groups.get(key, [])
        if shape.cited and provenance is not None:
            provenance.attach(record, shape.entity, key)
        out.append((row, record))
    return out


def _rows(conn: sqlite3.Connection, table: str, where: Mapping[str, Any]) -> list[Row]:
    # Column names come from the declarations, never from input; values are bound.
    condition = " AND ".join(f'"{c}" = :{c}' for c in where)
    cursor = conn.execute(
        f'SELECT * FROM "{table}"' + (f" WHERE {condition}" if where else ""), where
    )
    names = [d[0] for d in cursor.description]
    found = [dict(zip(names, values, strict=True)) for values in cursor]
    if "position" in names:
        found.sort(key=lambda r: r["position"])  # stable: the order within each owner
    return found


def _linked(conn: sqlite3.Connection, link: Link, where: Mapping[str, Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for row in _rows(conn, link.table, where):
        groups.setdefault(provenance_key(row[c] for c in link.keys), []).append(row[link.column])
    return groups


def _nested(
    conn: sqlite3.Connection, child: Shape, provenance: Provenance | None, where: dict[str, Any]
) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for row, record in _read(conn, child, provenance, where):
        for column in child.parent:
            record.pop(child.names.get(column, column), None)
        groups.setdefault(provenance_key(row[c] for c in child.parent), []).append(record)
    return groups


class Provenance:
    """Citations and inferred fields, read once and handed out per record."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.cited: dict[tuple[str, str], list[str]] = {}
        for entity, key, source in conn.execute(
            "SELECT entity, key, source_id FROM citation ORDER BY entity, key, position"
        ):
            self.cited.setdefault((entity, key), []).append(source)
        self.inferred: dict[tuple[str, str], dict[str, str]] = {}
        for entity, key, name, reason in conn.execute(
            "SELECT entity, key, field, reason FROM inferred ORDER BY field"
        ):
            self.inferred.setdefault((entity, key), {})[name] = reason

    def attach(self, record: Record, entity: str, key: str) -> Record:
        record["sources"] = self.cited.get((entity, key), [])
        record["inferred"] = self.inferred.get((entity, key), {})
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
