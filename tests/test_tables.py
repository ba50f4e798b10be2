"""Tables for people fit the width they are given without losing or breaking anything.

Rendered through the real CLI at 60, 80 and 120 columns: every requested column is shown (as a
header, or as a field name when the columns cannot fit and each record gets a block of its
own), numbers, ids and dates are never cut or broken across lines, no line is longer than the
width (a URL, kept whole so that a terminal can open it, is the one exception) and no line ends
in padding. The sections the command hands to the renderer are recorded on the way, so that
the test knows which columns were asked for and what each cell says.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

import pytest
from rich.cells import cell_len

from atmptrack import render
from atmptrack.query import ENTITIES
from atmptrack.results import Section

from conftest import Cli

WIDTHS = (60, 80, 120)
REPORTS = ("funding", "partners", "overlap", "timeline", "coverage")
NOTE = re.compile(
    r"atmptrack: note: (\d+) columns do not fit (\d+) characters; showing one record per block"
)
# The one line allowed to be longer than the width: a URL that is longer than the room left.
URL_LINE = re.compile(r"(?:\S+ +| *)https?://\S+")
RULE = re.compile(r" *━+ *")


@dataclass
class Shown:
    out: str
    err: str
    sections: list[Section]


def shown(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> Shown:
    """`atmptrack ARGS --format table` at this width, and the sections it wrote."""
    seen: dict[int, Section] = {}
    write_one, write_many = render.write_section, render.write_sections

    def kept(section: Section) -> Section:
        # Rows may stream (a one-shot iterator): keep them, to compare with what was written.
        section.rows = list(section.rows)
        return seen.setdefault(id(section), section)

    def one(section: Section, fmt: str, out: TextIO, **options: Any) -> None:
        write_one(kept(section), fmt, out, **options)

    def many(sections: list[Section], fmt: str, out: TextIO, **options: Any) -> None:
        write_many([kept(section) for section in sections], fmt, out, **options)

    with monkeypatch.context() as patch:
        patch.setattr(render, "write_section", one)
        patch.setattr(render, "write_sections", many)
        result = cli(*args, "--format", "table", env=cli.env(COLUMNS=str(width)))
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return Shown(result.out, result.err, list(seen.values()))


def machine(cli: Cli, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(cli.ok(*args, "--format", "json"), parse_float=Decimal)
    return rows


@pytest.fixture
def cli(landscape_cli: Cli) -> Cli:
    """The shared read-only store of the test landscape."""
    return landscape_cli


# ---------------------------------------------------------------- what is checked


def check_lines(out: str, width: int) -> None:
    for line in out.splitlines():
        assert line == line.rstrip(), f"trailing whitespace: {line!r}"
        if cell_len(line) > width:
            assert URL_LINE.fullmatch(line), f"{cell_len(line)} > {width}: {line!r}"


def check_columns(shown: Shown, section: Section, width: int) -> None:
    """Every column is a header, or a field name in each record when a note says so."""
    columns = section.table_columns or section.columns
    lines = shown.out.splitlines()
    notes = [line for line in shown.err.splitlines() if "note:" in line]
    if notes:
        assert len(notes) == 1, shown.err
        match = NOTE.fullmatch(notes[0])
        assert match, notes[0]
        assert (int(match[1]), int(match[2])) == (len(columns), width)
        names = set(columns)
        fields = [
            line.split()[0] for line in lines if line[:1].strip() and line.split()[0] in names
        ]
        assert fields == columns * len(list(section.rows))
    else:
        rules = [i for i, line in enumerate(lines) if RULE.fullmatch(line)]
        assert len(rules) == 1, shown.out
        assert headers(lines[: rules[0]]) == columns, shown.out


def headers(above: list[str]) -> list[str]:
    """The column names of the header above a table's rule, put together again where a long
    one wraps after an underscore (`declared_` over `partners`): pieces that overlap are one."""
    block = above[above.index("") + 1 :] if "" in above else above
    columns: list[tuple[int, int, str]] = []  # start, end, name
    for line in block:
        for piece in re.finditer(r"\S+", line):
            at = next(
                (i for i, (a, b, _) in enumerate(columns) if a < piece.end() and piece.start() < b),
                None,
            )
            if at is None:
                columns.append((piece.start(), piece.end(), piece.group()))
            else:
                a, b, name = columns[at]
                columns[at] = (min(a, piece.start()), max(b, piece.end()), name + piece.group())
    return [name for _, _, name in sorted(columns)]


def numbers(value: Any) -> Iterator[str]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | Decimal):
        yield format(value, "f") if isinstance(value, Decimal) else str(value)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)


def check_numbers(out: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Each number of the machine output is in the table whole, as often as it is in the data."""
    plain = re.sub(r"(?<=\d),(?=\d{3}\b)", "", out)  # 4,885,375 reads as 4885375
    found = Counter(re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", plain))
    wanted = Counter(n for row in rows for c in columns for n in numbers(row.get(c)))
    missing = {n: k for n, k in wanted.items() if found[n] < k}
    assert not missing, missing


def words(text: str) -> list[str]:
    """A value of one word whole (an id, a date, a number, a URL), else its words."""
    parts = text.split()
    if len(parts) == 1:
        return parts
    stripped = (p.strip(",;:()[]\"'.") for p in parts)
    return [w for w in stripped if len(w) > 1 and any(c.isalnum() for c in w)]


def cell_words(section: Section, row: dict[str, Any], column: str) -> list[str]:
    show = section.human.get(column)
    if show is not None:
        return words(show(row))
    value = row.get(column)
    if isinstance(value, list):
        return [w for item in value if isinstance(item, str) for w in words(item)]
    if isinstance(value, str):
        return words(value)
    return []  # numbers are check_numbers's


def whole(token: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(token)}(?![\w-])")


def check_words(out: str, section: Section) -> None:
    """Every word of every cell is in the table whole, as often as the cells hold it."""
    columns = section.table_columns or section.columns
    wanted = Counter(
        w for row in section.rows for c in columns for w in cell_words(section, row, c)
    )
    broken = {w: k for w, k in wanted.items() if len(whole(w).findall(out)) < k}
    assert not broken, broken


def check_table(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> Shown:
    table = shown(cli, monkeypatch, width, *args)
    sections = [s for s in table.sections if s.rows or s.columns]
    assert len(sections) == 1, [s.name for s in sections]
    (section,) = sections
    columns = section.table_columns or section.columns
    check_lines(table.out, width)
    check_columns(table, section, width)
    check_numbers(table.out, machine(cli, *args), columns)
    check_words(table.out, section)
    return table


# ---------------------------------------------------------------- every entity and section


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_every_entity_with_its_brief_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, entity: str, width: int
) -> None:
    check_table(cli, monkeypatch, width, "list", entity)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_every_entity_with_every_column(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, entity: str, width: int
) -> None:
    columns = ",".join(ENTITIES[entity].column_names)
    check_table(cli, monkeypatch, width, "list", entity, "--columns", columns)


# The sections of each report; test_the_section_names_are_the_reports_own keeps this in step.
SECTIONS = {
    "funding": ["entries", "totals"],
    "partners": ["matrix", "balance", "countries"],
    "overlap": ["shared", "pairs", "matrix"],
    "timeline": ["events"],
    "coverage": ["initiatives", "lookup"],
}


def report_sections() -> list[tuple[str, str]]:
    return [(r, s) for r in REPORTS for s in SECTIONS[r]]


def test_the_section_names_are_the_reports_own(cli: Cli) -> None:
    for name in REPORTS:
        result = cli("report", name, "--section", "?")
        listed = re.search(r"valid[^:]*: (.*)$", result.err.strip())
        assert listed, result.err
        valid = listed[1].split(", ")
        assert sorted(valid) == sorted(SECTIONS[name])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("report", "section"), report_sections())
