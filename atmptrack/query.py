"""The read side: entities, their columns, filters compiled to SQL with bound parameters, rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from atmptrack.errors import UsageError

Row = dict[str, Any]
SEP = "\x1f"  # joins list values inside SQL; no id, name or code contains it


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str = "text"  # text | int | amount | date | list
    help: str = ""


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    help: str
    sql: str  # a SELECT whose output columns are the entity's columns plus hidden `_` ones
    columns: tuple[Column, ...]
    filters: frozenset[str]
    order: str  # default ORDER BY over the base query's output names
    span: tuple[str, str] | None = None  # earliest and latest day, for --year/--from/--to
    sort_keys: dict[str, str] = field(default_factory=dict)  # column → expression to sort by
    brief: tuple[str, ...] = ()  # the columns a table for people shows when --columns is not given
    display: dict[str, Callable[[Row], str]] = field(
        default_factory=dict
    )  # how cells read in tables

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _agg(select: str) -> str:
    """A correlated list, in the subquery's order, as one SEP-joined string."""
    return f"(SELECT group_concat(v, char(31)) FROM ({select}) AS agg)"


def _sources(entity: str, key: str) -> str:
    return _agg(
        f"SELECT source_id AS v FROM citation WHERE entity = '{entity}' AND key = {key} ORDER BY position"
    )


def _inferred(entity: str, key: str) -> str:
    return _agg(
        f"SELECT field AS v FROM inferred WHERE entity = '{entity}' AND key = {key} ORDER BY field"
    )


_ORG_COLUMNS = (
    Column("id", help="stable organisation id"),
    Column("name"),
    Column("short_name"),
    Column("country", help="ISO 3166-1 alpha-2"),
    Column("sector"),
    Column("helix", help="quadruple-helix group: academia, industry, government, civil-society"),
    Column("city"),
    Column("parent", help="id of the hosting organisation"),
    Column("initiatives", "list", "ids of the initiatives it takes part in"),
    Column("roles", "list", "initiative:role pairs"),
    Column("sources", "list", "ids of the sources cited"),
    Column("inferred", "list", "fields that no source states"),
)


_ORG_BRIEF = ("id", "name", "short_name", "country", "sector", "helix", "roles")


def _org_sql(where: str) -> str:
    return f"""
    SELECT o.id, o.name, o.short_name, o.country, o.sector, o.helix, o.city, o.parent_id AS parent,
      {_agg("SELECT m.initiative_id AS v FROM membership m WHERE m.organisation_id = o.id ORDER BY m.initiative_id")} AS initiatives,
      {_agg("SELECT m.initiative_id || ':' || m.role AS v FROM membership m WHERE m.organisation_id = o.id ORDER BY m.initiative_id")} AS roles,
      {_sources("organisation", "o.id")} AS sources,
      {_inferred("organisation", "o.id")} AS inferred
    FROM organisation o {where}"""


ENTITIES: dict[str, Entity] = {}


def _entity(entity: Entity) -> None:
    ENTITIES[entity.name] = entity


_entity(
    Entity(
        "initiatives",
        "initiatives, with declared and known partner counts",
        f"""
    SELECT i.id, i.acronym, i.name, i.kind, i.therapy_areas AS therapy_areas, i.start, i."end",
      i.declared_partners, i.declared_qualifier,
      (SELECT count(*) FROM membership m WHERE m.initiative_id = i.id) AS known_members,
      {_agg("SELECT DISTINCT o.country AS v FROM membership m JOIN organisation o ON o.id = m.organisation_id WHERE m.initiative_id = i.id AND o.country IS NOT NULL ORDER BY o.country")} AS countries,
      (SELECT m.organisation_id FROM membership m WHERE m.initiative_id = i.id AND m.role = 'coordinator') AS coordinator,
      i.website, i.cordis_id,
      {_sources("initiative", "i.id")} AS sources,
      {_inferred("initiative", "i.id")} AS inferred,
      i.start_lo AS _lo, i.end_hi AS _hi
    FROM initiative i""",
        (
            Column("id"),
            Column("acronym"),
            Column("name"),
            Column("kind"),
            Column("therapy_areas", "list", "gene, cell, tissue"),
            Column("start", "date"),
            Column("end", "date"),
            Column("declared_partners", "int", "partner count the sources declare"),
            Column("declared_qualifier", help="exact, approximately, at-least, more-than"),
            Column("known_members", "int", "members listed in the data"),
            Column("countries", "list", "member countries"),
            Column("coordinator", help="organisation id"),
            Column("website"),
            Column("cordis_id"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "kind", "country", "dates"}),
        "coalesce(acronym, name) COLLATE NOCASE",
        span=("_lo", "_hi"),
        sort_keys={"start": "coalesce(_lo, '9999')", "end": "coalesce(_hi, '9999')"},
        brief=(
            "acronym",
            "kind",
            "start",
            "end",
            "declared_partners",
            "known_members",
            "countries",
            "coordinator",
        ),
        display={
            "acronym": lambda r: r.get("acronym") or r.get("id") or "",
            "declared_partners": lambda r: count_words(
                r.get("declared_partners"), r.get("declared_qualifier")
            ),
        },
    )
)

