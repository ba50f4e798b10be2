"""Output for people and pipelines: formats, columns, sorting, safety, streams and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from atmptrack.render import clean, write_section
from atmptrack.results import Section

from conftest import Cli


def test_default_is_tsv_when_piped(landscape_cli: Cli) -> None:
    out = landscape_cli.ok("list", "partners", "--country", "SI")
    header = out.splitlines()[0].split("\t")
    assert header[:4] == ["id", "name", "short_name", "country"]


def test_json_is_an_array_of_flat_snake_case_objects_with_typed_values(landscape_cli: Cli) -> None:
    rows = json.loads(landscape_cli.ok("list", "initiatives", "-f", "json"))
    geneh = next(r for r in rows if r["id"] == "geneh")
    assert all(key == key.lower() and " " not in key for key in geneh)
    assert geneh["declared_partners"] == 13 and geneh["known_members"] == 13
    assert geneh["start"] is None and geneh["end"] == "2028-12"
    assert geneh["countries"] == ["PT", "SI"]
    funding = json.loads(landscape_cli.ok("list", "funding", "-f", "json", "-i", "geneh"))
    assert funding[0]["amount"] == 4885375 and isinstance(funding[0]["amount"], int)
    jsonl = landscape_cli.ok("list", "initiatives", "-f", "jsonl").splitlines()
    assert [json.loads(line) for line in jsonl] == rows


def test_columns_sort_limit_and_no_header(landscape_cli: Cli) -> None:
    out = landscape_cli.ok(
        "list",
        "partners",
        "-c",
        "SI",
        "--columns",
        "id,name",
        "--sort",
        "-id",
        "--limit",
        "2",
        "--no-header",
    )
    assert out.splitlines() == [
        "zops\tSlovenian association of people with rare diseases",
        "sih-eeig\tSlovenian Innovation Hub",
    ]
    help_out = landscape_cli.ok("list", "milestones", "--columns", "help")
    assert "date\tdate\t" in help_out and "speakers\tlist" in help_out


def test_sort_by_partial_date_puts_unknown_years_last(landscape_cli: Cli) -> None:
    rows = json.loads(landscape_cli.ok("list", "milestones", "--sort", "date", "-f", "json"))
    assert [r["date"] for r in rows] == ["2022", "2024-01-25", "2025-03-21", "--06-10", "--10"]
    rows = json.loads(landscape_cli.ok("list", "milestones", "--sort", "-date", "-f", "json"))
    assert [r["date"] for r in rows] == ["2025-03-21", "2024-01-25", "2022", "--10", "--06-10"]
    rows = json.loads(
        landscape_cli.ok("list", "funding", "--sort", "-amount", "--sort", "id", "-f", "json")
    )
    assert [r["id"] for r in rows] == [
        "european-commission",
        "slovenian-ministry",
        "horizon-europe",
        "horizon-europe-csa",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--year", "2024"], {"join4atmp/kick-off"}),
        (["--year", "2025"], {"geneh/kick-off"}),
        (["--from", "2024-02"], {"geneh/kick-off"}),
        (["--to", "2024-01"], {"at-network-catalonia/mandate", "join4atmp/kick-off"}),
        (["--kind", "presentation"], {"at-network-catalonia/presentation"}),
    ],
)
def test_date_and_kind_filters_on_milestones(
    landscape_cli: Cli, args: list[str], expected: set[str]
) -> None:
    rows = json.loads(landscape_cli.ok("list", "milestones", *args, "-f", "json"))
    assert {f"{r['initiative']}/{r['id']}" for r in rows} == expected


def test_initiative_spans_overlap_the_year(landscape_cli: Cli) -> None:
    rows = json.loads(landscape_cli.ok("list", "initiatives", "--year", "2029", "-f", "json"))
    # CTGCT's end is unknown: it may still run in 2029, so it is not excluded.
    assert {r["id"] for r in rows} == {"genet", "ctgct"}
    rows = json.loads(landscape_cli.ok("list", "initiatives", "--to", "2023-12", "-f", "json"))
    assert {r["id"] for r in rows} == {"ctgct", "geneh"}
    rows = json.loads(landscape_cli.ok("list", "initiatives", "--country", "SI", "-f", "json"))
    assert {r["id"] for r in rows} == {"geneh", "ctgct"}


def test_partners_filtered_by_initiative_and_role_match_one_membership(landscape_cli: Cli) -> None:
    rows = json.loads(
        landscape_cli.ok("list", "partners", "-i", "genet", "--role", "coordinator", "-f", "json")
    )
    assert rows == []  # the University of Coimbra coordinates GeneH, not GeneT
    rows = json.loads(
        landscape_cli.ok("list", "partners", "--helix", "civil-society", "-f", "json")
    )
    assert {r["id"] for r in rows} == {"apahe", "zops", "eurordis"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["list", "partners", "--sector", "pharma"],
            "valid values: university, research-institute",
        ),
        (["list", "partners", "--role", "boss"], "valid values: coordinator, co-coordinator"),
        (["list", "partners", "--country", "Slovenia"], "did you mean SI?"),
        (["list", "partners", "--country", "XX"], "in the data: DE, ES"),
        (["list", "partners", "--initiative", "genehh"], "did you mean 'geneh'?"),
        (["list", "planets"], "valid entities: initiatives, partners"),
        (["list", "partners", "--columns", "nme"], "valid columns: id, name"),
        (["list", "partners", "--sort", "nme"], "valid columns: id, name"),
        (["list", "partners", "--year", "2024"], "does not apply to partners"),
        (["list", "partners", "-f", "xml"], "valid formats: table, tsv"),
        (["show", "nothing-like-this"], "no initiative or organisation"),
        (["report", "funding", "--by", "planet"], "valid values: initiative, programme"),
        (["list", "milestones", "--from", "2024-13"], "month 13"),
    ],
)
def test_usage_errors_exit_2_and_list_the_valid_values(
    landscape_cli: Cli, args: list[str], needle: str
) -> None:
    result = landscape_cli(*args)
    assert result.code == 2, result.err
    assert result.out == ""
    assert needle in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_empty_result_is_success_with_a_header(landscape_cli: Cli) -> None:
    result = landscape_cli("list", "partners", "--country", "FI", "--role", "coordinator")
    assert result.code == 0
    assert result.out.splitlines() == [result.out.splitlines()[0]]
    assert (
        json.loads(
            landscape_cli.ok("list", "partners", "-c", "FI", "--role", "coordinator", "-f", "json")
        )
        == []
    )


PIPED_COMMANDS = [
    *(
        ["list", "partners", "--format", fmt]
        for fmt in ("table", "tsv", "csv", "json", "jsonl", "yaml", "markdown")
    ),
    ["report", "funding", "--format", "tsv"],
    ["report", "timeline", "--format", "svg"],
    ["show", "geneh", "--format", "json"],
    ["validate"],
    ["validate", "--format", "sarif"],  # a log even for clean data: something to write
]


@pytest.mark.slow
@pytest.mark.parametrize("args", PIPED_COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_the_producer_with_status_0(landscape_cli: Cli, args: list[str]) -> None:
    """The reader is gone before the first write: atmptrack's own status is 0, with no message."""
    landscape_cli.ok("load", "-q")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "atmptrack", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=landscape_cli.env(),
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert "error" not in proc.stderr or args == ["validate"], proc.stderr


