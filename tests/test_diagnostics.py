"""Invalid data: every problem at its exact place, a suggestion where one exists, exit code 3."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import Cli

BASE = """\
sources:
  - id: src
    title: A page
    url: https://example.org/page
organisations:
  - id: univ-coimbra
    name: Universidade de Coimbra
    country: PT
    sector: university
    sources: [src]
initiatives:
  - id: hub
    name: A hub
    kind: hub
    sources: [src]
    members:
      - {organisation: univ-coimbra, role: coordinator, sources: [src]}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Cli:
    data = tmp_path / "tiny"
    data.mkdir()
    (data / "base.yaml").write_text(BASE)
    home = tmp_path / "home"
    home.mkdir()
    return Cli(data, tmp_path / "tiny.sqlite", home)


def diagnostics(cli: Cli) -> list[dict[str, object]]:
    result = cli("validate", "--format", "json")
    assert "Traceback" not in result.err
    return list(json.loads(result.out))


def replace(cli: Cli, old: str, new: str) -> None:
    path = cli.data / "base.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def only(cli: Cli) -> dict[str, object]:
    found = [d for d in diagnostics(cli) if d["severity"] == "error"]
    assert len(found) == 1, found
    return found[0]


def test_the_base_is_valid(tiny: Cli) -> None:
    result = tiny("validate")
    assert result.code == 0, result.out + result.err
    assert result.out == ""
    assert "0 error(s), 0 warning(s)" in result.err


def test_unknown_field_points_at_the_key_and_suggests(tiny: Cli) -> None:
    replace(tiny, "    country: PT", "    contry: PT")
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (8, 5, "schema-unknown-field")
    assert "did you mean 'country'" in str(d["message"])


def test_unknown_reference_suggests_the_close_id(tiny: Cli) -> None:
    replace(tiny, "{organisation: univ-coimbra,", "{organisation: uni-coimbra,")
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (17, 24, "unknown-reference")
    assert "did you mean 'univ-coimbra'" in str(d["message"])


def test_country_name_is_refused_with_the_code_to_use(tiny: Cli) -> None:
    replace(tiny, "country: PT", "country: Slovenia")
    d = only(tiny)
    assert (d["line"], d["column"]) == (8, 14)
    assert "use SI" in str(d["message"])


def test_no_is_norway_not_false(tiny: Cli) -> None:
    replace(tiny, "country: PT", "country: NO")
    assert tiny("validate").code == 0
    rows = json.loads(tiny.ok("list", "partners", "-f", "json"))
    assert rows[0]["country"] == "NO"


@pytest.mark.parametrize("amount", ["1,000", ".nan", ".inf", "1e999", "-5"])
def test_amounts_must_be_plain_finite_decimals(tiny: Cli, amount: str) -> None:
    (tiny.data / "funding.yaml").write_text(
        "initiatives:\n  - id: funded\n    name: Funded\n    kind: project\n    sources: [src]\n"
        f"    funding:\n      - id: grant\n        amount: {amount}\n        currency: EUR\n"
        "        sources: [src]\n"
    )
    d = only(tiny)
    assert (d["path"], d["line"], d["column"]) == (
        str(Path(tiny.data.name) / "funding.yaml"),
        8,
        17,
    ) or (d["line"], d["column"]) == (8, 17)
    assert "amount" in str(d["message"])


def test_the_largest_amount_stays_exact(tiny: Cli) -> None:
    # 17 significant digits: as a float this would be 1e15.
    (tiny.data / "funding.yaml").write_text(
        "initiatives:\n  - id: funded\n    name: Funded\n    kind: project\n    sources: [src]\n"
        "    funding:\n      - id: grant\n        amount: 999999999999999.99\n        currency: eur\n"
        "        sources: [src]\n"
    )
    out = tiny.ok("report", "funding", "-f", "json", "-i", "funded")
    assert '"amount": 999999999999999.99' in out
    assert '"currency": "EUR"' in out


