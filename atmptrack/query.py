"""The read side: entities, their columns, filters compiled to SQL with bound parameters, rows."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from itertools import islice
from typing import Any, Literal

from atmptrack import shape
from atmptrack.errors import UsageError, did_you_mean
from atmptrack.expr import (
    AMOUNT_KEY,
    FOLD,
    INT64_MAX,
    MAX_ADJUSTED_EXPONENT,
    SEP,
    SEP_SQL,
    And,
    Cmp,
    Compiler,
    Field,
    Node,
    Or,
    decimal_key,
    fold,
    parse,
)
from atmptrack.store import stream

Row = dict[str, Any]
# A column's kind: how it compares, sorts and aligns; `sum` is an amount added up over records.
ColumnKind = Literal["text", "int", "amount", "sum", "date", "list"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind = "text"
    help: str = ""
    # For dates: the hidden output columns holding the earliest and latest day meant.
    lo: str | None = None
    hi: str | None = None
    # What a value may be, checked as the `list` flags check theirs: an enum of atmptrack.vocab,
    # "precision", "country" (ISO codes) or "initiative" (ids or acronyms).
    values: str | None = None
    # For lists: "some item is one of {values}" over the tables the list comes from, so that
    # `=` and `in` meet their indexes rather than build every row's list (see expr.Field).
    member: str | None = None


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    help: str
    sql: str  # a SELECT whose output columns are the entity's columns plus hidden `_` ones
    columns: tuple[Column, ...]
    filters: frozenset[str]  # which `list` flags apply
    order: str  # default ORDER BY over the base query's output names
    span: tuple[str, str] | None = (
        None  # earliest and latest day, for `year` and --year/--from/--to
    )
    brief: tuple[str, ...] = ()  # the columns a table for people shows when --columns is not given
    display: dict[str, Callable[[Row], str]] = field(default_factory=dict)  # cells for people
    hidden: tuple[Column, ...] = ()  # fields only the flags use
    key: tuple[str, ...] = ("id",)  # the output columns that tell one row from another

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def fields(self, conn: sqlite3.Connection | None = None) -> dict[str, Field]:
        """What `filter` expressions and the `list` flags can compare, and how.

        Without a connection, countries and initiative ids go unchecked.
        """
        checks = _Checks(conn)
        out: dict[str, Field] = {}
        for column in (*self.columns, *self.hidden):
            sql = f't."{column.name}"'
            check = checks.checker(column.values) if column.values else None
            if column.kind == "date":
                out[column.name] = Field(sql, "date", f"t.{column.lo}", f"t.{column.hi}")
            elif column.kind in ("amount", "sum"):
                out[column.name] = Field(f"{AMOUNT_KEY}({sql})", "amount")
            elif column.kind in ("int", "list"):
                out[column.name] = Field(sql, column.kind, check=check, member=column.member)
            else:
                out[column.name] = Field(sql, "text", check=check)
        if self.span:
            out["year"] = Field("", "span", f"t.{self.span[0]}", f"t.{self.span[1]}")
        return out

    def sort_keys(self, name: str, *, descending: bool) -> list[str]:
        """ORDER BY terms comparing as `filter` does; unknown values come last either way."""
        column = next(c for c in self.columns if c.name == name)
        way = " DESC" if descending else ""
        value = f't."{name}"'
        if column.kind == "date":
            # By what the date means; dates whose year is unknown come last either way.
            return [f"t.{column.lo} IS NULL", f"t.{column.lo}{way}", f"{value}{way}"]
        if column.kind in ("amount", "sum"):
            key = f"{AMOUNT_KEY}({value})"
            return [f"{key} IS NULL", f"{key}{way}"]
        if column.kind == "int":
            return [f"{value} IS NULL", f"{value}{way}"]
        return [f"{value} IS NULL", f"{FOLD}({value}){way}", f"{value}{way}"]


def _agg(select: str) -> str:
    """A correlated list, in the subquery's order, as one SEP-joined string.

    group_concat is SQLite's; on PostgreSQL our schema defines an aggregate of that name and
    meaning (see `postgres.FUNCTIONS`). Everything else here is standard SQL.
    """
    return f"(SELECT group_concat(v, {SEP_SQL}) FROM ({select}) AS agg)"


# Appended to a subquery to keep the planner from merging it into the query around it, where
# each mention of a computed column would compute it again. SQLite's form; PostgreSQL's is
# " OFFSET 0" (SQLite accepts OFFSET only after a LIMIT).
KEEP_APART = " LIMIT -1"


def _owned(stored: shape.Shape, keys: Sequence[str]) -> str:
    """The condition joining a provenance table `c` to its record, whose key is `keys`."""
    return " AND ".join(f"c.{o} = {k}" for o, k in zip(stored.owner, keys, strict=True))


def _sources(stored: shape.Shape, *keys: str) -> str:
    return _agg(
        f"SELECT c.source_id AS v FROM {stored.citations} c WHERE {_owned(stored, keys)} ORDER BY c.position"
    )


def _inferred(stored: shape.Shape, *keys: str) -> str:
    return _agg(
        f"SELECT c.field AS v FROM {stored.inferences} c WHERE {_owned(stored, keys)} ORDER BY c.field"
    )


def _citation_count() -> str:
    """How many records cite source `s`, over every entity's citation table."""
    return " + ".join(
        f"(SELECT count(*) FROM {stored.citations} c WHERE c.source_id = s.id)"
        for stored in shape.CITED
    )