@pytest.mark.slow
def test_piped_into_head_the_producer_exits_0_every_time(landscape_cli: Cli) -> None:
    landscape_cli.ok("load", "-q")
    for _ in range(10):
        proc = subprocess.run(
            [
                "bash",
                "-c",
                f"{sys.executable} -m atmptrack list members --format tsv | head -1; "
                'echo "status=${PIPESTATUS[0]}" >&2',
            ],
            capture_output=True,
            text=True,
            env=landscape_cli.env(),
            timeout=60,
        )
        assert proc.stdout.startswith("initiative\t") or proc.stdout.startswith("id\t")
        assert proc.stderr.strip().splitlines()[-1] == "status=0", proc.stderr


def test_version(landscape_cli: Cli) -> None:
    from atmptrack import __version__

    assert landscape_cli.ok("--version").strip() == f"atmptrack {__version__}"


def test_markup_and_escapes_in_data_reach_the_terminal_as_text() -> None:
    section = Section(
        "t", "", ["name"], [{"name": "Beta [/] [bold red]x[/]"}, {"name": "a\x1b[31mred\x07"}]
    )
    out = io.StringIO()
    write_section(section, "table", out)
    text = out.getvalue()
    assert "Beta [/] [bold red]x[/]" in text
    assert "\x1b" not in text and "\x07" not in text
    assert clean("ok\u202eevil") == "okevil"


