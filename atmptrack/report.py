"""Reports: pure functions from the store to sections of rows, honest about what is unknown."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from atmptrack import shape
from atmptrack.errors import UsageError, did_you_mean
from atmptrack.query import Row, date_bound, initiative_labels, resolve_initiatives, show_amount
from atmptrack.results import (
    MOST_BARS,
    Bar,
    BarChart,
    Chart,
    Gantt,
    Heatmap,
    Marker,
    Section,
    Span,
    StackedChart,
    Values,
)
from atmptrack.shape import record_key
from atmptrack.store import fetch, stream
from atmptrack.vocab import combine

FUNDING_GROUPS = ("initiative", "programme", "funder", "country", "year")

_ENTRIES_SQL = """
SELECT i.id AS initiative, i.acronym, f.id AS funding, f.amount, f.currency, f.qualifier,
  f.funder, f.programme, f.instrument, f.start, f."end",
  (SELECT o.country FROM membership m JOIN organisation o ON o.id = m.organisation_id
   WHERE m.initiative_id = i.id AND m.role IN ('coordinator', 'host')
   ORDER BY CASE WHEN m.role = 'host' THEN 1 ELSE 0 END, m.position LIMIT 1) AS country
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


def funding(
    conn: sqlite3.Connection, *, by: str | None = None, initiatives: list[str] | None = None
) -> list[Section]:
    """One row per funding entry (unknown funding listed, never zero), totals per currency.

    Entries stream in order; totals, groups and the chart are computed only for the sections
    and formats that show them, each in one pass over the entries.
    """
    if by is not None and by not in FUNDING_GROUPS:
        hint = did_you_mean(by, FUNDING_GROUPS)
        raise UsageError(
            f"unknown grouping '{by}'{hint}; valid values: {', '.join(FUNDING_GROUPS)}"
        )
    ids = resolve_initiatives(initiatives, conn) if initiatives else []
    label = _labeller(conn, ids)

    def entries() -> Iterator[Row]:
        chosen, params = _among("i.id", ids)
        sources = _grouped(
            conn,
            "SELECT initiative_id, funding_id, source_id FROM funding_citation c",
            "c.initiative_id",
            ids,
            order="initiative_id, funding_id, position",
            key=("initiative_id", "funding_id"),
            value="source_id",
        )
        reported = _also_reported(conn, ids)
        for row in stream(conn, f"{_ENTRIES_SQL}{chosen} ORDER BY i.id, f.position", **params):
            row["amount"] = Decimal(row["amount"]) if row["amount"] is not None else None
            if row["funding"] is None or row["amount"] is None:
                row["qualifier"] = "unknown"
            key = (row["initiative"], row["funding"])
            row["also_reported"] = [
                f"{qualifier} {amount} {row['currency']} ({','.join(cited)})"
                for qualifier, amount, cited in reported.get(key, [])
            ]
            row["sources"] = sources.get(key, [])
            yield row

    read: list[list[Row]] = []

    def every() -> list[Row]:
        # The sections that need all entries share one reading of them.
        if not read:
            read.append(list(entries()))
        return read[0]

    def labels_of(row: Row) -> str:
        return ", ".join(label({"initiative": i}) for i in row["initiatives"])

    def fill_totals(section: Section) -> None:
        everything = every()
        known = [e for e in everything if e["amount"] is not None]
        with_amount = {e["initiative"] for e in known}
        lacking = [e for e in everything if e["amount"] is None]
        # Unknown altogether, or known in part: an initiative with one entry of unknown size is
        # not "funding unknown" when other entries of its funding are known.
        unknown = sorted({label(e) for e in lacking if e["initiative"] not in with_amount})
        partly = sorted({label(e) for e in lacking if e["initiative"] in with_amount})
        section.rows = _totals(known, key=None)
        if unknown:
            section.footer.append(f"Funding unknown for: {_some(unknown)}")
        if partly:
            section.footer.append(
                f"Funding partly unknown (an entry of unknown size) for: {_some(partly)}"
            )

    total_section = Section(
        "totals",
        "Totals per currency",
        TOTAL_COLUMNS,
        [],
        human={
            "total": lambda r: show_amount(r["total"], r["qualifier"]),
            "initiatives": labels_of,
        },
        right={"total", "entries"},
        later=fill_totals,
    )
    entry_section = Section(
        "entries",
        "Funding entries",
        ENTRY_COLUMNS,
        entries() if by is None else [],
        human={
            "initiative": label,
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
        draw=lambda: _bars(
            "Funding per initiative",
            _totals(every(), key="initiative"),
            "initiative",
            {e["initiative"]: label(e) for e in every()},
        ),
    )
    if by is None:
        return [entry_section, total_section]

    def entries_again(section: Section) -> None:
        section.rows = every()

    entry_section.later = entries_again

    def grouped() -> list[Row]:
        if by == "year":
            return _funding_by_year(every())
        return _totals([_labelled(e, by) for e in every()], key=by)

    def fill_groups(section: Section) -> None:
        section.rows = grouped()

    group_section = Section(
        f"by_{by}",
        f"Funding by {by}"
        + (" (totals over several years spread evenly by month)" if by == "year" else ""),
        ["year", *TOTAL_COLUMNS, "spread"] if by == "year" else [by, *TOTAL_COLUMNS],
        [],
        human={
            "total": lambda r: (
                show_amount(r["total"], r["qualifier"]) + (" (spread)" if r.get("spread") else "")
            ),
            by: lambda r: str(r[by]) if r[by] is not None else "unknown",
            "initiatives": labels_of,
        },
        right={"total", "entries"},
        later=fill_groups,
        draw=lambda: _bars(f"Funding by {by}", grouped(), by, {}),
    )
    if by == "country":
        shares = _member_shares(conn, {e["initiative"] for e in every()}, labels_of)
        return [group_section, shares, total_section, entry_section]
    return [group_section, total_section, entry_section]


def _member_shares(
    conn: sqlite3.Connection, initiatives: set[str], labels_of: Callable[[Row], str]
) -> Section:
    """The EU's contribution to each member (CORDIS `ecContribution`), summed by the member's
    own country: where the money goes, beside the coordinator's country of the whole grant."""
    found = fetch(
        conn,
        """SELECT o.country, m.initiative_id AS initiative, m.ec_contribution AS amount,
             (SELECT CASE WHEN count(DISTINCT f.currency) = 1 THEN max(f.currency) END
              FROM funding f WHERE f.initiative_id = m.initiative_id) AS currency
           FROM membership m JOIN organisation o ON o.id = m.organisation_id
           WHERE m.ec_contribution IS NOT NULL""",
    )
    groups: dict[tuple[str, str | None], list[Row]] = {}
    for row in found:
        if row["initiative"] in initiatives:
            key = (row["country"] or "(no country known)", row["currency"])
            groups.setdefault(key, []).append(row)
    rows = [
        {
            "country": country,
            "currency": currency,
            "total": sum((Decimal(r["amount"]) for r in members), Decimal(0)),
            "qualifier": "exact",
            "members": len(members),
            "initiatives": sorted({r["initiative"] for r in members}),
        }
        for (country, currency), members in sorted(
            groups.items(), key=lambda g: (g[0][0].startswith("("), g[0][0], g[0][1] or "")
        )
    ]
    return Section(
        "members_by_country",
        "EU contribution to members, by member country (where known)",
        ["country", "currency", "total", "qualifier", "members", "initiatives"],
        rows,
        human={"total": lambda r: show_amount(r["total"], "exact"), "initiatives": labels_of},
        right={"total", "members"},
        table_columns=["country", "currency", "total", "members", "initiatives"],
        chart=_bars("EU contribution to members by country", rows, "country", {}),
    )


# A footer names at most this many initiatives, then says how many more.
_NAMED = 20


def _some(labels: list[str]) -> str:
    """`A, B, C` or, for a long list, the first _NAMED and how many more."""
    if len(labels) <= _NAMED:
        return ", ".join(labels)
    return f"{', '.join(labels[:_NAMED])} and {len(labels) - _NAMED:,} more"


def _among(column: str, ids: list[str], *, prefix: str = "i") -> tuple[str, dict[str, str]]:
    """` WHERE column IN (:i0, :i1, ...)` for a chosen set of ids, nothing for all of them."""
    if not ids:
        return "", {}
    params = {f"{prefix}{n}": ident for n, ident in enumerate(ids)}
    return f" WHERE {column} IN ({', '.join(':' + name for name in params)})", params


def _grouped(
    conn: sqlite3.Connection,
    sql: str,
    column: str,
    ids: list[str],
    *,
    order: str,
    key: tuple[str, ...],
    value: str,
) -> dict[tuple[Any, ...], list[Any]]:
    """The values of a link table grouped by key, in order: one query, one pass."""
    where, params = _among(column, ids)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in stream(conn, f"{sql}{where} ORDER BY {order}", **params):
        groups.setdefault(tuple(row[k] for k in key), []).append(row[value])
    return groups


def _also_reported(
    conn: sqlite3.Connection, ids: list[str]
) -> dict[tuple[Any, ...], list[tuple[str, str, list[str]]]]:
    """Each funding entry's other reported amounts: (qualifier, amount, sources), in order."""
    cited = _grouped(
        conn,
        "SELECT initiative_id, funding_id, reported_position, source_id FROM reported_amount_source s",
        "s.initiative_id",
        ids,
        order="initiative_id, funding_id, reported_position, position",
        key=("initiative_id", "funding_id", "reported_position"),
        value="source_id",
    )
    where, params = _among("r.initiative_id", ids)
    found: dict[tuple[Any, ...], list[tuple[str, str, list[str]]]] = {}
    for r in stream(
        conn,
        "SELECT initiative_id, funding_id, position, qualifier, amount FROM reported_amount r"
        f"{where} ORDER BY initiative_id, funding_id, position",
        **params,
    ):
        sources = cited.get((r["initiative_id"], r["funding_id"], r["position"]))
        if sources:  # every reported amount cites a source (the schema says so)
            found.setdefault((r["initiative_id"], r["funding_id"]), []).append(
                (r["qualifier"], r["amount"], sources)
            )
    return found


def _bars(title: str, rows: list[Row], key: str, labels: dict[str, str]) -> Chart:
    currencies = {r["currency"] for r in rows if r["currency"]}
    unit = currencies.pop() if len(currencies) == 1 else ""
    return BarChart(
        title + (f" ({unit})" if unit else ""),
        unit=unit,
        bars=[
            Bar(
                (labels.get(str(r[key]), str(r[key])) if r[key] is not None else "unknown")
                + (f" {r['currency']}" if not unit and r["currency"] else ""),
                float(r["total"]) if r["total"] is not None else None,
                show_amount(r["total"], r["qualifier"], None if unit else r["currency"]),
                r["qualifier"] not in ("exact", "unknown") or bool(r.get("spread")),
            )
            for r in rows
        ],
    )


def _reported(text: str) -> str:
    qualifier, amount, rest = text.split(" ", 2)
    return f"{show_amount(Decimal(amount), qualifier)} {rest}"


# Group labels for what has no group: two different things, never both called "unknown".
FUNDING_UNKNOWN = "(funding unknown)"


def _labelled(entry: Row, by: str) -> Row:
    """The entry with a label where its group is missing: no funding known, an entry of
    unknown size, money with no programme or funder stated, or no coordinator country."""
    if entry.get(by) is not None:
        return entry
    if by == "country":  # the coordinator's, a fact about the initiative, not its funding
        missing = "(no coordinator country known)"
    elif entry["funding"] is None:
        missing = FUNDING_UNKNOWN
    elif entry["amount"] is None:
        missing = "(amount not stated)"
    else:
        missing = f"(no {by} stated)"
    return {**entry, by: missing}


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


# ---------------------------------------------------------------- funding by year


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def spread_by_year(amount: Decimal, start: date, end: date) -> list[tuple[int, Decimal]]:
    """A total spread evenly over the months of its period, summed per year; cents are rounded
    and the last year takes the remainder, so the parts add up to the total exactly."""
    months = _months(start, end)
    per_year: dict[int, int] = {}
    for year, _ in months:
        per_year[year] = per_year.get(year, 0) + 1
    parts: list[tuple[int, Decimal]] = []
    given = Decimal(0)
    for index, (year, count) in enumerate(sorted(per_year.items())):
        if index == len(per_year) - 1:
            share = amount - given
        else:
            share = (amount * count / len(months)).quantize(Decimal("0.01"))
            share = share.normalize() if share == share.to_integral_value() else share
            given += share
        parts.append((year, share))
    return parts


def _funding_by_year(entries: list[Row]) -> list[Row]:
    from atmptrack.dates import PartialDate

    pieces: list[Row] = []
    for entry in entries:
        if entry["amount"] is None:
            continue
        start = PartialDate.parse(entry["start"]).earliest() if entry["start"] else None
        end = PartialDate.parse(entry["end"]).latest() if entry["end"] else None
        if start is None or end is None:
            # Without a whole period the money cannot be placed in years: it stays unplaced.
            pieces.append({**entry, "year": None, "spread": False})
            continue
        parts = spread_by_year(entry["amount"], start, end)
        for year, share in parts:
            pieces.append({**entry, "year": year, "amount": share, "spread": len(parts) > 1})
    rows = _totals(pieces, key="year")
    spread = {(p["year"], p["currency"]) for p in pieces if p["spread"]}
    for row in rows:
        row["spread"] = (row["year"], row["currency"]) in spread
    return rows


# ---------------------------------------------------------------- helpers shared by the reports


# Whose quadruple-helix grouping a report counts: ours (from the sector) or the source's.
HELIX_FROM = ("sector", "source")
HELIXES = ("academia", "industry", "government", "civil-society")


def _labeller(conn: sqlite3.Connection, ids: list[str] | None = None) -> Callable[[Row], str]:
    """How people see an initiative in every table and chart: its acronym, else its name.

    With ids (a report of chosen initiatives), only theirs are read."""
    labels = initiative_labels(conn, ids or ())
    return lambda row: labels.get(row["initiative"]) or str(row["initiative"] or "")


# ---------------------------------------------------------------- partners


def partners(
    conn: sqlite3.Connection,
    *,
    initiatives: list[str] | None = None,
    helix_from: str = "sector",
) -> list[Section]:
    """Country × helix matrix, the helix balance of each initiative, countries per initiative.

    The helix group is ours, from each organisation's sector (`sector`), or the one the cited
    source gives each member (`source`), which may differ from one initiative to the next.
    Counted in SQL: one GROUP BY per section.
    """
    if helix_from not in HELIX_FROM:
        hint = did_you_mean(helix_from, HELIX_FROM)
        raise UsageError(f"unknown helix grouping '{helix_from}'{hint}; valid: sector, source")
    helix = "m.source_helix" if helix_from == "source" else "o.helix"
    ids = resolve_initiatives(initiatives, conn) if initiatives else []
    _label = _labeller(conn, ids)
    columns = [*HELIXES, "unknown"]
    keys = [c.replace("-", "_") for c in columns]
    # One count per helix group, and one for none: the groups are a closed vocabulary.
    counts = ", ".join(
        [
            *(
                f"sum(CASE WHEN {helix} = '{group}' THEN 1 ELSE 0 END) AS {key}"
                for group, key in zip(HELIXES, keys, strict=False)
            ),
            f"sum(CASE WHEN {helix} IS NULL THEN 1 ELSE 0 END) AS unknown",
            "count(*) AS total",
        ]
    )
    chosen, params = _among("m.initiative_id", ids)
    country = "coalesce(o.country, 'unknown')"
    if helix_from == "source":
        # A source's grouping belongs to each membership: every membership counts.
        matrix_sql = (
            f"SELECT {country} AS country, {counts} FROM membership m "
            f"JOIN organisation o ON o.id = m.organisation_id{chosen} GROUP BY {country}"
        )
    else:
        # Ours belongs to the organisation: each counts once, however many initiatives it is in.
        inside = chosen.replace(" WHERE ", " AND ")
        matrix_sql = (
            f"SELECT {country} AS country, {counts} FROM organisation o WHERE EXISTS "
            f"(SELECT 1 FROM membership m WHERE m.organisation_id = o.id{inside}) GROUP BY {country}"
        )
    found = fetch(conn, matrix_sql, **params)
    found.sort(key=lambda r: (r["country"] == "unknown", -r["total"], r["country"]))
    matrix_rows: list[Row] = [{k: r[k] for k in ("country", *keys, "total")} for r in found]
    matrix_section = Section(
        "matrix",
        "Organisations by country and quadruple-helix group"
        + (" (memberships, as their sources group them)" if helix_from == "source" else ""),
        ["country", *keys, "total"],
        matrix_rows,
        right={*keys, "total"},
        chart=Heatmap(
            "Organisations by country and helix",
            series=columns,
            rows=[Values(r["country"], [float(r[k]) for k in keys]) for r in matrix_rows],
        ),
    )
    balance_rows: list[Row] = []

    def fill_balance(section: Section) -> None:
        for r in stream(
            conn,
            f"SELECT m.initiative_id AS initiative, i.acronym, {counts} FROM membership m "
            "JOIN organisation o ON o.id = m.organisation_id "
            f"JOIN initiative i ON i.id = m.initiative_id{chosen} "
            "GROUP BY m.initiative_id, i.acronym ORDER BY m.initiative_id",
            **params,
        ):
            shares = {f"{k}_share": round(r[k] / r["total"], 3) for k in keys}
            balance_rows.append({**r, **shares})
        section.rows = balance_rows

    balance_section = Section(
        "balance",
        "Quadruple-helix balance of each initiative",
        ["initiative", *keys, "total", *(f"{k}_share" for k in keys)],
        [],
        right={*keys, "total", *(f"{k}_share" for k in keys)},
        human={"initiative": _label},
        table_columns=["initiative", *keys, "total"],
        later=fill_balance,
        draw=lambda: StackedChart(
            "Quadruple-helix balance (share of partners)",
            series=columns,
            rows=[Values(_label(r), [float(r[k]) for k in keys]) for r in balance_rows],
            percent=True,
        ),
    )
    countries_section = Section(
        "countries",
        "Countries per initiative",
        ["initiative", "country", "partners"],
        # Streamed: one row per initiative and country, as many as there are.
        stream(
            conn,
            f"SELECT m.initiative_id AS initiative, {country} AS country, count(*) AS partners "
            f"FROM membership m JOIN organisation o ON o.id = m.organisation_id{chosen} "
            f"GROUP BY m.initiative_id, {country} ORDER BY 1, 3 DESC, 2",
            **params,
        ),
        human={"initiative": _label},
        right={"partners"},
    )
    return [matrix_section, balance_section, countries_section]


# ---------------------------------------------------------------- overlap

# How many pairs of initiatives `report overlap` ranks when --limit does not say.
OVERLAP_LIMIT = 20
# The matrix of shared partners holds every initiative up to this many; beyond, those of the
# top pairs: a 10,000 × 10,000 matrix is read by nobody.
MATRIX_MOST = 20


def _members_by(roll_up: bool) -> str:
    """A `WITH` clause naming `g`: each membership with the organisation it counts as (`key_id`):
    itself, or with roll_up the top of its chain of hosts (CTGCT's centre counts as Kemijski
    inštitut). Cycles of hosts are refused at load, so the chain ends."""
    if not roll_up:
        return (
            "WITH g AS (SELECT initiative_id, organisation_id, organisation_id AS key_id, role, "
            "position FROM membership)"
        )
    return """WITH RECURSIVE up (organisation_id, top_id) AS (
        SELECT DISTINCT organisation_id, organisation_id FROM membership
        UNION ALL
        SELECT up.organisation_id, o.parent_id FROM up JOIN organisation o ON o.id = up.top_id
        WHERE o.parent_id IS NOT NULL
      ),
      g AS (
        SELECT m.initiative_id, m.organisation_id, u.top_id AS key_id, m.role, m.position
        FROM membership m JOIN up u ON u.organisation_id = m.organisation_id
        JOIN organisation t ON t.id = u.top_id
        WHERE t.parent_id IS NULL
      )"""


def overlap(
    conn: sqlite3.Connection, *, roll_up: bool = False, limit: int | None = None
) -> list[Section]:
    """Organisations in two or more initiatives with their roles; the pairs of initiatives that
    share the most partners (`limit` of them); the matrix of shared partners among those."""
    label = _labeller(conn)
    most = OVERLAP_LIMIT if limit is None else limit

    def labelled(ini: str) -> str:
        return label({"initiative": ini})

    members = _members_by(roll_up)
    # Each organisation once however many of its hosted bodies take part: with roll_up, an
    # initiative may hold a parent and its centre, one partner between them.
    distinct = "count(DISTINCT a.key_id)" if roll_up else "count(*)"

    if roll_up:
        shared_sql = f"""{members}
            SELECT g.key_id, o.name, g.initiative_id, g.organisation_id, g.role
            FROM g JOIN organisation o ON o.id = g.key_id
            WHERE g.key_id IN (
              SELECT key_id FROM g GROUP BY key_id HAVING count(DISTINCT initiative_id) >= 2)
            ORDER BY g.key_id, g.initiative_id, g.position"""
    else:
        # In the order of the index on organisation_id, so the first rows come at once.
        shared_sql = """
            SELECT m.organisation_id AS key_id,
              (SELECT o.name FROM organisation o WHERE o.id = m.organisation_id) AS name,
              m.initiative_id, m.organisation_id, m.role
            FROM membership m
            WHERE (SELECT count(*) FROM membership x WHERE x.organisation_id = m.organisation_id) >= 2
            ORDER BY m.organisation_id, m.initiative_id, m.position"""

    def shared_rows() -> Iterator[Row]:
        # One ordered pass: the memberships of each organisation in two or more initiatives.
        current: list[Row] = []
        for row in stream(conn, shared_sql):
            if current and current[0]["key_id"] != row["key_id"]:
                yield _shared(current)
                current = []
            current.append(row)
        if current:
            yield _shared(current)

    pairs: list[Row] = []

    def ranked() -> list[Row]:
        if not pairs and most > 0:
            pairs.extend(
                fetch(
                    conn,
                    f"""{members}
                    SELECT a.initiative_id AS initiative, b.initiative_id AS other,
                      {distinct} AS shared
                    FROM g a JOIN g b ON b.key_id = a.key_id AND b.initiative_id > a.initiative_id
                    GROUP BY a.initiative_id, b.initiative_id
                    ORDER BY 3 DESC, 1, 2
                    LIMIT :most""",
                    most=most + 1,  # one more than shown: tells whether there are more
                )
            )
        return pairs

    def pair_section(section: Section) -> None:
        found = ranked()
        shown = found[:most]
        rows = [{"rank": n, **pair} for n, pair in enumerate(shown, 1)]
        footer = (
            [
                f"The {most} pairs that share the most partners; more pairs share partners "
                "(--limit N shows more)."
            ]
            if len(found) > most
            else []
        )
        section.rows, section.footer = rows, footer
        section.chart = BarChart(
            "Partners shared by the pairs of initiatives that share the most",
            bars=[
                Bar(
                    f"{labelled(p['initiative'])} & {labelled(p['other'])}",
                    float(p["shared"]),
                    str(p["shared"]),
                )
                for p in shown
            ],
        )

    def matrix_section(section: Section) -> None:
        everyone = [
            r["initiative_id"]
            for r in fetch(
                conn,
                "SELECT DISTINCT initiative_id FROM membership ORDER BY initiative_id LIMIT :n",
                n=MATRIX_MOST + 1,
            )
        ]
        footer: list[str] = []
        if len(everyone) <= MATRIX_MOST:
            ids = everyone
        else:
            # The initiatives of the top pairs, in rank order, as many as the matrix holds.
            chosen: dict[str, None] = {}
            for pair in ranked()[:most]:
                chosen.update(dict.fromkeys((pair["initiative"], pair["other"])))
            ids = sorted(list(chosen)[:MATRIX_MOST])
            footer.append(
                f"The {len(ids)} initiatives of the pairs that share the most partners; "
                "the others are left out."
            )
        where, params = _among("a.initiative_id", ids)
        inside, more = _among("b.initiative_id", ids, prefix="j")
        counts: dict[tuple[str, str], int] = {}
        if ids:
            for r in stream(
                conn,
                f"""{members}
                SELECT a.initiative_id AS initiative, b.initiative_id AS other, {distinct} AS n
                FROM g a JOIN g b ON b.key_id = a.key_id{where}{inside.replace(" WHERE ", " AND ")}
                GROUP BY a.initiative_id, b.initiative_id""",
                **params,
                **more,
            ):
                counts[(r["initiative"], r["other"])] = r["n"]
        rows: list[Row] = [
            {"initiative": a, **{b: counts.get((a, b), 0) for b in ids}} for a in ids
        ]
        section.columns, section.rows, section.footer = ["initiative", *ids], rows, footer
        section.right = set(ids)
        section.chart = Heatmap(
            "Shared partners between initiatives",
            series=[labelled(i) for i in ids],
            rows=[Values(label(r), [float(r[b]) for b in ids]) for r in rows],
        )

    title = "Organisations in two or more initiatives" + (
        " (hosted bodies counted with their parent)" if roll_up else ""
    )
    placeholder = Heatmap("Shared partners between initiatives", series=[], rows=[])
    return [
        Section(
            "shared",
            title,
            ["organisation", "name", "initiatives", "roles", "via", "count"],
            shared_rows(),
            human={
                "initiatives": lambda r: ", ".join(labelled(i) for i in r["initiatives"]),
                "roles": lambda r: ", ".join(
                    f"{labelled(i)}: {role}" for i, role in (x.split(":", 1) for x in r["roles"])
                ),
            },
            right={"count"},
        ),
        Section(
            "pairs",
            "Pairs of initiatives that share the most partners",
            ["rank", "initiative", "other", "shared"],
            [],
            human={"initiative": label, "other": lambda r: labelled(r["other"])},
            right={"rank", "shared"},
            chart=BarChart("Partners shared by the pairs of initiatives", bars=[]),
            later=pair_section,
        ),
        Section(
            "matrix",
            "Shared partners between initiatives (the diagonal: partners of each)",
            ["initiative"],
            [],
            human={"initiative": label},
            chart=placeholder,
            later=matrix_section,
        ),
    ]


def _shared(rows: list[Row]) -> Row:
    """One organisation's row of the `shared` section, from its memberships in order."""
    key = rows[0]["key_id"]
    initiatives = sorted({r["initiative_id"] for r in rows})
    return {
        "organisation": key,
        "name": rows[0]["name"],
        "initiatives": initiatives,
        "roles": [f"{r['initiative_id']}:{r['role']}" for r in rows],
        "via": sorted({r["organisation_id"] for r in rows} - {key}),
        "count": len(initiatives),
    }


# ---------------------------------------------------------------- timeline


def timeline(
    conn: sqlite3.Connection,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    upcoming: bool = False,
    today: date | None = None,
    initiatives: list[str] | None = None,
) -> list[Section]:
    """Every milestone and every initiative's start and end, in date order, as precisely as known.

    Bounds, order and the chosen initiatives are applied in SQL; rows are written as read.
    """
    today = today or date.today()
    low = date_bound(date_from, "--from", low=True) if date_from else None
    high = date_bound(date_to, "--to", low=False) if date_to else None
    if upcoming:
        low = max(low or today.isoformat(), today.isoformat())
    ids = resolve_initiatives(initiatives, conn) if initiatives else []
    _label = _labeller(conn, ids)
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if ids:
        chosen, params = _among("e.initiative", ids)
        conditions.append(chosen.removeprefix(" WHERE "))
    if low or high:
        conditions.append("e.lo IS NOT NULL")  # a date whose year is unknown has no place
    if low:
        conditions.append("e.hi >= :low")
        params["low"] = low
    if high:
        conditions.append("e.lo <= :high")
        params["high"] = high
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    events_sql = f"""
        SELECT e.* FROM (
          SELECT ms.initiative_id AS initiative, i.acronym, ms.kind, ms.date, ms.end_date,
            ms.date_qualifier, ms.precision, ms.place, ms.note, ms.date_lo AS lo,
            coalesce(ms.end_hi, ms.date_hi) AS hi, 0 AS part, ms.position
          FROM milestone ms JOIN initiative i ON i.id = ms.initiative_id
          UNION ALL
          SELECT id, acronym, 'start', start, NULL, 'exact', NULL, NULL, NULL, start_lo,
            start_hi, 1, 0
          FROM initiative WHERE start IS NOT NULL
          UNION ALL
          SELECT id, acronym, 'end', "end", NULL, 'exact', NULL, NULL, NULL, end_lo, end_hi, 2, 0
          FROM initiative WHERE "end" IS NOT NULL
        ) e{where}
        ORDER BY CASE WHEN e.lo IS NULL THEN 1 ELSE 0 END, e.lo, e.initiative, e.part, e.position"""

    def rows() -> Iterator[Row]:
        from atmptrack.dates import PartialDate

        for e in stream(conn, events_sql, **params):
            when = PartialDate.parse(e["date"])
            yield {
                "date": e["date"],
                "when": ("≈ " if e["date_qualifier"] == "approximately" else "")
                + when.describe()
                + (f" to {PartialDate.parse(e['end_date']).describe()}" if e["end_date"] else ""),
                "kind": e["kind"],
                "initiative": e["initiative"],
                "acronym": e["acronym"],
                "place": e["place"],
                "precision": e["precision"] or when.precision,
                "note": e["note"],
            }

    return [
        Section(
            "events",
            "Timeline",
            ["date", "when", "kind", "initiative", "place", "precision", "note"],
            rows(),
            human={"initiative": _label},
            table_columns=["when", "kind", "initiative", "place", "note"],
            draw=lambda: _gantt(conn, ids, low, high, today, _label),
        )
    ]


def _gantt(
    conn: sqlite3.Connection,
    ids: list[str],
    low: str | None,
    high: str | None,
    today: date,
    label: Callable[[Row], str],
) -> Gantt:
    """The timeline's chart: the first MOST_BARS initiatives in date order, with their dated
    milestones within the bounds; how many more there are is said, not drawn."""
    bounds = ""
    params: dict[str, Any] = {}
    if low:
        bounds += " AND coalesce(d.end_hi, d.date_hi) >= :low"
        params["low"] = low
    if high:
        bounds += " AND d.date_lo <= :high"
        params["high"] = high
    chosen, narrowing = _among("i.id", ids)
    params |= narrowing
    spans = fetch(
        conn,
        f"""SELECT i.id, i.acronym, i.start_lo, i.end_hi,
             min(ms.date_hi) AS started_by, max(ms.date_lo) AS running_on,
             min(ms.date_lo) AS first_lo
           FROM initiative i LEFT JOIN milestone ms ON ms.initiative_id = i.id{chosen}
           GROUP BY i.id, i.acronym, i.start_lo, i.end_hi
           HAVING i.start_lo IS NOT NULL OR i.end_hi IS NOT NULL OR EXISTS (
             SELECT 1 FROM milestone d WHERE d.initiative_id = i.id AND d.date_lo IS NOT NULL{bounds})
           ORDER BY coalesce(i.start_lo, min(ms.date_lo), i.end_hi, '9999'), i.id""",
        **params,
    )
    drawn = spans[:MOST_BARS]
    note = (
        f"the first {MOST_BARS} of {len(spans):,} rows in date order; "
        f"{len(spans) - MOST_BARS:,} more not drawn"
        if len(spans) > MOST_BARS
        else ""
    )
    where, chosen_params = _among("d.initiative_id", [s["id"] for s in drawn])
    markers = (
        fetch(
            conn,
            "SELECT d.initiative_id AS initiative, d.kind, d.date_lo, d.precision, d.date_qualifier "
            f"FROM milestone d{where} AND d.date_lo IS NOT NULL{bounds} "
            "ORDER BY d.date_lo, d.initiative_id, d.position",
            **chosen_params,
            **{k: v for k, v in params.items() if k in ("low", "high")},
        )
        if drawn
        else []
    )
    return Gantt(
        "Initiatives from start to end, with milestones",
        spans=[
            Span(
                label({"initiative": s["id"]}),
                _day(s["start_lo"]),
                _day(s["end_hi"]),
                # What is certain: started by the latest day its first milestone can mean,
                # and running on the earliest day its last one can.
                started_by=None if s["start_lo"] else _day(s["started_by"]),
                running_on=None if s["end_hi"] else _day(s["running_on"]),
            )
            for s in drawn
        ],
        markers=[
            Marker(
                label(m),
                date.fromisoformat(m["date_lo"]),
                m["kind"],
                m["precision"] != "day" or m["date_qualifier"] == "approximately",
            )
            for m in markers
        ],
        today=today,
        note=note,
    )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# ---------------------------------------------------------------- coverage


# The pages `import cordis` cites: an initiative citing nothing else came from CORDIS.
CORDIS_PAGES = "https://cordis.europa.eu/"


def _origins(conn: sqlite3.Connection, origin: str) -> str:
    counts = {
        r["origin"]: r["n"]
        for r in fetch(
            conn,
            f"SELECT origin, count(*) AS n FROM (SELECT {origin} AS origin FROM initiative i) AS o"
            " GROUP BY origin",
        )
    }
    return f"From CORDIS: {counts.get('cordis', 0)}; curated: {counts.get('curated', 0)}"


# Facts a source could state; summaries and aims are our own words, so not counted.
_CORE_FIELDS = ("acronym", "start", "end", "website")


def coverage(conn: sqlite3.Connection) -> list[Section]:
    """How complete the data is: counts declared against known, sourced against inferred, gaps.

    One row per initiative, its counts computed by the store as the row is written (through
    the provenance tables' keys); what to look up and the chart only where they are shown.
    """
    _label = _labeller(conn)
    from atmptrack.query import count_words

    def each(stored: shape.Shape, sql: str) -> str:
        return sql.format(table=stored.citations, inferred=stored.inferences)

    sources = (
        "(SELECT count(DISTINCT c.source_id) FROM ("
        + " UNION ALL ".join(
            each(s, "SELECT source_id FROM {table} WHERE initiative_id = i.id")
            for s in shape.IN_INITIATIVE
        )
        + ") AS c)"
    )
    # A record cited at all has exactly one citation in first place: counted so, each once.
    sourced = " + ".join(
        each(s, "(SELECT count(*) FROM {table} WHERE initiative_id = i.id AND position = 0)")
        for s in shape.IN_INITIATIVE
    )
    inferred = " + ".join(
        each(s, "(SELECT count(*) FROM {inferred} WHERE initiative_id = i.id)")
        for s in shape.IN_INITIATIVE
    )
    # From CORDIS: every source the initiative cites is a CORDIS page, as `import cordis`
    # writes them; anything else is curated.
    cited = f"SELECT 1 FROM {shape.INITIATIVE.citations} c WHERE c.initiative_id = i.id"
    origin = f"""CASE WHEN EXISTS ({cited}) AND NOT EXISTS ({cited} AND (SELECT
            substr(s.url, 1, {len(CORDIS_PAGES)}) FROM source s WHERE s.id = c.source_id)
            <> '{CORDIS_PAGES}') THEN 'cordis' ELSE 'curated' END"""
    basics = f"""i.id, i.acronym, i.declared_partners, i.declared_qualifier, i.start, i."end",
          i.website, {origin} AS origin,
          (SELECT count(*) FROM membership m WHERE m.initiative_id = i.id) AS known,
          CASE WHEN EXISTS (SELECT 1 FROM funding f WHERE f.initiative_id = i.id
            AND f.amount IS NOT NULL) THEN 1 ELSE 0 END AS funded"""

    def gaps(ini: Row) -> tuple[list[str], int | None]:
        unknown = [f for f in _CORE_FIELDS if ini[f] is None]
        if not ini["funded"]:
            unknown.append("funding")
        if ini["declared_partners"] is None:
            unknown.append("declared_partners")
        declared = ini["declared_partners"]
        return unknown, None if declared is None else max(declared - ini["known"], 0)

    def rows() -> Iterator[Row]:
        for ini in stream(
            conn,
            f"SELECT {basics}, {sources} AS sources, {sourced} AS sourced, "
            f"{inferred} AS inferred FROM initiative i ORDER BY i.id",
        ):
            declared, qualifier, known = (
                ini["declared_partners"],
                ini["declared_qualifier"],
                ini["known"],
            )
            unknown, missing = gaps(ini)
            yield {
                "initiative": ini["id"],
                "acronym": ini["acronym"],
                "origin": ini["origin"],
                "declared_partners": declared,
                "declared_qualifier": qualifier,
                "known_members": known,
                "members_known": f"{known} of {count_words(declared, qualifier)}"
                if declared is not None
                else f"{known} of unknown",
                "missing_members": missing,
                "sources": ini["sources"],
                "sourced_records": ini["sourced"],
                "inferred_fields": ini["inferred"],
                "unknown_fields": unknown,
            }

    def fill_lookup(section: Section) -> None:
        section.rows = _lookup(conn, basics, gaps)

    def chart() -> Chart:
        return StackedChart(
            "Members in the data against the declared count",
            series=["known", "missing"],
            rows=[
                Values(
                    _label({"initiative": r["id"]}),
                    [float(r["known"]), float(max(r["declared_partners"] - r["known"], 0))],
                )
                for r in stream(
                    conn,
                    "SELECT i.id, i.declared_partners, (SELECT count(*) FROM membership m "
                    "WHERE m.initiative_id = i.id) AS known FROM initiative i "
                    "WHERE i.declared_partners IS NOT NULL ORDER BY i.id",
                )
            ],
        )

    return [
        Section(
            "initiatives",
            "Coverage per initiative",
            [
                "initiative",
                "origin",
                "declared_partners",
                "declared_qualifier",
                "known_members",
                "members_known",
                "missing_members",
                "sources",
                "sourced_records",
                "inferred_fields",
                "unknown_fields",
            ],
            rows(),
            human={"initiative": _label},
            right={
                "declared_partners",
                "known_members",
                "missing_members",
                "sources",
                "sourced_records",
                "inferred_fields",
            },
            table_columns=[
                "initiative",
                "origin",
                "members_known",
                "sources",
                "sourced_records",
                "inferred_fields",
                "unknown_fields",
            ],
            draw=chart,
            footer=[_origins(conn, origin)],
        ),
        Section(
            "lookup",
            "What to look up next",
            ["initiative", "what", "detail"],
            [],
            human={"initiative": _label},
            later=fill_lookup,
        ),
    ]


def _lookup(
    conn: sqlite3.Connection,
    basics: str,
    gaps: Callable[[Row], tuple[list[str], int | None]],
) -> Iterator[Row]:
    """What to look up next: per initiative its missing members, unknown fields and inferred
    fields; then the sources to verify and the organisations' inferred fields."""
    from atmptrack.query import count_words

    guesses: dict[str, list[Row]] = {}
    for stored in shape.IN_INITIATIVE:
        # In the order of the data: records as listed, fields as each record gives them.
        owner = ", ".join(f"x.{c}" for c in stored.owner)
        joined = " AND ".join(
            f"r.{k} = x.{o}" for k, o in zip(stored.key, stored.owner, strict=True)
        )
        listed = "r.position, " if stored is not shape.INITIATIVE else ""
        for guess in stream(
            conn,
            f"SELECT {owner}, x.field, x.reason FROM {stored.inferences} x "
            f"JOIN {stored.table} r ON {joined} ORDER BY x.initiative_id, {listed}x.position",
        ):
            key = record_key(guess[c] for c in stored.owner)
            guesses.setdefault(guess["initiative_id"], []).append(
                {"what": f"{stored.entity} {key}: {guess['field']}", "reason": guess["reason"]}
            )
    for ini in stream(conn, f"SELECT {basics} FROM initiative i ORDER BY i.id"):
        ident, declared, qualifier = ini["id"], ini["declared_partners"], ini["declared_qualifier"]
        unknown, missing = gaps(ini)
        if missing:
            more = "at least " if qualifier in ("more-than", "at-least", "approximately") else ""
            yield {
                "initiative": ident,
                "what": "members",
                "detail": f"{more}{missing} of {count_words(declared, qualifier)} partners are not in the data",
            }
        for name in unknown:
            yield {
                "initiative": ident,
                "what": name,
                "detail": f"no source gives its {name.replace('_', ' ')}",
            }
        for guess in guesses.get(ident, []):
            yield {
                "initiative": ident,
                "what": guess["what"],
                "detail": f"inferred: {guess['reason']}",
            }
    for source in stream(
        conn,
        "SELECT id, url, verify FROM source WHERE verify IS NOT NULL ORDER BY file, line",
    ):
        yield {
            "initiative": None,
            "what": f"source {source['id']}: {source['url']}",
            "detail": f"to verify: {source['verify']}",
        }
    for guess in stream(
        conn,
        # In the order of the data files, as curators read them.
        "SELECT x.organisation_id, x.field, x.reason FROM organisation_inferred x "
        "JOIN organisation o ON o.id = x.organisation_id ORDER BY o.file, o.line, x.position",
    ):
        yield {
            "initiative": None,
            "what": f"organisation {guess['organisation_id']}: {guess['field']}",
            "detail": f"inferred: {guess['reason']}",
        }