def _ORG_IN(item: str) -> str:
    """An organisation's list item, one of {values}: over its memberships `x`."""
    return f"t.id IN (SELECT x.organisation_id FROM membership x WHERE {item} IN ({{values}}))"


_ORG_COLUMNS = (
    Column("id", help="stable organisation id"),
    Column("name"),
    Column("short_name"),
    Column("country", help="ISO 3166-1 alpha-2", values="country"),
    Column("sector", values="Sector"),
    Column(
        "helix",
        help="quadruple-helix group: academia, industry, government, civil-society",
        values="Helix",
    ),
    Column("city"),
    Column("parent", help="id of the hosting organisation"),
    Column("pic", help="Participant Identification Code of the EU's funding portal"),
    Column("vat", help="VAT number, as the source writes it"),
    Column("sme", help="true when the source counts it as a small or medium-sized enterprise"),
    Column("source_country", help="the source's own country code where it is not ISO (EL, UK)"),
    Column(
        "initiatives",
        "list",
        "ids of the initiatives it takes part in",
        values="initiative",
        member=_ORG_IN("x.initiative_id"),
    ),
    Column(
        "roles", "list", "initiative:role pairs", member=_ORG_IN("x.initiative_id || ':' || x.role")
    ),
    Column("sources", "list", "ids of the sources cited"),
    Column("inferred", "list", "fields that no source states"),
)
_ORG_BRIEF = ("id", "name", "country", "sector", "helix", "roles")


def _org_sql(where: str) -> str:
    return f"""
    SELECT o.id, o.name, o.short_name, o.country, o.sector, o.helix, o.city, o.parent_id AS parent,
      o.pic, o.vat, CASE WHEN o.sme THEN 'true' WHEN NOT o.sme THEN 'false' END AS sme, o.source_country,
      {_agg("SELECT m.initiative_id AS v FROM membership m WHERE m.organisation_id = o.id ORDER BY m.initiative_id")} AS initiatives,
      {_agg("SELECT m.initiative_id || ':' || m.role AS v FROM membership m WHERE m.organisation_id = o.id ORDER BY m.initiative_id")} AS roles,
      {_agg("SELECT m.role AS v FROM membership m WHERE m.organisation_id = o.id")} AS _role_names,
      {_sources(shape.ORGANISATION, "o.id")} AS sources,
      {_inferred(shape.ORGANISATION, "o.id")} AS inferred
    FROM organisation o {where}"""


def combined_qualifier(qualifier: str) -> str:
    """SQL aggregate of vocab.combine: exact only if every part is; a bound survives alone.

    In SQL rather than after the query, so that `filter` compares what `list` shows.
    """

    def every(*allowed: str) -> str:  # whether all parts are: no min() of booleans in SQL
        listed = ", ".join(f"'{value}'" for value in allowed)
        return f"min(CASE WHEN {qualifier} IN ({listed}) THEN 1 ELSE 0 END) = 1"

    return (
        f"CASE WHEN {every('exact')} THEN 'exact'"
        f" WHEN {every('exact', 'at-least')} THEN 'at-least'"
        f" WHEN {every('exact', 'at-most')} THEN 'at-most'"
        " ELSE 'approximately' END"
    )


def _funding(expr: str) -> str:
    """An aggregate over an initiative's known amounts, when they share one currency."""
    return (
        f"(SELECT CASE WHEN count(DISTINCT f.currency) = 1 THEN {expr} END FROM funding f "
        "WHERE f.initiative_id = i.id AND f.amount IS NOT NULL)"
    )


ENTITIES: dict[str, Entity] = {}


def _entity(entity: Entity) -> None:
    ENTITIES[entity.name] = entity