def test_csv_neutralises_formulas_unless_asked_not_to() -> None:
    rows = [{"name": '=HYPERLINK("http://x")', "n": -5}, {"name": "@SUM(A1)", "n": 1}]
    section = Section("t", "", ["name", "n"], rows)
    out = io.StringIO()
    write_section(section, "csv", out)
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["name"] for r in parsed] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]
    assert parsed[0]["n"] == "-5"  # numbers are not text: left alone
    raw = io.StringIO()
    write_section(section, "csv", raw, formula_guard=False)
    assert next(csv.DictReader(io.StringIO(raw.getvalue())))["name"] == '=HYPERLINK("http://x")'


def test_tsv_escapes_tabs_and_newlines_so_rows_stay_rows() -> None:
    out = io.StringIO()
    write_section(Section("t", "", ["a", "b"], [{"a": "x\ty", "b": "line1\nline2"}]), "tsv", out)
    assert out.getvalue().splitlines() == ["a\tb", "x\\ty\tline1\\nline2"]


def test_report_funding_totals_are_honest(landscape_cli: Cli) -> None:
    totals = json.loads(landscape_cli.ok("report", "funding", "--section", "totals", "-f", "json"))
    assert totals == [
        {
            "currency": "EUR",
            "total": 37885375,
            "qualifier": "exact",
            "entries": 4,
            "initiatives": ["ctgct", "geneh", "join4atmp"],
        }
    ]
    by = json.loads(landscape_cli.ok("report", "funding", "--by", "initiative", "-f", "json"))
    unknown = {r["initiative"] for r in by if r["qualifier"] == "unknown"}
    assert unknown == {"genet", "at-network-catalonia", "euha", "t2evolve", "restore"}
    assert all(r["total"] is None for r in by if r["qualifier"] == "unknown")
    by_country = json.loads(landscape_cli.ok("report", "funding", "--by", "country", "-f", "json"))
    known = {r["country"]: r["total"] for r in by_country if r["total"] is not None}
    assert known == {"DE": 3000000, "PT": 4885375, "SI": 30000000}
    table = landscape_cli.ok("report", "funding", "-f", "table")
    assert "≈ 5,000,000" in table and "4,885,375" in table and "Funding unknown for:" in table
    # The bar chart beside the table: CTGCT's 30M is the longest bar.
    chart = table[table.index("Funding per initiative") :].splitlines()
    ctgct = next(line for line in chart if line.startswith("CTGCT"))
    geneh = next(line for line in chart if line.startswith("GeneH"))
    assert ctgct.count("█") > geneh.count("█") > 0


def test_totals_with_an_approximate_part_are_approximate() -> None:
    from atmptrack.vocab import combine

    assert combine(["exact", "exact"]) == "exact"
    assert combine(["exact", "approximately"]) == "approximately"
    assert combine(["exact", "at-least"]) == "at-least"
    assert combine(["at-most", "at-least"]) == "approximately"


@pytest.mark.parametrize(
    ("extra", "coloured"),
    [
        ({"FORCE_COLOR": "1", "TERM": "xterm"}, True),
        ({"TERM": "xterm"}, False),  # piped: no colour
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, False),
    ],
)
def test_colour_follows_the_environment(
    landscape_cli: Cli, extra: dict[str, str], coloured: bool
) -> None:
    env = {k: v for k, v in landscape_cli.env(**extra).items() if k != "NO_COLOR"}
    result = landscape_cli("list", "sources", "-f", "table", env=env)
    assert result.code == 0
    assert ("\x1b[" in result.out) is coloured


def test_every_format_has_exactly_one_writer() -> None:
    from atmptrack.render import _TABLE_WRITERS, FORMATS, REPORT_FORMATS, Format

    assert set(_TABLE_WRITERS) == set(FORMATS)
    assert set(REPORT_FORMATS) == set(Format)
    section = Section(
        "s", "S", ["a", "b"], [{"a": ["x", "y"], "b": Decimal("4885375.50")}, {"a": None}]
    )
    for fmt in FORMATS:
        out = io.StringIO()
        write_section(section, fmt, out)
        # Exact in every format; people read it with thousands separators.
        assert ("4,885,375.5" if fmt == "table" else "4885375.5") in out.getvalue(), fmt


REPORTS = ["funding", "partners", "overlap", "timeline", "coverage"]