_entity(
    Entity(
        "partners",
        "organisations taking part in at least one initiative",
        _org_sql("WHERE EXISTS (SELECT 1 FROM membership m WHERE m.organisation_id = o.id)"),
        _ORG_COLUMNS,
        frozenset({"country", "sector", "helix", "initiative", "role"}),
        "country, name COLLATE NOCASE",
        brief=_ORG_BRIEF,
    )
)

_entity(
    Entity(
        "organisations",
        "every organisation in the data, partner or not",
        _org_sql(""),
        _ORG_COLUMNS,
        frozenset({"country", "sector", "helix", "initiative", "role"}),
        "country, name COLLATE NOCASE",
        brief=_ORG_BRIEF,
    )
)

_entity(
    Entity(
        "members",
        "one row per organisation and initiative, with the role",
        f"""
    SELECT m.initiative_id AS initiative, m.organisation_id AS organisation, o.name, o.short_name,
      o.country, o.sector, o.helix, m.role, m.note,
      {_sources("member", "m.initiative_id || '/' || m.organisation_id")} AS sources,
      m.position AS _position
    FROM membership m JOIN organisation o ON o.id = m.organisation_id""",
        (
            Column("initiative"),
            Column("organisation"),
            Column("name"),
            Column("short_name"),
            Column("country"),
            Column("sector"),
            Column("helix"),
            Column("role"),
            Column("note"),
            Column("sources", "list"),
        ),
        frozenset({"country", "sector", "helix", "initiative", "role"}),
        "initiative, _position",
        brief=("initiative", "organisation", "name", "country", "helix", "role"),
    )
)

_entity(
    Entity(
        "workgroups",
        "work packages and work groups",
        f"""
    SELECT w.initiative_id AS initiative, w.id, w.kind, w.number, w.name, w.goal,
      {_agg("SELECT l.organisation_id AS v FROM workgroup_lead l WHERE l.initiative_id = w.initiative_id AND l.workgroup_id = w.id ORDER BY l.position")} AS leads,
      {_agg("SELECT p.name AS v FROM workgroup_coordinator c JOIN person p ON p.initiative_id = c.initiative_id AND p.id = c.person_id WHERE c.initiative_id = w.initiative_id AND c.workgroup_id = w.id ORDER BY c.position")} AS coordinators,
      {_sources("workgroup", "w.initiative_id || '/' || w.id")} AS sources,
      w.position AS _position
    FROM workgroup w""",
        (
            Column("initiative"),
            Column("id"),
            Column("kind", help="work-package or work-group"),
            Column("number", "int"),
            Column("name"),
            Column("goal"),
            Column("leads", "list", "ids of the leading organisations"),
            Column("coordinators", "list", "names of the coordinating people"),
            Column("sources", "list"),
        ),
        frozenset({"initiative", "kind"}),
        "initiative, _position",
        brief=("initiative", "id", "name", "goal", "leads", "coordinators"),
    )
)

_entity(
    Entity(
        "milestones",
        "kick-offs, presentations, launches and other dated events",
        f"""
    SELECT ms.initiative_id AS initiative, ms.id, ms.kind, ms.date, ms.end_date, ms.precision,
      ms.date_qualifier, ms.place,
      {_agg("SELECT p.name AS v FROM milestone_speaker s JOIN person p ON p.initiative_id = s.initiative_id AND p.id = s.person_id WHERE s.initiative_id = ms.initiative_id AND s.milestone_id = ms.id ORDER BY s.position")} AS speakers,
      ms.note,
      {_sources("milestone", "ms.initiative_id || '/' || ms.id")} AS sources,
      {_inferred("milestone", "ms.initiative_id || '/' || ms.id")} AS inferred,
      ms.date_lo AS _lo, ms.date_hi AS _hi, ms.position AS _position
    FROM milestone ms""",
        (
            Column("initiative"),
            Column("id"),
            Column("kind"),
            Column("date", "date", "partial date as known: YYYY, YYYY-MM, YYYY-MM-DD, --MM-DD"),
            Column("end_date", "date"),
            Column(
                "precision", help="day, month, year, month-day (year unknown), month (year unknown)"
            ),
            Column("date_qualifier", help="exact or approximately"),
            Column("place"),
            Column("speakers", "list"),
            Column("note"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "kind", "dates"}),
        "coalesce(_lo, '9999'), initiative, _position",
        span=("_lo", "_hi"),
        sort_keys={"date": "coalesce(_lo, '9999')", "end_date": "coalesce(_hi, '9999')"},
        brief=("initiative", "kind", "date", "place", "speakers", "note"),
        display={
            "date": lambda r: describe_when(
                r.get("date"), r.get("end_date"), r.get("date_qualifier")
            )
        },
    )
)