_entity(
    Entity(
        "initiatives",
        "initiatives, with declared and known partner counts",
        f"""
    SELECT i.id, i.acronym, i.name, i.kind,
      {_agg("SELECT t.therapy_area AS v FROM initiative_therapy_area t WHERE t.initiative_id = i.id ORDER BY t.position")} AS therapy_areas,
      i.start, i."end",
      i.declared_partners, i.declared_qualifier,
      (SELECT count(*) FROM membership m WHERE m.initiative_id = i.id) AS known_members,
      {_agg("SELECT DISTINCT o.country AS v FROM membership m JOIN organisation o ON o.id = m.organisation_id WHERE m.initiative_id = i.id AND o.country IS NOT NULL ORDER BY o.country")} AS countries,
      (SELECT m.organisation_id FROM membership m WHERE m.initiative_id = i.id AND m.role = 'coordinator') AS coordinator,
      {_funding(f"group_concat(f.amount, {SEP_SQL})")} AS funding_amount,
      {_funding("max(f.currency)")} AS funding_currency,
      {_funding(combined_qualifier("f.qualifier"))} AS funding_qualifier,
      {_agg("SELECT DISTINCT f.programme AS v FROM funding f WHERE f.initiative_id = i.id AND f.programme IS NOT NULL ORDER BY f.programme")} AS programme,
      i.website, i.cordis_id, i.grant_doi,
      {_sources(shape.INITIATIVE, "i.id")} AS sources,
      {_inferred(shape.INITIATIVE, "i.id")} AS inferred,
      i.start_lo AS _start_lo, i.start_hi AS _start_hi, i.end_lo AS _end_lo, i.end_hi AS _end_hi
    FROM initiative i""",
        (
            Column("id", values="initiative"),
            Column("acronym"),
            Column("name"),
            Column("kind", values="InitiativeKind"),
            Column(
                "therapy_areas",
                "list",
                "gene, cell, tissue",
                values="TherapyArea",
                member="t.id IN (SELECT x.initiative_id FROM initiative_therapy_area x "
                "WHERE x.therapy_area IN ({values}))",
            ),
            Column("start", "date", lo="_start_lo", hi="_start_hi"),
            Column("end", "date", lo="_end_lo", hi="_end_hi"),
            Column("declared_partners", "int", "partner count the sources declare"),
            Column(
                "declared_qualifier",
                help="exact, approximately, at-least, more-than",
                values="CountQualifier",
            ),
            Column("known_members", "int", "members listed in the data"),
            Column(
                "countries",
                "list",
                "member countries",
                values="country",
                member="t.id IN (SELECT x.initiative_id FROM membership x JOIN organisation y "
                "ON y.id = x.organisation_id WHERE y.country IN ({values}))",
            ),
            Column("coordinator", help="organisation id"),
            Column("funding_amount", "sum", "total of the known funding, when in one currency"),
            Column("funding_currency", help="currency of funding_amount"),
            Column(
                "funding_qualifier",
                help="exact, approximately, at-most, at-least",
                values="AmountQualifier",
            ),
            Column("programme", "list", "funding programmes"),
            Column("website"),
            Column("cordis_id"),
            Column("grant_doi", help="the grant's DOI (CORDIS: 10.3030/<id>)"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "kind", "country", "dates"}),
        "lower(coalesce(t.acronym, t.name))",
        span=("_start_lo", "_end_hi"),
        brief=(
            "acronym",
            "name",
            "kind",
            "start",
            "end",
            "declared_partners",
            "known_members",
            "coordinator",
        ),
        display={
            "declared_partners": lambda r: count_words(
                r.get("declared_partners"), r.get("declared_qualifier")
            ),
            "funding_amount": lambda r: show_amount(
                r.get("funding_amount"), r.get("funding_qualifier")
            ),
        },
    )
)

_ORGANISATIONS = Entity(
    "organisations",
    "every organisation in the data, partner or not",
    _org_sql(""),
    _ORG_COLUMNS,
    frozenset({"country", "sector", "helix", "initiative", "role"}),
    "t.country, lower(t.name)",
    brief=_ORG_BRIEF,
    hidden=(Column("_role_names", "list", values="Role", member=_ORG_IN("x.role")),),
    # `geneh: partner` for people: a narrow terminal may wrap after the colon, never inside an id.
    display={"roles": lambda r: ", ".join(x.replace(":", ": ", 1) for x in r.get("roles") or [])},
)
# Partners are the organisations that take part in something: the same entity, one more condition.
_entity(
    replace(
        _ORGANISATIONS,
        name="partners",
        help="organisations taking part in at least one initiative",
        sql=_org_sql("WHERE EXISTS (SELECT 1 FROM membership m WHERE m.organisation_id = o.id)"),
    )
)
_entity(_ORGANISATIONS)

