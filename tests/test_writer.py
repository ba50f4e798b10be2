"""The write side on small inline datasets: rows built from the declared shapes, and writes that
refuse what a store must never hold."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel

from atmptrack import datadir, shape, tables, writer
from atmptrack.dataset import read_dataset
from atmptrack.errors import StoreError

from conftest import table_dump

DATA = """\
sources:
  - {id: s1, title: One, url: "https://example.org/one", published: 2024-05}
  - {id: s2, title: Two, url: "https://example.org/two"}
organisations:
  - id: lab
    name: Lab
    other_names: [The Lab, Laboratory]
    country: PT
    sector: university
    sources: [s1]
    inferred: {country: the city is in Portugal}
  - {id: spinout, name: Spinout, country: SI, sector: company, parent: lab, sources: [s2]}
initiatives:
  - id: net
    acronym: NET
    name: The Network
    kind: network
    aims: [one aim, another aim]
    therapy_areas: [gene, cell]
    start: 2024-03
    ids: {cordis: "101137206"}
    sources: [s1]
    inferred: {start: the month of the kick-off, kind: its name says network}
    partner_counts:
      - {count: 40, qualifier: more-than, sources: [s2], inferred: {qualifier: "'over 40'"}}
    members:
      - {organisation: lab, role: coordinator, ec_contribution: "1250000.50", sources: [s1, s2], inferred: {role: hosts the office}}
      - {organisation: spinout, role: partner, sources: [s2]}
    people:
      - {id: ana, name: Ana, organisation: lab, sources: [s1], inferred: {organisation: her e-mail}}
    workgroups:
      - {id: wp1, kind: work-package, number: 1, name: Data, leads: [lab, spinout], coordinators: [ana], sources: [s1], inferred: {number: the order listed}}
    milestones:
      - {id: kick-off, kind: kick-off, date: 2024-03-05, speakers: [ana], sources: [s2, s1], inferred: {date: the news date}}
    funding:
      - id: grant
        amount: "3000000"
        currency: EUR
        start: 2024
        sources: [s1]
        inferred: {start: the call year}
        also_reported:
          - {amount: "3000000", qualifier: approximately, sources: [s1, s2]}
    relations:
      - {kind: grew-out-of, initiative: seed, sources: [s2], inferred: {kind: the seed came first}}
  - {id: seed, name: The Seed Project, kind: project, sources: [s2]}
"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    (root / "all.yaml").write_text(DATA, encoding="utf-8")
    return root


def dict_rows(data: Path) -> dict[str, list[dict[str, Any]]]:
    """The rows build_rows makes, each as a dict of its columns (it makes tuples)."""
    rows = writer.build_rows(read_dataset(data))
    return {
        name: [dict(zip(writer.columns(name), row, strict=True)) for row in table]
        for name, table in rows.items()
    }


def test_every_table_gets_rows_with_exactly_its_columns(data: Path) -> None:
    rows = dict_rows(data)
    for table in tables.TABLES:
        name = str(table.__tablename__)
        columns = {c.name for c in SQLModel.metadata.tables[name].columns}
        if name != "meta":
            assert rows[name], f"no rows for {name}: a shape or link is not declared"
        for row in rows[name]:
            assert set(row) == columns, name


