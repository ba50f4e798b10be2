"""`atmptrack import cordis` end to end, through the real CLI, into a copy of the test landscape.

The landscape's Charité and Kemijski inštitut get their PIC first, as a curator would add it;
VHIO and the University of Coimbra are found by name and confirmed with --match.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import Cli, Result

FIXTURES = Path(__file__).resolve().parent / "cordis"
HE = FIXTURES / "he-csv"
NEWER = FIXTURES / "he-csv-newer"
H2020 = FIXTURES / "h2020-json"
MATCHES = ("--match", "vhio=999990002", "--match", "univ-coimbra=999990004")
PROJECT_FILES = {f"cordis/projects/{pid}.yaml" for pid in ("101990001", "101990002", "101990004")}
PROJECT_FILES |= {"cordis/projects/899001.yaml", "cordis/projects/899002.yaml"}
ORG_FILES = {f"cordis/organisations/9999900{n}.yaml" for n in (10, 11, 12, 13, 40, 41, 42)}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root, by its path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def give_pics(cli: Cli) -> None:
    """What a curator does once: write the PIC into the curated records that lack it."""
    for name, org, pic in (
        ("europe.yaml", "charite", "999990001"),
        ("slovenia.yaml", "kemijski-institut", "999990003"),
    ):
        path = cli.data / "organisations" / name
        text = path.read_text(encoding="utf-8")
        anchor = f"  - id: {org}\n"
        assert text.count(anchor) == 1
        path.write_text(
            text.replace(anchor, f'{anchor}    ids: {{pic: "{pic}"}}\n'), encoding="utf-8"
        )


def run_import(cli: Cli, *args: str) -> Result:
    result = cli("import", "cordis", *args)
    assert "Traceback" not in result.err
    return result


def imported(cli: Cli, *sources: Path) -> Result:
    give_pics(cli)
    result = run_import(cli, *(str(s) for s in sources or (HE, H2020)), "--atmp", *MATCHES)
    assert result.code == 0, result.err
    return result


def rows(cli: Cli, *args: str) -> list[dict[str, object]]:
    return list(json.loads(cli.ok(*args, "--format", "json")))


# ---------------------------------------------------------------- reviewing name matches


def test_name_matches_wait_for_a_person_and_nothing_is_written(cli: Cli) -> None:
    before = tree(cli.data)
    result = run_import(cli, str(HE), str(H2020), "--atmp")
    assert result.code == 2
    for org, pic in (
        ("charite", "999990001"),
        ("vhio", "999990002"),
        ("kemijski-institut", "999990003"),
        ("univ-coimbra", "999990004"),
    ):
        assert f"may be {org} " in result.err
        assert f"--match {org}={pic} or --no-match {org}={pic}" in result.err
    assert "4 CORDIS organisation(s) may be organisations already in the data" in result.err
    assert "nothing was written" in result.err
    assert tree(cli.data) == before


def test_a_confirmed_match_is_kept_for_the_next_import(cli: Cli) -> None:
    imported(cli)
    matches = (cli.data / "cordis" / "matches.tsv").read_text(encoding="utf-8")
    assert "999990002\tvhio\tsame\tFUNDACIO PRIVADA INSTITUT D'INVESTIGACIO" in matches
    assert "999990004\tuniv-coimbra\tsame\tUNIVERSIDADE DE COIMBRA\tPT" in matches
    again = run_import(cli, str(HE), str(H2020), "--atmp")  # no --match this time
    assert again.code == 0, again.err


def test_a_refused_match_makes_an_organisation_of_its_own(cli: Cli) -> None:
    give_pics(cli)
    result = run_import(
        cli, str(HE), "--atmp", "--no-match", "vhio=999990002", "--match", "univ-coimbra=999990004"
    )
    assert result.code == 0, result.err
    record = (cli.data / "cordis" / "organisations" / "999990002.yaml").read_text()
    assert "- id: vhio-999990002\n" in record  # `vhio` is the curated one's id
    assert "999990002\tvhio\tdifferent\t" in (cli.data / "cordis" / "matches.tsv").read_text()
    members = rows(cli, "list", "members", "-i", "genexa", "--columns", "organisation")
    assert {"organisation": "vhio-999990002"} in members


def test_a_match_must_name_an_organisation_of_the_data(cli: Cli) -> None:
    result = run_import(cli, str(HE), "--match", "vhi0=999990002")
    assert result.code == 2
    assert "no organisation 'vhi0' in the data (did you mean 'vhio'?)" in result.err
    assert run_import(cli, str(HE), "--match", "vhio=12345").code == 2


# ---------------------------------------------------------------- what an import writes


def test_import_reuses_curated_organisations_and_touches_nothing_curated(cli: Cli) -> None:
    give_pics(cli)
    before = tree(cli.data)
    result = run_import(cli, str(HE), str(H2020), "--atmp", *MATCHES)
    assert result.code == 0, result.err
    after = tree(cli.data)
    assert {p: after[p] for p in before} == before  # no curated file changed
    assert set(after) - set(before) == PROJECT_FILES | ORG_FILES | {"cordis/matches.tsv"}
    assert (
        "imported 5 project(s) (5 new), 13 participation(s), 7 organisation(s) of the import (7 new), "
        "4 reused from the data"
    ) in result.err
    assert (
        'vhio is PIC 999990002 (matches.tsv); its record could say so: ids: {pic: "999990002"}'
        in (result.err)
    )
    # JOIN4ATMP is curated in the landscape: its CORDIS row is left alone.
    assert "project 101137206 is curated as join4atmp in initiatives/join4atmp.yaml" in result.err
    assert not (cli.data / "cordis" / "projects" / "101137206.yaml").exists()
    members = rows(
        cli,
        "list",
        "members",
        "-i",
        "genexa",
        "--columns",
        "organisation,role,order,ec_contribution,net_ec_contribution,country",
    )
    assert members == [
        {
            "organisation": "charite",
            "role": "coordinator",
            "order": 1,
            "ec_contribution": 1000000.5,
            "net_ec_contribution": 900000,
            "country": "DE",
        },
        {
            "organisation": "vhio",
            "role": "partner",
            "order": 2,
            "ec_contribution": 600000,
            "net_ec_contribution": 600000,
            "country": "ES",
        },
        {
            "organisation": "invbio",
            "role": "partner",
            "order": 3,
            "ec_contribution": 500000,
            "net_ec_contribution": 450000,
            "country": "GR",
        },
        {
            "organisation": "invented-trust-limited",
            "role": "third-party",
            "order": 4,
            "ec_contribution": 50000,
            "net_ec_contribution": 50000,
            "country": "GB",
        },
        {
            "organisation": "ihz",
            "role": "associated",
            "order": 5,
            "ec_contribution": None,
            "net_ec_contribution": None,
            "country": "CH",
        },
    ]
    cellbridge = rows(cli, "list", "members", "-i", "cellbridge", "--columns", "organisation")
    assert [m["organisation"] for m in cellbridge] == ["kemijski-institut", "univ-coimbra", "iha"]


def test_every_imported_fact_is_mapped_and_sourced(cli: Cli) -> None:
    imported(cli)
    (genexa,) = rows(
        cli,
        "filter",
        "initiatives",
        "id = genexa",
        "--columns",
        "acronym,name,kind,start,end,cordis_id,grant_doi,programme,sources",
    )
    assert genexa == {
        "acronym": "GENEXA",
        "name": 'Gene therapy for an invented retinal disease; a "test" project',
        "kind": "project",
        "start": "2024-01-01",
        "end": "2027-12-31",
        "cordis_id": "101990001",
        "grant_doi": "10.3030/101990001",
        "programme": ["Horizon Europe"],
        "sources": ["cordis-101990001"],
    }
    (funding,) = rows(cli, "list", "funding", "-i", "genexa")
    assert {k: funding[k] for k in ("amount", "currency", "qualifier", "total_cost")} == {
        "amount": 2500000.5,
        "currency": "EUR",
        "qualifier": "exact",
        "total_cost": 2835524.25,
    }
    assert (funding["funder"], funding["programme"], funding["instrument"]) == (
        "European Union",
        "Horizon Europe",
        "HORIZON-RIA",
    )
    assert (funding["call"], funding["topic"]) == (
        "HORIZON-HLTH-2023-TOOL-05",
        "HORIZON-HLTH-2023-TOOL-05-01",
    )
    shown = json.loads(cli.ok("show", "genexa", "--format", "json"))
    assert shown["status"] == "active"
    assert shown["summary"] == (
        'An invented objective: the consortium tests "vector" designs;\nit runs over two lines.'
    )
    (source,) = rows(cli, "filter", "sources", "id = cordis-101990001")
    assert source["url"] == "https://cordis.europa.eu/project/id/101990001"
    assert source["published"] == "2024-05-14"  # the export's content date of the record
    organisations = {
        o["id"]: o
        for o in rows(
            cli,
            "list",
            "organisations",
            "--columns",
            "id,name,country,source_country,sector,city,pic,vat,sme,inferred,sources",
        )
    }
    assert organisations["invbio"] == {
        "id": "invbio",
        "name": "INVENTED BIOTECH IKE",
        "country": "GR",
        "source_country": "EL",
        "sector": "company",
        "city": "ATHINA",
        "pic": "999990010",
        "vat": "EL999999999",
        "sme": "true",
        "inferred": ["sector", "website"],
        "sources": ["cordis-101990001"],
    }
    assert organisations["invented-trust-limited"]["vat"] is None  # NOTAPPLICABLE is no number
    assert organisations["iha"]["sector"] == "public-agency"
    assert organisations["iukc"]["country"] == "GB"
    # Charité stays as curated: its name, sector and sources are the curator's.
    assert organisations["charite"]["name"] == "Charité – Universitätsmedizin Berlin"
    assert organisations["charite"]["sector"] == "hospital"
    statuses = {i["id"]: i for i in rows(cli, "list", "initiatives", "--columns", "id")}
    assert {"genexa", "cellbridge", "fieldonly", "htwogene", "htwocell"} <= set(statuses)
    detail = json.loads(cli.ok("show", "htwogene", "--format", "json"))
    assert detail["status"] == "active"  # ONG
    assert detail["inferred"] == {
        "ids": "the export has no grantDoi; CORDIS gives every grant 10.3030/<id>",
        # A grant's administrative state is not whether the work runs: read, so marked.
        "status": "from the CORDIS status ONG",
    }


def test_imported_data_validates_loads_and_reports(cli: Cli) -> None:
    imported(cli)
    result = cli("validate")
    assert result.code == 0 and "0 error(s), 0 warning(s)" in result.err, result.out + result.err
    cli.ok("load", "-q")
    coverage = {
        r["initiative"]: r["origin"]
        for r in rows(cli, "report", "coverage", "--columns", "initiative,origin")
    }
    assert coverage["genexa"] == coverage["htwogene"] == "cordis"
    assert coverage["join4atmp"] == coverage["geneh"] == "curated"
    table = cli.ok("report", "coverage", "--format", "table")
    assert "From CORDIS: 5; curated: 8" in table
    shares = {
        r["country"]: r["total"]
        for r in rows(
            cli, "report", "funding", "--by", "country", "--section", "members_by_country"
        )
    }
    # Charité: 1000000.5 in GENEXA, 3000000 in FIELDONLY, 612500.75 in JOIN4ATMP (curated).
    assert shares["DE"] == 4612501.25
    assert shares["GR"] == 7820843.96  # INVENTED BIOTECH IKE and INVENTED ATHENS LAB
    overlap = rows(cli, "report", "overlap")
    charite = next(r for r in overlap if r["organisation"] == "charite")
    assert isinstance(charite["initiatives"], list)
    assert {"genexa", "fieldonly", "join4atmp"} <= set(charite["initiatives"])


# ---------------------------------------------------------------- again, and a newer export


def test_importing_the_same_export_twice_changes_no_byte(cli: Cli) -> None:
    imported(cli)
    first = tree(cli.data)
    result = run_import(cli, str(HE), str(H2020), "--atmp")
    assert result.code == 0, result.err
    assert tree(cli.data) == first
    assert (
        "(5 unchanged)" in result.err
        and "7 organisation(s) of the import (7 unchanged)" in result.err
    )
    assert not list((cli.data / "cordis").glob(".atmptrack-import-*"))  # no staging left


def test_a_newer_export_changes_only_what_changed(cli: Cli, tmp_path: Path) -> None:
    imported(cli)
    before = tmp_path / "before"
    shutil.copytree(cli.data, before)
    result = run_import(cli, str(NEWER), str(H2020), "--atmp")
    assert result.code == 0, result.err
    changes = json.loads(cli.ok("diff", str(before), "--format", "json"))
    found = {(c["entity"], c["id"], c["change"], c["field"], c["old"], c["new"]) for c in changes}
    assert found == {
        ("organisation", "invbio", "removed", None, "INVENTED BIOTECH IKE", None),
        ("member", "genexa/invbio", "left", "role", "partner", None),
        ("source", "cordis-101990001", "changed", "published", "2024-05-14", "2024-09-02"),
        ("member", "genexa/vhio", "changed", "ec_contribution", "600000", "650000.25"),
        ("member", "genexa/vhio", "changed", "net_ec_contribution", "600000", "650000.25"),
        ("funding", "genexa/eu-grant", "funding-changed", "amount", 2500000.5, 2750000),
    }
    text = cli.ok("diff", str(before), "--format", "markdown")
    assert "- invbio left genexa (was partner)" in text
    assert "- funding eu-grant in genexa: amount 2500000.5 → 2750000 (+249999.5)" in text
    assert not (cli.data / "cordis" / "organisations" / "999990010.yaml").exists()
    assert "(1 changed, 4 unchanged), 12 participation(s)" in result.err
    assert "(6 unchanged, 1 removed)" in result.err


# ---------------------------------------------------------------- hand edits


def test_a_hand_edit_stops_the_import_and_names_the_record(cli: Cli) -> None:
    imported(cli)
    path = cli.data / "cordis" / "projects" / "101990001.yaml"
    path.write_text(path.read_text().replace("kind: project", "kind: consortium"))
    before = tree(cli.data)
    result = run_import(cli, str(HE), str(H2020), "--atmp")
    assert result.code == 3
    assert f"the import would overwrite hand edits in {path} (initiative genexa)" in result.err
    assert "move the file out of" in result.err and "Nothing was written" in result.err
    assert tree(cli.data) == before


def test_a_file_moved_out_of_the_import_is_curated_and_left_alone(cli: Cli) -> None:
    imported(cli)
    moved = cli.data / "initiatives" / "genexa.yaml"
    (cli.data / "cordis" / "projects" / "101990001.yaml").rename(moved)
    moved.write_text(moved.read_text().replace("kind: project", "kind: consortium"))
    result = run_import(cli, str(HE), str(H2020), "--atmp")
    assert result.code == 0, result.err
    assert "project 101990001 is curated as genexa in initiatives/genexa.yaml" in result.err
    assert not (cli.data / "cordis" / "projects" / "101990001.yaml").exists()
    # Its organisations stay: the curated record names them.
    assert (cli.data / "cordis" / "organisations" / "999990010.yaml").exists()
    assert "kind: consortium" in moved.read_text()
    assert cli("validate").code == 0


def test_an_edit_the_import_would_not_touch_does_not_stop_it(cli: Cli) -> None:
    imported(cli)
    path = cli.data / "cordis" / "organisations" / "999990041.yaml"  # in the H2020 export only
    path.write_text(path.read_text().replace("city: ATHENS", "city: Athens"))
    result = run_import(cli, str(HE), "--atmp")
    assert result.code == 0, result.err
    assert "city: Athens" in path.read_text()


def test_exclude_removes_a_project_imported_before_and_what_only_it_needed(cli: Cli) -> None:
    imported(cli)
    result = run_import(cli, str(HE), "--atmp", "--exclude", "101990002,101990004")
    assert result.code == 0, result.err
    projects = cli.data / "cordis" / "projects"
    assert not (projects / "101990002.yaml").exists() and not (projects / "101990004.yaml").exists()
    assert not (cli.data / "cordis" / "organisations" / "999990013.yaml").exists()  # only there
    assert (projects / "101990001.yaml").exists() and (projects / "899001.yaml").exists()
    assert cli("validate").code == 0


# ---------------------------------------------------------------- bad input never hurts


def broken_copy(tmp_path: Path, name: str, edit: dict[str, tuple[str, str]]) -> Path:
    target = tmp_path / name
    shutil.copytree(HE, target)
    for file, (old, new) in edit.items():
        path = target / file
        path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"organization.csv": ('";"', '","')}, "organization.csv:1:1: the header is one column"),
        ({"project.csv": ('"id"', '"identifier"')}, "project.csv:1:1: no column 'id'"),
    ],
)
def test_bad_input_is_said_with_its_place_and_leaves_the_data_as_it_was(
    cli: Cli, tmp_path: Path, edit: dict[str, tuple[str, str]], message: str
) -> None:
    imported(cli)
    before = tree(cli.data)
    bundle = broken_copy(tmp_path, "broken", edit)
    result = run_import(cli, str(bundle), "--atmp")
    assert result.code == 3
    assert f"atmptrack: error: {bundle}/{message}" in result.err
    assert tree(cli.data) == before


def test_a_truncated_zip_leaves_the_data_as_it_was(cli: Cli, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in HE.iterdir():
            archive.write(path, path.name)
    bundle.write_bytes(bundle.read_bytes()[:-200])
    before = tree(cli.data)
    result = run_import(cli, str(bundle))
    assert result.code == 3
    assert f"atmptrack: error: {bundle}: not a complete zip archive" in result.err
    assert tree(cli.data) == before


def test_malformed_rows_are_reported_and_the_rest_is_imported(cli: Cli) -> None:
    result = imported(cli)
    assert f"{HE}/organization.csv:6: warning: malformed row skipped" in result.err
    assert f"{HE}/organization.csv:7: warning: row skipped: 4 fields where the header has 24" in (
        result.err
    )
    assert "warning(s): rows or values skipped, as said above" in result.err


def test_a_zip_with_paths_outside_writes_nowhere_but_into(cli: Cli, tmp_path: Path) -> None:
    give_pics(cli)
    bundle = tmp_path / "evil.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in HE.iterdir():
            archive.write(path, f"csv/{path.name}")
        archive.writestr("../../evil.yaml", "sources: []\n")
        archive.writestr("../organisations/evil.yaml", "organisations: []\n")
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(cli.data)}
    result = run_import(cli, str(bundle), "--atmp", *MATCHES)
    assert result.code == 0, result.err
    assert (
        f"{bundle}:../../evil.yaml: warning: skipped: the entry's path leads outside" in result.err
    )
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(cli.data)} == outside
    assert not [p for p in cli.data.rglob("evil*")]
    assert (cli.data / "cordis" / "projects" / "101990001.yaml").exists()


def test_zips_and_their_directories_import_the_same(cli: Cli, tmp_path: Path) -> None:
    imported(cli)
    from_directories = tree(cli.data)
    shutil.rmtree(cli.data / "cordis" / "projects")
    shutil.rmtree(cli.data / "cordis" / "organisations")  # matches.tsv stays: decisions made
    zips = []
    for source in (HE, H2020):
        target = tmp_path / f"{source.name}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(source.iterdir()):
                archive.write(path, f"{source.name}/{path.name}")
        zips.append(str(target))
    result = run_import(cli, *zips, "--atmp")
    assert result.code == 0, result.err
    assert tree(cli.data) == from_directories


# ---------------------------------------------------------------- the command line


def test_dry_run_lists_and_writes_nothing(cli: Cli) -> None:
    before = tree(cli.data)
    result = run_import(cli, str(HE), "--atmp", "--dry-run")
    assert result.code == 0, result.err
    assert tree(cli.data) == before
    lines = result.out.splitlines()
    assert lines[0] == "project\tacronym\taction\tmembers\tsignals"
    assert (
        "101990001\tGENEXA\tnew\t3\ttopic HORIZON-HLTH-2023-TOOL-05-01,title: gene therapy" in lines
    )
    assert "101990004\tFIELDONLY\tnew\t0\tfield gene therapy" in lines
    assert "may be vhio" in result.err and "would import 3 project(s)" in result.err


def test_into_elsewhere_writes_there_only(cli: Cli, tmp_path: Path) -> None:
    give_pics(cli)
    before = tree(cli.data)
    elsewhere = tmp_path / "elsewhere"
    result = run_import(cli, str(HE), "--project", "101990002", "--into", str(elsewhere), *MATCHES)
    assert result.code == 0, result.err
    assert tree(cli.data) == before
    assert set(tree(elsewhere)) == {
        "projects/101990002.yaml",
        "organisations/999990013.yaml",
        "matches.tsv",
    }


def test_a_file_the_import_did_not_write_is_never_overwritten(cli: Cli) -> None:
    give_pics(cli)
    mine = cli.data / "organisations" / "999990013.yaml"  # a curator's file, by chance so named
    mine.write_text("organisations: []\n")
    before = tree(cli.data)
    result = run_import(cli, str(HE), "--project", "101990002", "--into", str(cli.data), *MATCHES)
    assert result.code == 3
    assert f"{mine} exists and was not written by the import; it is never overwritten" in result.err
    assert tree(cli.data) == before


def test_the_bundled_dataset_is_never_written(cli: Cli) -> None:
    env = {k: v for k, v in cli.env().items() if k != "ATMPTRACK_DATA"}
    result = cli("import", "cordis", str(HE), env=env)
    assert result.code == 2
    assert "is not a data directory of your own; give --data DIR, or --into DIR" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "abc"], "--project 'abc': a CORDIS project id has 5 to 9 digits"),
        (["--exclude", "1"], "--exclude '1': a CORDIS project id has 5 to 9 digits"),
        (["--programme", "fp7"], "--programme 'fp7': expected horizon"),
        (["--since", "2024-13"], "--since:"),
        (["--match", "vhio"], "--match 'vhio': expected ORGANISATION_ID=PIC"),
    ],
)
def test_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    before = tree(cli.data)
    result = run_import(cli, str(HE), *args)
    assert result.code == 2
    assert message in result.err
    assert tree(cli.data) == before


def test_import_is_a_command_group(cli: Cli) -> None:
    assert "import" in cli.ok("--help")
    assert "cordis" in cli.ok("import", "--help")
    assert "--atmp" in cli.ok("import", "cordis", "--help")


def test_reports_tell_member_shares_and_origins_without_any_import(landscape_cli: Cli) -> None:
    shares = rows(
        landscape_cli, "report", "funding", "--by", "country", "--section", "members_by_country"
    )
    # The landscape's two invented member contributions, each under its member's own country.
    assert [(r["country"], r["currency"], r["total"], r["members"]) for r in shares] == [
        ("DE", "EUR", 612500.75, 1),
        ("IT", "EUR", 250000, 1),
    ]
    by_country = rows(landscape_cli, "report", "funding", "--by", "country")
    assert {r["country"] for r in by_country} >= {"DE", "PT", "SI"}  # the coordinators', as before
    origins = rows(landscape_cli, "report", "coverage", "--columns", "origin")
    assert {r["origin"] for r in origins} == {"curated"}  # JOIN4ATMP cites CORDIS and more
