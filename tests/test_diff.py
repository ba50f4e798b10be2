"""Semantic diffs on real git repositories made by the tests, with exact change lists."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from atmptrack.diff import Snapshot
from atmptrack.yamlio import read_yaml

from conftest import LANDSCAPE, Cli

GIT = [
    "git",
    "-c",
    "user.email=test@example.org",
    "-c",
    "user.name=test",
    "-c",
    "commit.gpgsign=false",
]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1: the bundled data; v2: domain edits; v3: the same data reformatted and re-filed."""
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q")
    shutil.copytree(LANDSCAPE, repo / "data")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")

    data = repo / "data"
    join = data / "initiatives" / "join4atmp.yaml"
    edit(join, "amount: 3000000\n        currency: EUR", "amount: 3100000\n        currency: EUR")
    edit(join, "date: 2024-01-25", "date: 2024-01-18")
    edit(join, "{organisation: eurice, role: partner,", "{organisation: eurice, role: supporting,")
    edit(join, "      - {organisation: eurordis, role: partner, sources: [join4atmp-site]}\n", "")
    edit(
        join,
        "{organisation: charite, role: coordinator,",
        "{organisation: charite, role: co-coordinator,",
    )
    edit(
        join,
        "{organisation: ospedale-san-raffaele, role: co-coordinator,",
        "{organisation: ospedale-san-raffaele, role: coordinator,",
    )
    edit(join, "name: GMP manufacturing across the EU", "name: GMP manufacturing in Europe")
    catalonia = data / "initiatives" / "catalonia.yaml"
    edit(catalonia, '        date: "--10"', '        date: "--11"')
    edit(
        data / "organisations" / "slovenia.yaml", "name: BioSistemika", "name: BioSistemika d.o.o."
    )
    edit(data / "organisations" / "europe.yaml", "    country: FR\n", "    country: BE\n")
    edit(
        data / "initiatives" / "geneh.yaml",
        "{organisation: ipn, role: partner, sources: [ctgct-geneh-role, bluepharma-geneh]}",
        "{organisation: ipn, role: partner, sources: [bluepharma-geneh]}",
    )
    (data / "initiatives" / "networks.yaml").write_text(
        (data / "initiatives" / "networks.yaml").read_text()
        + "\n  - id: new-net\n    name: New Net\n    kind: network\n    sources: [join4atmp-site]\n"
    )
    git(repo, "commit", "-qam", "v2")
    git(repo, "tag", "v2")

    # v3: reformat every file (flow style, reversed keys, no comments) and move one record.
    for path in sorted(data.rglob("*.yaml")):
        document = read_yaml(path).data
        path.write_text(
            yaml.safe_dump(
                reversed_keys(document),
                allow_unicode=True,
                default_flow_style=True,
                width=70,
                sort_keys=False,
            )
        )
    portugal = data / "organisations" / "portugal.yaml"
    records = yaml.safe_load(portugal.read_text())
    moved = records["organisations"].pop(0)
    portugal.write_text(yaml.safe_dump(records, allow_unicode=True, sort_keys=False))
    (data / "moved.yml").write_text(yaml.safe_dump({"organisations": [moved]}, allow_unicode=True))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v3")
    git(repo, "tag", "v3")
    return repo