def test_rows_carry_values_bounds_lists_links_and_provenance_keys(data: Path) -> None:
    rows = dict_rows(data)
    net = next(r for r in rows["initiative"] if r["id"] == "net")
    assert (net["cordis_id"], net["start"], net["start_lo"], net["start_hi"]) == (
        "101137206",
        "2024-03",
        "2024-03-01",
        "2024-03-31",
    )
    assert (net["declared_partners"], net["declared_qualifier"]) == (40, "more-than")
    # Every list is a table of its own, one row per item, in order.
    assert [(r["position"], r["aim"]) for r in rows["initiative_aim"]] == [
        (0, "one aim"),
        (1, "another aim"),
    ]
    assert [r["therapy_area"] for r in rows["initiative_therapy_area"]] == ["gene", "cell"]
    assert [r["name"] for r in rows["organisation_other_name"]] == ["The Lab", "Laboratory"]
    assert {
        (r["workgroup_id"], r["organisation_id"], r["position"]) for r in rows["workgroup_lead"]
    } == {
        ("wp1", "lab", 0),
        ("wp1", "spinout", 1),
    }
    assert [r["person_id"] for r in rows["milestone_speaker"]] == ["ana"]
    (reported,) = rows["reported_amount"]
    assert reported["funding_id"] == "grant"
    assert [
        (r["funding_id"], r["reported_position"], r["source_id"])
        for r in rows["reported_amount_source"]
    ] == [("grant", 0, "s1"), ("grant", 0, "s2")]
    spinout = next(r for r in rows["organisation"] if r["id"] == "spinout")
    assert (spinout["parent_id"], spinout["helix"], spinout["helix_stated"]) == (
        "lab",
        "industry",
        False,
    )
    # Citations and inferred fields are keyed by each record's own key columns.
    assert rows["membership_citation"] == [
        {"initiative_id": "net", "organisation_id": "lab", "source_id": "s1", "position": 0},
        {"initiative_id": "net", "organisation_id": "lab", "source_id": "s2", "position": 1},
        {"initiative_id": "net", "organisation_id": "spinout", "source_id": "s2", "position": 0},
    ]
    assert rows["partner_count_citation"] == [
        {"initiative_id": "net", "partner_count_position": 0, "source_id": "s2", "position": 0}
    ]
    assert rows["milestone_citation"] == [
        {"initiative_id": "net", "milestone_id": "kick-off", "source_id": "s2", "position": 0},
        {"initiative_id": "net", "milestone_id": "kick-off", "source_id": "s1", "position": 1},
    ]
    assert rows["organisation_citation"] == [
        {"organisation_id": "lab", "source_id": "s1", "position": 0},
        {"organisation_id": "spinout", "source_id": "s2", "position": 0},
    ]
    assert rows["relation_citation"] == [
        {
            "initiative_id": "net",
            "kind": "grew-out-of",
            "target_id": "seed",
            "source_id": "s2",
            "position": 0,
        }
    ]
    assert [(r["organisation_id"], r["field"]) for r in rows["organisation_inferred"]] == [
        ("lab", "country")
    ]
    assert [(r["field"], r["position"]) for r in rows["initiative_inferred"]] == [
        ("start", 0),
        ("kind", 1),
    ]
    assert [(r["initiative_id"], r["person_id"], r["field"]) for r in rows["person_inferred"]] == [
        ("net", "ana", "organisation")
    ]
    assert [
        (r["initiative_id"], r["kind"], r["target_id"], r["field"])
        for r in rows["relation_inferred"]
    ] == [("net", "grew-out-of", "seed", "kind")]
    # Every record kind that carries sources has its two tables, and nothing else does.
    assert {s.citations for s in shape.CITED} == {
        name for name in rows if name.endswith("_citation")
    }
    assert "source_citation" not in rows and "reported_amount_citation" not in rows


