"""Everything known about one initiative or organisation, with the sources of each part."""

from __future__ import annotations

import difflib
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atmptrack import shape
from atmptrack.errors import UsageError
from atmptrack.query import count_words
from atmptrack.results import BarChart, Gantt
from atmptrack.store import fetch

if TYPE_CHECKING:
    from atmptrack.results import Chart

Record = dict[str, Any]


def resolve(conn: sqlite3.Connection, ident: str) -> tuple[str, str]:
    """('initiative' | 'organisation', id) for an id, acronym, short name or name."""
    wanted = ident.strip().lower()
    # Ids are lower-case ASCII (the schema says so): an id is found through its index.
    for kind in ("initiative", "organisation"):
        if fetch(conn, f"SELECT id FROM {kind} WHERE id = :i", i=wanted):
            return kind, wanted
    # Any name it goes by: `show "National Institute of Chemistry"` finds NIC too. Compared
    # in Python, which lowers all of Unicode as the ids above are lowered; SQL's lower() does not.
    candidates: set[tuple[str, str]] = set()
    for kind, sql in (
        ("initiative", "SELECT id, acronym AS short, name FROM initiative"),
        ("organisation", "SELECT id, short_name AS short, name FROM organisation"),
        (
            "organisation",
            "SELECT organisation_id AS id, name AS short, NULL AS name FROM organisation_other_name",
        ),
    ):
        for row in fetch(conn, sql):
            for label in (row["short"], row["name"]):
                if label and label.lower() == wanted:
                    candidates.add((kind, row["id"]))
    if len(candidates) == 1:
        return candidates.pop()
    if len(candidates) > 1:
        options = ", ".join(f"{row_id} ({kind})" for kind, row_id in sorted(candidates))
        raise UsageError(f"'{ident}' is ambiguous; give one of these ids: {options}")
    ids = [
        r["id"]
        for r in fetch(conn, "SELECT id FROM initiative UNION ALL SELECT id FROM organisation")
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
    prov = shape.Provenance(conn)
    record = (
        _initiative(conn, prov, row_id)
        if kind == "initiative"
        else _organisation(conn, prov, row_id)
    )
    charts = _initiative_views(conn, record) if kind == "initiative" else []
    _drop_empty_inferred(record)
    cited = sorted({s for part in _walk_sources(record) for s in part})
    record["source_list"] = _sources(conn, cited)
    return record, charts


def _sources(conn: sqlite3.Connection, ids: list[str]) -> list[Record]:
    """The sources with these ids, in this order: only those, never the whole table."""
    found: dict[str, Record] = {}
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        names = {f"s{n}": ident for n, ident in enumerate(batch)}
        found |= {
            r["id"]: r
            for r in fetch(
                conn,
                "SELECT id, title, publisher, url, published FROM source "
                f"WHERE id IN ({', '.join(':' + n for n in names)})",
                **names,
            )
        }
    return [found[s] for s in ids if s in found]


# Values bound in one IN list: well below SQLite's and PostgreSQL's limits on parameters.
_BATCH = 500


def _initiative_views(conn: sqlite3.Connection, record: Record) -> list[Chart]:
    """Its timeline, partners by country and helix, and funding, as the reports show them."""
    from atmptrack import report

    ident = record["id"]
    events = report.timeline(conn, initiatives=[ident])[0].ready()
    record["timeline"] = [{k: e[k] for k in ("date", "when", "kind", "place")} for e in events.rows]
    matrix = report.partners(conn, initiatives=[ident])[0].ready()
    record["partners_by_country_helix"] = list(matrix.rows)
    charts: list[Chart] = []
    gantt = events.chart
    if isinstance(gantt, Gantt):
        label = record["acronym"] or record["name"]  # as the timeline labels it
        gantt.title = f"{label} from start to end"
        if gantt.spans or gantt.markers:
            charts.append(gantt)
    if matrix.chart is not None and record["partners_by_country_helix"]:
        charts.append(matrix.chart)
    funding = report.funding(conn, initiatives=[ident])[0].ready()
    if isinstance(funding.chart, BarChart) and any(bar.value for bar in funding.chart.bars):
        funding.chart.title = "Funding"
        charts.append(funding.chart)
    return charts


def _drop_empty_inferred(value: Any) -> None:
    # People read "inferred" only where something is; an empty one is noise in every table.
    if isinstance(value, dict):
        if value.get("inferred") == {}:
            del value["inferred"]
        for item in value.values():
            _drop_empty_inferred(item)
    elif isinstance(value, list):
        for item in value:
            _drop_empty_inferred(item)


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


def _initiative(conn: sqlite3.Connection, prov: shape.Provenance, ini_id: str) -> Record:
    # Every stored field comes from the declared shape; what follows only adds words for people.
    base = shape.records(conn, shape.INITIATIVE, prov, where={"id": ini_id})[ini_id]
    title = " — ".join(p for p in (base["acronym"], base["name"]) if p)
    record: Record = {"type": "initiative", "id": ini_id, "title": title, **base}
    record["partner_counts"] = [
        {"declared": count_words(c["count"], c["qualifier"]), **c} for c in record["partner_counts"]
    ]
    for name, child in shape.INITIATIVE.children:
        found = shape.records(conn, child, prov, where={"initiative_id": ini_id}).values()
        record[name] = [_exact(_without(item, "initiative"), child) for item in found]
    organisations = {
        r["id"]: r
        for r in fetch(
            conn,
            "SELECT o.id, o.name, o.country, o.sector, o.helix FROM organisation o "
            "JOIN membership m ON m.organisation_id = o.id WHERE m.initiative_id = :i",
            i=ini_id,
        )
    }
    record["members"] = [
        {
            "organisation": m["organisation"],
            **{k: organisations.get(m["organisation"], {}).get(k) for k in _ORG_SHOWN},
            **m,
        }
        for m in record["members"]
    ]
    names = {person["id"]: person["name"] for person in _people(conn, ini_id)}
    for group in record["workgroups"]:
        group["coordinators"] = [names.get(p, p) for p in group["coordinators"]]
    for milestone in record["milestones"]:
        milestone["speakers"] = [names.get(p, p) for p in milestone["speakers"]]
    record["milestones"].sort(key=lambda m: _date_order(conn, ini_id, m["id"]))
    for entry in record["funding"]:
        entry["also_reported"] = [_exact(r, shape.REPORTED_AMOUNT) for r in entry["also_reported"]]
    record["relations"] = _relations(conn, prov, ini_id)
    return record


# What `show` tells of each member organisation besides its id.
_ORG_SHOWN = ("name", "country", "sector", "helix")


def _exact(record: Record, stored: shape.Shape) -> Record:
    """Amounts as Decimals, so that every format writes them as the numbers they are."""
    for name in stored.amounts:
        if record.get(name) is not None:
            record[name] = Decimal(record[name])
    return record


def _without(record: Record, *names: str) -> Record:
    return {k: v for k, v in record.items() if k not in names}


def _people(conn: sqlite3.Connection, ini_id: str) -> list[Record]:
    return fetch(conn, "SELECT id, name FROM person WHERE initiative_id = :i", i=ini_id)


def _date_order(conn: sqlite3.Connection, ini_id: str, milestone: str) -> tuple[str, int]:
    row = conn.execute(
        "SELECT coalesce(date_lo, '9999'), position FROM milestone "
        "WHERE initiative_id = :i AND id = :m",
        {"i": ini_id, "m": milestone},
    ).fetchone()
    return (str(row[0]), int(row[1]))


def _relations(conn: sqlite3.Connection, prov: shape.Provenance, ini_id: str) -> list[Record]:
    """Relations both ways: this initiative's own and those that name it."""
    relations = fetch(
        conn,
        """
        SELECT r.kind, r.target_id AS initiative, 'outgoing' AS direction, r.initiative_id AS owner,
          r.position
        FROM relation r WHERE r.initiative_id = :i
        UNION ALL
        SELECT r.kind, r.initiative_id AS initiative, 'incoming' AS direction, r.initiative_id AS owner,
          r.position
        FROM relation r WHERE r.target_id = :i
        ORDER BY direction DESC, owner, position""",
        i=ini_id,
    )
    return [
        prov.attach(
            {"kind": r["kind"], "initiative": r["initiative"], "direction": r["direction"]},
            shape.RELATION,
            (r["owner"], r["kind"], ini_id if r["direction"] == "incoming" else r["initiative"]),
        )
        for r in relations
    ]


def _organisation(conn: sqlite3.Connection, prov: shape.Provenance, org_id: str) -> Record:
    base = shape.records(conn, shape.ORGANISATION, prov, where={"id": org_id})[org_id]
    title = base["name"] + (f" ({base['short_name']})" if base["short_name"] else "")
    record: Record = {"type": "organisation", "id": org_id, "title": title, **base}
    stated = conn.execute(
        "SELECT helix_stated FROM organisation WHERE id = :o", {"o": org_id}
    ).fetchone()[0]
    record["helix_from"] = ("stated" if stated else "sector") if base["helix"] else None
    record["hosts"] = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM organisation WHERE parent_id = :o ORDER BY id", {"o": org_id}
        )
    ]
    memberships = fetch(
        conn,
        """
        SELECT m.initiative_id AS initiative, i.acronym, m.role, m.note
        FROM membership m JOIN initiative i ON i.id = m.initiative_id
        WHERE m.organisation_id = :o ORDER BY m.initiative_id""",
        o=org_id,
    )
    prov.read(shape.MEMBER, {"organisation_id": org_id})  # one query for all its memberships
    record["memberships"] = [
        prov.attach(m, shape.MEMBER, (m["initiative"], org_id)) for m in memberships
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
        prov.attach(x, shape.WORKGROUP, (x["initiative"], x["workgroup"])) for x in leads
    ]
    people = fetch(
        conn,
        """
        SELECT p.initiative_id AS initiative, p.id, p.name, p.role FROM person p
        WHERE p.organisation_id = :o ORDER BY p.initiative_id, p.position""",
        o=org_id,
    )
    record["people"] = [prov.attach(p, shape.PERSON, (p["initiative"], p["id"])) for p in people]
    return record