@pytest.mark.parametrize("date", ["2024-13-40", "2024-02-30", "24-01", "2024-1"])
def test_impossible_dates_are_refused_at_their_position(tiny: Cli, date: str) -> None:
    replace(tiny, "    kind: hub\n", f"    kind: hub\n    start: {date}\n")
    d = only(tiny)
    assert (d["line"], d["column"]) == (15, 12)


def test_end_before_start(tiny: Cli) -> None:
    replace(tiny, "    kind: hub\n", "    kind: hub\n    start: 2025-03\n    end: 2024\n")
    d = only(tiny)
    assert (d["line"], d["rule"]) == (16, "end-before-start")


def test_duplicate_ids_across_files_name_both_places(tiny: Cli) -> None:
    (tiny.data / "more.yaml").write_text(
        "sources:\n  - id: src\n    title: Again\n    url: https://example.org/x\n"
    )
    d = only(tiny)
    assert d["rule"] == "duplicate-id"
    assert "base.yaml:2:" in str(d["message"])


def test_two_coordinators_need_co_coordination(tiny: Cli) -> None:
    (tiny.data / "more.yaml").write_text(
        "organisations:\n  - id: other\n    name: Other\n    sector: company\n    sources: [src]\n"
    )
    replace(
        tiny,
        "role: coordinator, sources: [src]}\n",
        "role: coordinator, sources: [src]}\n      - {organisation: other, role: coordinator, sources: [src]}\n",
    )
    d = only(tiny)
    assert (d["line"], d["rule"]) == (18, "several-coordinators")


def test_missing_required_field_and_missing_sources(tiny: Cli) -> None:
    replace(tiny, "    name: A hub\n", "")
    replace(tiny, "    sources: [src]\n    members:", "    members:")
    found = {(d["line"], d["rule"], d["field"]) for d in diagnostics(tiny)}
    assert (12, "schema-missing-field", "initiatives[0].name") in found
    assert (12, "schema-missing-field", "initiatives[0].sources") in found


def test_terminal_escapes_in_text_are_refused(tiny: Cli) -> None:
    replace(tiny, "name: Universidade de Coimbra", 'name: "Uni \\e[31mred"')
    d = only(tiny)
    assert (d["line"], d["rule"]) == (7, "text-control-character")


def test_invalid_data_exits_3_with_file_line_col_and_no_traceback(tiny: Cli) -> None:
    replace(tiny, "sector: university", "sector: universty")
    result = tiny("list", "partners")
    assert result.code == 3
    first = result.err.splitlines()[0]
    assert (
        first.startswith(str(Path("..") / "tiny" / "base.yaml") + ":9:13: error:")
        or ":9:13: error:" in first
    )
    assert "[schema-vocabulary]" in first
    assert "the store was not changed" in result.err
    assert "Traceback" not in result.err
    validate = tiny("validate")
    assert validate.code == 3
    assert ":9:13: error:" in validate.out


def test_warnings_pass_unless_strict(tiny: Cli) -> None:
    (tiny.data / "more.yaml").write_text(
        "sources:\n  - id: unused\n    title: Unused\n    url: https://example.org/unused\n"
    )
    assert tiny("validate").code == 0
    strict = tiny("validate", "--strict")
    assert strict.code == 3
    assert "unused-source" in strict.out


def test_one_run_reports_schema_and_cross_file_problems_together(tiny: Cli) -> None:
    replace(tiny, "sector: university", "sector: universty")  # schema error in base.yaml
    (tiny.data / "more.yaml").write_text(
        "initiatives:\n  - id: other\n    name: Other\n    kind: network\n    sources: [src]\n"
        "    members:\n      - {organisation: univ-coimbra, role: member, sources: [src]}\n"
        "      - {organisation: nobody, role: member, sources: [src]}\n"
    )
    found = {(Path(str(d["path"])).name, d["rule"]) for d in diagnostics(tiny)}
    # univ-coimbra's record is invalid but exists: only the truly unknown id is reported.
    assert found == {("base.yaml", "schema-vocabulary"), ("more.yaml", "unknown-reference")}


