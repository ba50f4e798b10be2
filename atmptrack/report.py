"""Reports: pure functions from the store to sections of rows, honest about what is unknown."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from atmptrack.errors import UsageError
from atmptrack.query import Row, resolve_initiatives, show_amount
from atmptrack.render import Section
from atmptrack.vocab import combine

FUNDING_GROUPS = ("initiative", "programme", "funder", "country")

_ENTRIES_SQL = """
SELECT i.id AS initiative, i.acronym, f.id AS funding, f.amount, f.currency, f.qualifier,
  f.funder, f.programme, f.instrument, f.start, f."end",
  (SELECT group_concat(v, char(31)) FROM (
     SELECT r.qualifier || ' ' || r.amount || ' ' || f.currency || ' (' || r.sources || ')' AS v
     FROM reported_amount r WHERE r.initiative_id = f.initiative_id AND r.funding_id = f.id
     ORDER BY r.position) AS agg) AS also_reported,
  (SELECT group_concat(v, char(31)) FROM (
     SELECT c.source_id AS v FROM citation c
     WHERE c.entity = 'funding' AND c.key = f.initiative_id || '/' || f.id ORDER BY c.position) AS agg)
     AS sources,
  (SELECT o.country FROM membership m JOIN organisation o ON o.id = m.organisation_id
   WHERE m.initiative_id = i.id AND m.role IN ('coordinator', 'host')
   ORDER BY m.role = 'host', m.position LIMIT 1) AS country
FROM initiative i LEFT JOIN funding f ON f.initiative_id = i.id
"""

ENTRY_COLUMNS = [
    "initiative",
    "acronym",
    "funding",
    "amount",
    "currency",
    "qualifier",
    "funder",
    "programme",
    "instrument",
    "start",
    "end",
    "also_reported",
    "sources",
]
TOTAL_COLUMNS = ["currency", "total", "qualifier", "entries", "initiatives"]


def _split(value: str | None) -> list[str]:
    return value.split("\x1f") if value else []


def funding(
    conn: sqlite3.Connection, *, by: str | None = None, initiatives: list[str] | None = None
) -> list[Section]:
    """One row per funding entry (unknown funding listed, never zero), totals per currency."""
    if by is not None and by not in FUNDING_GROUPS:
        raise UsageError(f"unknown grouping '{by}'; valid values: {', '.join(FUNDING_GROUPS)}")
    sql, params = _ENTRIES_SQL, {}
    if initiatives:
        ids = resolve_initiatives(initiatives, conn)
        sql += " WHERE i.id IN (" + ", ".join(f":i{n}" for n in range(len(ids))) + ")"
        params = {f"i{n}": ident for n, ident in enumerate(ids)}
    sql += " ORDER BY i.id, f.position"
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    entries: list[Row] = []
    for record in cursor:
        row = dict(zip(names, record, strict=True))
        row["amount"] = Decimal(row["amount"]) if row["amount"] is not None else None
        if row["funding"] is None or row["amount"] is None:
            row["qualifier"] = "unknown"
        row["also_reported"] = _split(row["also_reported"])
        row["sources"] = _split(row["sources"])
        entries.append(row)

    known = [e for e in entries if e["amount"] is not None]
    unknown = sorted({e["acronym"] or e["initiative"] for e in entries if e["amount"] is None})
    totals = _totals(known, key=None)
    footer = [f"Funding unknown for: {', '.join(unknown)}"] if unknown else []
    total_section = Section(
        "totals",
        "Totals per currency",
        TOTAL_COLUMNS,
        totals,
        human={"total": lambda r: show_amount(r["total"], r["qualifier"])},
        right={"total", "entries"},
        footer=footer,
    )
    entry_section = Section(
        "entries",
        "Funding entries",
        ENTRY_COLUMNS,
        entries,
        human={
            "initiative": lambda r: r["acronym"] or r["initiative"],
            "amount": lambda r: show_amount(r["amount"], r["qualifier"]),
            "also_reported": lambda r: "; ".join(_reported(v) for v in r["also_reported"]),
        },
        right={"amount"},
        table_columns=[
            "initiative",
            "amount",
            "currency",
            "funder",
            "programme",
            "instrument",
            "start",
            "end",
            "also_reported",
        ],
    )
    if by is None:
        return [entry_section, total_section]
    grouped = _totals(entries, key=by)
    group_section = Section(
        f"by_{by}",
        f"Funding by {by}",
        [by, *TOTAL_COLUMNS],
        grouped,
        human={"total": lambda r: show_amount(r["total"], r["qualifier"])},
        right={"total", "entries"},
    )
    return [group_section, total_section, entry_section]


def _reported(text: str) -> str:
    qualifier, amount, rest = text.split(" ", 2)
    return f"{show_amount(Decimal(amount), qualifier)} {rest}"


def _totals(entries: list[Row], *, key: str | None) -> list[Row]:
    groups: dict[tuple[Any, Any], list[Row]] = {}
    for entry in entries:
        group = entry[key] if key else None
        groups.setdefault((group, entry["currency"]), []).append(entry)
    rows: list[Row] = []
    for (group, currency), members in sorted(
        groups.items(), key=lambda g: (str(g[0][0] or "~"), str(g[0][1] or ""))
    ):
        amounts = [m for m in members if m["amount"] is not None]
        row: Row = {key: group} if key else {}
        row.update(
            {
                "currency": currency,
                # An initiative whose funding is unknown is listed as unknown, never summed as zero.
                "total": sum((m["amount"] for m in amounts), Decimal(0)) if amounts else None,
                "qualifier": combine(m["qualifier"] for m in amounts) if amounts else "unknown",
                "entries": len(amounts),
                "initiatives": sorted({m["initiative"] for m in members}),
            }
        )
        rows.append(row)
    return rows
