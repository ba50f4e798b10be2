"""Reports: pure functions from the store to sections of rows, honest about what is unknown."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from atmptrack.errors import UsageError, did_you_mean
from atmptrack.expr import SEP_SQL
from atmptrack.query import Row, date_bound, initiative_labels, resolve_initiatives, show_amount
from atmptrack.results import (
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
from atmptrack.store import fetch
from atmptrack.vocab import combine

FUNDING_GROUPS = ("initiative", "programme", "funder", "country", "year")

_ENTRIES_SQL = f"""
SELECT i.id AS initiative, i.acronym, f.id AS funding, f.amount, f.currency, f.qualifier,
  f.funder, f.programme, f.instrument, f.start, f."end",
  (SELECT group_concat(v, {SEP_SQL}) FROM (
     SELECT r.qualifier || ' ' || r.amount || ' ' || f.currency || ' (' || (
       SELECT group_concat(source_id, ',') FROM (
         SELECT s.source_id FROM reported_amount_source s
         WHERE s.initiative_id = r.initiative_id AND s.funding_id = r.funding_id
           AND s.reported_position = r.position ORDER BY s.position) AS src) || ')' AS v
     FROM reported_amount r WHERE r.initiative_id = f.initiative_id AND r.funding_id = f.id
     ORDER BY r.position) AS agg) AS also_reported,
  (SELECT group_concat(v, {SEP_SQL}) FROM (
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
        hint = did_you_mean(by, FUNDING_GROUPS)
        raise UsageError(
            f"unknown grouping '{by}'{hint}; valid values: {', '.join(FUNDING_GROUPS)}"
        )
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
    label = _labeller(conn)

    def labels_of(row: Row) -> str:
        return ", ".join(label({"initiative": i}) for i in row["initiatives"])

    with_amount = {e["initiative"] for e in known}
    lacking = [e for e in entries if e["amount"] is None]
    # Unknown altogether, or known in part: an initiative with one entry of unknown size is
    # not "funding unknown" when other entries of its funding are known.
    unknown = sorted({label(e) for e in lacking if e["initiative"] not in with_amount})
    partly = sorted({label(e) for e in lacking if e["initiative"] in with_amount})
    totals = _totals(known, key=None)
    footer = [f"Funding unknown for: {', '.join(unknown)}"] if unknown else []
    if partly:
        footer.append(f"Funding partly unknown (an entry of unknown size) for: {', '.join(partly)}")
    total_section = Section(
        "totals",
        "Totals per currency",
        TOTAL_COLUMNS,
        totals,
        human={
            "total": lambda r: show_amount(r["total"], r["qualifier"]),
            "initiatives": labels_of,
        },
        right={"total", "entries"},
        footer=footer,
    )
    entry_section = Section(
        "entries",
        "Funding entries",
        ENTRY_COLUMNS,
        entries,
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
    )
    per_initiative = _totals(entries, key="initiative")
    acronyms = {e["initiative"]: label(e) for e in entries}
    entry_section.chart = _bars("Funding per initiative", per_initiative, "initiative", acronyms)
    if by is None:
        return [entry_section, total_section]
    if by == "year":
        grouped = _funding_by_year(entries)
        columns = ["year", *TOTAL_COLUMNS, "spread"]
    else:
        grouped = _totals([_labelled(e, by) for e in entries], key=by)
        columns = [by, *TOTAL_COLUMNS]
    group_section = Section(
        f"by_{by}",
        f"Funding by {by}"
        + (" (totals over several years spread evenly by month)" if by == "year" else ""),
        columns,
        grouped,
        human={
            "total": lambda r: (
                show_amount(r["total"], r["qualifier"]) + (" (spread)" if r.get("spread") else "")
            ),
            by: lambda r: str(r[by]) if r[by] is not None else "unknown",
            "initiatives": labels_of,
        },
        right={"total", "entries"},
        chart=_bars(f"Funding by {by}", grouped, by, {}),
    )
    if by == "country":
        shares = _member_shares(conn, {e["initiative"] for e in entries}, labels_of)
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
    for row in rows:
        members = [
            p for p in pieces if p["year"] == row["year"] and p["currency"] == row["currency"]
        ]
        row["spread"] = any(p["spread"] for p in members)
    return rows


# ---------------------------------------------------------------- helpers shared by the reports


# Whose quadruple-helix grouping a report counts: ours (from the sector) or the source's.
HELIX_FROM = ("sector", "source")
HELIXES = ("academia", "industry", "government", "civil-society")


def _members(conn: sqlite3.Connection, initiatives: list[str] | None) -> list[Row]:
    rows = fetch(
        conn,
        """SELECT m.initiative_id AS initiative, i.acronym, m.organisation_id AS organisation,
             o.name, o.country, o.helix, m.source_helix, m.role, o.parent_id AS parent
           FROM membership m JOIN organisation o ON o.id = m.organisation_id
           JOIN initiative i ON i.id = m.initiative_id ORDER BY m.initiative_id, m.position""",
    )
    if initiatives:
        wanted = set(resolve_initiatives(initiatives, conn))
        rows = [r for r in rows if r["initiative"] in wanted]
    return rows


def _labeller(conn: sqlite3.Connection) -> Callable[[Row], str]:
    """How people see an initiative in every table and chart: its acronym, else its name."""
    labels = initiative_labels(conn)
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
    """
    _label = _labeller(conn)
    if helix_from not in HELIX_FROM:
        hint = did_you_mean(helix_from, HELIX_FROM)
        raise UsageError(f"unknown helix grouping '{helix_from}'{hint}; valid: sector, source")
    column = "source_helix" if helix_from == "source" else "helix"

    members = _members(conn, initiatives)
    columns = [*HELIXES, "unknown"]
    # Our grouping belongs to the organisation; a source's belongs to each membership.
    counted = (
        members
        if helix_from == "source"
        else list({m["organisation"]: m for m in members}.values())
    )
    matrix: dict[str, dict[str, int]] = {}
    for org in counted:
        cells = matrix.setdefault(org["country"] or "unknown", dict.fromkeys(columns, 0))
        cells[org[column] or "unknown"] += 1
    matrix_rows: list[Row] = [
        {
            "country": country,
            **{c.replace("-", "_"): n for c, n in cells.items()},
            "total": sum(cells.values()),
        }
        for country, cells in sorted(
            matrix.items(), key=lambda kv: (kv[0] == "unknown", -sum(kv[1].values()), kv[0])
        )
    ]
    keys = [c.replace("-", "_") for c in columns]
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
    by_initiative: dict[str, list[Row]] = {}
    for m in members:
        by_initiative.setdefault(m["initiative"], []).append(m)
    balance_rows = []
    country_rows = []
    for ini, rows in by_initiative.items():
        counts = dict.fromkeys(keys, 0)
        for m in rows:
            counts[(m[column] or "unknown").replace("-", "_")] += 1
        total = len(rows)
        shares = {f"{k}_share": round(n / total, 3) for k, n in counts.items()}
        balance_rows.append(
            {"initiative": ini, "acronym": rows[0]["acronym"], **counts, "total": total, **shares}
        )
        per_country: dict[str, int] = {}
        for m in rows:
            per_country[m["country"] or "unknown"] = (
                per_country.get(m["country"] or "unknown", 0) + 1
            )
        for country, n in sorted(per_country.items(), key=lambda kv: (-kv[1], kv[0])):
            country_rows.append({"initiative": ini, "country": country, "partners": n})
    balance_section = Section(
        "balance",
        "Quadruple-helix balance of each initiative",
        ["initiative", *keys, "total", *(f"{k}_share" for k in keys)],
        balance_rows,
        right={*keys, "total", *(f"{k}_share" for k in keys)},
        human={"initiative": _label},
        table_columns=["initiative", *keys, "total"],
        chart=StackedChart(
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
        country_rows,
        human={"initiative": _label},
        right={"partners"},
    )
    return [matrix_section, balance_section, countries_section]


# ---------------------------------------------------------------- overlap


def _top(org: str, parents: dict[str, str | None]) -> str:
    seen = {org}
    while parents.get(org):
        org = str(parents[org])
        if org in seen:  # a cycle is refused at load; stop anyway
            break
        seen.add(org)
    return org


def overlap(conn: sqlite3.Connection, *, roll_up: bool = False) -> list[Section]:
    """Organisations in two or more initiatives with their roles, and shared partners per pair."""
    label = _labeller(conn)

    def labelled(ini: str) -> str:
        return label({"initiative": ini})

    members = _members(conn, None)
    names = {r["id"]: r["name"] for r in fetch(conn, "SELECT id, name FROM organisation")}
    parents = {
        r["id"]: r["parent_id"] for r in fetch(conn, "SELECT id, parent_id FROM organisation")
    }
    by_org: dict[str, list[Row]] = {}
    for m in members:
        key = _top(m["organisation"], parents) if roll_up else m["organisation"]
        by_org.setdefault(key, []).append(m)
    shared_rows = []
    for org, rows in sorted(by_org.items()):
        initiatives = sorted({r["initiative"] for r in rows})
        if len(initiatives) < 2:
            continue
        shared_rows.append(
            {
                "organisation": org,
                "name": names.get(org),
                "initiatives": initiatives,
                "roles": [
                    f"{r['initiative']}:{r['role']}"
                    for r in sorted(rows, key=lambda r: r["initiative"])
                ],
                "via": sorted({r["organisation"] for r in rows} - {org}),
                "count": len(initiatives),
            }
        )
    ids = sorted({m["initiative"] for m in members})
    sets = {
        ini: {k for k, rows in by_org.items() if any(r["initiative"] == ini for r in rows)}
        for ini in ids
    }
    matrix_rows: list[Row] = [
        {"initiative": a, **{b: len(sets[a] & sets[b]) for b in ids}} for a in ids
    ]
    title = "Organisations in two or more initiatives" + (
        " (hosted bodies counted with their parent)" if roll_up else ""
    )
    return [
        Section(
            "shared",
            title,
            ["organisation", "name", "initiatives", "roles", "via", "count"],
            shared_rows,
            human={
                "initiatives": lambda r: ", ".join(labelled(i) for i in r["initiatives"]),
                "roles": lambda r: ", ".join(
                    f"{labelled(i)}: {role}" for i, role in (x.split(":", 1) for x in r["roles"])
                ),
            },
            right={"count"},
        ),
        Section(
            "matrix",
            "Shared partners between initiatives (the diagonal: partners of each)",
            ["initiative", *ids],
            matrix_rows,
            human={"initiative": label},
            right=set(ids),
            chart=Heatmap(
                "Shared partners between initiatives",
                series=[labelled(i) for i in ids],
                rows=[Values(label(r), [float(r[b]) for b in ids]) for r in matrix_rows],
            ),
        ),
    ]


# ---------------------------------------------------------------- timeline


def timeline(
    conn: sqlite3.Connection,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    upcoming: bool = False,
    today: date | None = None,
) -> list[Section]:
    """Every milestone and every initiative's start and end, in date order, as precisely as known."""
    _label = _labeller(conn)
    from atmptrack.dates import PartialDate

    events = fetch(
        conn,
        """SELECT ms.initiative_id AS initiative, i.acronym, ms.kind, ms.date, ms.end_date,
             ms.date_qualifier, ms.precision, ms.place, ms.note, ms.date_lo AS lo,
             coalesce(ms.end_hi, ms.date_hi) AS hi
           FROM milestone ms JOIN initiative i ON i.id = ms.initiative_id
           UNION ALL
           SELECT id, acronym, 'start', start, NULL, 'exact', NULL, NULL, NULL, start_lo, start_hi
           FROM initiative WHERE start IS NOT NULL
           UNION ALL
           SELECT id, acronym, 'end', "end", NULL, 'exact', NULL, NULL, NULL, end_lo, end_hi
           FROM initiative WHERE "end" IS NOT NULL""",
    )
    today = today or date.today()
    low = date_bound(date_from, "--from", low=True) if date_from else None
    high = date_bound(date_to, "--to", low=False) if date_to else None
    if upcoming:
        low = max(low or today.isoformat(), today.isoformat())
    kept = []
    for e in events:
        if (low or high or upcoming) and e["lo"] is None:
            continue  # a date whose year is unknown cannot be placed against a bound
        if low and e["hi"] < low:
            continue
        if high and e["lo"] > high:
            continue
        when = PartialDate.parse(e["date"])
        e["when"] = (
            ("≈ " if e["date_qualifier"] == "approximately" else "")
            + when.describe()
            + (f" to {PartialDate.parse(e['end_date']).describe()}" if e["end_date"] else "")
        )
        e["precision"] = e["precision"] or when.precision
        kept.append(e)
    kept.sort(key=lambda e: (e["lo"] is None, e["lo"] or "", e["initiative"]))
    rows = [
        {
            k: e[k]
            for k in ("date", "when", "kind", "initiative", "acronym", "place", "precision", "note")
        }
        for e in kept
    ]
    spans = fetch(
        conn,
        """SELECT i.id, i.acronym, i.start_lo, i.end_hi,
             min(ms.date_hi) AS started_by, max(ms.date_lo) AS running_on
           FROM initiative i LEFT JOIN milestone ms ON ms.initiative_id = i.id
           GROUP BY i.id ORDER BY coalesce(i.start_lo, min(ms.date_lo), i.end_hi, '9999'), i.id""",
    )
    dated = {e["initiative"] for e in kept if e["lo"]}
    chart = Gantt(
        "Initiatives from start to end, with milestones",
        spans=[
            Span(
                _label({"initiative": s["id"]}),
                _day(s["start_lo"]),
                _day(s["end_hi"]),
                # What is certain: started by the latest day its first milestone can mean,
                # and running on the earliest day its last one can.
                started_by=None if s["start_lo"] else _day(s["started_by"]),
                running_on=None if s["end_hi"] else _day(s["running_on"]),
            )
            for s in spans
            if s["start_lo"] or s["end_hi"] or s["id"] in dated
        ],
        markers=[
            Marker(
                _label(e),
                _day(e["lo"]),  # type: ignore[arg-type]  # the filter below keeps dated events
                e["kind"],
                e["precision"] != "day" or e["date_qualifier"] == "approximately",
            )
            for e in kept
            if e["lo"] and e["kind"] not in ("start", "end")
        ],
        today=today,
    )
    return [
        Section(
            "events",
            "Timeline",
            ["date", "when", "kind", "initiative", "place", "precision", "note"],
            rows,
            human={"initiative": _label},
            table_columns=["when", "kind", "initiative", "place", "note"],
            chart=chart,
        )
    ]


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# ---------------------------------------------------------------- coverage


# The pages `import cordis` cites: an initiative citing nothing else came from CORDIS.
CORDIS_PAGES = "https://cordis.europa.eu/"


def _origins(rows: list[Row]) -> str:
    imported = sum(1 for r in rows if r["origin"] == "cordis")
    return f"From CORDIS: {imported}; curated: {len(rows) - imported}"


# Facts a source could state; summaries and aims are our own words, so not counted.
_CORE_FIELDS = ("acronym", "start", "end", "website")


def coverage(conn: sqlite3.Connection) -> list[Section]:
    """How complete the data is: counts declared against known, sourced against inferred, gaps."""
    _label = _labeller(conn)
    from atmptrack.query import count_words

    initiatives = fetch(conn, "SELECT * FROM initiative ORDER BY id")
    members = _members(conn, None)
    citations = fetch(conn, "SELECT entity, key, source_id FROM citation")
    inferred = fetch(conn, "SELECT entity, key, field, reason FROM inferred")
    funded = {
        r["initiative_id"]
        for r in fetch(conn, "SELECT DISTINCT initiative_id FROM funding WHERE amount IS NOT NULL")
    }
    # From CORDIS: every source the initiative cites is a CORDIS page, as `import cordis`
    # writes them; anything else is curated.
    from_cordis = {
        r["key"]
        for r in fetch(
            conn,
            """SELECT c.key FROM citation c JOIN source s ON s.id = c.source_id
               WHERE c.entity = 'initiative' GROUP BY c.key
               HAVING min(CASE WHEN substr(s.url, 1, length(:pages)) = :pages THEN 1 ELSE 0 END) = 1""",
            pages=CORDIS_PAGES,
        )
    }

    def belongs(key: str, entity: str, ini: str) -> bool:
        return key == ini if entity == "initiative" else key.startswith(f"{ini}/")

    rows = []
    lookup: list[Row] = []
    for ini in initiatives:
        ident = ini["id"]
        known = sum(1 for m in members if m["initiative"] == ident)
        declared = ini["declared_partners"]
        qualifier = ini["declared_qualifier"]
        mine = [c for c in citations if belongs(c["key"], c["entity"], ident)]
        guesses = [g for g in inferred if belongs(g["key"], g["entity"], ident)]
        unknown = [f for f in _CORE_FIELDS if ini[f] is None]
        if ident not in funded:
            unknown.append("funding")
        if declared is None:
            unknown.append("declared_partners")
        missing = None if declared is None else max(declared - known, 0)
        rows.append(
            {
                "initiative": ident,
                "acronym": ini["acronym"],
                "origin": "cordis" if ident in from_cordis else "curated",
                "declared_partners": declared,
                "declared_qualifier": qualifier,
                "known_members": known,
                "members_known": f"{known} of {count_words(declared, qualifier)}"
                if declared is not None
                else f"{known} of unknown",
                "missing_members": missing,
                "sources": len({c["source_id"] for c in mine}),
                "sourced_records": len({(c["entity"], c["key"]) for c in mine}),
                "inferred_fields": len(guesses),
                "unknown_fields": unknown,
            }
        )
        if missing:
            more = "at least " if qualifier in ("more-than", "at-least", "approximately") else ""
            lookup.append(
                {
                    "initiative": ident,
                    "what": "members",
                    "detail": f"{more}{missing} of {count_words(declared, qualifier)} partners are not in the data",
                }
            )
        for name in unknown:
            lookup.append(
                {
                    "initiative": ident,
                    "what": name,
                    "detail": f"no source gives its {name.replace('_', ' ')}",
                }
            )
        for guess in guesses:
            lookup.append(
                {
                    "initiative": ident,
                    "what": f"{guess['entity']} {guess['key']}: {guess['field']}",
                    "detail": f"inferred: {guess['reason']}",
                }
            )
    for source in fetch(conn, "SELECT id, url, verify FROM source WHERE verify IS NOT NULL"):
        lookup.append(
            {
                "initiative": None,
                "what": f"source {source['id']}: {source['url']}",
                "detail": f"to verify: {source['verify']}",
            }
        )
    for guess in inferred:
        if guess["entity"] == "organisation":
            lookup.append(
                {
                    "initiative": None,
                    "what": f"organisation {guess['key']}: {guess['field']}",
                    "detail": f"inferred: {guess['reason']}",
                }
            )
    chart = StackedChart(
        "Members in the data against the declared count",
        series=["known", "missing"],
        rows=[
            Values(_label(r), [float(r["known_members"]), float(r["missing_members"] or 0)])
            for r in rows
            if r["declared_partners"] is not None
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
            rows,
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
            chart=chart,
            footer=[_origins(rows)],
        ),
        Section(
            "lookup",
            "What to look up next",
            ["initiative", "what", "detail"],
            lookup,
            human={"initiative": _label},
        ),
    ]