def _funding(cli: Cli, amount: str, currency: str = "EUR") -> None:
    (cli.data / "funding.yaml").write_text(
        "initiatives:\n  - id: funded\n    name: Funded\n    kind: project\n    sources: [src]\n"
        f"    funding:\n      - id: grant\n        amount: {amount}\n        currency: {currency}\n"
        "        sources: [src]\n"
    )


@pytest.mark.parametrize("amount", ["999999999999999.9999", "0.0001", "0000000000000000000001"])
def test_amounts_up_to_the_bound_are_accepted(tiny: Cli, amount: str) -> None:
    _funding(tiny, amount)
    assert tiny("validate").code == 0


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1000000000000000", "below 10^15"),
        ("9" * 309, "(309 characters) is too large"),
        ("1.00000", "5 decimal places; expected at most 4"),
    ],
)
def test_amounts_beyond_the_bound_are_refused(tiny: Cli, amount: str, expected: str) -> None:
    _funding(tiny, amount)
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (8, 17, "schema-value")
    assert expected in str(d["message"])
    assert len(str(d["message"])) < 300  # a long value is cut short, not printed whole


def test_too_large_amounts_break_no_report(tiny: Cli) -> None:
    _funding(tiny, "9" * 400)
    result = tiny("report", "funding", "-f", "svg")
    assert result.code == 3 and "Traceback" not in result.err


@pytest.mark.parametrize("currency", ["XXX", "xts"])
def test_iso_codes_for_no_currency_are_refused(tiny: Cli, currency: str) -> None:
    _funding(tiny, "5", currency)
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (9, 19, "schema-value")
    assert "not a currency" in str(d["message"])


@pytest.mark.parametrize("currency", ["EUR", "chf", "XOF", "XDR"])
def test_real_currencies_are_accepted(tiny: Cli, currency: str) -> None:
    _funding(tiny, "5", currency)
    assert tiny("validate").code == 0


@pytest.mark.parametrize("currency", ["Eüр", "ＥＵＲ"])
def test_currency_codes_are_ascii(tiny: Cli, currency: str) -> None:
    _funding(tiny, "5", currency)
    assert only(tiny)["rule"] == "schema-value"


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("  - id: univ-coimbra\n", '  - id: "univ-coimbra\\n"\n', 6),
        ("{organisation: univ-coimbra,", '{organisation: "univ-coimbra\\n",', 17),
        ("    sources: [src]\n    members:", '    sources: ["src\\n"]\n    members:', 15),
    ],
)
def test_ids_with_a_trailing_newline_are_refused(tiny: Cli, old: str, new: str, line: int) -> None:
    replace(tiny, old, new)
    d = only(tiny)
    assert (d["line"], d["rule"]) == (line, "schema-value")
    assert "'univ-coimbra\\n' is not an id" in str(d["message"]) or "'src\\n'" in str(d["message"])
    assert "\n" not in str(d["message"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("pic", '"123456789\\n"'), ("pic", "１２３４５６７８９"), ("ror", '"0abcdefgh\\n"')],
)
def test_organisation_codes_must_match_fully(tiny: Cli, field: str, value: str) -> None:
    replace(
        tiny, "    sector: university\n", f"    sector: university\n    ids: {{{field}: {value}}}\n"
    )
    d = only(tiny)
    assert (d["line"], d["rule"], d["field"]) == (
        10,
        "schema-value",
        f"organisations[0].ids.{field}",
    )


def test_cordis_ids_must_match_fully(tiny: Cli) -> None:
    replace(tiny, "    kind: hub\n", '    kind: hub\n    ids: {cordis: "101059981\\n"}\n')
    d = only(tiny)
    assert (d["line"], d["field"]) == (15, "initiatives[0].ids.cordis")
    assert "CORDIS" in str(d["message"])