_entity(
    Entity(
        "people",
        "people the sources name, with role and organisation",
        f"""
    SELECT p.initiative_id AS initiative, p.id, p.name, p.role, p.organisation_id AS organisation,
      o.name AS organisation_name, o.country,
      {_sources("person", "p.initiative_id || '/' || p.id")} AS sources,
      {_inferred("person", "p.initiative_id || '/' || p.id")} AS inferred,
      p.position AS _position
    FROM person p LEFT JOIN organisation o ON o.id = p.organisation_id""",
        (
            Column("initiative"),
            Column("id"),
            Column("name"),
            Column("role"),
            Column("organisation"),
            Column("organisation_name"),
            Column("country"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "country"}),
        "initiative, _position",
        brief=("initiative", "name", "role", "organisation_name"),
    )
)

_entity(
    Entity(
        "funding",
        "funding entries: amount, currency, qualifier, funder, programme, period",
        f"""
    SELECT f.initiative_id AS initiative, f.id, f.amount, f.currency, f.qualifier, f.funder,
      f.programme, f.instrument, f.start, f."end", f.note,
      {_sources("funding", "f.initiative_id || '/' || f.id")} AS sources,
      {_inferred("funding", "f.initiative_id || '/' || f.id")} AS inferred,
      f.start_lo AS _lo, f.end_hi AS _hi, f.position AS _position,
      CAST(f.amount AS REAL) AS _amount
    FROM funding f""",
        (
            Column("initiative"),
            Column("id"),
            Column("amount", "amount", "exact decimal"),
            Column("currency", help="ISO 4217"),
            Column("qualifier", help="exact, approximately, at-most, at-least"),
            Column("funder"),
            Column("programme"),
            Column("instrument"),
            Column("start", "date"),
            Column("end", "date"),
            Column("note"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "dates"}),
        "initiative, _position",
        span=("_lo", "_hi"),
        sort_keys={
            "amount": "_amount",
            "start": "coalesce(_lo, '9999')",
            "end": "coalesce(_hi, '9999')",
        },
        brief=(
            "initiative",
            "amount",
            "currency",
            "funder",
            "programme",
            "instrument",
            "start",
            "end",
        ),
        display={"amount": lambda r: show_amount(r.get("amount"), r.get("qualifier"))},
    )
)

_entity(
    Entity(
        "sources",
        "the sources the data cites",
        """
    SELECT s.id, s.title, s.publisher, s.url, s.published,
      (SELECT count(*) FROM citation c WHERE c.source_id = s.id) AS citations
    FROM source s""",
        (
            Column("id"),
            Column("title"),
            Column("publisher"),
            Column("url"),
            Column("published", "date"),
            Column("citations", "int", "records that cite it"),
        ),
        frozenset(),
        "id",
        brief=("id", "publisher", "published", "citations", "title"),
    )
)


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise UsageError(
            f"unknown entity '{name}'; valid entities: {', '.join(ENTITIES)}"
        ) from None


@dataclass(slots=True)
class Filters:
    """The `list` flags; each becomes a condition with bound parameters."""

    country: list[str] = field(default_factory=list)
    sector: list[str] = field(default_factory=list)
    helix: list[str] = field(default_factory=list)
    initiative: list[str] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    year: int | None = None
    date_from: str | None = None
    date_to: str | None = None


@dataclass(slots=True)
class Query:
    entity: Entity
    filters: Filters = field(default_factory=Filters)
    columns: list[str] | None = None
    sort: list[str] = field(default_factory=list)
    limit: int | None = None


