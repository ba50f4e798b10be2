"""The filter language: grammar, types, errors with carets, and results on the test landscape."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atmptrack import vocab
from atmptrack.dates import PartialDate
from atmptrack.errors import UsageError
from atmptrack.expr import MAX_DEPTH, MAX_VALUES, And, Cmp, ExpressionError, Not, Or, parse
from atmptrack.query import ENTITIES

from conftest import Cli


def test_grammar_builds_the_expected_tree() -> None:
    tree = parse("not (country = PT) and name ~ 'bio' or kind in (hub, network) and x is not null")
    assert tree == Or(
        (
            And(
                (Not(Cmp("country", "=", ("PT",), 5, (15,))), Cmp("name", "~", ("bio",), 23, (30,)))
            ),
            And(
                (
                    Cmp("kind", "in", ("hub", "network"), 39, (48, 53)),
                    Cmp("x", "is not null", (), 66),
                )
            ),
        )
    )
    assert parse('a !~ "x \\" y"') == Cmp("a", "!~", ('x " y',), 0, (5,))
    assert parse("a not in (1)") == Cmp("a", "not in", ("1",), 0, (10,))


@pytest.mark.parametrize(
    ("text", "pos", "words"),
    [
        ("", 0, "empty"),
        ("country", 7, "expected an operator"),
        ("country = ", 10, "expected a value"),
        ("country == PT", 9, "expected a value"),
        ("(country = PT", 13, "expected ')'"),
        ("country = PT)", 12, "expected 'and', 'or'"),
        ("country in PT", 11, "expected '('"),
        ("country in (PT SI)", 15, "expected ',' or ')'"),
        ("country is PT", 11, "expected 'null'"),
        ("country not = PT", 12, "expected 'in'"),
        ("= PT", 0, "expected a field name"),
        ("country = PT and", 16, "expected a field name"),
        ('name = "open', 7, "unterminated string"),
        ("name = open $", 12, "found '$'"),
    ],
)
def test_syntax_errors_point_at_the_problem(text: str, pos: int, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.pos == pos
    assert words in caught.value.message
    lines = caught.value.message.splitlines()
    assert lines[1] == f"  {text}" and lines[2] == "  " + " " * pos + "^"


def ids(out: str, key: str = "id") -> list[str]:
    return [row[key] for row in json.loads(out)]


@pytest.mark.parametrize(
    ("entity", "expression", "key", "expected"),
    [
        (
            "partners",
            "country in (PT, SI) and helix = industry",
            "id",
            ["biocant", "bluepharma", "ipn", "biosistemika", "jafral", "sih-eeig"],
        ),
        (
            "initiatives",
            'funding_amount >= 3000000 and programme ~ "horizon"',
            "id",
            ["geneh", "join4atmp"],
        ),
        ("milestones", "date >= 2024-01 and kind = kick-off", "initiative", ["join4atmp", "geneh"]),
        (
            "members",
            "initiative = join4atmp and role != partner",
            "organisation",
            ["charite", "ospedale-san-raffaele", "bih"],
        ),
        ("partners", "not (country = PT) and name ~ bio", "id", ["biocat", "biosistemika"]),
        ("partners", "country = si and sector = company", "id", ["biosistemika", "jafral"]),
        (
            "partners",
            "initiatives = genet",
            "id",
            ["univ-eastern-finland", "univ-sheffield", "univ-coimbra"],
        ),
        (
            "partners",
            "initiatives in (genet, ctgct) and country !~ p",
            "id",
            ["univ-eastern-finland", "univ-sheffield", "kemijski-institut"],
        ),
        (
            "initiatives",
            "known_members > 3 and declared_partners is not null",
            "id",
            ["geneh", "join4atmp"],
        ),
        (
            "initiatives",
            "funding_amount is null and kind = network",
            "id",
            ["at-network-catalonia", "restore", "t2evolve"],
        ),
        ("funding", "amount > 4885375", "id", ["european-commission", "slovenian-ministry"]),
        ("sources", "published >= 2025", "id", ["uc-geneh-news"]),
        ("milestones", "year = 2022", "id", ["mandate"]),
        ("milestones", "date = 2022", "id", ["mandate"]),
        ("milestones", "date = 2024-01", "initiative", ["join4atmp"]),
        # A date known only as 2022 is not on or after June 2022, nor before it: not 1 January.
        ("milestones", "date >= 2022-06 and date < 2024", "id", []),
        ("milestones", "date < 2022-06", "id", []),
        (
            "milestones",
            "date is not null and year != 2024 and year != 2025 and year != 2022",
            "id",
            ["presentation", "work-groups-launch"],
        ),
        ("people", "organisation is null", "id", ["mojca-nemec-van-gorp", "fernando-alexandre"]),
        ("partners", 'name = "x\' OR 1=1 --"', "id", []),
    ],
)
def test_filter_results(
    landscape_cli: Cli, entity: str, expression: str, key: str, expected: list[str]
) -> None:
    out = landscape_cli.ok("filter", entity, expression, "-f", "json")
    assert ids(out, key) == expected


@pytest.mark.parametrize(
    ("entity", "expression", "pos", "words"),
    [
        ("partners", "country in (PT, SI) and helx = industry", 24, "did you mean 'helix'?"),
        ("initiatives", "known_members >= lots", 17, "is a number"),
        ("milestones", "date >= 2024-13", 8, "month 13"),
        ("milestones", "date >= --06", 8, "a year"),
        ("milestones", "year > 2024", 0, "compare year with =, !=, in or not in"),
        ("partners", "roles < b", 0, "is a list"),
    ],
)
def test_field_and_value_errors_exit_2_with_a_caret(
    landscape_cli: Cli, entity: str, expression: str, pos: int, words: str
) -> None:
    result = landscape_cli("filter", entity, expression)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert words in lines[0]
    assert lines[1] == f"  {expression}"
    assert lines[2] == "  " + " " * pos + "^"


def test_unknown_field_lists_the_valid_fields(landscape_cli: Cli) -> None:
    err = landscape_cli("filter", "milestones", "dat = 2024").err
    assert "valid fields: initiative, id, kind, date, end_date" in err and "year" in err
    assert "(did you mean 'date'?)" in err


def test_filter_takes_the_output_options_of_list(landscape_cli: Cli) -> None:
    out = landscape_cli.ok(
        "filter",
        "partners",
        "country = SI",
        "--columns",
        "id",
        "--sort",
        "-id",
        "--limit",
        "2",
        "--no-header",
    )
    assert out.splitlines() == ["zops", "sih-eeig"]


def test_list_flags_and_filter_agree(landscape_cli: Cli) -> None:
    flags = landscape_cli.ok(
        "list", "partners", "--country", "PT,SI", "--helix", "industry", "-f", "json"
    )
    expression = landscape_cli.ok(
        "filter", "partners", "country in (PT, SI) and helix = industry", "-f", "json"
    )
    assert flags == expression


def test_bad_values_never_reach_sql_as_text() -> None:
    from atmptrack.expr import Compiler, Field

    compiler = Compiler({"name": Field('t."name"', "text")})
    sql = compiler.compile(parse('name = "\'; DROP TABLE organisation; --"'))
    assert "DROP" not in sql
    assert list(compiler.params.values()) == ["'; drop table organisation; --"]
    with pytest.raises(UsageError):
        Compiler({}).compile(parse("x = 1"))


# ---------------------------------------------------------------- comparisons by kind

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def columns_of(*kinds: str) -> list[tuple[str, str]]:
    return [(e.name, c.name) for e in ENTITIES.values() for c in e.columns if c.kind in kinds]


def rows_of(cli: Cli, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(cli.ok(*args, "-f", "json"))
    return rows


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def number(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@pytest.mark.parametrize(("entity", "column"), columns_of("int", "amount", "sum"))
def test_numbers_compare_as_numbers(landscape_cli: Cli, entity: str, column: str) -> None:
    rows = rows_of(landscape_cli, "list", entity)
    known = sorted({v for r in rows if (v := number(r[column])) is not None})
    assert known, f"no {column} in the test landscape's {entity}"
    # 10,000,000 has more digits than most values: compared as text, it sorts below them.
    probes = {known[0], known[len(known) // 2], known[-1], Decimal(10_000_000)}
    for probe in sorted(probes):
        for op, holds in OPS.items():
            expected = [
                r
                for r in rows
                if (op == "!=" and r[column] is None)
                or (r[column] is not None and holds(number(r[column]), probe))
            ]
            got = rows_of(landscape_cli, "filter", entity, f"{column} {op} {probe}")
            assert got == expected, (column, op, probe)
    # The same number written otherwise is the same number.
    middle = known[len(known) // 2]
    expected = rows_of(landscape_cli, "filter", entity, f"{column} = {middle}")
    text = format(middle, "f")
    for written in (text + ("0" if "." in text else ".000"), f"{text}e0", f"{middle * 10}e-1"):
        assert rows_of(landscape_cli, "filter", entity, f"{column} = {written}") == expected


@pytest.mark.parametrize(("entity", "column"), columns_of("amount", "sum"))
def test_amounts_sort_as_numbers(landscape_cli: Cli, entity: str, column: str) -> None:
    for descending in (False, True):
        sort = ("-" if descending else "") + column
        values = [number(r[column]) for r in rows_of(landscape_cli, "list", entity, "--sort", sort)]
        known = [v for v in values if v is not None]
        assert known == sorted(known, reverse=descending)
        assert values == known + [None] * (len(values) - len(known))  # unknown is not zero


EXACT = """
sources:
  - {id: exact-source, title: Exact test source, url: "https://example.org/exact"}