@pytest.mark.parametrize("blank", ['""', '"   "', '"\\t"', '"\\u00a0\\u200b"'])
@pytest.mark.parametrize(
    ("old", "line", "column"),
    [
        ("title: A page", 3, 12),
        ("name: Universidade de Coimbra", 7, 11),
        ("name: A hub", 13, 11),
    ],
)
def test_blank_names_are_refused(tiny: Cli, blank: str, old: str, line: int, column: int) -> None:
    replace(tiny, old, old.split(":")[0] + ": " + blank)
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (line, column, "schema-value")
    assert "blank" in str(d["message"])


def test_blank_optional_text_is_refused_too(tiny: Cli) -> None:
    replace(tiny, "    country: PT\n", '    country: PT\n    city: " "\n')
    assert only(tiny)["field"] == "organisations[0].city"


@pytest.mark.parametrize("date", ["٢٠٢٤-٠١", "２０２４", "2024-٠١", "۲۰۲۴"])
def test_dates_take_only_ascii_digits(tiny: Cli, date: str) -> None:
    replace(tiny, "    kind: hub\n", f"    kind: hub\n    start: {date}\n")
    d = only(tiny)
    assert (d["line"], d["column"], d["rule"]) == (15, 12, "schema-value")
    assert "ASCII digits 0-9" in str(d["message"])


def test_country_codes_are_ascii(tiny: Cli) -> None:
    replace(tiny, "country: PT", "country: ﬁ")  # the ligature upper-cases to FI
    assert only(tiny)["field"] == "organisations[0].country"


@pytest.mark.parametrize(
    ("field", "value"),
    [("count", "99999999999999999999"), ("count", "1000001"), ("countries", "250")],
)
def test_counts_are_bounded(tiny: Cli, field: str, value: str) -> None:
    count = "5" if field == "countries" else value
    countries = f", countries: {value}" if field == "countries" else ""
    replace(
        tiny,
        "    members:\n",
        f"    partner_counts:\n      - {{count: {count}{countries}, sources: [src]}}\n"
        "    members:\n",
    )
    d = only(tiny)
    assert (d["line"], d["rule"], d["field"]) == (
        17,
        "schema-value",
        f"initiatives[0].partner_counts[0].{field}",
    )


def test_a_parent_cycle_across_files_is_one_error_naming_every_link(tiny: Cli) -> None:
    replace(tiny, "    sector: university\n", "    sector: university\n    parent: lab\n")
    (tiny.data / "more.yaml").write_text(
        "organisations:\n  - id: lab\n    name: Lab\n    sector: company\n"
        "    parent: univ-coimbra\n    sources: [src]\n"
    )
    d = only(tiny)
    assert (Path(str(d["path"])).name, d["line"], d["column"]) == ("base.yaml", 10, 13)
    assert d["rule"] == "reference-cycle"
    message = str(d["message"])
    assert "univ-coimbra → lab → univ-coimbra" in message
    assert "more.yaml:5:13" in message


def test_a_chain_into_a_cycle_reports_the_cycle_once(tiny: Cli) -> None:
    (tiny.data / "more.yaml").write_text(
        "organisations:\n"
        "  - {id: top, name: Top, sector: company, parent: a, sources: [src]}\n"
        "  - {id: a, name: A, sector: company, parent: b, sources: [src]}\n"
        "  - {id: b, name: B, sector: company, parent: c, sources: [src]}\n"
        "  - {id: c, name: C, sector: company, parent: a, sources: [src]}\n"
    )
    d = only(tiny)
    assert (d["line"], d["rule"]) == (3, "reference-cycle")
    assert "a → b → c → a" in str(d["message"])


def test_a_parent_chain_without_a_cycle_is_valid(tiny: Cli) -> None:
    (tiny.data / "more.yaml").write_text(
        "organisations:\n"
        "  - {id: a, name: A, sector: company, parent: b, sources: [src]}\n"
        "  - {id: b, name: B, sector: company, parent: univ-coimbra, sources: [src]}\n"
    )
    assert not [d for d in diagnostics(tiny) if d["severity"] == "error"]


