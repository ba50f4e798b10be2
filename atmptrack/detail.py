"""Everything known about one initiative or organisation, with the sources of each part."""

from __future__ import annotations

import difflib
import json
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atmptrack.errors import UsageError
from atmptrack.query import count_words
from atmptrack.store import fetch

if TYPE_CHECKING:
    from atmptrack.render import Chart

Record = dict[str, Any]


class _Provenance:
    """Citations and inferred fields, fetched once and handed out per record."""

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
        inferred = self.inferred.get((entity, key))
        if inferred:
            record["inferred"] = inferred
        return record


def resolve(conn: sqlite3.Connection, ident: str) -> tuple[str, str]:
    """('initiative' | 'organisation', id) for an id, acronym, short name or name."""
    wanted = ident.strip().lower()
    candidates: list[tuple[str, str, str]] = []  # kind, id, matched label
    for kind, sql in (
        ("initiative", "SELECT id, acronym, name FROM initiative"),
        ("organisation", "SELECT id, short_name, name FROM organisation"),
    ):
        for row_id, short, name in conn.execute(sql):
            if row_id.lower() == wanted:
                return kind, row_id
            for label in (short, name):
                if label and label.lower() == wanted:
                    candidates.append((kind, row_id, label))
    unique = {(kind, row_id) for kind, row_id, _ in candidates}
    if len(unique) == 1:
        return unique.pop()
    if len(unique) > 1:
        options = ", ".join(f"{row_id} ({kind})" for kind, row_id in sorted(unique))
        raise UsageError(f"'{ident}' is ambiguous; give one of these ids: {options}")
    ids = [
        r[0]
        for r in conn.execute("SELECT id FROM initiative UNION ALL SELECT id FROM organisation")
    ]
    close = difflib.get_close_matches(wanted, ids, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(
        f"no initiative or organisation '{ident}'{hint} "
        "(`atmptrack list initiatives` and `atmptrack list partners` show the ids)"
    )


def describe(conn: sqlite3.Connection, ident: str) -> tuple[Record, list[Chart]]:
    """The record, and for an initiative the charts of its timeline, partners and funding."""
    kind, row_id = resolve(conn, ident)
    prov = _Provenance(conn)
    sources = {
        r["id"]: r for r in fetch(conn, "SELECT id, title, publisher, url, published FROM source")
    }
    record = (
        _initiative(conn, prov, row_id)
        if kind == "initiative"
        else _organisation(conn, prov, row_id)
    )
    charts = _initiative_views(conn, record) if kind == "initiative" else []
    cited = sorted({s for part in _walk_sources(record) for s in part})
    record["source_list"] = [sources[s] for s in cited if s in sources]
    return record, charts


def _initiative_views(conn: sqlite3.Connection, record: Record) -> list[Chart]:
    """Its timeline, partners by country and helix, and funding, as the reports show them."""
    from atmptrack import report

    ident = record["id"]
    events = report.timeline(conn)[0]
    mine = [e for e in events.rows if e["initiative"] == ident]
    record["timeline"] = [{k: e[k] for k in ("date", "when", "kind", "place")} for e in mine]
    matrix = report.partners(conn, initiatives=[ident])[0]
    record["partners_by_country_helix"] = list(matrix.rows)
    charts: list[Chart] = []
    gantt = events.chart
    if gantt is not None:
        label = record["acronym"] or ident
        gantt.spans = [s for s in gantt.spans if s[0] == label]
        gantt.markers = [m for m in gantt.markers if m[0] == label]
        gantt.title = f"{label} from start to end"
        if gantt.spans or gantt.markers:
            charts.append(gantt)
    if matrix.chart is not None and matrix.rows:
        charts.append(matrix.chart)
    funding = report.funding(conn, initiatives=[ident])[0]
    if funding.chart is not None and any(value for _, value, _, _ in funding.chart.bars):
        funding.chart.title = "Funding"
        charts.append(funding.chart)
    return charts


def _walk_sources(value: Any) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "sources" and isinstance(item, list):
                found.append([str(s) for s in item])
            else:
                found.extend(_walk_sources(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk_sources(item))
    return found


def _initiative(conn: sqlite3.Connection, prov: _Provenance, ini_id: str) -> Record:
    base = fetch(conn, "SELECT * FROM initiative WHERE id = :i", i=ini_id)[0]
    record: Record = {
        "type": "initiative",
        "id": base["id"],
        "title": " — ".join(p for p in (base["acronym"], base["name"]) if p),
        "acronym": base["acronym"],
        "name": base["name"],
        "kind": base["kind"],
        "summary": base["summary"],
        "aims": json.loads(base["aims"]) if base["aims"] else [],
        "therapy_areas": base["therapy_areas"].split(",") if base["therapy_areas"] else [],
        "status": base["status"],
        "start": base["start"],
        "end": base["end"],
        "website": base["website"],
        "cordis_id": base["cordis_id"],
        "note": base["note"],
    }
    prov.attach(record, "initiative", ini_id)
    counts = fetch(
        conn,
        "SELECT position, count, qualifier, as_of, countries, note FROM partner_count "
        "WHERE initiative_id = :i ORDER BY position",
        i=ini_id,
    )
    record["partner_counts"] = [
        prov.attach(
            {
                "declared": count_words(c["count"], c["qualifier"]),
                "count": c["count"],
                "qualifier": c["qualifier"],
                "as_of": c["as_of"],
                "countries": c["countries"],
                "note": c["note"],
            },
            "partner_count",
            f"{ini_id}/{c['position']}",
        )
        for c in counts
    ]
    members = fetch(
        conn,
        """
        SELECT m.organisation_id AS organisation, o.name, o.country, o.sector, o.helix, m.role, m.note
        FROM membership m JOIN organisation o ON o.id = m.organisation_id
        WHERE m.initiative_id = :i ORDER BY m.position""",
        i=ini_id,
    )
    record["members"] = [prov.attach(m, "member", f"{ini_id}/{m['organisation']}") for m in members]
    groups = fetch(
        conn,
        """
        SELECT w.id, w.kind, w.number, w.name, w.goal,
          (SELECT group_concat(organisation_id, ',') FROM workgroup_lead l
           WHERE l.initiative_id = w.initiative_id AND l.workgroup_id = w.id) AS leads,
          (SELECT group_concat(p.name, ', ') FROM workgroup_coordinator c JOIN person p
           ON p.initiative_id = c.initiative_id AND p.id = c.person_id
           WHERE c.initiative_id = w.initiative_id AND c.workgroup_id = w.id) AS coordinators
        FROM workgroup w WHERE w.initiative_id = :i ORDER BY w.position""",
        i=ini_id,
    )
    record["workgroups"] = [prov.attach(g, "workgroup", f"{ini_id}/{g['id']}") for g in groups]
    milestones = fetch(
        conn,
        """
        SELECT ms.id, ms.kind, ms.date, ms.end_date, ms.date_qualifier, ms.place,
          (SELECT group_concat(p.name, ', ') FROM milestone_speaker s JOIN person p
           ON p.initiative_id = s.initiative_id AND p.id = s.person_id
           WHERE s.initiative_id = ms.initiative_id AND s.milestone_id = ms.id) AS speakers,
          ms.note
        FROM milestone ms WHERE ms.initiative_id = :i
        ORDER BY coalesce(ms.date_lo, '9999'), ms.position""",
        i=ini_id,
    )
    record["milestones"] = [prov.attach(m, "milestone", f"{ini_id}/{m['id']}") for m in milestones]
    people = fetch(
        conn,
        """
        SELECT p.id, p.name, p.role, p.organisation_id AS organisation FROM person p
        WHERE p.initiative_id = :i ORDER BY p.position""",
        i=ini_id,
    )
    record["people"] = [prov.attach(p, "person", f"{ini_id}/{p['id']}") for p in people]
    funding = fetch(
        conn,
        """
        SELECT f.id, f.amount, f.currency, f.qualifier, f.funder, f.programme, f.instrument,
          f.start, f."end", f.note FROM funding f WHERE f.initiative_id = :i ORDER BY f.position""",
        i=ini_id,
    )
    for entry in funding:
        entry["amount"] = Decimal(entry["amount"]) if entry["amount"] is not None else None
        entry["also_reported"] = [
            {
                "amount": Decimal(r["amount"]),
                "qualifier": r["qualifier"],
                "note": r["note"],
                "sources": r["sources"].split(","),
            }
            for r in fetch(
                conn,
                "SELECT amount, qualifier, note, sources FROM reported_amount "
                "WHERE initiative_id = :i AND funding_id = :f ORDER BY position",
                i=ini_id,
                f=entry["id"],
            )
        ]
        prov.attach(entry, "funding", f"{ini_id}/{entry['id']}")
    record["funding"] = funding
    relations = fetch(
        conn,
        """
        SELECT r.kind, r.target_id AS initiative, 'outgoing' AS direction, r.initiative_id AS owner
        FROM relation r WHERE r.initiative_id = :i
        UNION ALL
        SELECT r.kind, r.initiative_id AS initiative, 'incoming' AS direction, r.initiative_id AS owner
        FROM relation r WHERE r.target_id = :i""",
        i=ini_id,
    )
    record["relations"] = [
        prov.attach(
            {"kind": r["kind"], "initiative": r["initiative"], "direction": r["direction"]},
            "relation",
            f"{r['owner']}/{r['kind']}/{ini_id if r['direction'] == 'incoming' else r['initiative']}",
        )
        for r in relations
    ]
    return record


def _organisation(conn: sqlite3.Connection, prov: _Provenance, org_id: str) -> Record:
    base = fetch(conn, "SELECT * FROM organisation WHERE id = :o", o=org_id)[0]
    record: Record = {
        "type": "organisation",
        "id": base["id"],
        "title": base["name"] + (f" ({base['short_name']})" if base["short_name"] else ""),
        "name": base["name"],
        "short_name": base["short_name"],
        "other_names": json.loads(base["other_names"]) if base["other_names"] else [],
        "country": base["country"],
        "sector": base["sector"],
        "helix": base["helix"],
        "helix_from": ("stated" if base["helix_stated"] else "sector") if base["helix"] else None,
        "helix_reason": base["helix_reason"],
        "city": base["city"],
        "website": base["website"],
        "parent": base["parent_id"],
        "hosts": [
            r[0]
            for r in conn.execute(
                "SELECT id FROM organisation WHERE parent_id = :o ORDER BY id", {"o": org_id}
            )
        ],
        "pic": base["pic"],
        "ror": base["ror"],
        "note": base["note"],
    }
    prov.attach(record, "organisation", org_id)
    memberships = fetch(
        conn,
        """
        SELECT m.initiative_id AS initiative, i.acronym, m.role, m.note
        FROM membership m JOIN initiative i ON i.id = m.initiative_id
        WHERE m.organisation_id = :o ORDER BY m.initiative_id""",
        o=org_id,
    )
    record["memberships"] = [
        prov.attach(m, "member", f"{m['initiative']}/{org_id}") for m in memberships
    ]
    leads = fetch(
        conn,
        """
        SELECT l.initiative_id AS initiative, w.id AS workgroup, w.name
        FROM workgroup_lead l JOIN workgroup w ON w.initiative_id = l.initiative_id AND w.id = l.workgroup_id
        WHERE l.organisation_id = :o ORDER BY l.initiative_id, w.position""",
        o=org_id,
    )
    record["leads"] = [
        prov.attach(x, "workgroup", f"{x['initiative']}/{x['workgroup']}") for x in leads
    ]
    people = fetch(
        conn,
        """
        SELECT p.initiative_id AS initiative, p.id, p.name, p.role FROM person p
        WHERE p.organisation_id = :o ORDER BY p.initiative_id, p.position""",
        o=org_id,
    )
    record["people"] = [prov.attach(p, "person", f"{p['initiative']}/{p['id']}") for p in people]
    return record
