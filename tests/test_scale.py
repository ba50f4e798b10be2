"""Reading at scale: ranked overlaps, charts that stay readable, output that streams, and
queries that meet the store's indexes. Expected figures are computed here from the YAML
itself, never taken from atmptrack's own output."""

from __future__ import annotations

import io
import itertools
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_generate import generate

from atmptrack import query, render, results
from atmptrack.expr import And, Compiler
from atmptrack.render import Format, svg_chart, write_section, write_sections
from atmptrack.results import Bar, BarChart, Gantt, Section, Span, StackedChart, Values

from conftest import Cli

NS = "{http://www.w3.org/2000/svg}"
INITIATIVES = 60  # more than a chart draws (results.MOST_BARS) and the matrix holds


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    base = tmp_path_factory.mktemp("scaled")
    data = base / "data"
    generate(data, INITIATIVES, 11)
    home = base / "home"
    home.mkdir()
    cli = Cli(data, base / "store.sqlite", home)
    cli.ok("load", "-q")
    return cli


def memberships(data: Path) -> dict[str, set[str]]:
    """Each initiative's member organisations, read from the YAML with PyYAML."""
    found: dict[str, set[str]] = {}
    for path in sorted(data.rglob("*.yaml")):
        for initiative in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
            "initiatives"
        ) or []:
            found[str(initiative["id"])] = {
                str(m["organisation"]) for m in initiative.get("members") or []
            }
    return found