@pytest.fixture
def cli_in(repo: Path, tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(repo / "data", tmp_path / "store.sqlite", home)


def changes(cli: Cli, *args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    result = cli("diff", *args, "--format", "json", cwd=cwd)
    assert result.code == 0, result.err
    return list(json.loads(result.out))


EXPECTED_V1_V2 = [
    (
        "organisation",
        "biosistemika",
        "renamed",
        "name",
        "BioSistemika",
        "BioSistemika d.o.o.",
        None,
        None,
    ),
    ("organisation", "eurordis", "moved-country", "country", "FR", "BE", None, None),
    (
        "initiative",
        "join4atmp",
        "coordinator-changed",
        "coordinator",
        "charite",
        "ospedale-san-raffaele",
        "join4atmp",
        None,
    ),
    ("initiative", "new-net", "added", None, None, "New Net", "new-net", None),
    (
        "member",
        "geneh/ipn",
        "changed",
        "sources",
        ["ctgct-geneh-role", "bluepharma-geneh"],
        ["bluepharma-geneh"],
        "geneh",
        None,
    ),
    (
        "member",
        "join4atmp/charite",
        "role-changed",
        "role",
        "coordinator",
        "co-coordinator",
        "join4atmp",
        None,
    ),
    (
        "member",
        "join4atmp/eurice",
        "role-changed",
        "role",
        "partner",
        "supporting",
        "join4atmp",
        None,
    ),
    ("member", "join4atmp/eurordis", "left", "role", "partner", None, "join4atmp", None),
    (
        "member",
        "join4atmp/ospedale-san-raffaele",
        "role-changed",
        "role",
        "co-coordinator",
        "coordinator",
        "join4atmp",
        None,
    ),
    (
        "workgroup",
        "join4atmp/wp2",
        "renamed",
        "name",
        "GMP manufacturing across the EU",
        "GMP manufacturing in Europe",
        "join4atmp",
        None,
    ),
    (
        "milestone",
        "at-network-catalonia/work-groups-launch",
        "moved",
        "date",
        "--10",
        "--11",
        "at-network-catalonia",
        "+1 month",
    ),
    (
        "milestone",
        "join4atmp/kick-off",
        "moved",
        "date",
        "2024-01-25",
        "2024-01-18",
        "join4atmp",
        "-7 days",
    ),
    (
        "funding",
        "join4atmp/horizon-europe-csa",
        "funding-changed",
        "amount",
        3000000,
        3100000,
        "join4atmp",
        "+100000",
    ),
]


def as_tuples(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("entity", "id", "change", "field", "old", "new", "initiative", "detail")
    return [tuple(c[k] for k in keys) for c in found]


def test_domain_changes_between_two_revisions(cli_in: Cli) -> None:
    assert as_tuples(changes(cli_in, "v1", "v2")) == EXPECTED_V1_V2


def test_reformatting_and_moving_records_between_files_is_no_change(cli_in: Cli) -> None:
    assert changes(cli_in, "v2", "v3") == []
    result = cli_in("diff", "v2", "v3", "--exit-code")
    assert result.code == 0


def test_one_argument_compares_with_the_working_tree(cli_in: Cli, repo: Path) -> None:
    assert as_tuples(changes(cli_in, "v1")) == EXPECTED_V1_V2
    assert changes(cli_in, "HEAD~1") == []


def test_exit_code_like_git_diff(cli_in: Cli) -> None:
    assert cli_in("diff", "v1", "v2", "--exit-code").code == 1
    assert cli_in("diff", "v1", "v2").code == 0
    assert cli_in("diff", "no-such-rev").code == 2


def test_sides_can_be_directories_files_stores_and_rev_paths(
    cli_in: Cli, repo: Path, tmp_path: Path
) -> None:
    old_dir = tmp_path / "old"
    shutil.copytree(LANDSCAPE, old_dir)
    assert as_tuples(changes(cli_in, str(old_dir), "v2")) == EXPECTED_V1_V2
    assert as_tuples(changes(cli_in, "v1:data", "v2:data")) == EXPECTED_V1_V2
    # A store file loaded from v1 compares like v1 itself.
    store = tmp_path / "v1.sqlite"
    load = cli_in("--data", str(old_dir), "--db", str(store), "load", "-q")
    assert load.code == 0, load.err
    assert as_tuples(changes(cli_in, str(store), "v2")) == EXPECTED_V1_V2
    # A single YAML file: the sources alone.
    one = tmp_path / "sources.yaml"
    shutil.copy(LANDSCAPE / "sources.yaml", one)
    two = tmp_path / "sources2.yaml"
    two.write_text(one.read_text().replace("  - id: igtp-atnc", "  - id: igtp-news"))
    found = as_tuples(changes(cli_in, str(one), str(two)))
    assert [(f[1], f[2]) for f in found] == [("igtp-atnc", "removed"), ("igtp-news", "added")]


def test_an_invalid_side_says_which_side_and_where(cli_in: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(LANDSCAPE, bad)
    edit(bad / "initiatives" / "geneh.yaml", "role: coordinator", "role: boss")
    result = cli_in("diff", "v1", str(bad))
    assert result.code == 3
    first = result.err.splitlines()[0]
    assert first.startswith(f"NEW {bad}/initiatives/geneh.yaml:")
    assert "boss" in first and "Traceback" not in result.err


def test_markdown_table_tsv_and_stat(cli_in: Cli) -> None:
    markdown = cli_in("diff", "v1", "v2", "-f", "markdown").out
    assert markdown.startswith("## Changes from v1:data to v2:data: 13\n")
    assert "### Removed\n\n- eurordis left join4atmp (was partner)\n" in markdown
    assert (
        "- milestone kick-off in join4atmp moved from 2024-01-25 to 2024-01-18 (-7 days)"
        in markdown
    )
    table = cli_in("diff", "v1", "v2", "-f", "table").out
    assert "Added (1)" in table and "Removed (1)" in table and "Changed (11)" in table
    tsv = cli_in("diff", "v1", "v2", "-f", "tsv").out.splitlines()
    assert tsv[0] == "entity\tid\tchange\tfield\told\tnew\tinitiative\tdetail"
    assert len(tsv) == 1 + len(EXPECTED_V1_V2)
    stat = cli_in("diff", "v1", "v2", "--stat", "-f", "json").out
    assert {"entity": "member", "change": "role-changed", "count": 3} in json.loads(stat)


# ---------------------------------------------------------------- compare, unit by unit


def _member(ini: str, org: str, role: str) -> dict[str, Any]:
    return {"initiative": ini, "organisation": org, "role": role, "note": None, "sources": ["s"]}


OLD: Snapshot = {
    "initiative": {"net": {"name": "Net", "sources": ["s"]}, "gone": {"name": "Gone"}},
    "organisation": {"lab": {"name": "Lab", "country": "PT"}},
    "member": {
        "net/lab": _member("net", "lab", "coordinator"),
        "net/co": _member("net", "co", "partner"),
        "net/old": _member("net", "old", "partner"),
    },
    "milestone": {"net/kick": {"initiative": "net", "date": "2024-03-05", "place": "Porto"}},
    "funding": {"net/grant": {"initiative": "net", "amount": "3000000", "currency": "EUR"}},
}
NEW: Snapshot = {
    "initiative": {"net": {"name": "The Net", "sources": ["s"]}, "new": {"name": "New"}},
    "organisation": {"lab": {"name": "Lab", "country": "SI"}},
    "member": {
        "net/lab": _member("net", "lab", "partner"),
        "net/co": _member("net", "co", "coordinator"),
        "net/fresh": _member("net", "fresh", "member"),
    },
    "milestone": {"net/kick": {"initiative": "net", "date": "2024-03-08", "place": "Lisbon"}},
    "funding": {"net/grant": {"initiative": "net", "amount": "2500000.50", "currency": "EUR"}},
}


def test_compare_tells_every_kind_of_change_in_domain_words() -> None:
    from atmptrack.diff import ChangeKind, compare

    changes = compare(OLD, NEW)
    found = {(c.entity, c.id, c.change, c.field, c.old, c.new) for c in changes}
    assert ("initiative", "new", "added", None, None, "New") in found
    assert ("initiative", "gone", "removed", None, "Gone", None) in found
    assert ("initiative", "net", "renamed", "name", "Net", "The Net") in found
    assert ("organisation", "lab", "moved-country", "country", "PT", "SI") in found
    assert ("member", "net/fresh", "joined", "role", None, "member") in found
    assert ("member", "net/old", "left", "role", "partner", None) in found
    assert ("member", "net/lab", "role-changed", "role", "coordinator", "partner") in found
    assert ("milestone", "net/kick", "changed", "place", "Porto", "Lisbon") in found
    moved = next(c for c in changes if c.change == "moved")
    assert (moved.old, moved.new, moved.detail) == ("2024-03-05", "2024-03-08", "+3 days")
    money = next(c for c in changes if c.change == "funding-changed")
    assert (money.old, money.new, money.detail) == (
        Decimal("3000000"),
        Decimal("2500000.50"),
        "-499999.50",
    )
    coordinator = next(c for c in changes if c.change == "coordinator-changed")
    assert (coordinator.id, coordinator.old, coordinator.new) == ("net", "lab", "co")
    # Every declared kind of change is one that compare produces.
    assert {c.change for c in changes} == set(get_args(ChangeKind))


def test_compare_sees_nothing_between_equal_snapshots_and_orders_its_changes() -> None:
    from atmptrack.diff import compare

    assert compare(OLD, OLD) == []
    changes = compare(OLD, NEW)
    assert changes == compare(OLD, NEW)  # stable
    order = ["source", "organisation", "initiative", "member", "workgroup", "milestone"]
    ranks = [order.index(c.entity) for c in changes if c.entity in order]
    assert ranks == sorted(ranks)


def _checkout(repo: Path, rev: str, target: Path) -> Path:
    """The data directory of a revision, as files."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "data"], cwd=repo, check=True, capture_output=True
    ).stdout
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "data"


@pytest.mark.parametrize(
    ("in_use", "other", "in_use_is"),
    [("v2", "v1", "NEW"), ("v1", "v2", "OLD"), ("v3", "v2", "NEW"), ("v3", "v1", "OLD")],
)
def test_a_diff_with_the_data_in_use_reads_only_the_files_that_differ_and_finds_every_change(
    repo: Path, tmp_path: Path, in_use: str, other: str, in_use_is: str
) -> None:
    """One side is the data directory in use: its store holds it, and only the files that
    differ are read and compared. The changes are those of two sides loaded whole."""
    from atmptrack import diff as core
    from atmptrack.refresh import ensure_fresh

    data = _checkout(repo, in_use, tmp_path / "in-use")
    elsewhere = _checkout(repo, other, tmp_path / "other")
    (elsewhere / "extra.yaml").write_text(  # a file only one side has
        "initiatives:\n  - {id: extra, name: Extra, kind: network, sources: [join4atmp-site],\n"
        "     members: [{organisation: charite, role: member, sources: [join4atmp-site]}]}\n"
    )
    store = tmp_path / "store.sqlite"
    ensure_fresh(data, store)
    sides = {
        in_use_is: core.Side("in use", data),
        ("OLD" if in_use_is == "NEW" else "NEW"): core.Side("other", elsewhere),
    }
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    by_files = core.compare_by_files(sides, data, store, scratch)
    assert by_files is not None
    whole = core.compare(
        core.load_side(sides["OLD"], scratch, "OLD"), core.load_side(sides["NEW"], scratch, "NEW")
    )
    assert by_files == whole
    assert any(c.entity == "initiative" and c.id == "extra" for c in whole)
    # An invalid file on the other side: a load of that side says what is wrong, and where.
    edit(elsewhere / "initiatives" / "geneh.yaml", "role: coordinator", "role: boss")
    assert core.compare_by_files(sides, data, store, scratch) is None


def test_a_diff_never_takes_a_store_that_another_process_is_writing_for_the_files(
    cli_in: Cli, repo: Path, tmp_path: Path
) -> None:
    """The data directory changed while another process holds its store: the store is the
    previous dataset, so the diff loads the files instead of trusting it."""
    import sqlite3

    data = _checkout(repo, "v2", tmp_path / "in-use")
    v2 = str(_checkout(repo, "v2", tmp_path / "v2"))
    cli = Cli(data, tmp_path / "busy.sqlite", cli_in.home)
    assert changes(cli, v2) == []  # the store now holds v2
    edit(
        data / "organisations" / "slovenia.yaml", "name: BioSistemika d.o.o.", "name: BioSistemika"
    )
    writer = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        found = changes(cli, v2)
    finally:
        writer.close()
    assert [(c["id"], c["change"], c["new"]) for c in found] == [
        ("biosistemika", "renamed", "BioSistemika")
    ]