@pytest.mark.parametrize(
    "fmt", ["table", "tsv", "csv", "json", "jsonl", "yaml", "markdown", "svg", "html"]
)
@pytest.mark.parametrize("report", REPORTS)
def test_every_report_writes_every_format(landscape_cli: Cli, report: str, fmt: str) -> None:
    out = landscape_cli.ok("report", report, "--format", fmt)
    assert out.strip()
    if fmt == "json":
        assert isinstance(json.loads(out), list)
    elif fmt == "jsonl":
        assert all(isinstance(json.loads(line), dict) for line in out.splitlines())
    elif fmt == "svg":
        import xml.etree.ElementTree as ET

        assert ET.fromstring(out).tag.endswith("svg")
    elif fmt == "html":
        assert out.lstrip().lower().startswith("<!doctype html>")


def test_output_file_format_follows_its_name_and_refuses_what_it_cannot_write(
    landscape_cli: Cli, tmp_path: Path
) -> None:
    table = tmp_path / "funding.csv"
    landscape_cli.ok("report", "funding", "-o", str(table))
    assert next(csv.reader(table.open()))[0] == "initiative"
    picture = tmp_path / "funding.png"
    picture.write_bytes(b"\x89PNG old picture")
    result = landscape_cli("report", "funding", "--format", "svg", "-o", str(picture))
    assert result.code == 2 and "does not write PNG" in result.err
    assert picture.read_bytes() == b"\x89PNG old picture"
    result = landscape_cli("report", "funding", "--format", "csv", "-o", str(tmp_path / "f.json"))
    assert result.code == 2 and "says json" in result.err
    result = landscape_cli("list", "partners", "--format", "jsn")
    assert result.code == 2 and "did you mean 'json'" in result.err


HOSTILE = "a\x1b[2J\x1b]8;;http://evil\x07b\x9b31m\x7f\u202eevil\u2066"
HOSTILE_CHARS = set("\x1b\x07\x9b\x7f\u202e\u2066")


@pytest.mark.parametrize("fmt", ["table", "tsv", "csv", "json", "jsonl", "yaml", "markdown"])
def test_no_format_lets_terminal_controls_or_bidi_overrides_through(fmt: str) -> None:
    section = Section("t", "T", ["name", "list"], [{"name": HOSTILE, "list": [HOSTILE]}])
    out = io.StringIO()
    write_section(section, fmt, out)
    text = out.getvalue()
    assert not HOSTILE_CHARS & set(text), fmt
    if fmt in ("json", "jsonl"):
        # Escaped, not lost: a JSON reader gets the value back exactly.
        assert (
            json.loads(text.splitlines()[-2 if fmt == "json" else 0].rstrip(","))["name"] == HOSTILE
        )


def test_markdown_cannot_carry_html_links_images_or_comments() -> None:
    value = '<img src=x onerror="alert(1)"> [click](http://evil) ![x](http://evil/t.png) `c` <!--'
    out = io.StringIO()
    write_section(Section("t", "T", ["v"], [{"v": value}]), "markdown", out)
    row = out.getvalue().splitlines()[-1]
    assert "<" not in row.replace("<br>", "") and "](" not in row.replace("\\](", "")
    assert "&lt;img" in row and "\\[click\\]" in row and "!\\[x\\]" in row and "&lt;!--" in row


def test_messages_and_validate_show_escapes_instead_of_obeying_them(cli: Cli) -> None:
    sources = cli.data / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    sources.write_text(
        text.replace("title: ", 'title: "\\e[2J\\u202e', 1).replace("\n", '"\n', 0),
        encoding="utf-8",
    )
    (cli.data / "evil.yaml").write_text(
        'sources:\n  - {id: "x\\e[31m", title: "t\\e]8;;http://e\\a", url: "https://e.org"}\n',
        encoding="utf-8",
    )
    result = cli("validate")
    assert result.code == 3
    assert "\x1b" not in result.out + result.err and "\u202e" not in result.out + result.err
    assert "\\x1b" in result.out
    load = cli("load")
    assert load.code == 3 and "\x1b" not in load.err and "\\x1b" in load.err


@pytest.mark.slow
def test_a_full_disk_on_stdout_is_one_message_and_exit_74(landscape_cli: Cli) -> None:
    landscape_cli.ok("load", "-q")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "atmptrack", "report", "timeline", "--format", "html"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=landscape_cli.env(),
            timeout=60,
        )
    assert proc.returncode == 74, proc.stderr
    assert proc.stderr.strip() == (
        "atmptrack: error: cannot write the output: No space left on device"
    )