def split_values(values: Sequence[str]) -> list[str]:
    """`--country PT,SI --country es` → ['PT', 'SI', 'es']."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _vocab(name: str) -> list[str]:
    # The enums load only when a filter needs them: most reads never do.
    from atmptrack import vocab

    return vocab.values(getattr(vocab, name))


def _closed(option: str, given: list[str], valid: Sequence[str]) -> list[str]:
    """Check values of a closed vocabulary case-insensitively; an unknown one lists the valid ones."""
    lookup = {v.lower(): v for v in valid}
    out = []
    for value in given:
        key = value.lower().replace("_", "-")
        if key not in lookup:
            raise UsageError(f"unknown {option} '{value}'; valid values: {', '.join(valid)}")
        out.append(lookup[key])
    return out


def _countries(given: list[str], conn: sqlite3.Connection) -> list[str]:
    present = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT country FROM organisation WHERE country IS NOT NULL ORDER BY country"
        )
    ]
    out = []
    for value in given:
        code = value.strip().upper()
        if code in present:
            # Codes in the data were checked at load: skip pycountry's 50 ms import.
            out.append(code)
            continue
        from atmptrack.vocab import country_code, country_suggestion

        valid = country_code(value)
        if valid is not None:
            out.append(valid)
            continue
        suggestion = country_suggestion(value)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise UsageError(
            f"unknown country '{value}'{hint} Countries are ISO 3166-1 alpha-2 codes; "
            f"in the data: {', '.join(present)}"
        )
    return out


def resolve_initiatives(given: list[str], conn: sqlite3.Connection) -> list[str]:
    """Initiative ids from ids or acronyms, case-insensitively."""
    known = conn.execute("SELECT id, acronym FROM initiative ORDER BY id").fetchall()
    lookup: dict[str, str] = {}
    for ident, acronym in known:
        lookup[ident.lower()] = ident
        if acronym:
            lookup.setdefault(acronym.lower(), ident)
    out = []
    for value in given:
        ident = lookup.get(value.strip().lower())
        if ident is None:
            import difflib

            close = difflib.get_close_matches(value.lower(), list(lookup), n=1)
            hint = f"; did you mean '{lookup[close[0]]}'?" if close else ""
            raise UsageError(
                f"unknown initiative '{value}'{hint} Valid: {', '.join(i for i, _ in known)}"
            )
        out.append(ident)
    return out


def _kinds(entity: Entity) -> list[str]:
    return _vocab(
        {"initiatives": "InitiativeKind", "milestones": "MilestoneKind", "workgroups": "GroupKind"}[
            entity.name
        ]
    )


def _date_bound(text: str, option: str, *, low: bool) -> str:
    from atmptrack.dates import PartialDate

    try:
        when = PartialDate.parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    day = when.earliest() if low else when.latest()
    if day is None:
        raise UsageError(f"{option}: a date bound needs a year")
    return day.isoformat()


class _Where:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def within(self, expr: str, values: Sequence[Any]) -> str:
        return f"{expr} IN ({', '.join(self.param(v) for v in values)})"

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.parts)) if self.parts else ""


def _compile(entity: Entity, filters: Filters, conn: sqlite3.Connection) -> _Where:
    where = _Where()
    allowed = entity.filters
    given = {
        "country": filters.country,
        "sector": filters.sector,
        "helix": filters.helix,
        "initiative": filters.initiative,
        "role": filters.role,
        "kind": filters.kind,
        "dates": filters.year is not None or filters.date_from or filters.date_to,
    }
    for name, value in given.items():
        if value and name not in allowed:
            flag = "--year/--from/--to" if name == "dates" else f"--{name}"
            raise UsageError(f"{flag} does not apply to {entity.name}")
    org_key = "id" if entity.name in ("partners", "organisations") else None

    if filters.country:
        codes = _countries(filters.country, conn)
        if entity.name == "initiatives":
            where.parts.append(
                "EXISTS (SELECT 1 FROM membership m JOIN organisation o ON o.id = m.organisation_id "
                f"WHERE m.initiative_id = t.id AND {where.within('o.country', codes)})"
            )
        else:
            where.parts.append(where.within("t.country", codes))
    if filters.sector:
        where.parts.append(
            where.within("t.sector", _closed("sector", filters.sector, _vocab("Sector")))
        )
    if filters.helix:
        where.parts.append(
            where.within("t.helix", _closed("helix", filters.helix, _vocab("Helix")))
        )
    initiatives = resolve_initiatives(filters.initiative, conn) if filters.initiative else []
    roles = _closed("role", filters.role, _vocab("Role")) if filters.role else []
    if org_key and (initiatives or roles):
        # One membership must match both, so `--initiative X --role coordinator` means X's coordinator.
        inner = ["m.organisation_id = t.id"]
        if initiatives:
            inner.append(where.within("m.initiative_id", initiatives))
        if roles:
            inner.append(where.within("m.role", roles))
        where.parts.append(f"EXISTS (SELECT 1 FROM membership m WHERE {' AND '.join(inner)})")
    else:
        if initiatives:
            column = "t.id" if entity.name == "initiatives" else "t.initiative"
            where.parts.append(where.within(column, initiatives))
        if roles:
            where.parts.append(where.within("t.role", roles))
    if filters.kind:
        where.parts.append(where.within("t.kind", _closed("kind", filters.kind, _kinds(entity))))
    if given["dates"] and entity.span:
        lo, hi = entity.span
        start = end = None
        if filters.year is not None:
            start, end = f"{filters.year:04d}-01-01", f"{filters.year:04d}-12-31"
        if filters.date_from:
            start = _date_bound(filters.date_from, "--from", low=True)
        if filters.date_to:
            end = _date_bound(filters.date_to, "--to", low=False)
        # A date without a year can match no bound; a span overlaps the window when it is not
        # wholly before or after it (an open end is unknown, not endless, but may overlap).
        where.parts.append(f"(t.{lo} IS NOT NULL OR t.{hi} IS NOT NULL)")
        if start:
            where.parts.append(f"(t.{hi} IS NULL OR t.{hi} >= {where.param(start)})")
            where.parts.append(f"(t.{lo} IS NOT NULL OR t.{hi} >= {where.param(start)})")
        if end:
            where.parts.append(f"(t.{lo} IS NULL OR t.{lo} <= {where.param(end)})")
            where.parts.append(f"(t.{hi} IS NOT NULL OR t.{lo} <= {where.param(end)})")
    return where


def select_columns(entity: Entity, columns: Sequence[str] | None) -> list[str]:
    if not columns:
        return entity.column_names
    unknown = [c for c in columns if c not in entity.column_names]
    if unknown:
        raise UsageError(
            f"unknown column '{unknown[0]}' for {entity.name}; valid columns: {', '.join(entity.column_names)}"
        )
    return list(columns)


def _order(entity: Entity, sort: Sequence[str]) -> str:
    if not sort:
        return entity.order
    parts = []
    for item in sort:
        descending = item.startswith("-")
        name = item.lstrip("-")
        if name not in entity.column_names:
            raise UsageError(
                f"unknown sort column '{name}' for {entity.name}; valid columns: {', '.join(entity.column_names)}"
            )
        expr = entity.sort_keys.get(name, f'"{name}"')
        parts.append(f"{expr}{' DESC' if descending else ''}")
    return ", ".join(parts)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "list": lambda v: v.split(SEP) if v else [],
    "amount": lambda v: Decimal(v) if v is not None else None,
}


def run(query: Query, conn: sqlite3.Connection) -> tuple[list[str], list[Row]]:
    """Rows of one entity, filtered, sorted and limited; values converted to their kinds."""
    ent = query.entity
    columns = select_columns(ent, query.columns)
    where = _compile(ent, query.filters, conn)
    sql = f"SELECT * FROM ({ent.sql}) AS t{where.sql()} ORDER BY {_order(ent, query.sort)}"
    if query.limit is not None:
        sql += f" LIMIT {where.param(query.limit)}"
    cursor = conn.execute(sql, where.params)
    names = [d[0] for d in cursor.description]
    kinds = {c.name: c.kind for c in ent.columns}
    rows = []
    for record in cursor:
        raw = dict(zip(names, record, strict=True))
        row = {}
        for name in columns:
            convert = _CONVERT.get(kinds[name])
            value = raw[name]
            row[name] = convert(value) if convert else value
        rows.append(row)
    return columns, rows


def show_amount(amount: Any, qualifier: str | None, currency: str | None = None) -> str:
    """`≈ 5,000,000 EUR` for people; `unknown` when no amount is known."""
    from atmptrack import vocab

    if amount is None:
        return "unknown"
    symbol = vocab.AMOUNT_SYMBOL.get(qualifier or "exact", "")
    text = f"{amount:,}"
    text = f"{symbol} {text}" if symbol else text
    return f"{text} {currency}" if currency else text


def describe_when(date: str | None, end: str | None, qualifier: str | None) -> str:
    """`2024-01-25 to 2024-01-26`, `≈ October, year unknown`, for people."""
    from atmptrack.dates import PartialDate

    if not date:
        return ""
    text = PartialDate.parse(date).describe()
    if end:
        text += f" to {PartialDate.parse(end).describe()}"
    return f"≈ {text}" if qualifier == "approximately" else text


def count_words(count: int | None, qualifier: str | None) -> str:
    """`50, more-than` → `more than 50`, for people."""
    from atmptrack import vocab

    if count is None:
        return ""
    words = vocab.COUNT_WORDS.get(qualifier or "exact", "")
    return f"{words} {count}".strip()