def shared_pairs(data: Path) -> list[tuple[str, str, int]]:
    """Every pair of initiatives sharing a partner: most shared first, then by ids."""
    members = memberships(data)
    pairs = [
        (a, b, len(members[a] & members[b]))
        for a, b in itertools.combinations(sorted(members), 2)
        if members[a] & members[b]
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def as_json(cli: Cli, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(cli.ok(*args, "--format", "json"))
    return rows


# ---------------------------------------------------------------- overlap


def test_overlap_ranks_the_pairs_that_share_the_most_partners(scaled: Cli) -> None:
    expected = shared_pairs(scaled.data)
    assert len(expected) > 20, "the generated data must have more pairs than the default"
    pairs = as_json(scaled, "report", "overlap", "--section", "pairs")
    assert [(p["initiative"], p["other"], p["shared"]) for p in pairs] == expected[:20]
    assert [p["rank"] for p in pairs] == list(range(1, 21))
    five = as_json(scaled, "report", "overlap", "--section", "pairs", "--limit", "5")
    assert [(p["initiative"], p["other"], p["shared"]) for p in five] == expected[:5]
    everything = as_json(scaled, "report", "overlap", "--section", "pairs", "--limit", "100000")
    assert [(p["initiative"], p["other"], p["shared"]) for p in everything] == expected


def test_overlap_says_when_more_pairs_share_partners(scaled: Cli) -> None:
    expected = shared_pairs(scaled.data)
    shown = scaled.ok("report", "overlap", "--section", "pairs", "--format", "table")
    assert "The 20 pairs that share the most partners; more pairs share partners" in shown
    assert "--limit N shows more" in shown
    whole = scaled.ok(
        "report",
        "overlap",
        "--section",
        "pairs",
        "--format",
        "table",
        "--limit",
        str(len(expected)),
    )
    assert "more pairs share partners" not in whole


def test_the_overlap_matrix_holds_the_initiatives_of_the_top_pairs(scaled: Cli) -> None:
    members = memberships(scaled.data)
    top = shared_pairs(scaled.data)[:20]
    matrix = as_json(scaled, "report", "overlap", "--section", "matrix")
    ids = [r["initiative"] for r in matrix]
    assert len(ids) <= 20 and ids == sorted(ids)
    assert set(ids) <= {i for a, b, _ in top for i in (a, b)}
    assert top[0][0] in ids and top[0][1] in ids
    for row in matrix:
        for other in ids:
            assert row[other] == len(members[row["initiative"]] & members[other])


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl", "yaml", "markdown", "html", "table"])
def test_overlap_pairs_in_every_format(scaled: Cli, fmt: str) -> None:
    top = shared_pairs(scaled.data)[:3]
    out = scaled.ok("report", "overlap", "--section", "pairs", "--limit", "3", "--format", fmt)
    if fmt == "yaml":
        rows = yaml.safe_load(out)
        assert [(r["initiative"], r["other"], r["shared"]) for r in rows] == top
        return
    # Tables for people name initiatives by their acronym or name; the others by id.
    labels = {
        r["id"]: r["acronym"] or r["name"]
        for r in as_json(scaled, "list", "initiatives", "--columns", "id,acronym,name")
    }
    for first, second, shared in top:
        named = (labels[first], labels[second]) if fmt == "table" else (first, second)
        lines = [line for line in out.splitlines() if named[0] in line and named[1] in line]
        assert lines and any(re.search(rf"\b{shared}\b", line) for line in lines), out


def test_overlap_pairs_chart_draws_one_bar_per_pair(scaled: Cli) -> None:
    svg = ET.fromstring(
        scaled.ok("report", "overlap", "--section", "pairs", "--limit", "7", "--format", "svg")
    )
    bars = [e for e in svg.iter(f"{NS}rect") if e.get("class") == "bar"]
    assert [float(b.get("data-value") or 0) for b in bars] == [
        float(n) for _, _, n in shared_pairs(scaled.data)[:7]
    ]


def test_roll_up_ranks_pairs_by_parent_organisations(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "all.yaml").write_text(
        """\
sources:
  - {id: s, title: S, url: "https://example.org/s"}
organisations:
  - {id: uni, name: Uni, country: PT, sector: university, sources: [s]}
  - {id: lab, name: Lab, country: PT, sector: research-institute, parent: uni, sources: [s]}
  - {id: firm, name: Firm, country: SI, sector: company, sources: [s]}
initiatives:
  - id: a
    name: A
    kind: project
    sources: [s]
    members:
      - {organisation: uni, role: coordinator, sources: [s]}
      - {organisation: lab, role: partner, sources: [s]}
      - {organisation: firm, role: partner, sources: [s]}
  - id: b
    name: B
    kind: project
    sources: [s]
    members:
      - {organisation: lab, role: coordinator, sources: [s]}
  - id: c
    name: C
    kind: project
    sources: [s]
    members:
      - {organisation: firm, role: coordinator, sources: [s]}
      - {organisation: uni, role: partner, sources: [s]}
""",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(data, tmp_path / "store.sqlite", home)
    plain = as_json(cli, "report", "overlap", "--section", "pairs")
    assert [(p["initiative"], p["other"], p["shared"]) for p in plain] == [
        ("a", "c", 2),
        ("a", "b", 1),
    ]
    # Rolled up, the lab counts as its university: a and b share it, a and c share two
    # partners, b and c now share one; a's uni and lab are one partner, not two.
    rolled = as_json(cli, "report", "overlap", "--section", "pairs", "--roll-up")
    assert [(p["initiative"], p["other"], p["shared"]) for p in rolled] == [
        ("a", "c", 2),
        ("a", "b", 1),
        ("b", "c", 1),
    ]
    matrix = {
        r["initiative"]: r
        for r in as_json(cli, "report", "overlap", "--section", "matrix", "--roll-up")
    }
    assert matrix["a"]["a"] == 2 and matrix["b"]["c"] == 1


# ---------------------------------------------------------------- charts


def many_bars(n: int) -> BarChart:
    return BarChart("Many", [Bar(f"bar {i:03d}", float(i), str(i)) for i in range(n)], unit="EUR")


def test_a_bar_chart_draws_the_largest_bars_and_the_rest_as_others() -> None:
    chart = results.capped(many_bars(100))
    assert isinstance(chart, BarChart)
    assert len(chart.bars) == results.MOST_BARS
    kept = results.MOST_BARS - 1
    assert [b.label for b in chart.bars[:kept]] == [
        f"bar {i:03d}" for i in range(99, 99 - kept, -1)
    ]
    others = chart.bars[-1]
    rest = range(100 - kept)
    assert others.label == f"others ({len(rest)} more)" and others.value == float(sum(rest))
    assert f"the {kept} largest of 100 bars" in chart.note
    assert results.capped(many_bars(results.MOST_BARS)) == many_bars(results.MOST_BARS)


def test_svg_caps_bars_and_says_so() -> None:
    svg = ET.fromstring(svg_chart(many_bars(100)))
    bars = [e for e in svg.iter(f"{NS}rect") if e.get("class") == "bar"]
    assert len(bars) == results.MOST_BARS
    assert bars[-1].get("data-label", "").startswith("others (71 more)")
    subtitle = " ".join(
        "".join(e.itertext()) for e in svg.iter(f"{NS}text") if e.get("class") == "subtitle"
    )
    assert "the 29 largest of 100 bars" in re.sub(r"\s+", " ", subtitle)


def test_terminal_and_html_charts_cap_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    section = Section("s", "Rows", ["x"], [{"x": 1}], chart=many_bars(100))
    out = io.StringIO()
    write_sections([section], "table", out)
    drawn = [line for line in out.getvalue().splitlines() if line.startswith("bar ")]
    assert len(drawn) == results.MOST_BARS - 1
    assert "others (71 more)" in out.getvalue()
    assert "Shown: the 29 largest of 100 bars" in out.getvalue()
    page = io.StringIO()
    write_sections([Section("s", "Rows", ["x"], [{"x": 1}], chart=many_bars(100))], "html", page)
    assert page.getvalue().count('class="bar"') == results.MOST_BARS
    assert "the 29 largest of 100 bars" in page.getvalue()


def test_stacked_rows_and_timelines_are_capped_too() -> None:
    rows = [Values(f"r{i}", [float(i), 1.0]) for i in range(40)]
    stacked = results.capped(StackedChart("S", ["a", "b"], rows))
    assert isinstance(stacked, StackedChart)
    assert len(stacked.rows) == results.MOST_BARS
    rest = range(40 - (results.MOST_BARS - 1))
    assert stacked.rows[-1].values == [float(sum(rest)), float(len(rest))]
    spans = [Span(f"s{i}", date(2020, 1, 1), date(2021, 1, 1)) for i in range(50)]
    gantt = results.capped(Gantt("G", spans))
    assert isinstance(gantt, Gantt) and [s.label for s in gantt.spans] == [
        f"s{i}" for i in range(results.MOST_BARS)
    ]
    assert "20 more not drawn" in gantt.note


def test_report_charts_of_many_initiatives_are_capped(scaled: Cli) -> None:
    svg = ET.fromstring(scaled.ok("report", "funding", "--format", "svg"))
    bars = [e for e in svg.iter(f"{NS}rect") if e.get("class") == "bar"]
    labels = [e.get("data-label", "") for e in svg.iter() if e.get("data-label")]
    assert len(bars) <= results.MOST_BARS and any(x.startswith("others (") for x in labels)
    timeline = ET.fromstring(scaled.ok("report", "timeline", "--format", "svg"))
    spans = {e.get("data-label") for e in timeline.iter() if e.get("class") == "span"}
    assert 0 < len(spans) <= results.MOST_BARS
    text = " ".join("".join(e.itertext()) for e in timeline.iter(f"{NS}text"))
    assert "more not drawn" in re.sub(r"\s+", " ", text)
    table = scaled.ok("report", "partners", "--section", "balance", "--format", "table")
    assert "Shown: the 29 largest of 60 rows" in table


# ---------------------------------------------------------------- streaming


class Watched(io.StringIO):
    """A stream that remembers how much had been written when each row was read."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []


def rows_watched(out: Watched, n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        out.seen.append(len(out.getvalue()))
        yield {"id": f"r{i}", "n": i, "items": ["a", "b"]}


@pytest.mark.parametrize("fmt", ["tsv", "csv", "json", "jsonl", "yaml", "markdown"])
def test_machine_formats_write_each_row_as_it_is_read(fmt: str) -> None:
    out = Watched()
    section = Section("rows", "Rows", ["id", "n", "items"], rows_watched(out, 50))
    write_section(section, fmt, out)
    # Row k is read only once row k-1 has been written: nothing is held back.
    assert all(a < b for a, b in itertools.pairwise(out.seen[1:])), out.seen
    # And what was written is what a writer holding every row writes.
    whole = io.StringIO()
    rows = [{"id": f"r{i}", "n": i, "items": ["a", "b"]} for i in range(50)]
    write_section(Section("rows", "Rows", ["id", "n", "items"], rows), fmt, whole)
    assert out.getvalue() == whole.getvalue()
    if fmt == "json":
        assert json.loads(out.getvalue()) == rows
    if fmt == "yaml":
        assert yaml.safe_load(out.getvalue()) == rows


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_empty_stream_is_an_empty_list(fmt: str) -> None:
    out = io.StringIO()
    write_section(Section("rows", "Rows", ["id"], iter([])), fmt, out)
    assert (json.loads if fmt == "json" else yaml.safe_load)(out.getvalue()) == []


def test_a_long_terminal_table_is_written_a_chunk_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = Watched()
    n = render.CHUNK * 2 + 5
    write_section(Section("rows", "Rows", ["id", "n", "items"], rows_watched(out, n)), "table", out)
    # The first chunk was on the stream before the rows of the second were read.
    assert out.seen[render.CHUNK - 1] == out.seen[0]
    assert out.seen[render.CHUNK] > out.seen[0]
    assert out.seen[2 * render.CHUNK] > out.seen[render.CHUNK]
    lines = out.getvalue().splitlines()
    assert sum(1 for line in lines if re.fullmatch(r"r\d+ +\d+ +a, b", line)) == n


def test_list_streams_from_the_store(scaled: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`list` hands the writer an iterator over the cursor, not a list it built first."""
    seen: list[Any] = []
    original = render.write_section

    def spy(section: Section, fmt: str, out: Any, **options: Any) -> None:
        seen.append(section.rows)
        original(section, fmt, out, **options)

    monkeypatch.setattr(render, "write_section", spy)
    out = scaled.ok("list", "members", "--format", "jsonl")
    assert seen and not isinstance(seen[0], list | tuple)
    assert len(out.splitlines()) == sum(len(m) for m in memberships(scaled.data).values())


# ---------------------------------------------------------------- query plans


def plan(conn: sqlite3.Connection, entity: str, **flags: Any) -> str:
    """The query plan of the step of `list ENTITY --flags` that picks the rows."""
    ent = query.ENTITIES[entity]
    nodes = query.flag_tree(ent, query.Filters(**flags), conn)
    compiler = Compiler(ent.fields(conn))
    where = f" WHERE {compiler.compile(And(tuple(nodes)))}"
    sql = query._choose(ent, where, ent.order, "")
    query.register_functions(conn)
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, compiler.params).fetchall()
    return "\n".join(str(r[3]) for r in rows)


FLAG_PLANS = [
    ("partners", {"country": ["SI"]}, "organisation_country"),
    ("organisations", {"sector": ["company"]}, "organisation_sector"),
    ("organisations", {"helix": ["industry"]}, "organisation_helix"),
    ("partners", {"initiative": ["ini-00003"]}, "membership_1 (initiative_id=?)"),
    # Roles are few and unindexed (see tables.MembershipRow): one pass over the memberships.
    ("organisations", {"role": ["coordinator"]}, "LIST SUBQUERY"),
    ("members", {"initiative": ["ini-00003"]}, "membership_1 (initiative_id=?)"),
    ("members", {"country": ["SI"]}, "organisation_country"),
    ("members", {"role": ["coordinator"], "country": ["SI"]}, "organisation_country"),
    ("initiatives", {"kind": ["network"]}, "initiative_kind"),
    ("initiatives", {"initiative": ["ini-00003"]}, "initiative_1 (id=?)"),
    ("initiatives", {"country": ["SI"]}, "organisation_country"),
    ("workgroups", {"initiative": ["ini-00003"]}, "workgroup_1 (initiative_id=?)"),
    ("milestones", {"initiative": ["ini-00003"]}, "milestone_1 (initiative_id=?)"),
    ("people", {"initiative": ["ini-00003"]}, "person_1 (initiative_id=?)"),
    ("funding", {"initiative": ["ini-00003"]}, "funding_1 (initiative_id=?)"),
]


@pytest.mark.parametrize(("entity", "flags", "index"), FLAG_PLANS, ids=str)
def test_list_flags_meet_an_index(
    scaled: Cli, entity: str, flags: dict[str, Any], index: str
) -> None:
    conn = sqlite3.connect(scaled.db)
    try:
        found = plan(conn, entity, **flags)
    finally:
        conn.close()
    assert index in found, found
    # No full scan of the table a flag narrows, and no list built per row to compare.
    assert "CO-ROUTINE agg" not in found, found


def test_every_list_flag_is_in_the_plans_above() -> None:
    flags = {name for _, given, _ in FLAG_PLANS for name in given}
    assert flags == {"country", "sector", "helix", "initiative", "role", "kind"}


def test_flags_through_indexes_give_the_rows_of_the_expression(scaled: Cli) -> None:
    """The indexed form and the general one (`~`, folded, whole lists) agree on every row."""
    flagged = as_json(scaled, "list", "partners", "--country", "si,Pt", "--columns", "id")
    members = Counter(m["country"] for m in as_json(scaled, "list", "partners"))
    assert len(flagged) == members["SI"] + members["PT"]
    by_initiative = as_json(scaled, "list", "partners", "-i", "ini-00003", "--columns", "id")
    assert {r["id"] for r in by_initiative} == memberships(scaled.data)["ini-00003"]
    contains = as_json(
        scaled, "filter", "partners", "initiatives ~ ini-00003 and country in (si, pt)"
    )
    expected = memberships(scaled.data)["ini-00003"] & {
        r["id"] for r in as_json(scaled, "list", "partners", "--country", "SI,PT")
    }
    assert {r["id"] for r in contains} >= expected


@pytest.mark.parametrize("entity", sorted(query.ENTITIES))
def test_every_entity_reads_back_its_declared_columns(entity: str) -> None:
    """The two-step query picks the entity's columns out of its declaration: every one."""
    ent = query.ENTITIES[entity]
    items, rest = query._parts(ent)
    assert [c for c in items if not c.startswith("_")] == ent.column_names
    assert rest.startswith("FROM ")
    assert all(key in items for key in ent.key)


def test_limit_and_filter_give_the_rows_of_the_whole_listing(scaled: Cli) -> None:
    """Picking rows first, then completing them, changes nothing in what is written."""
    for entity in sorted(query.ENTITIES):
        whole = as_json(scaled, "list", entity)
        assert as_json(scaled, "list", entity, "--limit", "7") == whole[:7], entity
    members = as_json(scaled, "list", "members")
    coordinators = as_json(scaled, "list", "members", "--role", "coordinator")
    assert coordinators == [m for m in members if m["role"] == "coordinator"]
    assert Format.JSON.value == "json"


@pytest.mark.parametrize("entity", sorted(query.ENTITIES))
def test_completing_chosen_rows_reads_through_keys(scaled: Cli, entity: str) -> None:
    """The second step reads every column of a few rows: each table through its key, never
    a whole table (a coordinator is looked up within its initiative, not among all)."""
    ent = query.ENTITIES[entity]
    items, rest = query._parts(ent)
    among = " AND ".join(f"{items[k]} = 'x'" for k in ent.key)
    joiner = " AND " if query._top_level(rest, " WHERE ") >= 0 else " WHERE "
    conn = sqlite3.connect(scaled.db)
    try:
        found = [
            str(r[3])
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT {query._select(ent)} {rest}{joiner}{among}"
            )
        ]
    finally:
        conn.close()
    scans = [line for line in found if line.startswith("SCAN") and line not in ("SCAN agg",)]
    assert not scans, "\n".join(found)
    # Each lookup goes through the record's own key columns, not an index on a value that
    # thousands of rows share (a role, a country).
    looked_up = [c for line in found for c in re.findall(r"\b(\w+)=\?", line)]
    assert looked_up and all(c == "id" or c.endswith("_id") for c in looked_up), "\n".join(found)


@pytest.mark.parametrize("seed", range(40))
def test_the_plain_layout_of_later_chunks_is_richs_own(seed: int) -> None:
    """Chunks after the first are laid out without Rich's Table: line for line the same."""
    import random

    from rich.text import Text

    rng = random.Random(seed)
    words = ["a", "bb", "ccc dd", "≈ 5,000,000", "Kemijski inštitut", "", "x" * 12, "日本語"]
    columns = rng.randint(1, 5)
    heads = [rng.choice(["id", "declared_partners", "name", "n"]) for _ in range(columns)]
    cells = [
        [" ".join(rng.choice(words) for _ in range(rng.randint(0, 4))) for _ in range(columns)]
        for _ in range(rng.randint(1, 6))
    ]
    right = [rng.random() < 0.3 for _ in range(columns)]
    for header in (True, False):
        widths = render._fit(heads if header else [""] * columns, cells, 70 - 2 * (columns - 1))
        if widths is None:
            continue
        drawn = []
        for lay in ("rich", "plain"):
            out = io.StringIO()
            screen = render._Screen(out)
            shown = heads if header else None
            if lay == "rich":
                screen.print(render._rich_table(shown, cells, right, widths))
            else:
                lines: list[Text] = render._plain_table(shown, cells, right, widths)
                screen.lines(lines)
            drawn.append(out.getvalue().rstrip("\n"))
        assert drawn[0] == drawn[1]
