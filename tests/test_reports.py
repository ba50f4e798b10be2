"""The landscape reports: exact figures on the test landscape, and their pictures' structure."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from atmptrack.report import spread_by_year

from conftest import LANDSCAPE, Cli


def rows(cli: Cli, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(cli.ok("report", *args, "--format", "json")))


def test_geneh_helix_balance_and_countries(landscape_cli: Cli) -> None:
    (balance,) = rows(landscape_cli, "partners", "-i", "geneh", "--section", "balance")
    assert {
        k: balance[k]
        for k in ("academia", "industry", "government", "civil_society", "unknown", "total")
    } == {
        "academia": 2,
        "industry": 6,
        "government": 3,
        "civil_society": 2,
        "unknown": 0,
        "total": 13,
    }
    assert balance["industry_share"] == round(6 / 13, 3)
    countries = rows(landscape_cli, "partners", "-i", "geneh", "--section", "countries")
    assert [(c["country"], c["partners"]) for c in countries] == [("PT", 7), ("SI", 6)]
    matrix = rows(landscape_cli, "partners", "-i", "GeneH")
    assert {r["country"]: r["total"] for r in matrix} == {"PT": 7, "SI": 6}
    assert next(r for r in matrix if r["country"] == "PT")["industry"] == 3


def test_matrix_over_all_initiatives_counts_each_organisation_once(landscape_cli: Cli) -> None:
    matrix = rows(landscape_cli, "partners")
    assert sum(int(str(r["total"])) for r in matrix) == 24  # partners in at least one initiative
    assert next(r for r in matrix if r["country"] == "IT") == {
        "country": "IT",
        "academia": 0,
        "industry": 0,
        "government": 0,
        "civil_society": 0,
        "unknown": 1,
        "total": 1,
    }


def test_overlap_names_coimbra_in_geneh_and_genet(landscape_cli: Cli) -> None:
    shared = {r["organisation"]: r for r in rows(landscape_cli, "overlap")}
    assert set(shared) == {"univ-coimbra", "kemijski-institut"}
    assert shared["univ-coimbra"]["roles"] == ["geneh:coordinator", "genet:host"]
    matrix = {r["initiative"]: r for r in rows(landscape_cli, "overlap", "--section", "matrix")}
    assert (
        matrix["geneh"]["genet"] == 1
        and matrix["geneh"]["geneh"] == 13
        and matrix["geneh"]["join4atmp"] == 0
    )


def test_roll_up_counts_a_hosted_body_with_its_parent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(LANDSCAPE, data)
    # A test-only edit: make the hosted centre itself a partner of another initiative.
    path = data / "initiatives" / "networks.yaml"
    path.write_text(
        path.read_text().replace(
            "  - id: euha\n",
            "  - id: euha\n    members:\n      - {organisation: ctgct-centre, role: member, sources: [join4atmp-site]}\n",
        )
    )
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(data, tmp_path / "store.sqlite", home)
    plain = {r["organisation"] for r in rows(cli, "overlap")}
    assert plain == {"univ-coimbra", "kemijski-institut"}
    rolled = {r["organisation"]: r for r in rows(cli, "overlap", "--roll-up")}
    assert rolled["kemijski-institut"]["initiatives"] == ["ctgct", "euha", "geneh"]
    assert rolled["kemijski-institut"]["via"] == ["ctgct-centre"]


def test_join4atmp_funding_by_year_is_spread_and_marked(landscape_cli: Cli) -> None:
    by_year = rows(landscape_cli, "funding", "--by", "year", "-i", "join4atmp")
    assert [(r["year"], r["total"], r["spread"]) for r in by_year] == [
        (2024, 1000000, True),
        (2025, 1000000, True),
        (2026, 1000000, True),
    ]
    everything = {r["year"]: r for r in rows(landscape_cli, "funding", "--by", "year")}
    # GeneH and CTGCT have no whole period: their money is not placed in any year.
    assert everything[None]["total"] == 34885375 and everything[None]["spread"] is False


def test_spreading_keeps_the_total_exact() -> None:
    from datetime import date

    parts = spread_by_year(Decimal("1000000"), date(2024, 3, 1), date(2026, 2, 28))
    assert [year for year, _ in parts] == [2024, 2025, 2026]
    assert sum(amount for _, amount in parts) == Decimal("1000000")
    assert parts[0][1] == Decimal("416666.67")  # 10 of 24 months


def test_timeline_orders_by_date_and_keeps_partial_dates(landscape_cli: Cli) -> None:
    events = rows(landscape_cli, "timeline")
    assert [e["date"] for e in events][:3] == ["2022", "2023-09-01", "2024-01-01"]
    assert [e["when"] for e in events][-2:] == ["10 June, year unknown", "≈ October, year unknown"]
    upcoming = rows(landscape_cli, "timeline", "--upcoming", "--today", "2026-11-21")
    assert [(e["initiative"], e["kind"]) for e in upcoming] == [
        ("join4atmp", "end"),
        ("geneh", "end"),
        ("genet", "end"),
    ]
    window = rows(landscape_cli, "timeline", "--from", "2025", "--to", "2025")
    assert [(e["initiative"], e["kind"]) for e in window] == [("geneh", "kick-off")]


def test_coverage_of_the_catalan_network(landscape_cli: Cli) -> None:
    coverage = {r["initiative"]: r for r in rows(landscape_cli, "coverage")}
    network = coverage["at-network-catalonia"]
    assert network["members_known"] == "2 of more than 50"
    assert (network["known_members"], network["declared_partners"], network["missing_members"]) == (
        2,
        50,
        48,
    )
    assert "funding" in network["unknown_fields"] and "acronym" in network["unknown_fields"]
    assert (
        coverage["geneh"]["members_known"] == "13 of 13"
        and coverage["geneh"]["missing_members"] == 0
    )
    lookup = rows(landscape_cli, "coverage", "--section", "lookup")
    assert {
        "initiative": "at-network-catalonia",
        "what": "members",
        "detail": "at least 48 of more than 50 partners are not in the data",
    } in lookup
    assert any(r["what"] == "organisation eurordis: country" for r in lookup)


def svg_of(cli: Cli, *args: str) -> ET.Element:
    return ET.fromstring(cli.ok("report", *args, "--format", "svg"))


def test_svg_charts_are_valid_and_carry_the_data(landscape_cli: Cli) -> None:
    bars = svg_of(landscape_cli, "funding")
    labelled = {
        e.get("data-label"): e.get("data-value") for e in bars.iter() if e.get("class") == "bar"
    }
    assert labelled["CTGCT"] is not None and float(labelled["CTGCT"]) == 30000000
    assert float(labelled["GeneH"] or 0) == 4885375
    assert "GeneT" not in labelled  # unknown: no bar
    texts = "".join(bars.itertext())
    assert "unknown" in texts and "Funding per initiative" in texts
    heat = svg_of(landscape_cli, "partners")
    cells = [e for e in heat.iter() if e.get("class") == "cell"]
    assert len(cells) == 8 * 5  # countries × helix groups
    gantt = svg_of(landscape_cli, "timeline", "--today", "2026-11-21")
    assert len([e for e in gantt.iter() if e.get("class") == "marker"]) == 3
    assert "today" in "".join(gantt.itertext())


def test_svg_of_a_table_without_a_chart_is_a_usage_error(landscape_cli: Cli) -> None:
    result = landscape_cli("report", "partners", "--section", "countries", "--format", "svg")
    assert result.code == 2 and "sections with one: matrix, balance" in result.err


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_html_page_is_self_contained_and_written_with_output(
    landscape_cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "coverage.html"
    result = landscape_cli("report", "coverage", "-o", str(target))
    assert result.code == 0 and result.out == ""
    page = target.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    assert parser.tags.count("table") == 2 and parser.tags.count("svg") >= 1
    assert "<script" not in page.lower()
    assert "https://" not in page and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", ""
    )
    assert "2 of more than 50" in page


def test_show_initiative_includes_its_timeline_partners_and_funding(landscape_cli: Cli) -> None:
    record = json.loads(landscape_cli.ok("show", "geneh", "--format", "json"))
    assert [(e["date"], e["kind"]) for e in record["timeline"]] == [
        ("2025-03-21", "kick-off"),
        ("2028-12", "end"),
    ]
    assert {r["country"]: r["total"] for r in record["partners_by_country_helix"]} == {
        "PT": 7,
        "SI": 6,
    }
    table = landscape_cli.ok("show", "geneh", "--format", "table")
    assert "GeneH from start to end" in table and "◆" in table
    assert "Funding" in table and "4,885,375" in table


@pytest.mark.parametrize("by", ["programme", "funder", "country"])
def test_funding_groups_never_share_a_label(landscape_cli: Cli, by: str) -> None:
    groups = rows(landscape_cli, "funding", "--by", by)
    assert all(g[by] for g in groups), "a group without a label reads as 'unknown'"
    unknown_money = {g[by] for g in groups if g["total"] is None}
    placeholders_with_money = {g[by] for g in groups if g["total"] is not None and g[by][0] == "("}
    assert not unknown_money & placeholders_with_money
    table = landscape_cli.ok("report", "funding", "--by", by, "-f", "table")
    for label in unknown_money | placeholders_with_money:
        assert label in table


@pytest.mark.parametrize("report", ["funding", "partners", "overlap", "timeline", "coverage"])
def test_people_see_an_initiative_by_its_acronym_else_its_name(
    landscape_cli: Cli, report: str
) -> None:
    """One label policy in every report's tables (machine formats keep the ids)."""
    result = landscape_cli("report", report, "-f", "table", env=landscape_cli.env(COLUMNS="250"))
    assert result.code == 0, result.err
    table = result.out
    # Header rows name columns, and the overlap matrix's columns are initiative ids.
    body = [line for line in table.splitlines() if not line.startswith("initiative ")]
    cells = {cell.strip() for line in body for cell in line.split("  ") if cell}
    assert "at-network-catalonia" not in cells  # it has no acronym: its name is shown
    assert "geneh" not in cells and "join4atmp" not in cells  # their acronyms are


