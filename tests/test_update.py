"""Updates: a read after some files changed reads only those files, and the store it leaves is
the one a full load of the same files writes, on both backends; a problem is reported as a
full check reports it, and the store stays as it was."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Cli, table_dump

Step = Callable[[Path], None]

EXTRA = """\
sources:
  - id: extra-source
    title: An extra source for the update tests
    url: https://example.org/extra
    publisher: Example
organisations:
  - id: extra-lab
    name: Extra Lab
    country: DE
    sector: research-institute
    parent: fraunhofer
    sources: [extra-source]
initiatives:
  - id: extra
    name: Extra initiative
    kind: network
    sources: [extra-source]
    members:
      - {organisation: extra-lab, role: coordinator, sources: [extra-source]}
      - {organisation: bih, role: member, sources: [vhio-join4atmp]}
"""


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _meta(db: Path | str) -> dict[str, str]:
    return {str(k): str(v) for k, v in table_dump(db)["meta"]}


def _data(db: Path | str) -> dict[str, list[tuple[object, ...]]]:
    return {name: rows for name, rows in table_dump(db).items() if name != "meta"}


def _read(cli: Cli) -> None:
    cli.ok("list", "initiatives", "--format", "json", "--columns", "id")


def edit_a_name(data: Path) -> None:
    _replace(
        data / "organisations/europe.yaml", "name: Berlin Institute of Health", "name: BIH Berlin"
    )


def add_a_file(data: Path) -> None:
    (data / "initiatives/extra.yaml").write_text(EXTRA)


def move_an_organisation(data: Path) -> None:
    """An organisation leaves one file for another: two files, one record that stays."""
    europe = data / "organisations/europe.yaml"
    text = europe.read_text()
    start = text.index("  - id: eurordis\n")
    end = text.index("\n\n", start) + 2
    europe.write_text(text[:start] + text[end:])
    extra = data / "initiatives/extra.yaml"
    extra_text = extra.read_text()
    _, _, rest = text[start:end].partition("\n")
    extra.write_text(
        extra_text.replace("organisations:\n", "organisations:\n  - id: eurordis\n" + rest, 1)
    )


def reparent_across_files(data: Path) -> None:
    _replace(data / "initiatives/extra.yaml", "parent: fraunhofer", "parent: kemijski-institut")


def rename_a_file(data: Path) -> None:
    os.rename(data / "initiatives/extra.yaml", data / "initiatives/renamed.yaml")


def rewrite_unchanged(data: Path) -> None:
    """Saved again with the same bytes: read again, and nothing differs."""
    path = data / "sources.yaml"
    path.write_bytes(path.read_bytes())


def remove_a_file(data: Path) -> None:
    """The file goes, and with it an initiative, an organisation and a source nobody else names."""
    path = data / "initiatives/renamed.yaml"
    text = path.read_text()
    start = text.index("  - id: eurordis\n")
    end = text.index("\n  - id: extra-lab")
    europe = data / "organisations/europe.yaml"
    europe.write_text(europe.read_text() + "\n" + text[start:end] + "\n")
    path.unlink()


# Each step changes the files the previous one left, and reads that many files again (None:
# the same bytes, which a store on a server, fingerprinted by content, does not read at all).
STEPS: list[tuple[Step, int | None]] = [
    (edit_a_name, 1),
    (add_a_file, 1),
    (move_an_organisation, 2),
    (reparent_across_files, 1),
    (rename_a_file, 1),
    (rewrite_unchanged, None),
    (remove_a_file, 1),
]


def test_each_update_reads_only_the_changed_files_and_leaves_what_a_full_load_writes(
    cli: Cli,
) -> None:
    _read(cli)
    files = int(_meta(cli.db)["files"])
    assert _meta(cli.db)["files_read"] == str(files)
    for step, read in STEPS:
        step(cli.data)
        _read(cli)
        meta = _meta(cli.db)
        if read is None:
            read = 1 if isinstance(cli.db, Path) else int(meta["files"])  # the last full load
        assert meta["files_read"] == str(read), step.__name__
        told = json.loads(cli.ok("store", "--format", "json"))
        assert (told["files"], told["files_read"]) == (int(meta["files"]), read)
        updated = _data(cli.db)
        cli.ok("load", "-q")  # every file again
        assert _meta(cli.db)["files_read"] == meta["files"], step.__name__
        assert _data(cli.db) == updated, step.__name__


# Every command's answer from an updated store is the one from a loaded store: no answer
# depends on the order in which rows were written.
COMMANDS = [
    *(
        ["list", entity]
        for entity in (
            "initiatives",
            "organisations",
            "partners",
            "members",
            "funding",
            "milestones",
            "people",
            "workgroups",
            "sources",
        )
    ),
    *(["report", name] for name in ("funding", "partners", "overlap", "timeline", "coverage")),
]


def test_every_answer_from_an_updated_store_is_the_answer_from_a_loaded_one(cli: Cli) -> None:
    _read(cli)
    for step, _ in STEPS[:5]:
        step(cli.data)
    _read(cli)
    assert _meta(cli.db)["files_read"] != _meta(cli.db)["files"]
    updated = {" ".join(c): cli.ok(*c, "--format", "json") for c in COMMANDS}
    cli.ok("load", "-q")
    loaded = {" ".join(c): cli.ok(*c, "--format", "json") for c in COMMANDS}
    assert updated == loaded


def duplicate_id_in_another_file(data: Path) -> None:
    (data / "initiatives/extra.yaml").write_text(EXTRA.replace("id: extra-lab", "id: bih"))


def id_of_another_kind(data: Path) -> None:
    """An initiative takes an organisation's id: no table's key sees it, the checks do."""
    (data / "initiatives/extra.yaml").write_text(EXTRA.replace("  - id: extra\n", "  - id: bih\n"))


def unknown_organisation(data: Path) -> None:
    _replace(
        data / "initiatives/centres.yaml",
        "organisation: univ-sheffield",
        "organisation: univ-shefield",
    )


def record_another_file_names_removed(data: Path) -> None:
    europe = data / "organisations/europe.yaml"
    text = europe.read_text()
    start = text.index("  - id: bih\n")
    europe.write_text(text[:start] + text[text.index("\n\n", start) + 2 :])


def parent_cycle_across_files(data: Path) -> None:
    add_a_file(data)
    _replace(
        data / "organisations/europe.yaml",
        "id: fraunhofer\n",
        "id: fraunhofer\n    parent: extra-lab\n",
    )


def invalid_record(data: Path) -> None:
    _replace(data / "organisations/slovenia.yaml", "country: SI", "country: XX")


def unreadable_name(data: Path) -> None:
    shutil.copy(data / "sources.yaml", os.fsdecode(bytes(data / "initiatives") + b"/bad\xff.yaml"))


@pytest.mark.parametrize(
    "step",
    [
        duplicate_id_in_another_file,
        id_of_another_kind,
        unknown_organisation,
        record_another_file_names_removed,
        parent_cycle_across_files,
        invalid_record,
        unreadable_name,
    ],
)
def test_a_problem_an_update_meets_is_reported_as_a_full_check_reports_it(
    cli: Cli, tmp_path: Path, step: Step
) -> None:
    _read(cli)
    before = table_dump(cli.db)
    step(cli.data)
    updated = cli("list", "initiatives")
    fresh = cli("--db", str(tmp_path / "fresh.sqlite"), "list", "initiatives")
    assert updated.code == fresh.code == 3, updated.err
    assert updated.err == fresh.err
    assert updated.out == ""
    assert table_dump(cli.db) == before


def test_symbolic_links_and_many_changed_files_are_loaded_whole(cli: Cli, tmp_path: Path) -> None:
    _read(cli)
    outside = tmp_path / "outside.yaml"
    shutil.copy(cli.data / "initiatives/geneh.yaml", outside)
    (cli.data / "initiatives/geneh.yaml").unlink()
    (cli.data / "initiatives/geneh.yaml").symlink_to(outside)
    _read(cli)
    meta = _meta(cli.db)
    assert meta["files_read"] == meta["files"]
    _replace(outside, "GeneH", "GeneH hub")
    _read(cli)
    meta = _meta(cli.db)
    assert meta["files_read"] == meta["files"]
    linked = _data(cli.db)
    cli.ok("load", "-q")
    assert _data(cli.db) == linked
    for n in range(60):  # more than an update reads
        (cli.data / f"more-{n}.yaml").write_text(
            f"sources:\n  - {{id: more-{n}, title: More {n}, url: https://example.org/{n}, "
            "publisher: Example}\n"
        )
    _read(cli)
    meta = _meta(cli.db)
    assert meta["files_read"] == meta["files"] == str(10 + 60)


def test_a_store_of_one_file_is_loaded_whole_when_the_data_becomes_a_directory(
    cli: Cli, tmp_path: Path
) -> None:
    """Rows of a one-file dataset name their file otherwise than a directory's rows do."""
    lonely = tmp_path / "lonely.yaml"
    lonely.write_text(
        "sources:\n  - {id: lonely, title: Lonely, url: https://example.org/lonely}\n"
    )
    cli.ok("--data", str(lonely), "list", "sources")
    _read(cli)
    meta = _meta(cli.db)
    assert meta["files_read"] == meta["files"] == "10"
    assert not any("lonely" in row for row in _data(cli.db)["source"])
