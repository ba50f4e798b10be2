"""The read side without the CLI: entity declarations, value checks, limits, exact amounts."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atmptrack import vocab
from atmptrack.errors import UsageError
from atmptrack.expr import (
    MAX_ADJUSTED_EXPONENT,
    MAX_DEPTH,
    MAX_VALUES,
    SEP,
    Compiler,
    ExpressionError,
    decimal_key,
    parse,
)
from atmptrack.query import (
    ENTITIES,
    Column,
    Entity,
    Filters,
    Query,
    amount_key,
    combined_qualifier,
    exact_sum,
    parse_years,
    run,
)

from conftest import Cli


def columns_of(*kinds: str) -> list[tuple[Entity, Column]]:
    return [(e, c) for e in ENTITIES.values() for c in e.columns if c.kind in kinds]


def compile_text(entity: Entity, text: str, conn: sqlite3.Connection | None = None) -> str:
    return Compiler(entity.fields(conn), text=text).compile(parse(text))


def error_at(entity: Entity, text: str, conn: sqlite3.Connection | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_text(entity, text, conn)
    lines = caught.value.message.splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * caught.value.pos + "^"
    return caught.value


@pytest.fixture(scope="module")
def store(landscape_cli: Cli) -> Iterator[sqlite3.Connection]:
    """A read connection to the loaded landscape, on either backend, as the commands get it."""
    from atmptrack.store import Server, reading

    landscape_cli.ok("load", "-q")
    db = landscape_cli.db
    with reading(Server(db) if isinstance(db, str) else db) as conn:
        yield conn


# ---------------------------------------------------------------- exact amounts

finite = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: d.is_zero() or abs(d.adjusted()) <= MAX_ADJUSTED_EXPONENT
)


@settings(max_examples=300, deadline=None)
@given(finite, finite)
def test_decimal_keys_order_as_the_numbers_do(a: Decimal, b: Decimal) -> None:
    assert (decimal_key(a) < decimal_key(b)) == (a < b)
    assert (decimal_key(a) == decimal_key(b)) == (a == b)


def test_decimal_keys_at_the_edges() -> None:
    values = [
        Decimal("-1e999999"),
        Decimal("-10"),
        Decimal("-1.5"),
        Decimal("-1"),
        Decimal("-1e-999999"),
        Decimal(0),
        Decimal("1e-999999"),
        Decimal("0.5"),
        Decimal("1"),
        Decimal("1.00000000000000000000001"),
        Decimal("123456789012345.0001"),
        Decimal("123456789012345.0002"),
        Decimal("9.99e999999"),
    ]
    keys = [decimal_key(v) for v in values]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert decimal_key(Decimal("3000000")) == decimal_key(Decimal("3.000000e6"))


def test_amount_sums_are_exact_where_floats_are_not() -> None:
    parts = ["123456789012345.0001", "123456789012345.0002", "0.0001"]
    assert exact_sum(SEP.join(parts)) == Decimal("246913578024690.0004")
    assert float(Decimal(parts[0])) == float(Decimal(parts[1]))  # what REAL would compare
    assert amount_key(parts[0]) != amount_key(parts[1])
    assert amount_key(SEP.join(parts)) == decimal_key(Decimal("246913578024690.0004"))
    assert amount_key(None) is None and exact_sum(None) is None and exact_sum("") is None
    assert amount_key("not an amount") is None


def test_the_combined_qualifier_in_sql_is_vocab_combine() -> None:
    conn = sqlite3.connect(":memory:")
    qualifiers = vocab.values(vocab.AmountQualifier)
    for size in (1, 2, 3):
        for combination in itertools.combinations_with_replacement(qualifiers, size):
            values = ", ".join(f"('{q}')" for q in combination)
            sql = f"WITH f(qualifier) AS (VALUES {values}) SELECT {combined_qualifier('f.qualifier')} FROM f"
            assert conn.execute(sql).fetchone()[0] == vocab.combine(combination), combination


# ---------------------------------------------------------------- numbers by kind


@pytest.mark.parametrize(
    ("entity", "column"), columns_of("int"), ids=lambda x: getattr(x, "name", "")
)
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1e9999999", "out of range"),
        ("1e30", "out of range"),
        ("9223372036854775808", "out of range"),
        ("-9223372036854775809", "out of range"),
        ("1" * 5000, "out of range"),
        ("1.5", "whole numbers"),
        ("1e-9999999", "out of range"),
        ("lots", "is a number"),
        ("1e", "is a number"),
        ("nan", "is a number"),
        ("Infinity", "is a number"),
    ],
)
def test_whole_number_fields_refuse_what_sqlite_cannot_hold(
    entity: Entity, column: Column, value: str, words: str
) -> None:
    for op in ("=", "<", "!="):
        text = f"{column.name} {op} {value}"
        caught = error_at(entity, text)
        assert caught.pos == len(column.name) + len(op) + 2
        assert words in caught.message
    for value in ("9223372036854775807", "-9223372036854775808", "2.0", "1e3", "0e9999999"):
        compile_text(entity, f"{column.name} = {value}")


@pytest.mark.parametrize("entity", [e for e in ENTITIES.values() if e.span], ids=lambda e: e.name)
def test_year_is_a_year(entity: Entity) -> None:
    for value in ("1e9999999", "0", "10000", "2024.5", "-2024", "x"):
        caught = error_at(entity, f"year = {value}")
        assert caught.pos == len("year = ")
    for text in ("year = 2024", "year in (1, 9999)", "year not in (2024.0, 2e3)"):
        compile_text(entity, text)
    assert "compare year with" in error_at(entity, "year < 2024").message


@pytest.mark.parametrize(
    ("entity", "column"), columns_of("amount", "sum"), ids=lambda x: getattr(x, "name", "")
)
def test_amount_fields_compare_exact_keys(entity: Entity, column: Column) -> None:
    compiler = Compiler(entity.fields(), text="x")
    sql = compiler.compile(parse(f"{column.name} >= 123456789012345.0001"))
    assert "atmptrack_amount_key" in sql
    assert list(compiler.params.values()) == [decimal_key(Decimal("123456789012345.0001"))]
    assert "out of range" in error_at(entity, f"{column.name} > 1e9999999").message
    assert "is a number" in error_at(entity, f"{column.name} >= lots").message
    assert "is a number" in error_at(entity, f"{column.name} ~ 1").message
    compile_text(entity, f"{column.name} > 1e30")  # large but fine: nothing matches


# ---------------------------------------------------------------- closed vocabularies


def vocabulary_columns() -> list[tuple[Entity, Column]]:
    return [
        (e, c)
        for e in ENTITIES.values()
        for c in (*e.columns, *e.hidden)
        if c.values not in (None, "country", "initiative")
    ]


@pytest.mark.parametrize(
    ("entity", "column"), vocabulary_columns(), ids=lambda x: getattr(x, "name", "")
)
def test_closed_vocabularies_are_checked_with_a_suggestion(entity: Entity, column: Column) -> None:
    from atmptrack.query import _vocab

    valid = _vocab(column.values or "")
    for value in valid:
        compile_text(entity, f"{column.name} = {value.upper()}")
        compile_text(entity, f"{column.name} not in ({value}, {valid[0]})")
    near = valid[-1][:-1] + "x"
    text = f"{column.name} in ({valid[0]}, {near})"
    caught = error_at(entity, text)
    assert caught.pos == text.index(near)
    assert f"(did you mean '{valid[-1]}'?)" in caught.message
    assert "valid values: " + ", ".join(valid) in caught.message
    assert "did you mean" not in error_at(entity, f"{column.name} != qqqqqqqqqq").message
    # Contains and order compare text: no vocabulary applies.
    compile_text(entity, f"{column.name} ~ {near}")


def test_countries_and_initiatives_are_checked_against_the_store(
    store: sqlite3.Connection,
) -> None:
    checked = [
        (e, c)
        for e in ENTITIES.values()
        for c in e.columns
        if c.values in ("country", "initiative")
    ]
    assert {c.values for _, c in checked} == {"country", "initiative"}
    for entity, column in checked:
        good, near, bad = (
            ("pt", "Portugal", "XX") if column.values == "country" else ("GeneH", "genehh", "zz")
        )
        compile_text(entity, f"{column.name} = {good}", store)
        caught = error_at(entity, f"{column.name} = {near}", store)
        assert "did you mean" in caught.message and caught.pos == len(column.name) + 3
        assert "unknown" in error_at(entity, f"{column.name} != {bad}", store).message


# ---------------------------------------------------------------- expression limits


def test_nesting_is_bounded_before_the_stack_is() -> None:
    inner = "name = x"
    parse("(" * MAX_DEPTH + inner + ")" * MAX_DEPTH)
    parse("not " * MAX_DEPTH + inner)
    for text, pos in [
        ("(" * (MAX_DEPTH + 1) + inner + ")" * (MAX_DEPTH + 1), MAX_DEPTH),
        ("not " * 10_000 + inner, 4 * MAX_DEPTH),
        ("(not " * 5_000 + inner + ")" * 5_000, 5 * (MAX_DEPTH // 2)),
    ]:
        with pytest.raises(ExpressionError) as caught:
            parse(text)
        assert caught.value.pos == pos
        assert f"more than {MAX_DEPTH} levels" in caught.value.message


def test_size_is_bounded_before_sqlite_is() -> None:
    at_limit = " or ".join(f"name = n{i}" for i in range(MAX_VALUES))
    over = at_limit + " or name = last"
    parse(at_limit)
    with pytest.raises(ExpressionError) as caught:
        parse(over)
    assert caught.value.pos == over.index("name = last")
    values = ", ".join(f"v{i}" for i in range(MAX_VALUES + 1))
    with pytest.raises(ExpressionError) as caught:
        parse(f"name in ({values})")
    assert caught.value.pos == len("name in (") + values.index(f"v{MAX_VALUES}")


def _negated_leaf(name: str, kind: str) -> str:
    """A comparison of one value, in its deepest SQL: negated, on a field of this kind."""
    value = {"int": "1", "amount": "1", "date": "2024", "span": "2024"}.get(kind, '"x"')
    op = "!~" if kind in ("text", "list") else "!="
    return f"{name} {op} {value}"


def _deepest(leaves: list[str], *, top: str) -> str:
    """MAX_DEPTH alternating groups, the innermost a chain of what is left of MAX_VALUES."""
    joiners = [" and ", " or "] if top == "and" else [" or ", " and "]
    text, used = "", 0
    for level in range(MAX_DEPTH):
        text += "(" + leaves[level % len(leaves)] + joiners[level % 2]
        used += 1
    rest = [leaves[i % len(leaves)] for i in range(MAX_VALUES - used)]
    return text + joiners[MAX_DEPTH % 2].join(rest) + ")" * MAX_DEPTH


FLAGS = {
    "partners": Filters(country=["PT"], sector=["company"], initiative=["geneh"], role=["partner"]),
    "initiatives": Filters(country=["PT"], kind=["hub"], year=[2024, 2025], date_from="2020"),
    "milestones": Filters(kind=["kick-off"], year=[2025], date_to="2030"),
}


@pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=lambda e: e.name)
@pytest.mark.parametrize("top", ["and", "or"])
def test_the_deepest_and_widest_expressions_run(
    entity: Entity, top: str, store: sqlite3.Connection
) -> None:
    # Every kind of field, negated, nested MAX_DEPTH deep with MAX_VALUES values, behind the
    # flags: SQLite's parser stack and expression depth must both hold it.
    fields = entity.fields()
    leaves = [_negated_leaf(name, field.kind) for name, field in fields.items()]
    text = _deepest(leaves, top=top)
    assert text.count("(") == MAX_DEPTH
    filters = FLAGS.get(entity.name, Filters())
    run(Query(entity, filters, expression=text), store)
    for name in fields:
        if fields[name].kind not in ("span",):
            run(Query(entity, filters, expression=_deepest([f"{name} is null"], top=top)), store)


def test_tokenizing_is_linear() -> None:
    # Each token once copied the rest of the text: a 128 KiB argument took seconds.
    text = " or ".join(f"name = n{i}" for i in range(MAX_VALUES)) + " " * 200_000 + "or"
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert "expected a field name" in caught.value.message


@pytest.mark.parametrize(
    ("text", "pos", "byte"),
    [
        ("name = '\udcff'", 8, "0xFF"),
        ("name = x\udce9y", 8, "0xE9"),
        ("na\udc80me = x", 2, "0x80"),
        ("name = \ud800", 7, "character"),
    ],
)
def test_undecodable_bytes_are_usage_errors(text: str, pos: int, byte: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.pos == pos
    assert byte in caught.value.message and "UTF-8" in caught.value.message
    shown = caught.value.message.splitlines()[1]
    assert shown.encode("utf-8") and shown[2 + pos] == "\ufffd"


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("name = 中文 and )", 16),  # two wide characters: four columns
        ("name\t= x\x07 and )", 14),  # a tab and a bell, one column each
        ("name = e\u0301 and )", 13),  # a combining accent takes none
    ],
)
def test_carets_stay_under_the_problem(text: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    lines = caught.value.message.splitlines()
    assert "\t" not in lines[1] and "\x07" not in lines[1]
    assert lines[2] == "  " + " " * column + "^"


# ---------------------------------------------------------------- flags


def test_years_accept_numbers_lists_and_comma_separated_text() -> None:
    assert parse_years(None) == [] and parse_years([]) == []
    assert Filters().year is None and Filters(year=None).year is None
    assert parse_years(2024) == [2024]
    assert parse_years("2024,2025") == [2024, 2025]
    assert parse_years(["2024", "2025, 2026", "2024"]) == [2024, 2025, 2026]
    assert parse_years([2024, 2025]) == [2024, 2025]
    for bad in ("20x4", "0", "10000", "12345", "1e3", "２０２４", 0, 10**5000):
        with pytest.raises(UsageError) as caught:
            parse_years([bad])
        assert caught.value.message.startswith("--year: ")


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in rows]


def test_several_years_match_what_overlaps_any_of_them(store: sqlite3.Connection) -> None:
    milestones = ENTITIES["milestones"]

    def by_years(year: int | str | list[int] | list[str] | None) -> list[object]:
        return ids(run(Query(milestones, Filters(year=year)), store)[1])

    both = by_years(["2022", "2025"])
    assert both == ["mandate", "kick-off"]
    assert by_years("2022,2025") == both == by_years([2022, 2025])
    assert by_years(2022) + by_years(2025) == both
    assert by_years(None) == by_years([]) == ids(run(Query(milestones), store)[1])
    with pytest.raises(UsageError, match="does not apply to partners"):
        run(Query(ENTITIES["partners"], Filters(year=["2024", "2025"])), store)


@pytest.mark.parametrize("entity", [e for e in ENTITIES.values() if e.span], ids=lambda e: e.name)
def test_from_later_than_to_is_a_usage_error(entity: Entity, store: sqlite3.Connection) -> None:
    for start, end in [("2025", "2024"), ("2025-03-02", "2025-03-01"), ("2025-04", "2025-03")]:
        with pytest.raises(UsageError, match="later than --to"):
            run(Query(entity, Filters(date_from=start, date_to=end)), store)
    for start, end in [("2025", "2025"), ("2025-03", "2025"), ("2025", "2025-01")]:
        run(Query(entity, Filters(date_from=start, date_to=end)), store)


def test_repeated_flag_values_count_once(store: sqlite3.Connection) -> None:
    # Flags are not bounded by MAX_VALUES: repeats must not reach SQLite as thousands of terms.
    partners, initiatives = ENTITIES["partners"], ENTITIES["initiatives"]
    many = Filters(initiative=["geneh", "GeneH"] * 3000, role=["partner"] * 3000)
    assert run(Query(partners, many), store) == run(
        Query(partners, Filters(initiative=["geneh"], role=["partner"])), store
    )
    many = Filters(country=["PT", "pt", "SI"] * 3000)
    assert ids(run(Query(initiatives, many), store)[1]) == ["ctgct", "geneh", "genet"]


def test_limits_beyond_sqlite_integers_are_usage_errors(store: sqlite3.Connection) -> None:
    partners = ENTITIES["partners"]
    assert len(run(Query(partners, limit=2**63 - 1), store)[1]) > 2
    for limit in (2**63, 2**70, -1):
        with pytest.raises(UsageError, match="--limit"):
            run(Query(partners, limit=limit), store)


# ---------------------------------------------------------------- sorting


@pytest.mark.parametrize(
    ("entity", "column"), columns_of("int", "amount", "sum"), ids=lambda x: getattr(x, "name", "")
)
def test_numbers_sort_as_numbers_with_unknown_last(
    entity: Entity, column: Column, store: sqlite3.Connection
) -> None:
    for descending in (False, True):
        sort = [("-" if descending else "") + column.name]
        values = [r[column.name] for r in run(Query(entity, sort=sort), store)[1]]
        known = [v for v in values if v is not None]
        assert known == sorted(known, reverse=descending)
        assert values == known + [None] * (len(values) - len(known))


def test_text_sorts_ignoring_case_with_unknown_last(store: sqlite3.Connection) -> None:
    for entity in ENTITIES.values():
        for column in entity.columns:
            if column.kind != "text":
                continue
            rows = run(Query(entity, sort=[column.name]), store)[1]
            values = [r[column.name] for r in rows]
            known = [str(v) for v in values if v is not None]
            assert known == sorted(known, key=str.casefold), (entity.name, column.name)
            assert values[len(known) :] == [None] * (len(values) - len(known))