organisations:
  - {id: osterreich-test, name: ÖSTERREICHISCHE TESTANSTALT, country: AT, sector: company,
     sources: [exact-source]}
initiatives:
  - id: exact-a
    name: Exact A
    kind: project
    sources: [exact-source]
    members:
      - {organisation: osterreich-test, role: partner, sources: [exact-source]}
    funding:
      - {id: second, amount: "123456789012345.0002", currency: EUR, sources: [exact-source]}
      - {id: first, amount: "123456789012345.0001", currency: EUR, qualifier: at-least,
         sources: [exact-source]}
  - id: exact-b
    name: Exact B
    kind: project
    sources: [exact-source]
    funding:
      - {id: only, amount: "246913578024690.0004", currency: EUR, qualifier: approximately,
         sources: [exact-source]}
"""


def test_amounts_compare_exactly_beyond_what_floats_hold(cli: Cli) -> None:
    # Both amounts are the same double; their sum is exact-b's amount less 0.0001.
    (cli.data / "exact.yaml").write_text(EXACT, encoding="utf-8")

    def funding(*args: str) -> list[str]:
        rows = rows_of(cli, *args, "--columns", "id")
        return [r["id"] for r in rows]

    assert funding("filter", "funding", "amount > 123456789012345.0001") == ["second", "only"]
    assert funding("filter", "funding", "amount = 123456789012345.00010") == ["first"]
    assert funding("filter", "funding", "amount >= 1.234567890123450002e14") == ["second", "only"]
    ours = "initiative in (exact-a, exact-b)"
    assert funding("filter", "funding", ours, "--sort", "amount") == ["first", "second", "only"]
    assert funding("filter", "funding", ours, "--sort", "-amount") == ["only", "second", "first"]
    total = "246913578024690.0003"
    assert funding("filter", "initiatives", f"funding_amount = {total}") == ["exact-a"]
    between = f"funding_amount > 1e14 and funding_amount < {total}1"
    assert funding("filter", "initiatives", between) == ["exact-a"]
    assert funding("filter", "initiatives", f"funding_amount > {total}") == ["exact-b"]
    assert funding("list", "initiatives", "--sort", "-funding_amount", "--limit", "2") == [
        "exact-b",
        "exact-a",
    ]
    (row,) = rows_of(cli, "filter", "initiatives", "id = exact-a")
    assert row["funding_amount"] == int(Decimal(total)) or str(row["funding_amount"]) == total
    # The combined qualifier compares as it is shown: exact and at-least make at-least.
    assert row["funding_qualifier"] == "at-least"
    assert funding("filter", "initiatives", "funding_qualifier = at-least") == ["exact-a"]
    assert funding("filter", "initiatives", "funding_qualifier = exact") == [
        "ctgct",
        "geneh",
        "join4atmp",
    ]
    # Text ignores case beyond ASCII too.
    for expression in ('name ~ "österreich"', 'name = "Österreichische Testanstalt"'):
        assert funding("filter", "partners", expression) == ["osterreich-test"]


def dates(value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    when = PartialDate.parse(str(value))
    first, last = when.earliest(), when.latest()
    return None if first is None or last is None else (first.isoformat(), last.isoformat())


DATE_OPS: dict[str, Callable[[tuple[str, str], tuple[str, str]], bool]] = {
    "=": lambda d, p: d[0] >= p[0] and d[1] <= p[1],
    "!=": lambda d, p: not (d[0] >= p[0] and d[1] <= p[1]),
    ">=": lambda d, p: d[0] >= p[0],
    ">": lambda d, p: d[0] > p[1],
    "<=": lambda d, p: d[1] <= p[1],
    "<": lambda d, p: d[1] < p[0],
}


@pytest.mark.parametrize(("entity", "column"), columns_of("date"))
def test_dates_compare_by_what_they_mean(landscape_cli: Cli, entity: str, column: str) -> None:
    rows = rows_of(landscape_cli, "list", entity)
    written = sorted({str(r[column]) for r in rows if dates(r[column]) is not None})
    for probe in [*written[:2], "2024", "2025-03"]:
        bounds = dates(probe)
        assert bounds is not None
        for op, holds in DATE_OPS.items():
            expected = [
                r
                for r in rows
                if ((span := dates(r[column])) is not None and holds(span, bounds))
                or (op == "!=" and span is None)
            ]
            got = rows_of(landscape_cli, "filter", entity, f"{column} {op} {probe}")
            assert got == expected, (column, op, probe)


def test_therapy_areas_are_a_list_like_every_other(landscape_cli: Cli) -> None:
    got = rows_of(landscape_cli, "filter", "initiatives", "therapy_areas = cell", "--columns", "id")
    assert [r["id"] for r in got] == ["at-network-catalonia", "ctgct", "join4atmp"]
    (row,) = rows_of(landscape_cli, "filter", "initiatives", "id = join4atmp")
    assert row["therapy_areas"] == ["gene", "cell", "tissue"]


@pytest.mark.parametrize(("entity", "column"), columns_of("list"))
def test_list_fields_match_any_item(landscape_cli: Cli, entity: str, column: str) -> None:
    rows = rows_of(landscape_cli, "list", entity)
    declared = next(c for c in ENTITIES[entity].columns if c.name == column)
    vocabulary = (
        None
        if declared.values in (None, "country", "initiative")
        else getattr(vocab, declared.values or "")
    )
    items: list[str] = []
    for row in rows:
        assert isinstance(row[column], list)
        for item in row[column]:
            assert isinstance(item, str) and item and "\x1f" not in item
            if vocabulary is not None:
                assert item in vocab.values(vocabulary), (column, item)
            if item not in items:
                items.append(item)
    if not items:
        raise AssertionError(f"no {column} in the test landscape's {entity}: add some")

    def has(row: dict[str, Any], *wanted: str) -> bool:
        return any(i.casefold() in {w.casefold() for w in wanted} for i in row[column])

    for item in {items[0], items[-1]}:
        value = quote(item.upper() if item.isascii() else item)
        got = rows_of(landscape_cli, "filter", entity, f"{column} = {value}")
        assert got == [r for r in rows if has(r, item)], (column, item)
        got = rows_of(landscape_cli, "filter", entity, f"{column} != {value}")
        assert got == [r for r in rows if not has(r, item)], (column, item)
    pair = (items[0], items[-1])
    got = rows_of(landscape_cli, "filter", entity, f"{column} in ({', '.join(map(quote, pair))})")
    assert got == [r for r in rows if has(r, *pair)]
    got = rows_of(landscape_cli, "filter", entity, f"{column} not in ({quote(items[0])})")
    assert got == [r for r in rows if not has(r, items[0])]


# ---------------------------------------------------------------- values checked as the flags check them


@pytest.mark.parametrize(
    ("entity", "expression", "value", "words"),
    [
        ("partners", "country = Slovenia", "Slovenia", "(did you mean SI?)"),
        ("partners", "country in (PT, XX)", "XX", "unknown country 'XX'"),
        ("members", "country != ß", "ß", "unknown country"),
        ("people", "country = xx", "xx", "in the data: DE, ES"),
        ("initiatives", "countries = Portugal", "Portugal", "(did you mean PT?)"),
        ("initiatives", "funding_amount >= lots", "lots", "is a number"),
        ("funding", "amount < 1_000", "1_000", "is a number"),
        ("funding", "amount < 0x10", "0x10", "is a number"),
        ("partners", "sector = universty", "universty", "(did you mean 'university'?)"),
        ("partners", "helix = academy", "academy", "(did you mean 'academia'?)"),
        ("members", "role in (partner, coordinater)", "coordinater", "did you mean 'coordinator'"),
        ("partners", "_role_names = boss", "boss", "valid values: coordinator, co-coordinator"),
        ("initiatives", "kind = hubb", "hubb", "(did you mean 'hub'?)"),
        ("milestones", "kind not in (kikoff)", "kikoff", "did you mean 'kick-off'"),
        ("workgroups", "kind != work-pakage", "work-pakage", "did you mean 'work-package'"),
        ("initiatives", "therapy_areas = genes", "genes", "did you mean 'gene'"),
        ("initiatives", "declared_qualifier = about", "about", "valid values: exact"),
        ("funding", "qualifier = aproximately", "aproximately", "did you mean 'approximately'"),
        ("milestones", "precision = days", "days", "did you mean 'day'"),
        ("milestones", "date_qualifier = exactly", "exactly", "did you mean 'exact'"),
        ("members", "initiative = genehh", "genehh", "(did you mean 'geneh'?)"),
        ("partners", "initiatives in (geneh, join4)", "join4", "unknown initiative 'join4'"),
        ("initiatives", "id = gene-h", "gene-h", "did you mean 'geneh'"),
        ("workgroups", "number = 1e9999999", "1e9999999", "out of range"),
        ("workgroups", "number = 1e30", "1e30", "out of range"),
        ("sources", "citations < 9223372036854775808", "9223372036854775808", "out of range"),
        ("milestones", "year = 1e9999999", "1e9999999", "out of range"),
        ("funding", "year != 99999", "99999", "from 1 to 9999"),
        ("partners", "name = 'abc\udcff'", "\udcff", "byte 0xFF"),
    ],
)
def test_values_are_checked_as_the_flags_check_them(
    landscape_cli: Cli, entity: str, expression: str, value: str, words: str
) -> None:
    result = landscape_cli("filter", entity, expression)
    assert (result.code, result.out) == (2, ""), result.err
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert words in lines[0]
    assert lines[2] == "  " + " " * expression.index(value) + "^"


def test_list_flags_and_filter_give_the_same_message(landscape_cli: Cli) -> None:
    for flag, field, value in [
        ("--sector", "sector", "universty"),
        ("--helix", "helix", "academy"),
        ("--country", "country", "Slovenia"),
        ("--initiative", "initiatives", "genehh"),
        ("--role", "_role_names", "coordinater"),
    ]:
        flags = landscape_cli("list", "partners", flag, value)
        expression = landscape_cli("filter", "partners", f"{field} = {value}")
        assert flags.code == expression.code == 2
        assert flags.err.splitlines()[0] == expression.err.splitlines()[0]
    kinds = landscape_cli("list", "milestones", "--kind", "kikoff").err
    assert "(did you mean 'kick-off'?); valid values: kick-off" in kinds


def test_from_later_than_to_is_a_usage_error(landscape_cli: Cli) -> None:
    result = landscape_cli("list", "milestones", "--from", "2025-04", "--to", "2025-03")
    assert result.code == 2 and "later than --to" in result.err and result.out == ""
    assert landscape_cli.ok("list", "milestones", "--from", "2025-03", "--to", "2025-03")


# ---------------------------------------------------------------- one argument cannot hang or crash it


@pytest.mark.parametrize(
    ("entity", "expression", "words"),
    [
        ("partners", "(" * 330 + "country = PT" + ")" * 330, f"more than {MAX_DEPTH} levels"),
        ("partners", "not " * 1000 + "country = PT", f"more than {MAX_DEPTH} levels"),
        (
            "partners",
            " or ".join(f"name = n{i}" for i in range(1200)),
            f"more than {MAX_VALUES} values",
        ),
        (
            "milestones",
            "date in (" + ", ".join(["2024"] * (MAX_VALUES + 1)) + ")",
            f"more than {MAX_VALUES} values",
        ),
    ],
)
def test_expressions_are_bounded(
    landscape_cli: Cli, entity: str, expression: str, words: str
) -> None:
    result = landscape_cli("filter", entity, expression)
    assert (result.code, result.out) == (2, ""), result.err[:500]
    assert words in result.err and "Traceback" not in result.err
    assert result.err.splitlines()[2].endswith("^")


@pytest.mark.parametrize(
    ("entity", "expression"),
    [
        ("partners", "(" * MAX_DEPTH + "country = PT" + ")" * MAX_DEPTH),
        ("partners", "not " * MAX_DEPTH + "country = PT"),
        ("partners", " or ".join(f"name = n{i}" for i in range(MAX_VALUES - 1)) + " or id = zops"),
        ("partners", " and ".join(["initiatives != geneh"] * MAX_VALUES)),
        ("milestones", " or ".join(["date = 2024-01"] * MAX_VALUES)),
        ("milestones", " or ".join(["year = 2022"] * MAX_VALUES)),
        ("initiatives", " or ".join(["funding_amount >= 3e6"] * MAX_VALUES)),
    ],
)
def test_expressions_at_the_limits_run(landscape_cli: Cli, entity: str, expression: str) -> None:
    assert json.loads(landscape_cli.ok("filter", entity, expression, "-f", "json"))


def test_a_limit_beyond_sqlite_integers_is_a_usage_error(landscape_cli: Cli) -> None:
    result = landscape_cli("filter", "partners", "country = PT", "--limit", str(2**70))
    assert (result.code, result.out) == (2, "")
    assert "--limit" in result.err and "Traceback" not in result.err
    assert landscape_cli.ok("list", "partners", "--limit", str(2**63 - 1))


# ---------------------------------------------------------------- any expression: a result or a usage error


def _fields(entity: str) -> list[str]:
    return [*ENTITIES[entity].fields(), "year", "nme", "_role_names"]


_WORDS = ["PT", "si", "Slovenia", "geneh", "GeneH", "hub", "kick-off", "partner", "academia"]
_DATES = ["2024", "2025-03", "2025-03-21", "--06-10", "2024-13", "0000", "9999-12-31"]
_VALUES = st.one_of(
    st.sampled_from(_WORDS + _DATES + ["null", "lots", "1,5", "-", "nan", "Infinity"]),
    st.integers(-(2**70), 2**70).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    # Huge exponents: 1e999999999 must not become a billion-digit integer.
    st.builds("{}e{}".format, st.integers(-99, 99), st.integers(-(10**9), 10**9)),
    st.builds(
        lambda text, bad: quote(text + bad), st.text(max_size=6), st.sampled_from(["", "\udcff"])
    ),
)
_OPS = st.sampled_from([*OPS, "~", "!~"])


@st.composite
def _expressions(draw: st.DrawFn) -> tuple[str, str]:
    entity = draw(st.sampled_from(list(ENTITIES)))
    fields = st.sampled_from(_fields(entity))
    comparison = st.one_of(
        st.builds("{} {} {}".format, fields, _OPS, _VALUES),
        st.builds(
            lambda f, negated, values: f"{f} {'not in' if negated else 'in'} ({', '.join(values)})",
            fields,
            st.booleans(),
            st.lists(_VALUES, min_size=1, max_size=4),
        ),
        st.builds(
            lambda f, negated: f"{f} is {'not ' if negated else ''}null", fields, st.booleans()
        ),
    )
    tree = st.recursive(
        comparison,
        lambda inner: st.one_of(
            st.builds("{} and {}".format, inner, inner),
            st.builds("{} or {}".format, inner, inner),
            inner.map("not {}".format),
            inner.map("({})".format),
        ),
        max_leaves=8,
    )
    text = draw(
        st.one_of(
            tree,
            st.builds(lambda n, t: "(" * n + t + ")" * n, st.integers(0, 2 * MAX_DEPTH), tree),
            st.builds(lambda n, t: "not " * n + t, st.integers(0, 2 * MAX_DEPTH), tree),
            st.builds(lambda t, cut: t[:cut], tree, st.integers(0, 60)),  # broken syntax
        )
    )
    return entity, text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_expressions())
def test_any_expression_gives_rows_or_a_usage_error(
    landscape_cli: Cli, case: tuple[str, str]
) -> None:
    entity, expression = case
    result = landscape_cli("filter", entity, expression, "-f", "json")
    assert result.code in (0, 2), result.err
    assert "Traceback" not in result.err
    if result.code == 0:
        assert isinstance(json.loads(result.out), list)
    else:
        assert result.err.startswith("atmptrack: error: ") and result.out == ""


@pytest.mark.parametrize("quote", ['"', "'"])
def test_an_unclosed_quote_says_unterminated_string(landscape_cli: Cli, quote: str) -> None:
    result = landscape_cli("filter", "partners", f"name = {quote}Kemijski")
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == f"atmptrack: error: unterminated string: no closing {quote} for this one"
    assert lines[2].index("^") == lines[1].index(quote)
