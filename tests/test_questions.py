"""The five questions of the first version, answered end to end in every machine format."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Cli

MACHINE = ["json", "jsonl", "csv", "tsv", "yaml"]
SLOVENIAN = {"kemijski-institut", "biosistemika", "jafral", "sih-eeig", "rra-lur", "zops"}
PORTUGUESE = {"univ-coimbra", "ipn", "biocant", "bluepharma", "uls-coimbra", "ccdr-centro", "apahe"}


def parse(fmt: str, text: str) -> list[dict[str, Any]]:
    """Rows as the format's own reader sees them (CSV and TSV give strings)."""
    if fmt == "json":
        return list(json.loads(text, parse_float=Decimal))
    if fmt == "jsonl":
        return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "tsv":
        header, *lines = text.splitlines()
        names = header.split("\t")
        return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]
    if fmt == "yaml":
        return list(yaml.safe_load(text) or [])
    raise AssertionError(fmt)


def as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in str(value).split(",") if v]


@pytest.mark.parametrize("fmt", MACHINE)
def test_which_slovenian_and_portuguese_partners(landscape_cli: Cli, fmt: str) -> None:
    si = parse(fmt, landscape_cli.ok("list", "partners", "--country", "SI", "-f", fmt))
    assert {r["id"] for r in si} == SLOVENIAN
    assert {r["country"] for r in si} == {"SI"}
    pt = parse(fmt, landscape_cli.ok("list", "partners", "--country", "pt", "-f", fmt))
    assert {r["id"] for r in pt} == PORTUGUESE
    both = parse(fmt, landscape_cli.ok("list", "partners", "--country", "PT,si", "-f", fmt))
    assert {r["id"] for r in both} == SLOVENIAN | PORTUGUESE
    coimbra = next(r for r in pt if r["id"] == "univ-coimbra")
    assert sorted(as_list(coimbra["initiatives"])) == ["geneh", "genet"]
    assert "geneh:coordinator" in as_list(coimbra["roles"])


@pytest.mark.parametrize("fmt", MACHINE)
def test_how_much_funding_from_which_programme(landscape_cli: Cli, fmt: str) -> None:
    rows = parse(fmt, landscape_cli.ok("report", "funding", "-f", fmt))
    by_id = {(r["initiative"], r["funding"] or None): r for r in rows}
    geneh = by_id[("geneh", "horizon-europe")]
    assert Decimal(str(geneh["amount"])) == Decimal("4885375")
    assert (geneh["currency"], geneh["qualifier"], geneh["programme"]) == (
        "EUR",
        "exact",
        "Horizon Europe",
    )
    assert str(geneh["end"]) == "2028-12"
    assert any(
        "approximately 5000000" in str(v)
        for v in as_list(geneh["also_reported"]) or [geneh["also_reported"]]
    )
    join = by_id[("join4atmp", "horizon-europe-csa")]
    assert Decimal(str(join["amount"])) == Decimal("3000000")
    assert join["instrument"] == "Coordination and Support Action (CSA)"
    assert (str(join["start"]), str(join["end"])) == ("2024-01", "2026-12")
    # Unknown funding is listed as unknown, never as zero.
    genet = by_id[("genet", None)]
    assert genet["qualifier"] == "unknown"
    assert genet["amount"] in (None, "")
    if fmt in ("json", "jsonl"):
        assert isinstance(geneh["amount"], int | Decimal)


@pytest.mark.parametrize("fmt", MACHINE)
def test_who_coordinates_supports_and_leads_wp3_of_join4atmp(landscape_cli: Cli, fmt: str) -> None:
    rows = parse(
        fmt,
        landscape_cli.ok(
            "list",
            "members",
            "--initiative",
            "JOIN4ATMP",
            "--role",
            "coordinator,co-coordinator,supporting",
            "-f",
            fmt,
        ),
    )
    assert {(r["organisation"], r["role"]) for r in rows} == {
        ("charite", "coordinator"),
        ("ospedale-san-raffaele", "co-coordinator"),
        ("bih", "supporting"),
    }
    groups = parse(fmt, landscape_cli.ok("list", "workgroups", "-i", "join4atmp", "-f", fmt))
    assert [str(g["number"]) for g in groups] == ["1", "2", "3", "4"]
    wp3 = next(g for g in groups if g["id"] == "wp3")
    assert as_list(wp3["leads"]) == ["vhio"]
    assert as_list(wp3["coordinators"]) == ["Silvia Martin-Lluesma"]