def test_every_report_section(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, report: str, section: str, width: int
) -> None:
    check_table(cli, monkeypatch, width, "report", report, "--section", section)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    "args",
    [
        ["report", "funding", "--by", "year"],
        ["report", "funding", "--by", "programme", "--section", "by_programme"],
        ["report", "partners", "-i", "geneh", "--section", "balance"],
        ["list", "milestones", "--sort", "date"],
    ],
    ids=" ".join,
)
def test_more_tables(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str], width: int
) -> None:
    if "--section" in args:
        check_table(cli, monkeypatch, width, *args)
        return
    table = shown(cli, monkeypatch, width, *args)
    check_lines(table.out, width)
    for section in table.sections:
        check_words(table.out, section)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", REPORTS)
def test_whole_reports_fit(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, report: str, width: int
) -> None:
    table = shown(cli, monkeypatch, width, "report", report)
    check_lines(table.out, width)
    notes = [line for line in table.err.splitlines() if "note:" in line]
    assert len(notes) <= 1, table.err
    for section in table.sections:
        check_words(table.out, section)


# ---------------------------------------------------------------- the defects users reported


def test_nine_columns_at_80_are_records_with_a_note(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    nine = "id,acronym,name,kind,start,end,declared_partners,known_members,website"
    table = check_table(cli, monkeypatch, 80, "list", "initiatives", "--columns", nine)
    assert table.err.strip() == (
        "atmptrack: note: 9 columns do not fit 80 characters; showing one record per block"
    )
    block = table.out.split("\n\n")[1]
    assert re.search(r"^id +ctgct$", table.out, re.M), table.out
    assert block.splitlines()[0].startswith("id ")


def test_geneh_total_is_whole_under_a_whole_header(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("report", "partners", "-i", "geneh", "--section", "balance")
    table = check_table(cli, monkeypatch, 80, *args)
    assert table.err == ""
    header = next(line for line in table.out.splitlines() if line.startswith("initiative"))
    assert header.split()[-1] == "total"
    row = next(line for line in table.out.splitlines() if line.startswith("GeneH"))
    assert row.split() == ["GeneH", "2", "6", "3", "2", "0", "13"]


@pytest.mark.parametrize("width", [80, 120])
def test_ids_dates_and_acronyms_stay_whole(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    for args in (["list", "initiatives"], ["list", "partners"], ["list", "milestones"]):
        out = shown(cli, monkeypatch, width, *args).out
        for token in ("kemijski-institut", "2025-03-21", "JOIN4ATMP", "research-institute"):
            if token in json.dumps(machine(cli, *args), ensure_ascii=False):
                assert whole(token).search(out), (args, token)


def test_a_text_column_wraps_at_words_before_records_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    prose = "the seven work groups were launched with more than fifty members"
    rows = [{"id": "wg-1", "n": 1234567, "note": prose}]
    section = Section("t", "T", ["id", "n", "note"], rows, right={"n"})
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    render.write_section(section, "table", out)
    assert err.getvalue() == ""
    assert out.getvalue().splitlines() == [
        "T",
        "",
        "id          n  note",
        "━" * 38,
        "wg-1  1234567  the seven work groups",
        "               were launched with more",
        "               than fifty members",
        "",  # a blank line ends every table, before the next or a chart
    ]


def test_a_url_that_cannot_fit_is_a_reason_for_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    url = "https://example.org/" + "a-long-path/" * 8
    section = Section("s", "", ["id", "url"], [{"id": "x", "url": url}])
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    render.write_section(section, "table", out)
    assert err.getvalue().strip() == (
        "atmptrack: note: 2 columns do not fit 60 characters; showing one record per block"
    )
    assert out.getvalue().splitlines() == ["id   x", f"url  {url}", ""]  # whole, to be opened


def test_a_word_too_long_for_a_record_is_cropped_with_an_ellipsis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    rows = [{"id": "x", "note": "see " + "z" * 50 + " now", "ref": "geneh/" + "x" * 40}]
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", io.StringIO())
    render.write_section(Section("s", "", ["id", "note", "ref"], rows), "table", out)
    assert out.getvalue().splitlines() == [
        "id    x",
        "note  see",
        "      " + "z" * 23 + "…",
        "      now",
        "ref   geneh/" + "x" * 40,  # an id is kept whole, never cropped into another one
        "",
    ]


def test_amounts_and_nested_values_read_as_text() -> None:
    from atmptrack.render import _readable

    reported = {"amount": Decimal(5000000), "qualifier": "approximately", "sources": ["s-1"]}
    assert _readable([reported]) == "≈ 5,000,000; sources: s-1"
    assert _readable({"country": "the city is in Portugal", "city": None}) == (
        "country: the city is in Portugal"
    )
    assert _readable(Decimal("4885375.50")) == "4,885,375.50"
    assert _readable(["an aim", "another aim"], items=True) == "an aim\nanother aim"
    assert _readable(["pt", "si"], items=True) == "pt, si"


def test_a_table_written_to_a_file_has_no_padding(cli: Cli, tmp_path: Any) -> None:
    target = tmp_path / "funding.txt"
    cli.ok("report", "funding", "--format", "table", "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert text.strip()
    assert all(line == line.rstrip() for line in text.splitlines())
    assert all(cell_len(line) <= 200 for line in text.splitlines())  # COLUMNS of the fixture


# ---------------------------------------------------------------- show


def document_words(value: Any) -> Iterator[str]:
    """The ids and dates of a `show` document: one-word strings with a digit or a hyphen."""
    if isinstance(value, str):
        if re.fullmatch(r"[\w.:/-]+", value) and re.search(r"[\d-]", value):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from document_words(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from document_words(item)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("ident", ["geneh", "kemijski-institut", "join4atmp"])
def test_show_fits_and_reads_as_text(cli: Cli, ident: str, width: int) -> None:
    result = cli("show", ident, "--format", "table", env=cli.env(COLUMNS=str(width)))
    assert result.code == 0, result.err
    out = result.out
    check_lines(out, width)
    assert '{"' not in out and '["' not in out, out  # nested values as text, not JSON
    document = json.loads(cli.ok("show", ident, "--format", "json"), parse_float=Decimal)
    missing = {w for w in document_words(document) if not whole(w).search(out)}
    assert not missing, missing
    plain = re.sub(r"(?<=\d),(?=\d{3}\b)", "", out)
    found = set(re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", plain))
    assert not set(numbers(document)) - found


def test_show_geneh_formats_amounts_and_reasons(cli: Cli) -> None:
    out = cli("show", "geneh", "-f", "table", env=cli.env(COLUMNS="80")).out
    assert "4,885,375" in out and "≈ 5,000,000" in out
    assert "4885375" not in out
    assert re.search(r"date: the CTGCT page gives 21 March without a year", out), out
    out = cli("show", "NIC", "-f", "table", env=cli.env(COLUMNS="80")).out
    assert re.search(r"^inferred +country: general knowledge$", out, re.M), out
    assert re.search(r"^ +sector: the CTGCT page groups it", out, re.M), out


def test_show_json_is_pretty_on_a_terminal_and_one_line_in_a_pipe(cli: Cli) -> None:
    piped = cli.ok("show", "geneh", "--format", "json")
    assert piped.count("\n") == 1
    document = json.loads(piped, parse_float=Decimal)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    render.write_document(document, "json", screen)
    text = screen.getvalue()
    assert json.loads(text, parse_float=Decimal) == document
    assert text.startswith('{\n  "type": "initiative",\n')
    assert '\n    "' in text and text.endswith("}\n")
    lines = cli.ok("show", "geneh", "--format", "jsonl").splitlines()
    assert len(lines) == 1 and json.loads(lines[0], parse_float=Decimal) == document