def test_the_terminal_timeline_draws_unknown_bounds_open_to_the_edge(landscape_cli: Cli) -> None:
    result = landscape_cli(
        "report", "timeline", "-f", "table", env=landscape_cli.env(COLUMNS="120")
    )
    lines = result.out.splitlines()
    row = {line.split("  ")[0].strip(): line for line in lines if "━" in line or "░" in line}
    geneh = row["GeneH"].split("GeneH", 1)[1].strip()
    # Start unknown: open from the left edge up to the kick-off, known from there to the end.
    assert geneh.startswith("░") and "░" not in geneh[geneh.index("◆") :]
    ctgct = row["CTGCT"].split("CTGCT", 1)[1]
    # End unknown: open to the right edge of the chart.
    assert ctgct.rstrip().endswith("░") and len(ctgct.rstrip()) == len(
        row["GeneT"].split("GeneT", 1)[1].rstrip()
    )
    assert "start unknown" in result.out and "end unknown" in result.out


def test_coverage_lists_the_sources_a_curator_must_verify(cli: Cli) -> None:
    sources = cli.data / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    first = text.index("  - id: ") + len("  - id: ")
    ident = text[first : text.index("\n", first)].strip()
    at = text.index("\n", text.index("    url: ", first)) + 1
    sources.write_text(text[:at] + "    verify: the page moved\n" + text[at:], encoding="utf-8")
    lookup = rows(cli, "coverage", "--section", "lookup")
    flagged = [r for r in lookup if r["what"].startswith(f"source {ident}: ")]
    assert [r["detail"] for r in flagged] == ["to verify: the page moved"]


def test_partners_can_count_the_helix_groups_sources_give_instead_of_ours(cli: Cli) -> None:
    geneh = cli.data / "initiatives" / "geneh.yaml"
    text = geneh.read_text(encoding="utf-8")
    # Two members grouped by their source otherwise than their sector puts them.
    for org in ("biocant", "ipn"):
        at = text.index(f"organisation: {org}")
        text = text[:at] + "source_helix: government, " + text[at:]
    geneh.write_text(text, encoding="utf-8")
    ours = rows(cli, "partners", "-i", "geneh", "--section", "balance")[0]
    theirs = rows(cli, "partners", "-i", "geneh", "--section", "balance", "--helix-from", "source")[
        0
    ]
    assert ours["total"] == theirs["total"] == 13
    assert theirs["government"] == 2  # only the two the source groups
    assert theirs["unknown"] == 11  # the others: no source grouping given
    assert ours["government"] != theirs["government"] or ours["unknown"] != theirs["unknown"]
    wrong = cli("report", "partners", "--helix-from", "sourc")
    assert wrong.code == 2 and "did you mean 'source'" in wrong.err
