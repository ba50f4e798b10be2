"""The filter language: grammar, types, errors with carets, and results on the bundled data."""

from __future__ import annotations

import json

import pytest

from atmptrack.errors import UsageError
from atmptrack.expr import And, Cmp, ExpressionError, Not, Or, parse

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
        ('name = "open', 7, "unexpected character"),
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
    bundled_cli: Cli, entity: str, expression: str, key: str, expected: list[str]
) -> None:
    out = bundled_cli.ok("filter", entity, expression, "-f", "json")
    assert ids(out, key) == expected


@pytest.mark.parametrize(
    ("entity", "expression", "pos", "words"),
    [
        ("partners", "country in (PT, SI) and helx = industry", 24, "did you mean 'helix'?"),
        ("initiatives", "known_members >= lots", 17, "is a number"),
        ("milestones", "date >= 2024-13", 8, "month 13"),
        ("milestones", "date >= --06", 8, "a year"),
        ("milestones", "year > 2024", 0, "compare year with = or !="),
        ("partners", "roles < b", 0, "is a list"),
    ],
)
def test_field_and_value_errors_exit_2_with_a_caret(
    bundled_cli: Cli, entity: str, expression: str, pos: int, words: str
) -> None:
    result = bundled_cli("filter", entity, expression)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert words in lines[0]
    assert lines[1] == f"  {expression}"
    assert lines[2] == "  " + " " * pos + "^"


def test_unknown_field_lists_the_valid_fields(bundled_cli: Cli) -> None:
    err = bundled_cli("filter", "milestones", "wen = 2024").err
    assert "Valid fields: initiative, id, kind, date, end_date" in err and "year" in err


def test_filter_takes_the_output_options_of_list(bundled_cli: Cli) -> None:
    out = bundled_cli.ok(
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


def test_list_flags_and_filter_agree(bundled_cli: Cli) -> None:
    flags = bundled_cli.ok(
        "list", "partners", "--country", "PT,SI", "--helix", "industry", "-f", "json"
    )
    expression = bundled_cli.ok(
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