@pytest.mark.sqlite_only  # holds SQLite's shared-memory file open
@pytest.mark.slow
def test_a_write_to_an_output_file_that_fails_midway_keeps_the_old_file(
    landscape_cli: Cli, tmp_path: Path
) -> None:
    import resource

    landscape_cli.ok("load", "-q")
    target = tmp_path / "timeline.html"
    target.write_text("the previous report\n")

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    # A reader held open keeps the store's shared-memory file at its size, so that the small
    # file-size limit below hits the output file, not SQLite's own files.
    import sqlite3

    holder = sqlite3.connect(landscape_cli.db)
    holder.execute("SELECT count(*) FROM source").fetchone()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "atmptrack", "report", "timeline", "-o", str(target)],
            capture_output=True,
            text=True,
            env=landscape_cli.env(),
            timeout=60,
            preexec_fn=small_disk,
        )
    finally:
        holder.close()
    assert proc.returncode == 74, proc.stderr
    assert "Traceback" not in proc.stderr and f"cannot write {target}" in proc.stderr
    assert target.read_text() == "the previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.html"]  # no temporary left behind
    landscape_cli.ok("report", "timeline", "-o", str(target))
    assert target.read_text().lstrip().lower().startswith("<!doctype html>")


COMMANDS_WITH_HELP = [
    [],
    ["load"],
    ["list"],
    ["filter"],
    ["show"],
    ["diff"],
    ["validate"],
    ["schema"],
    ["init"],
    ["report"],
    *(["report", r] for r in REPORTS),
]


@pytest.mark.parametrize("command", COMMANDS_WITH_HELP, ids=lambda c: " ".join(c) or "atmptrack")
def test_help_shows_placeholders_and_choices_never_python_types(
    landscape_cli: Cli, command: list[str]
) -> None:
    text = landscape_cli.ok(*command, "--help")
    assert not re.search(r"<(str|int|float|bool|list|path|Path)\b", text), text
    if (command[:1] in (["list"], ["filter"], ["report"]) and len(command) > 1) or command == [
        "list"
    ]:
        assert "--format [table|tsv|csv|json|jsonl|yaml|markdown" in text


@pytest.mark.parametrize("report", REPORTS)
def test_reports_take_the_columns_sort_and_limit_of_list(landscape_cli: Cli, report: str) -> None:
    full = json.loads(landscape_cli.ok("report", report, "--format", "json"))
    assert full, report
    columns = list(full[0])
    numeric = [c for c in columns if all(isinstance(r.get(c), int | float) for r in full)]
    key = numeric[0] if numeric else columns[0]
    chosen = [key, columns[-1]] if key != columns[-1] else [key]
    shaped = json.loads(
        landscape_cli.ok(
            "report",
            report,
            "-f",
            "json",
            "--columns",
            ",".join(chosen),
            "--sort",
            f"-{key}",
            "--limit",
            "2",
        )
    )
    assert len(shaped) == min(2, len(full))
    assert all(list(row) == chosen for row in shaped)
    values = [row[key] for row in shaped if row[key] is not None]
    expected = sorted((r[key] for r in full if r[key] is not None), reverse=True, key=_order)
    assert values == expected[: len(values)]
    wrong = landscape_cli("report", report, "--columns", f"{columns[0]}x")
    assert wrong.code == 2 and "did you mean" in wrong.err


def _order(value: object) -> tuple[int, object]:
    return (0, value) if isinstance(value, int | float) else (1, str(value).casefold())


@pytest.mark.parametrize(
    "command",
    [
        ["list", "partners"],
        ["filter", "partners", "country = SI"],
        ["show", "geneh"],
        ["diff", "HEAD", "HEAD"],
        *(["report", r] for r in REPORTS),
    ],
    ids=" ".join,
)
def test_every_command_that_prints_data_writes_it_to_a_file_with_o(
    landscape_cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    if command[0] == "diff":
        command = ["diff", str(landscape_cli.data), str(landscape_cli.data)]
    target = tmp_path / "out.json"
    result = landscape_cli(*command, "-o", str(target))
    assert result.code == 0 and result.out == "", result.err
    json.loads(target.read_text(encoding="utf-8"))  # the format its name asks for