@pytest.mark.parametrize("fmt", MACHINE)
def test_catalan_work_groups_and_their_goals(landscape_cli: Cli, fmt: str) -> None:
    rows = parse(
        fmt,
        landscape_cli.ok("list", "workgroups", "--initiative", "at-network-catalonia", "-f", fmt),
    )
    assert [str(r["number"]) for r in rows] == [str(n) for n in range(1, 8)]
    assert [r["name"] for r in rows] == [
        "Training and retaining talent",
        "Public-private partnership models",
        "International projection and positioning of the Network",
        "Market and patient access",
        "Emerging therapies",
        "Gene therapies",
        "Cell therapies",
    ]
    assert all(r["goal"] for r in rows)
    assert {r["kind"] for r in rows} == {"work-group"}


@pytest.mark.parametrize("fmt", MACHINE)
def test_when_and_where_was_the_geneh_kick_off_and_who_spoke(landscape_cli: Cli, fmt: str) -> None:
    rows = parse(
        fmt, landscape_cli.ok("list", "milestones", "-i", "GeneH", "--kind", "kick-off", "-f", fmt)
    )
    assert len(rows) == 1
    kick_off = rows[0]
    assert str(kick_off["date"]) == "2025-03-21"
    assert kick_off["place"] == "Science Museum of the University of Coimbra"
    speakers = (
        as_list(kick_off["speakers"])
        if fmt not in ("csv", "tsv")
        else kick_off["speakers"].split(",")
    )
    assert speakers == [
        "Luís Pereira de Almeida",
        "Mojca Bencina",
        "Mojca Nemec Van Gorp",
        "Fernando Alexandre",
    ]


def test_markdown_and_table_answer_too(landscape_cli: Cli) -> None:
    markdown = landscape_cli.ok("list", "partners", "--country", "SI", "-f", "markdown")
    lines = markdown.splitlines()
    assert lines[0].startswith("| id | name |")
    assert len(lines) == 2 + len(SLOVENIAN)
    table = landscape_cli.ok("list", "partners", "--country", "SI", "-f", "table")
    for name in ("BioSistemika", "JAFRAL", "Kemijski inštitut", "zops"):
        assert name in table


def test_show_initiative_as_one_json_object_with_sources(landscape_cli: Cli) -> None:
    record = json.loads(landscape_cli.ok("show", "join4atmp", "-f", "json"))
    assert record["type"] == "initiative"
    assert record["cordis_id"] == "101137206"
    roles = {m["organisation"]: m["role"] for m in record["members"]}
    assert roles["charite"] == "coordinator" and roles["bih"] == "supporting"
    assert all(m["sources"] for m in record["members"])
    assert {s["id"] for s in record["source_list"]} >= {"vhio-join4atmp", "euha-join4atmp"}
    kick_off = record["milestones"][0]
    assert (kick_off["date"], kick_off["end_date"], kick_off["place"]) == (
        "2024-01-25",
        "2024-01-26",
        "Berlin, Germany",
    )
    assert {r["initiative"] for r in record["relations"]} == {"euha", "t2evolve", "restore"}


def test_show_organisation_by_short_name(landscape_cli: Cli) -> None:
    record = json.loads(landscape_cli.ok("show", "NIC", "-f", "json"))
    assert record["id"] == "kemijski-institut"
    assert "National Institute of Chemistry" in record["other_names"]
    assert record["hosts"] == ["ctgct-centre"]
    assert record["inferred"]["country"]
    table = landscape_cli.ok("show", "geneh", "-f", "table")
    assert "Excellence Hub for Advancing Innovation in Gene Therapy" in table
    assert "ctgct-geneh-role" in table


def test_a_members_ec_contribution_reaches_list_show_and_diff(cli: Cli, tmp_path: Path) -> None:
    """The field was added to the contract, the table and the entity's columns only."""
    rows = json.loads(cli.ok("list", "members", "-i", "join4atmp", "-f", "json"))
    charite = next(r for r in rows if r["organisation"] == "charite")
    assert (charite["ec_contribution"], charite["net_ec_contribution"]) == (612500.75, 590000)
    record = json.loads(cli.ok("show", "join4atmp", "-f", "json"))
    member = next(m for m in record["members"] if m["organisation"] == "charite")
    assert member["ec_contribution"] == 612500.75  # a number, exact in the JSON text
    old = tmp_path / "old"
    shutil.copytree(cli.data, old)
    join = cli.data / "initiatives" / "join4atmp.yaml"
    join.write_text(join.read_text().replace('"612500.75"', '"700000"'))
    changes = json.loads(cli.ok("diff", str(old), "-f", "json"))
    assert [(c["id"], c["field"], c["old"], c["new"]) for c in changes] == [
        ("join4atmp/charite", "ec_contribution", "612500.75", "700000")
    ]


def test_show_finds_an_organisation_by_any_of_its_other_names(landscape_cli: Cli) -> None:
    record = json.loads(landscape_cli.ok("show", "national institute of chemistry", "-f", "json"))
    assert record["id"] == "kemijski-institut"