_entity(
    Entity(
        "members",
        "one row per organisation and initiative, with the role",
        f"""
    SELECT m.initiative_id AS initiative, m.organisation_id AS organisation, o.name, o.short_name,
      o.country, o.sector, o.helix, m.role, m.ec_contribution, m.net_ec_contribution,
      m.source_helix, m."order", m.note,
      {_sources(shape.MEMBER, "m.initiative_id", "m.organisation_id")} AS sources,
      m.position AS _position
    FROM membership m JOIN organisation o ON o.id = m.organisation_id""",
        (
            Column("initiative", values="initiative"),
            Column("organisation"),
            Column("name"),
            Column("short_name"),
            Column("country", values="country"),
            Column("sector", values="Sector"),
            Column("helix", values="Helix"),
            Column("role", values="Role"),
            Column("ec_contribution", "amount", "the EU's contribution to this member's part"),
            Column("net_ec_contribution", "amount", "the same, less what it passes on"),
            Column(
                "source_helix",
                help="the helix group the cited sources put it in (helix is ours, from the sector)",
                values="Helix",
            ),
            Column("order", "int", "the participant's number in the grant (1: the coordinator)"),
            Column("note"),
            Column("sources", "list"),
        ),
        frozenset({"country", "sector", "helix", "initiative", "role"}),
        "t.initiative, t._position",
        brief=("initiative", "organisation", "name", "country", "helix", "role"),
        key=("initiative", "organisation"),
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
      {_sources(shape.WORKGROUP, "w.initiative_id", "w.id")} AS sources,
      w.position AS _position
    FROM workgroup w""",
        (
            Column("initiative", values="initiative"),
            Column("id"),
            Column("kind", help="work-package or work-group", values="GroupKind"),
            Column("number", "int"),
            Column("name"),
            Column("goal"),
            Column("leads", "list", "ids of the leading organisations"),
            Column("coordinators", "list", "names of the coordinating people"),
            Column("sources", "list"),
        ),
        frozenset({"initiative", "kind"}),
        "t.initiative, t._position",
        brief=("initiative", "id", "name", "goal", "leads", "coordinators"),
        key=("initiative", "id"),
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
      {_sources(shape.MILESTONE, "ms.initiative_id", "ms.id")} AS sources,
      {_inferred(shape.MILESTONE, "ms.initiative_id", "ms.id")} AS inferred,
      ms.date_lo AS _date_lo, ms.date_hi AS _date_hi, ms.end_lo AS _end_lo, ms.end_hi AS _end_hi,
      coalesce(ms.end_hi, ms.date_hi) AS _span_hi, ms.position AS _position
    FROM milestone ms""",
        (
            Column("initiative", values="initiative"),
            Column("id"),
            Column("kind", values="MilestoneKind"),
            Column(
                "date",
                "date",
                "partial date as known: YYYY, YYYY-MM, YYYY-MM-DD, --MM-DD",
                lo="_date_lo",
                hi="_date_hi",
            ),
            Column("end_date", "date", lo="_end_lo", hi="_end_hi"),
            Column(
                "precision",
                help="day, month, year, month-day (year unknown), month (year unknown)",
                values="precision",
            ),
            Column("date_qualifier", help="exact or approximately", values="DateQualifier"),
            Column("place"),
            Column("speakers", "list"),
            Column("note"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "kind", "dates"}),
        "coalesce(t._date_lo, '9999'), t.initiative, t._position",
        span=("_date_lo", "_span_hi"),
        brief=("initiative", "kind", "date", "place", "speakers", "note"),
        key=("initiative", "id"),
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
      {_sources(shape.PERSON, "p.initiative_id", "p.id")} AS sources,
      {_inferred(shape.PERSON, "p.initiative_id", "p.id")} AS inferred,
      p.position AS _position
    FROM person p LEFT JOIN organisation o ON o.id = p.organisation_id""",
        (
            Column("initiative", values="initiative"),
            Column("id"),
            Column("name"),
            Column("role"),
            Column("organisation"),
            Column("organisation_name"),
            Column("country", values="country"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "country"}),
        "t.initiative, t._position",
        brief=("initiative", "name", "role", "organisation_name"),
        key=("initiative", "id"),
    )
)

_entity(
    Entity(
        "funding",
        "funding entries: amount, currency, qualifier, funder, programme, period",
        f"""
    SELECT f.initiative_id AS initiative, f.id, f.amount, f.currency, f.qualifier, f.funder,
      f.programme, f.instrument, f.start, f."end", f.call, f.topic, f.total_cost, f.note,
      {_sources(shape.FUNDING, "f.initiative_id", "f.id")} AS sources,
      {_inferred(shape.FUNDING, "f.initiative_id", "f.id")} AS inferred,
      f.start_lo AS _start_lo, f.start_hi AS _start_hi, f.end_lo AS _end_lo, f.end_hi AS _end_hi,
      f.position AS _position
    FROM funding f""",
        (
            Column("initiative", values="initiative"),
            Column("id"),
            Column("amount", "amount", "exact decimal"),
            Column("currency", help="ISO 4217"),
            Column(
                "qualifier",
                help="exact, approximately, at-most, at-least",
                values="AmountQualifier",
            ),
            Column("funder"),
            Column("programme"),
            Column("instrument"),
            Column("start", "date", lo="_start_lo", hi="_start_hi"),
            Column("end", "date", lo="_end_lo", hi="_end_hi"),
            Column("call", help="call for proposals"),
            Column("topic", help="call topic"),
            Column("total_cost", "amount", "the action's whole cost, of which amount is the share"),
            Column("note"),
            Column("sources", "list"),
            Column("inferred", "list"),
        ),
        frozenset({"initiative", "dates"}),
        "t.initiative, t._position",
        span=("_start_lo", "_end_hi"),
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
        key=("initiative", "id"),
    )
)

_entity(
    Entity(
        "sources",
        "the sources the data cites",
        f"""
    SELECT s.id, s.title, s.publisher, s.url, s.published,
      {_citation_count()} AS citations, s.verify,
      s.published_lo AS _published_lo, s.published_hi AS _published_hi
    FROM source s""",
        (
            Column("id"),
            Column("title"),
            Column("publisher"),
            Column("url"),
            Column("published", "date", lo="_published_lo", hi="_published_hi"),
            Column("citations", "int", "records that cite it"),
            Column("verify", help="why a curator must check this source"),
        ),
        frozenset({"dates"}),
        "t.id",
        span=("_published_lo", "_published_hi"),
        brief=("id", "publisher", "published", "citations", "title"),
    )
)


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        hint = did_you_mean(name, ENTITIES)
        raise UsageError(
            f"unknown entity '{name}'{hint}; valid entities: {', '.join(ENTITIES)}"
        ) from None


@dataclass(slots=True)
class Filters:
    """The `list` flags; each becomes a comparison in the same tree `filter` parses."""

    country: list[str] = field(default_factory=list)
    sector: list[str] = field(default_factory=list)
    helix: list[str] = field(default_factory=list)
    initiative: list[str] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    # Years as given: numbers, or text that may be comma-separated (`--year 2024,2025`).
    year: int | str | Sequence[int | str] | None = None
    date_from: str | None = None
    date_to: str | None = None


@dataclass(slots=True)
class Query:
    entity: Entity
    filters: Filters = field(default_factory=Filters)
    columns: list[str] | None = None
    sort: list[str] = field(default_factory=list)
    limit: int | None = None
    expression: str | None = None  # a `filter` expression, ANDed with the flags


def split_values(values: Sequence[str]) -> list[str]:
    """`--country PT,SI --country es` → ['PT', 'SI', 'es']."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# ---------------------------------------------------------------- what values may be

_PRECISIONS = ("day", "month", "year", "month-day")
# What a value of each vocabulary is called in messages.
_NOUNS = {
    "TherapyArea": "therapy area",
    "InitiativeKind": "kind",
    "MilestoneKind": "kind",
    "GroupKind": "kind",
    "AmountQualifier": "qualifier",
    "CountQualifier": "qualifier",
    "DateQualifier": "qualifier",
}


def _vocab(name: str) -> list[str]:
    if name == "precision":
        return list(_PRECISIONS)
    # The enums load only when a value needs checking: most reads never do.
    from atmptrack import vocab

    return vocab.values(getattr(vocab, name))


def check_closed(noun: str, value: str, valid: Sequence[str]) -> str:
    """A value of a closed vocabulary, case-insensitively; an unknown one lists the valid ones."""
    lookup = {v.lower(): v for v in valid}
    key = value.strip().lower().replace("_", "-")
    if key in lookup:
        return lookup[key]
    hint = did_you_mean(key, valid)
    raise UsageError(f"unknown {noun} '{value}'{hint}; valid values: {', '.join(valid)}")


class _Checks:
    """Checks of values against what a field may hold, shared by the flags and `filter`."""

    def __init__(self, conn: sqlite3.Connection | None) -> None:
        self.conn = conn
        self._present: list[str] | None = None
        self._initiatives: tuple[dict[str, str], list[str]] | None = None

    def checker(self, values: str) -> Callable[[str], str] | None:
        if values in ("country", "initiative"):
            if self.conn is None:
                return None
            return self.country if values == "country" else self.initiative
        noun = _NOUNS.get(values, values.lower())
        return lambda value: check_closed(noun, value, _vocab(values))

    def country(self, value: str) -> str:
        assert self.conn is not None, "checker() hands this out only with a connection"
        if self._present is None:
            self._present = [
                r[0]
                for r in self.conn.execute(
                    "SELECT DISTINCT country FROM organisation WHERE country IS NOT NULL ORDER BY country"
                )
            ]
        code = value.strip().upper()
        if code in self._present:
            # Codes in the data were checked at load: skip pycountry's 50 ms import.
            return code
        # Not ASCII, it is no code: upper() turns some letters into ASCII ones (`ß` into `SS`).
        if value.strip().isascii():
            from atmptrack.vocab import country_code

            valid = country_code(value)
            if valid is not None:
                return valid
        from atmptrack.vocab import country_suggestion

        suggestion = country_suggestion(value)
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        raise UsageError(
            f"unknown country '{value}'{hint}; countries are ISO 3166-1 alpha-2 codes, "
            f"in the data: {', '.join(self._present)}"
        )

    def initiative(self, value: str) -> str:
        """An initiative id from an id or an acronym, case-insensitively."""
        assert self.conn is not None, "checker() hands this out only with a connection"
        wanted = value.strip().lower()
        if self._initiatives is None:
            # An id wins over an acronym, and ids are lower-case: found through the key alone,
            # without reading every initiative.
            if stream_first(self.conn, "SELECT id FROM initiative WHERE id = :i", i=wanted):
                return wanted
            known = self.conn.execute("SELECT id, acronym FROM initiative ORDER BY id").fetchall()
            lookup: dict[str, str] = {}
            for ident, acronym in known:
                lookup[ident.lower()] = ident
                if acronym:
                    lookup.setdefault(acronym.lower(), ident)
            self._initiatives = lookup, [i for i, _ in known]
        lookup, ids = self._initiatives
        ident = lookup.get(wanted)
        if ident is not None:
            return ident
        close = did_you_mean(value, lookup)
        # The suggestion names the id, also when the closest match was an acronym.
        hint = f" (did you mean '{lookup[close.split(chr(39))[1].lower()]}'?)" if close else ""
        raise UsageError(f"unknown initiative '{value}'{hint}; valid initiatives: {', '.join(ids)}")


def initiative_labels(conn: sqlite3.Connection, ids: Sequence[str] = ()) -> dict[str, str]:
    """Each initiative's label for people: its acronym where it has one, else its name; of
    the initiatives with these ids, or of all."""
    sql = "SELECT id, coalesce(acronym, name) AS label FROM initiative"
    names = {f"i{n}": ident for n, ident in enumerate(ids)}
    if names:
        sql += f" WHERE id IN ({', '.join(':' + name for name in names)})"
    return {r["id"]: r["label"] for r in stream(conn, sql, **names)}


def stream_first(conn: sqlite3.Connection, sql: str, **params: Any) -> Row | None:
    """The first row of a query, or None."""
    return next(stream(conn, sql, **params), None)


def resolve_initiatives(given: list[str], conn: sqlite3.Connection) -> list[str]:
    """Initiative ids from ids or acronyms, case-insensitively."""
    checks = _Checks(conn)
    return [checks.initiative(value) for value in given]


def date_bound(text: str, option: str, *, low: bool) -> str:
    from atmptrack.dates import PartialDate

    try:
        when = PartialDate.parse(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    day = when.earliest() if low else when.latest()
    if day is None:
        raise UsageError(f"{option}: a date bound needs a year")
    return day.isoformat()


def parse_years(given: int | str | Sequence[int | str] | None) -> list[int]:
    """`--year 2024 --year 2025,2026` → [2024, 2025, 2026]; a year runs from 1 to 9999."""
    if given is None:
        return []
    items: Sequence[int | str] = [given] if isinstance(given, int | str) else given
    years: list[int] = []
    for item in items:
        for part in [item] if isinstance(item, int) else split_values([item]):
            if isinstance(part, int):
                year = part
            elif part.isascii() and part.isdigit() and len(part) <= 4:
                year = int(part)
            else:
                raise UsageError(f"--year: '{part}' is not a year; write YYYY, e.g. 2025")
            if not 1 <= year <= 9999:
                # Not echoed: a number Typer accepted may have thousands of digits.
                raise UsageError("--year: a year runs from 1 to 9999")
            if year not in years:
                years.append(year)
    return years


def flag_tree(entity: Entity, filters: Filters, conn: sqlite3.Connection) -> list[Node]:
    """The `list` flags as comparisons of the filter language; the compiler checks the values."""
    years = parse_years(filters.year)
    given = {
        "country": filters.country,
        "sector": filters.sector,
        "helix": filters.helix,
        "initiative": filters.initiative,
        "role": filters.role,
        "kind": filters.kind,
        "dates": years or filters.date_from or filters.date_to,
    }
    for name, value in given.items():
        if value and name not in entity.filters:
            flag = "--year/--from/--to" if name == "dates" else f"--{name}"
            raise UsageError(f"{flag} does not apply to {entity.name}")
    # Position -1: a flag has no place in an expression for a caret to point at.
    nodes: list[Node] = []
    organisations = entity.name in ("partners", "organisations")
    if filters.country:
        field_name = "countries" if entity.name == "initiatives" else "country"
        nodes.append(Cmp(field_name, "in", tuple(filters.country), -1))
    for name in ("sector", "helix", "kind"):
        values = getattr(filters, name)
        if values:
            nodes.append(Cmp(name, "in", tuple(values), -1))
    if organisations and filters.initiative and filters.role:
        # One membership must match both: `--initiative X --role coordinator` means X's coordinator.
        checks = _Checks(conn)
        initiatives = dict.fromkeys(checks.initiative(value) for value in filters.initiative)
        roles = dict.fromkeys(check_closed("role", v, _vocab("Role")) for v in filters.role)
        pairs = tuple(f"{i}:{r}" for i in initiatives for r in roles)
        nodes.append(Cmp("roles", "in", pairs, -1))
    else:
        if filters.initiative:
            column = {
                "initiatives": "id",
                "partners": "initiatives",
                "organisations": "initiatives",
            }
            nodes.append(
                Cmp(column.get(entity.name, "initiative"), "in", tuple(filters.initiative), -1)
            )
        if filters.role:
            nodes.append(
                Cmp("_role_names" if organisations else "role", "in", tuple(filters.role), -1)
            )
    if years:
        windows = [Cmp("year", "overlaps", (f"{y:04d}-01-01", f"{y:04d}-12-31"), -1) for y in years]
        nodes.append(windows[0] if len(windows) == 1 else Or(tuple(windows)))
    if filters.date_from or filters.date_to:
        start = date_bound(filters.date_from, "--from", low=True) if filters.date_from else None
        end = date_bound(filters.date_to, "--to", low=False) if filters.date_to else None
        if start and end and start > end:
            raise UsageError(
                f"--from {filters.date_from} is later than --to {filters.date_to}: "
                "nothing can lie between them"
            )
        nodes.append(Cmp("year", "overlaps", (start or "0001-01-01", end or "9999-12-31"), -1))
    return nodes


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
    parts: list[str] = []
    for item in sort:
        descending = item.startswith("-")
        name = item.lstrip("-")
        if name not in entity.column_names:
            hint = did_you_mean(name, entity.column_names)
            raise UsageError(
                f"unknown sort column '{name}' for {entity.name}{hint}; "
                f"valid columns: {', '.join(entity.column_names)}"
            )
        parts.extend(entity.sort_keys(name, descending=descending))
    # Ties come in the entity's usual order, the same on every backend and every run.
    return ", ".join([*parts, entity.order])


# Additions of exact decimals never round: the default context keeps only 28 digits.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def exact_sum(value: str | None) -> Decimal | None:
    """The exact total of SEP-joined amounts, as a `sum` column holds them."""
    if not value:
        return None
    total = Decimal(0)
    for part in value.split(SEP):
        total = _EXACT.add(total, Decimal(part))
    return total


def amount_key(value: object) -> str | None:
    """SQL function AMOUNT_KEY: the decimal_key of an amount or of a sum of amounts."""
    try:
        total = exact_sum(None if value is None else str(value))
    except InvalidOperation:
        return None  # not an amount: unknown, as a comparison sees it
    if total is None or abs(total.adjusted()) > MAX_ADJUSTED_EXPONENT:
        return None
    return decimal_key(total)


def register_functions(conn: sqlite3.Connection) -> None:
    """Define the SQL functions compiled filters and sort keys call, on this connection."""
    conn.create_function(FOLD, 1, fold, deterministic=True)
    conn.create_function(AMOUNT_KEY, 1, amount_key, deterministic=True)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "list": lambda v: v.split(SEP) if v else [],
    "amount": lambda v: Decimal(v) if v is not None else None,
    "sum": exact_sum,
}


def run(query: Query, conn: sqlite3.Connection) -> tuple[list[str], list[Row]]:
    """Rows of one entity, filtered, sorted and limited; values converted to their kinds."""
    columns, rows = iterate(query, conn)
    return columns, list(rows)


def iterate(query: Query, conn: sqlite3.Connection) -> tuple[list[str], Iterator[Row]]:
    """The same rows one at a time, as the store hands them out: a long listing is written
    while it is read. The query is checked and compiled before this returns."""
    ent = query.entity
    columns = select_columns(ent, query.columns)
    if query.limit is not None and not 0 <= query.limit <= INT64_MAX:
        # SQLite binds 64-bit integers; a larger Python int would raise OverflowError.
        raise UsageError(f"--limit must be a whole number from 0 to {INT64_MAX}")
    order = _order(ent, query.sort)
    nodes = flag_tree(ent, query.filters, conn)
    compiler = Compiler(ent.fields(conn), text=query.expression or "")
    if query.expression is not None:
        nodes.append(parse(query.expression))
    where = f" WHERE {compiler.compile(And(tuple(nodes)))}" if nodes else ""
    limit = f" LIMIT {compiler.param(query.limit)}" if query.limit is not None else ""
    register_functions(conn)
    kinds = {c.name: c.kind for c in ent.columns}
    converters = [(name, _CONVERT.get(kinds[name])) for name in columns]

    def converted(raw: Row) -> Row:
        return {name: convert(raw[name]) if convert else raw[name] for name, convert in converters}

    if not where and not limit:
        # Every row: one query, written as read; the entity is kept apart (KEEP_APART).
        sql = f"SELECT * FROM ({ent.sql}{KEEP_APART}) AS t ORDER BY {order}"
        return columns, (converted(raw) for raw in stream(conn, sql, **compiler.params))
    # Some rows: first which, and in which order, from the columns the filter and the order
    # read (no list of sources is built for a row that is not shown); then every column of
    # those rows only, a batch at a time.
    chosen = _choose(ent, where, order, limit)
    keys = stream(conn, chosen, **compiler.params)
    return columns, (converted(raw) for raw in _complete(conn, ent, keys))


# Rows completed per query in the second step: few enough for any database's parameter limit.
_BATCH = 500
_REFERENCE = re.compile(r'\bt\.(?:"([^"]+)"|(\w+))')


def _choose(ent: Entity, where: str, order: str, limit: str) -> str:
    """The query of the keys of the rows asked for, in order, over the columns it needs."""
    items, rest = _parts(ent)
    used = {a or b for a, b in _REFERENCE.findall(where + " " + order)}
    wanted = [*ent.key, *(c for c in items if c in used and c not in ent.key)]
    light = ", ".join(f'{items[c]} AS "{c}"' for c in wanted)
    # Plain columns may be flattened into the outer query, where the filter meets the
    # tables' indexes; a computed list stays a subquery, computed once per row.
    computed = any("SELECT" in items[c] for c in wanted)
    inner = f"SELECT {light} {rest}" + (KEEP_APART if computed else "")
    key = ", ".join(f't."{c}"' for c in ent.key)
    return f"SELECT {key} FROM ({inner}) AS t{where} ORDER BY {order}{limit}"


def _complete(conn: sqlite3.Connection, ent: Entity, keys: Iterator[Row]) -> Iterator[Row]:
    """Every column of the rows with these keys, in the order the keys come."""
    items, rest = _parts(ent)
    bases = [items[c] for c in ent.key]
    while True:
        batch = [tuple(row[c] for c in ent.key) for row in islice(keys, _BATCH)]
        if not batch:
            return
        params: dict[str, Any] = {}
        if len(bases) == 1:
            for n, (value,) in enumerate(batch):
                params[f"k{n}"] = value
            among = f"{bases[0]} IN ({', '.join(':' + name for name in params)})"
        else:
            tuples = []
            for n, values in enumerate(batch):
                names = [f"k{n}_{i}" for i in range(len(values))]
                params |= dict(zip(names, values, strict=True))
                tuples.append("(" + ", ".join(":" + name for name in names) + ")")
            among = f"({', '.join(bases)}) IN (VALUES {', '.join(tuples)})"
        joiner = " AND " if _top_level(rest, " WHERE ") >= 0 else " WHERE "
        found = {
            tuple(row[c] for c in ent.key): row
            for row in stream(conn, f"SELECT {_select(ent)} {rest}{joiner}{among}", **params)
        }
        for key in batch:
            yield found[key]


def _top_level(sql: str, word: str) -> int:
    """Where `word` first occurs outside parentheses and quotes in sql, or -1."""
    depth, quoted = 0, ""
    for index, char in enumerate(sql):
        if quoted:
            quoted = "" if char == quoted else quoted
        elif char in "'\"":
            quoted = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(word, index):
            return index
    return -1


def _select(ent: Entity) -> str:
    return ent.sql[_top_level(ent.sql, "SELECT") + len("SELECT") : _top_level(ent.sql, "FROM")]


_PARTS: dict[str, tuple[dict[str, str], str]] = {}


def _parts(ent: Entity) -> tuple[dict[str, str], str]:
    """An entity's declared SELECT as {output column: its expression} and `FROM ...`.

    The declarations are ours (never input): `expr AS name` items separated by commas at the
    top level; a plain column reference is named after its column.
    """
    if ent.sql in _PARTS:
        return _PARTS[ent.sql]
    select = _select(ent)
    items: dict[str, str] = {}
    while select.strip():
        end = _top_level(select, ",")
        item, select = (select, "") if end < 0 else (select[:end], select[end + 1 :])
        item = item.strip()
        cut = item.rfind(" AS ")
        if cut >= 0 and _top_level(item[cut:], ")") < 0 and "(" not in item[cut:]:
            items[item[cut + 4 :].strip().strip('"')] = item[:cut].strip()
        else:
            items[item.split(".")[-1].strip('"')] = item
    _PARTS[ent.sql] = items, ent.sql[_top_level(ent.sql, "FROM") :]
    return _PARTS[ent.sql]


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