# ---------------------------------------------------------------- the data directory as it is


def test_a_fifo_named_yaml_is_an_error_not_a_hang(cli: Cli) -> None:
    fifo = cli.data / "pipe.yaml"
    os.mkfifo(fifo)
    for command in (["validate"], ["load"], ["list", "partners"]):
        result = cli(*command)
        assert result.code == 3, (command, result.err)
        where = result.err if command != ["validate"] else result.out
        assert "pipe.yaml:1:1: error: not a regular file" in where


def test_a_symlink_loop_is_a_located_error(cli: Cli) -> None:
    (cli.data / "loop.yaml").symlink_to(cli.data / "loop.yaml")
    result = cli("validate")
    assert result.code == 3 and "Traceback" not in result.err
    assert "loop.yaml:1:1: error: cannot read the file" in result.out


def test_a_file_name_that_is_not_utf8_is_a_located_error(cli: Cli) -> None:
    name = os.fsdecode(b"caf\xe9.yaml")
    shutil.copy(cli.data / "sources.yaml", cli.data / "initiatives" / name)
    for command in (["validate"], ["list", "partners"]):
        result = cli(*command)
        assert result.code == 3, result.err
        text = result.out + result.err
        assert "caf\\xe9.yaml:1:1: error: the file name is not valid UTF-8" in text
        assert "Traceback" not in text


@pytest.mark.slow
def test_an_unreadable_directory_is_an_error_not_a_silent_gap(cli: Cli) -> None:
    """Run as an unprivileged user where the session is root, whom permissions do not stop."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        data = Path(scratch) / "data"
        shutil.copytree(cli.data, data)
        locked = data / "locked"
        locked.mkdir()
        shutil.move(data / "initiatives" / "geneh.yaml", locked / "geneh.yaml")
        Path(scratch).chmod(0o755)
        locked.chmod(0)
        argv = [sys.executable, "-m", "atmptrack", "--data", str(data), "validate"]
        if os.geteuid() == 0:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**cli.env(), "PYTHONDONTWRITEBYTECODE": "1", "HOME": scratch}
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=60, cwd=scratch
        )
        locked.chmod(0o755)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "locked:1:1: error: cannot read the directory: Permission denied" in proc.stdout


def test_a_misspelt_vocabulary_value_in_yaml_gets_a_suggestion(cli: Cli) -> None:
    europe = cli.data / "organisations" / "europe.yaml"
    europe.write_text(europe.read_text().replace("sector: hospital", "sector: hospitl", 1))
    result = cli("validate")
    assert result.code == 3
    assert (
        "unknown sector 'hospitl' (did you mean 'hospital'?); valid values: university"
        in result.out
    )


def test_validate_annotates_a_pull_request_for_github_actions(cli: Cli) -> None:
    europe = cli.data / "organisations" / "europe.yaml"
    europe.write_text(europe.read_text().replace("sector: hospital", "sector: hospitl", 1))
    (cli.data / "evil.yaml").write_text(
        'sources:\n  - {id: "a,b:c%0A::error::x", title: t, url: "https://e.org"}\n'
    )
    result = cli("validate", "--format", "github")
    assert result.code == 3
    lines = result.out.splitlines()
    assert all(line.startswith(("::error file=", "::warning file=")) for line in lines)
    vocabulary = next(line for line in lines if "hospitl" in line)
    assert vocabulary.startswith("::error file=")
    assert (
        ",line=" in vocabulary
        and ",col=" in vocabulary
        and ",title=schema-vocabulary::" in vocabulary
    )
    # Nothing in the data can end the command or start another one: `%0A` in the file stays
    # text (`%250A`), not a newline, and the properties are only ours.
    evil = next(line for line in lines if "evil.yaml" in line)
    _, props, message = evil.split("::", 2)
    assert [p.split("=")[0] for p in props.removeprefix("error ").split(",")] == [
        "file",
        "line",
        "col",
        "title",
    ]
    assert "%250A" in message and "%0A" not in message.replace("%250A", "")
