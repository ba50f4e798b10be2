"""Reading CORDIS exports as published: every quirk of tests/cordis/README.md, and broken input.

These tests call the reader (`atmptrack.cordis`) on the fixture files and on files made from
them; `test_cordis_import.py` runs the whole command.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest

from atmptrack import atmp, cordis
from atmptrack.cordis import CordisError, Export, Invalid, Selection, read_export

FIXTURES = Path(__file__).resolve().parent / "cordis"
HE = FIXTURES / "he-csv"
OLD = FIXTURES / "he-csv-old-quoting"
H2020 = FIXTURES / "h2020-json"
EVERY = Selection(projects={"101990001", "101990002", "101990003", "101990004", "101990005"})


def read(*paths: Path, selection: Selection | None = None) -> Export:
    return read_export(list(paths), selection or Selection())


def messages(export: Export) -> list[str]:
    return [f"{where}: {why}" for where, why in export.warnings]


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("written", "exact"),
    [
        ("2835524,25", "2835524.25"),  # a decimal comma
        ("2500000.5", "2500000.5"),
        ("1.732084396E7", "17320843.96"),  # as Java writes a double
        ("1.0E7", "10000000"),
        ("250000.00", "250000"),
        ("0", "0"),
        (" 12 ", "12"),
        ("", None),
    ],
)
def test_amounts_are_exact_whatever_the_notation(written: str, exact: str | None) -> None:
    assert cordis.amount(written) == exact


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("n/a", "is not an amount"),
        ("1.000.000", "is not an amount"),
        ("12,5.0", "both a decimal comma and a decimal point"),
        ("-5", "is not an amount"),
        ("1E20", "too large"),
        ("1.23456", "more than 4 decimal places"),
        ("nan", "is not an amount"),
    ],
)
def test_what_is_not_an_amount_says_why(written: str, words: str) -> None:
    with pytest.raises(Invalid, match=words):
        cordis.amount(written)


def test_an_amount_never_passes_through_a_float() -> None:
    # A float keeps about 16 digits: 1234567890123.4567 would come back as ...4568.
    assert cordis.amount("1234567890123.4567") == "1234567890123.4567"
    assert cordis.amount("1234567890123,4567") == "1234567890123.4567"


def test_booleans_dates_and_whole_numbers() -> None:
    assert [cordis.boolean(v) for v in ("true", "false", "", "TRUE")] == [True, False, None, True]
    with pytest.raises(Invalid):
        cordis.boolean("maybe")
    assert cordis.day("2024-05-14 10:22:11") == "2024-05-14"
    assert cordis.day("2024-01-01") == "2024-01-01"
    with pytest.raises(Invalid):
        cordis.day("2024-02-30")
    assert cordis.whole("2.0") == 2
    with pytest.raises(Invalid):
        cordis.whole("one")


def test_eu_country_codes_become_iso_and_the_written_code_is_kept() -> None:
    assert cordis.country("EL") == ("GR", "EL")
    assert cordis.country("UK") == ("GB", "UK")
    assert cordis.country("de") == ("DE", None)
    assert cordis.country("") == (None, None)
    assert cordis.country("XX") == (None, "XX")


def test_csv_escaping_that_leaked_into_a_text_is_undone() -> None:
    assert cordis.unescaped('"A ""quoted"" word"') == 'A "quoted" word'
    # A text that merely starts and ends with a quotation keeps its quotes.
    assert cordis.unescaped('"A" and "B"') == '"A" and "B"'
    assert cordis.unescaped("one\r\ntwo  \rthree") == "one\ntwo\nthree"
    assert cordis.unescaped("bell\x07 and \u202eoverride") == "bell  and  override"


def test_atmp_words_keep_their_case_where_it_matters() -> None:
    assert atmp.word_signals("CAR-T cells, CAR T therapy") == ["CAR-T"]
    assert atmp.word_signals("a cellular therapy") == ["cell therapy"]
    assert atmp.word_signals("a car transport study") == []
    assert atmp.word_signals("ATMPs in hospitals") == ["ATMP"]
    assert atmp.word_signals("atmp is not the acronym") == []
    assert atmp.word_signals("Advanced therapies and gene-therapy vectors") == [
        "gene therapy",
        "advanced therapy",
    ]
    assert atmp.field_signal("/medical and health sciences/.../gene therapy") == "gene therapy"
    assert atmp.topic_signal("horizon-hlth-2023-ind-06-05")
    assert not atmp.topic_signal("HORIZON-WIDERA-2022-ACCESS-01-01-two-stage")


# ---------------------------------------------------------------- Horizon Europe CSV


def test_horizon_europe_csv_by_column_name() -> None:
    export = read(HE, selection=EVERY)
    genexa = export.projects["101990001"]
    assert genexa.acronym == "GENEXA"
    assert genexa.title == 'Gene therapy for an invented retinal disease; a "test" project'
    assert genexa.objective == (
        'An invented objective: the consortium tests "vector" designs;\nit runs over two lines.'
    )
    assert (genexa.total_cost, genexa.ec_max) == ("2835524.25", "2500000.5")
    assert (genexa.start, genexa.end, genexa.updated) == ("2024-01-01", "2027-12-31", "2024-05-14")
    assert genexa.programme == "Horizon Europe"
    assert (genexa.call, genexa.topic, genexa.scheme) == (
        "HORIZON-HLTH-2023-TOOL-05",
        "HORIZON-HLTH-2023-TOOL-05-01",
        "HORIZON-RIA",
    )
    rows = {p.pic: p for p in export.participations["101990001"]}
    assert set(rows) == {"999990001", "999990002", "999990010", "999990011", "999990012"}
    biotech = rows["999990010"]
    assert (biotech.activity, biotech.country, biotech.country_written) == ("PRC;PRC", "GR", "EL")
    assert (biotech.sme, biotech.ended, biotech.order, biotech.role) == (
        True,
        None,
        3,
        "participant",
    )
    assert (biotech.ec, biotech.net_ec) == ("500000", "450000")
    assert rows["999990011"].country == "GB" and rows["999990011"].role == "thirdParty"
    assert rows["999990001"].ec == "1000000.5"  # a decimal comma in this column
    assert rows["999990012"].ec is None  # "" is unknown, not zero


def test_a_malformed_row_is_reported_with_file_and_line_and_skipped() -> None:
    export = read(HE, selection=EVERY)
    found = messages(export)
    assert f"{HE}/organization.csv:6: malformed row skipped (';' expected after '\"')" in found
    assert f"{HE}/organization.csv:7: row skipped: 4 fields where the header has 24" in found
    assert "999990014" not in {p.pic for p in export.participations["101990001"]}


def test_values_that_are_not_what_their_column_holds_are_left_unknown() -> None:
    export = read(HE, selection=EVERY)
    bad = export.projects["101990005"]
    assert (bad.total_cost, bad.ec_max) == (None, None)
    (row,) = export.participations["101990005"]
    assert (row.sme, row.order, row.ec) == (None, None, None)
    found = messages(export)
    project_line = f"{HE}/project.csv:8"  # GENEXA's objective takes two lines
    assert f"{project_line}: ecMaxContribution: 'n/a' is not an amount; left unknown" in found
    assert f"{project_line}: totalCost: '1.000.000' is not an amount; left unknown" in found
    assert any("SME: 'maybe' is not true, false or empty" in m for m in found)
    assert any("order: 'one' is not a whole number" in m for m in found)


def test_both_quoting_styles_and_column_orders_read_the_same() -> None:
    wanted = Selection(projects={"101990001", "101990002"})
    recent, older = read(HE, selection=wanted), read(OLD, selection=wanted)
    for pid in wanted.projects:
        a, b = recent.projects[pid], older.projects[pid]
        assert (a.title, a.objective, a.total_cost, a.ec_max, a.topic, a.status) == (
            b.title,
            b.objective,
            b.total_cost,
            b.ec_max,
            b.topic,
            b.status,
        )
        assert b.grant_doi == ""  # this vintage has no grantDoi column

        def pics(export: Export, project: str = pid) -> list[tuple[str, str | None, str]]:
            return sorted((p.pic, p.ec, p.name) for p in export.participations[project])

        assert pics(recent) == pics(older)


def test_rows_of_projects_not_selected_are_dropped_as_they_are_read() -> None:
    export = read(HE, selection=Selection(projects={"101990002"}))
    assert list(export.projects) == ["101990002"]
    assert list(export.participations) == ["101990002"]
    assert export.rows_read > 10
    # What is wrong with a project nobody asked for is not reported.
    assert not any("ecMaxContribution" in m for m in messages(export))


# ---------------------------------------------------------------- selection


def selected(selection: Selection) -> list[str]:
    return sorted(read(HE, selection=selection).projects)


def test_atmp_selects_by_topic_field_and_words_and_not_by_a_broad_topic() -> None:
    export = read(HE, selection=Selection(atmp=True))
    # QUANTEAM sits under the Teaming topic, which funds other fields too: not selected.
    assert sorted(export.projects) == ["101137206", "101990001", "101990002", "101990004"]
    assert export.projects["101990001"].signals == [
        "topic HORIZON-HLTH-2023-TOOL-05-01",
        "title: gene therapy",
    ]
    assert export.projects["101990002"].signals == [
        "topic HORIZON-HLTH-2021-TOOL-06-02",
        "objective: CAR-T",
    ]
    assert export.projects["101990004"].signals == ["field gene therapy"]


def test_exclude_wins_and_named_projects_add_to_the_filters() -> None:
    assert selected(Selection(atmp=True, exclude={"101990004", "101137206"})) == [
        "101990001",
        "101990002",
    ]
    assert "101990003" in selected(Selection(atmp=True, projects={"101990003"}))
    assert selected(Selection(projects={"101990003"})) == ["101990003"]


def test_topic_programme_and_since() -> None:
    assert selected(Selection(topics=["horizon-hlth-2023"])) == ["101137206", "101990001"]
    assert selected(Selection(since="2024-06-01")) == ["101990004", "101990005"]
    assert selected(Selection(programme="H2020")) == []
    assert len(selected(Selection(programme="HORIZON"))) == 6
    assert cordis.programme_code("Horizon Europe") == "HORIZON"
    assert cordis.programme_code("horizon-2020") == "H2020"
    assert cordis.programme_code("FP7") is None


# ---------------------------------------------------------------- H2020 JSON


def test_h2020_json_with_java_exponents_and_mixed_types() -> None:
    export = read(H2020)
    gene = export.projects["899001"]
    assert (gene.total_cost, gene.ec_max) == ("17320843.96", "17320843.96")
    assert gene.programme == "Horizon 2020" and gene.status == "ONG" and gene.grant_doi == ""
    rows = {p.pic: p for p in export.participations["899001"]}
    assert (rows["999990040"].ec, rows["999990040"].net_ec) == ("10000000", "10000000")
    assert rows["999990041"].order == 2  # written 2.0
    assert (rows["999990041"].sme, rows["999990042"].sme) == (None, True)  # "" and true
    assert rows["999990042"].ended is True and rows["999990042"].country == "GB"
    assert rows["999990041"].role == "partner"
    assert export.projects["899002"].ec_max == "999999.5"


def test_json_numbers_stay_as_written() -> None:
    table = cordis._file(H2020 / "organization.json")
    first = next(cordis.rows(table, (), lambda where, why: None))
    assert first == (2, first[1])
    assert first[1]["postCode"] == "912"  # a number that lost its zeros: text, not trusted
    assert first[1]["ecContribution"] == "1.0E7"
    assert first[1]["SME"] == "false"


def test_json_is_streamed_in_pieces_with_the_right_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = [
        (line, row)
        for line, row in cordis.rows(cordis._file(H2020 / "organization.json"), (), print)
    ]
    # Tiny chunks: every record is cut somewhere, and must come out the same, at the same line.
    monkeypatch.setattr(cordis, "_CHUNK", 7)
    pieces = list(cordis.rows(cordis._file(H2020 / "organization.json"), (), print))
    assert pieces == whole
    assert [line for line, _ in whole] == [2, 28, 54, 80]


def test_json_cut_short_or_broken_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = (H2020 / "organization.json").read_text(encoding="utf-8")
    cut = tmp_path / "cut" / "organization.json"
    cut.parent.mkdir()
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    shutil.copy(H2020 / "project.json", cut.parent / "project.json")
    with pytest.raises(CordisError, match=r"organization\.json:\d+: not JSON .*cut short"):
        read(cut.parent)
    broken = tmp_path / "broken" / "organization.json"
    broken.parent.mkdir()
    broken.write_text(text.replace('"SME": true', '"SME": tru', 1), encoding="utf-8")
    shutil.copy(H2020 / "project.json", broken.parent / "project.json")
    with pytest.raises(CordisError, match=r"organization\.json:61: not JSON"):
        read(broken.parent)


# ---------------------------------------------------------------- bundles and broken input


def zipped(
    source: Path, target: Path, *, folder: str = "csv/", extra: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.iterdir()):
            archive.write(path, folder + path.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def test_a_zip_reads_as_its_directory(tmp_path: Path) -> None:
    bundle = zipped(HE, tmp_path / "cordis-HORIZONprojects-csv.zip")
    from_zip, from_dir = read(bundle, selection=EVERY), read(HE, selection=EVERY)
    assert from_zip.projects.keys() == from_dir.projects.keys()
    assert [p.title for p in from_zip.projects.values()] == [
        p.title for p in from_dir.projects.values()
    ]
    assert f"{bundle}:csv/organization.csv:6: malformed row skipped (';' expected after '\"')" in (
        messages(from_zip)
    )


def test_zip_entries_that_lead_outside_are_never_followed(tmp_path: Path) -> None:
    evil = b'"id";"title"\n"101990009";"evil"\n'
    inner = tmp_path / "inside"
    inner.mkdir()
    bundle = zipped(
        HE,
        inner / "bundle.zip",
        extra={"../escaped.csv": evil, "../../project.csv": evil, "/abs/topics.csv": evil},
    )
    before = sorted(p for p in tmp_path.rglob("*"))
    export = read(bundle, selection=EVERY)
    assert "101990009" not in export.projects
    found = messages(export)
    for name in ("../escaped.csv", "../../project.csv", "/abs/topics.csv"):
        assert f"{bundle}:{name}: skipped: the entry's path leads outside the archive" in found
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing extracted, anywhere


def test_a_truncated_zip_is_a_clean_error(tmp_path: Path) -> None:
    bundle = zipped(HE, tmp_path / "whole.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    with pytest.raises(CordisError, match=r"cut\.zip: not a complete zip archive"):
        read(cut)


def test_a_damaged_entry_is_an_error_at_its_place(tmp_path: Path) -> None:
    big = tmp_path / "big"
    shutil.copytree(HE, big)
    rows = (HE / "organization.csv").read_text(encoding="utf-8").splitlines()
    (big / "organization.csv").write_text("\n".join(rows[:1] + rows[1:3] * 3000) + "\n")
    bundle = zipped(big, tmp_path / "damaged.zip", folder="")
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo("organization.csv")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size // 2
    raw[middle : middle + 64] = bytes(64)
    bundle.write_bytes(bytes(raw))
    with pytest.raises(
        CordisError, match=r"damaged\.zip:organization\.csv:\d+: the archive is damaged"
    ):
        read(bundle, selection=EVERY)


def test_a_wrong_delimiter_is_said_at_line_1(tmp_path: Path) -> None:
    bundle = tmp_path / "commas"
    shutil.copytree(HE, bundle)
    text = (HE / "organization.csv").read_text(encoding="utf-8")
    (bundle / "organization.csv").write_text(text.replace('";"', '","'), encoding="utf-8")
    with pytest.raises(CordisError) as caught:
        read(bundle, selection=EVERY)
    assert caught.value.message.startswith(
        f"{bundle}/organization.csv:1:1: the header is one column"
    )
    assert "separated by ','" in caught.value.message


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    bundle = tmp_path / "no-pic"
    shutil.copytree(HE, bundle)
    text = (HE / "organization.csv").read_text(encoding="utf-8")
    (bundle / "organization.csv").write_text(text.replace('"organisationID"', '"orgId"', 1))
    with pytest.raises(CordisError, match=r"organization\.csv:1:1: no column 'organisationID'"):
        read(bundle, selection=EVERY)


def test_text_that_is_not_utf8_is_an_error_at_its_line(tmp_path: Path) -> None:
    bundle = tmp_path / "latin1"
    shutil.copytree(HE, bundle)
    text = (HE / "project.csv").read_text(encoding="utf-8")
    (bundle / "project.csv").write_bytes(
        text.replace("invented retinal", "inventé").encode("latin-1")
    )
    with pytest.raises(CordisError, match=r"project\.csv:2: not UTF-8 text"):
        read(bundle, selection=EVERY)


def test_a_bundle_needs_projects_and_organisations(tmp_path: Path) -> None:
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(HE / "project.csv", half / "project.csv")
    with pytest.raises(CordisError, match=r"no organization\.csv or organization\.json"):
        read(half)
    with pytest.raises(CordisError, match="no such file or directory"):
        read(tmp_path / "missing.zip")
    stray = tmp_path / "notes.csv"
    stray.write_text("x\n")
    with pytest.raises(CordisError, match="not a CORDIS export file"):
        read(stray)


def test_loose_files_make_one_bundle_and_a_bom_is_accepted(tmp_path: Path) -> None:
    project = tmp_path / "project.csv"
    project.write_bytes(b"\xef\xbb\xbf" + (HE / "project.csv").read_bytes())
    export = read(project, HE / "organization.csv", selection=EVERY)
    assert "101990001" in export.projects
    assert len(export.participations["101990001"]) == 5


def test_progress_is_reported_for_a_terminal_only() -> None:
    from atmptrack.render import progress_bar

    with progress_bar(io.StringIO()) as report:
        assert report is None  # not a terminal: no bar, no control characters

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    seen: list[tuple[str, int, int]] = []
    read_export([HE], EVERY, progress=lambda *step: seen.append(step))
    assert seen and all(done <= total for _label, done, total in seen)
    assert seen[-1][1] == seen[-1][2]  # the last file read to its end
    screen = Terminal()
    with progress_bar(screen) as report:
        assert report is not None
        report(str(HE / "organization.csv"), 50, 100)