def test_rows_read_back_through_the_shapes_give_the_records_again(
    data: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite"
    assert writer.load(data, store, fingerprint=datadir.fingerprint(data), force=True).loaded
    conn = sqlite3.connect(store)
    provenance = shape.Provenance(conn)
    members = shape.records(conn, shape.MEMBER, provenance)
    assert members["net/lab"] == {
        "initiative": "net",
        "organisation": "lab",
        "role": "coordinator",
        "ec_contribution": "1250000.50",
        "net_ec_contribution": None,
        "source_helix": None,
        "order": None,
        "note": None,
        "sources": ["s1", "s2"],
        "inferred": {"role": "hosts the office"},
    }
    initiative = shape.records(conn, shape.INITIATIVE, provenance)["net"]
    assert initiative["aims"] == ["one aim", "another aim"]
    assert initiative["therapy_areas"] == ["gene", "cell"]
    assert initiative["partner_counts"][0]["count"] == 40
    assert "start_lo" not in initiative and "declared_partners" not in initiative
    (group,) = shape.records(conn, shape.WORKGROUP, provenance).values()
    assert (group["leads"], group["coordinators"]) == (["lab", "spinout"], ["ana"])
    (funding,) = shape.records(conn, shape.FUNDING, provenance).values()
    assert funding["also_reported"][0]["sources"] == ["s1", "s2"]
    conn.close()


# Sorted: a table's constraints are a set, whose order changes from process to process.
FOREIGN_KEYS = sorted(
    (str(table.name), tuple(str(c) for c in fk.column_keys), fk.referred_table.name)
    for table in SQLModel.metadata.sorted_tables
    for fk in table.foreign_key_constraints
)


def test_every_reference_is_a_declared_foreign_key() -> None:
    declared = {(table, cols[-1], target) for table, cols, target in FOREIGN_KEYS}
    for expected in [
        ("membership", "organisation_id", "organisation"),
        ("workgroup_lead", "workgroup_id", "workgroup"),
        ("workgroup_lead", "organisation_id", "organisation"),
        ("workgroup_coordinator", "person_id", "person"),
        ("milestone_speaker", "person_id", "person"),
        ("milestone_speaker", "milestone_id", "milestone"),
        ("reported_amount", "funding_id", "funding"),
        ("organisation", "parent_id", "organisation"),
        ("relation", "target_id", "initiative"),
        ("membership_citation", "source_id", "source"),
        ("membership_citation", "organisation_id", "membership"),
        ("relation_inferred", "target_id", "relation"),
        ("partner_count_citation", "partner_count_position", "partner_count"),
        ("organisation_inferred", "organisation_id", "organisation"),
        ("reported_amount_source", "source_id", "source"),
        ("initiative_therapy_area", "initiative_id", "initiative"),
        ("organisation_other_name", "organisation_id", "organisation"),
    ]:
        assert expected in declared, expected


@pytest.mark.parametrize(("table", "columns", "target"), FOREIGN_KEYS, ids=str)
def test_atmptracks_own_writes_enforce_every_foreign_key(
    data: Path, tmp_path: Path, table: str, columns: tuple[str, ...], target: str
) -> None:
    store = tmp_path / "store.sqlite"
    fingerprint = datadir.fingerprint(data)
    writer.load(data, store, fingerprint=fingerprint, force=True)
    before = table_dump(store)
    rows = writer.build_rows(read_dataset(data))
    names = writer.columns(table)
    index = next(
        i for i, r in enumerate(rows[table]) if all(r[names.index(c)] is not None for c in columns)
    )
    row = list(rows[table][index])
    row[names.index(columns[-1])] = "no-such-record"  # the last column names the record referred to
    rows[table][index] = tuple(row)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        writer.write_rows(store, rows, data_dir=data, fingerprint=fingerprint, force=True)
    assert table_dump(store) == before


def test_a_load_never_commits_data_older_than_the_files(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    old_fingerprint = datadir.fingerprint(data)
    old_rows = writer.build_rows(read_dataset(data))  # read, then held up (a stopped process)
    yaml_file = data / "all.yaml"
    yaml_file.write_text(DATA.replace("name: The Network", "name: The Newer Network"))
    new_fingerprint = datadir.fingerprint(data)
    writer.load(data, store, fingerprint=new_fingerprint, force=False)  # another process
    newer = table_dump(store)
    outcome = writer.write_rows(
        store, old_rows, data_dir=data, fingerprint=old_fingerprint, force=False
    )
    assert outcome == "current"
    assert table_dump(store) == newer
    # The files changed again and nobody loaded them: the old rows are stale, not written.
    yaml_file.write_text(DATA.replace("name: The Network", "name: The Newest Network"))
    outcome = writer.write_rows(
        store, old_rows, data_dir=data, fingerprint=old_fingerprint, force=False
    )
    assert outcome == "stale" and table_dump(store) == newer
    # A load reads again until what it commits matches the files.
    result = writer.load(data, store, fingerprint=old_fingerprint, force=False)
    assert result.loaded
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT name FROM initiative WHERE id = 'net'").fetchone() == (
        "The Newest Network",
    )
    conn.close()


def test_a_rewrite_keeping_size_and_mtime_changes_the_fingerprint(data: Path) -> None:
    import os

    path = data / "all.yaml"
    before = datadir.fingerprint(data)
    info = path.stat()
    path.write_text(DATA.replace("One", "Eno"), encoding="utf-8")  # same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # as `cp -p` leaves it
    assert path.stat().st_size == info.st_size and path.stat().st_mtime_ns == info.st_mtime_ns
    assert datadir.fingerprint(data) != before


def test_an_organisation_listed_before_its_parent_keeps_its_parent(
    data: Path, tmp_path: Path
) -> None:
    # The spinout comes first, and its parent's parent after both: each is set once all are in.
    text = DATA.replace(
        "  - id: lab\n",
        "  - {id: spinout-2, name: Spinout 2, sector: company, parent: lab, sources: [s2]}\n"
        "  - id: lab\n    parent: uni\n",
    ).replace(
        "initiatives:\n",
        "  - {id: uni, name: Uni, sector: university, sources: [s1]}\ninitiatives:\n",
    )
    (data / "all.yaml").write_text(text, encoding="utf-8")
    store = tmp_path / "store.sqlite"
    assert writer.load(data, store, fingerprint=datadir.fingerprint(data), force=True).loaded
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT id, parent_id FROM organisation ORDER BY rowid").fetchall() == [
        ("spinout-2", "lab"),
        ("lab", "uni"),
        ("spinout", "lab"),
        ("uni", None),
    ]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
