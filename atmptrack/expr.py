"""The filter language: tokens with positions, a parse tree, and its compilation to SQL with bound parameters.

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := FIELD OP value | FIELD ["not"] "in" "(" value ("," value)* ")"
                | FIELD "is" ["not"] "null"
    OP         := = != < <= > >= ~ !~
    value      := a bare word, or a "double" or 'single' quoted string

One argument must neither exhaust the stack, SQLite's limits or the CPU, nor come back as a
store error, so an expression nests at most MAX_DEPTH (16) levels of parentheses and `not`, and
compares at most MAX_VALUES (500) values: each value of an `in` list counts, `is null` counts
one. SQLite's parser holds about 100 entries and each nested group takes three of them; a chain
of N terms is N levels deep for its 1000-level expression limit. Numbers are decimal, with an
optional exponent: whole-number fields hold SQLite's 64-bit integers, years run from 1 to
9999, and no number may reach 10^1000000 (the range of Python's default decimal context).
Crossing a limit is a usage error that points at where it was crossed.

The `list` flags build the same tree, so both commands share one compiler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, cast

from atmptrack.errors import UsageError, did_you_mean

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in", "is null", "is not null")
MAX_DEPTH = 16
MAX_VALUES = 500
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_ADJUSTED_EXPONENT = 999_999

_TOKEN = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op><=|>=|!=|!~|=|<|>|~)
    | (?P<punct>[(),])
    | (?P<word>[^\s()=<>!~,"']+)
    """,
    re.VERBOSE,
)
_SPACE = re.compile(r"\s*")
_KEYWORDS = {"and", "or", "not", "in", "is", "null"}
# Python hands undecodable bytes of argv over as lone surrogates, which SQLite cannot bind.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE](?P<exp>[+-]?[0-9]+))?")
EQUALITY = ("=", "!=", "in", "not in")

# SQL functions the compiled WHERE clause calls; query.register_functions defines them.
FOLD = "atmptrack_fold"
AMOUNT_KEY = "atmptrack_amount_key"
SEP = "\x1f"  # joins the items of a list inside SQL; no id, name or code contains it
# SEP as an SQL literal. SQLite and PostgreSQL both take the control character as it is inside
# quotes, where each has its own function to write it (char(31), chr(31)).
SEP_SQL = f"'{SEP}'"


# The closed sets of the filter language, as types: mypy checks every comparison against them.
TokenKind = Literal["string", "op", "punct", "word", "keyword", "end"]
# How a field compares: as text, a 64-bit integer, an exact amount, a partial date, any item of
# a list, or a span of days (`year`).
FieldKind = Literal["text", "int", "amount", "date", "list", "span"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    pos: int  # 0-based offset in the expression


@dataclass(frozen=True, slots=True)
class Cmp:
    field: str
    op: str  # one of OPERATORS, or "overlaps" (flags only: values are the window's first and last day)
    values: tuple[str, ...]
    pos: int = 0  # where the field starts, for error carets; -1 for a `list` flag
    value_pos: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Cmp | And | Or | Not


class ExpressionError(UsageError):
    """A problem at one place in the expression: the message shows it with a caret."""

    def __init__(self, text: str, pos: int, problem: str) -> None:
        shown, column = _shown(text, pos)
        super().__init__(f"{problem}\n  {shown}\n  {' ' * column}^")
        self.pos = pos


def _shown(text: str, pos: int) -> tuple[str, int]:
    """The expression as a terminal can show it on one line, and the column under text[pos].

    Messages lose their control characters on the way out, and wide or combining characters
    take two or no columns: either would move the caret off the character it points at.
    """
    import unicodedata

    shown: list[str] = []
    column = 0
    for index, char in enumerate(text):
        if char.isspace():
            char, width = " ", 1
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            char, width = "\ufffd", 1
        elif unicodedata.combining(char):
            width = 0
        else:
            width = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        shown.append(char)
        if index < pos:
            column += width
    return "".join(shown), column


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def tokenize(text: str) -> list[Token]:
    bad = _UNDECODABLE.search(text)
    if bad is not None:
        code = ord(bad.group())
        what = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else "character"
        raise ExpressionError(
            text, bad.start(), f"the expression holds a {what} that is not UTF-8 text"
        )
    tokens: list[Token] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "\"'":
                raise ExpressionError(
                    text, pos, f"unterminated string: no closing {text[pos]} for this one"
                )
            raise ExpressionError(text, pos, f"unexpected character {text[pos]!r}")
        # The pattern's group names are the token kinds.
        kind = cast(TokenKind, match.lastgroup or "word")
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append(Token(kind, value, pos))
        pos = _skip_space(text, match.end())
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # parentheses and `not` around the current token
        self.values = 0  # values compared so far

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, token: Token, problem: str) -> ExpressionError:
        return ExpressionError(self.text, token.pos, problem)

    def keyword(self, word: str) -> bool:
        if self.tok.kind == "keyword" and self.tok.text == word:
            self.i += 1
            return True
        return False

    def at_end(self) -> bool:
        return self.tok.kind == "end"

    def parse(self) -> Node:
        if self.at_end():
            raise self.fail(self.tok, "the expression is empty")
        node = self.expr()
        if not self.at_end():
            raise self.fail(self.tok, f"expected 'and', 'or' or the end, found {self.tok.text!r}")
        return node

    def expr(self) -> Node:
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self) -> Node:
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else And(tuple(items))

    def deeper(self, token: Token) -> None:
        # The parser, the compiler and SQLite all recurse once per level: bound it here, once.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                token,
                f"the expression nests more than {MAX_DEPTH} levels of parentheses and 'not'",
            )

    def factor(self) -> Node:
        if self.tok.kind == "keyword" and self.tok.text == "not":
            self.deeper(self.take())
            node: Node = Not(self.factor())
            self.depth -= 1
            return node
        if self.tok.kind == "punct" and self.tok.text == "(":
            opening = self.take()
            self.deeper(opening)
            node = self.expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail(
                    self.tok, f"expected ')' to close the '(' at column {opening.pos + 1}"
                )
            self.take()
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Cmp:
        field = self.take()
        if field.kind != "word":
            raise self.fail(field, f"expected a field name, found {field.text or 'the end'!r}")
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.fail(self.tok, "expected 'null' after 'is'")
            self.count(field, 1)
            return Cmp(field.text, "is not null" if negated else "is null", (), field.pos)
        negated = False
        if self.tok.kind == "keyword" and self.tok.text == "not":
            self.take()
            negated = True
            if not (self.tok.kind == "keyword" and self.tok.text == "in"):
                raise self.fail(self.tok, "expected 'in' after 'not'")
        if self.keyword("in"):
            values, positions = self.value_list(field)
            return Cmp(field.text, "not in" if negated else "in", values, field.pos, positions)
        op = self.take()
        if op.kind != "op":
            raise self.fail(
                op, f"expected an operator ({', '.join(OPERATORS)}), found {op.text or 'the end'!r}"
            )
        value = self.value()
        self.count(field, 1)
        return Cmp(field.text, op.text, (value.text,), field.pos, (value.pos,))

    def count(self, token: Token, values: int) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise self.fail(
                token,
                f"the expression compares more than {MAX_VALUES} values; split it into several",
            )

    def value(self) -> Token:
        token = self.take()
        if token.kind not in ("word", "string") and not (
            token.kind == "keyword" and token.text == "null"
        ):
            raise self.fail(token, f"expected a value, found {token.text or 'the end'!r}")
        return token

    def value_list(self, field: Token) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if not (self.tok.kind == "punct" and self.tok.text == "("):
            raise self.fail(self.tok, "expected '(' after 'in'")
        self.take()
        values, positions = [], []
        while True:
            token = self.value()
            self.count(token, 1)
            values.append(token.text)
            positions.append(token.pos)
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                continue
            if self.tok.kind == "punct" and self.tok.text == ")":
                self.take()
                return tuple(values), tuple(positions)
            raise self.fail(self.tok, "expected ',' or ')' in the list of values")


def parse(text: str) -> Node:
    """Parse an expression; raise ExpressionError pointing at the problem."""
    return _Parser(text).parse()


# ---------------------------------------------------------------- values


_NINES = str.maketrans("0123456789", "9876543210")


def decimal_key(number: Decimal) -> str:
    """Text that sorts byte by byte as the numbers do, exactly: how amounts compare in SQLite.

    Amounts are exact decimals stored as text. A REAL would round them beyond 15 or 16
    significant digits, and SQLite has no decimal type, so both sides of a comparison (and a
    sort) become this key: sign class, adjusted exponent, then the digits without trailing
    zeros; negative numbers invert exponent and digits, and end with a byte above the digits.
    The exponent must lie within ±MAX_ADJUSTED_EXPONENT.
    """
    if number.is_zero():
        return "1"
    sign, digits, _ = number.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exponent = number.adjusted()
    if not sign:
        return f"2{exponent + MAX_ADJUSTED_EXPONENT + 1:07d}{text}"
    return f"0{MAX_ADJUSTED_EXPONENT + 1 - exponent:07d}{text.translate(_NINES)}~"


def fold(value: object) -> str | None:
    """Text compared ignoring case, in Unicode: SQLite's lower() folds ASCII letters only."""
    if value is None:
        return None
    return (value if isinstance(value, str) else str(value)).casefold()


# ---------------------------------------------------------------- compilation


@dataclass(frozen=True, slots=True)
class Field:
    """How one field of an entity compares: its SQL over the row `t`, and its kind."""

    sql: str  # for amounts: their decimal_key, as AMOUNT_KEY computes it
    kind: FieldKind
    lo: str | None = None  # for dates and spans: earliest and latest day, as ISO text
    hi: str | None = None
    # A closed vocabulary, countries or ids: the canonical form of a value, or a UsageError.
    check: Callable[[str], str] | None = None
    # For lists: SQL that holds when an item is one of `{values}` (a list of parameters),
    # comparing stored items exactly: used with canonical values only.
    member: str | None = None


def _chain(op: str, parts: Sequence[str]) -> str:
    # Flat, not nested: SQLite's parser stack (about 100 entries) grows with every parenthesis
    # and function call, but not along a chain. A chain is as deep as it is long for SQLite's
    # 1000-level expression limit, which MAX_VALUES keeps it well below.
    return parts[0] if len(parts) == 1 else "(" + f" {op} ".join(parts) + ")"


def _negated(sql: str) -> str:
    """True where sql is false or unknown: an unknown value satisfies every negation."""
    return f"({sql}) IS NOT TRUE"


def _flattened(node: And | Or) -> Iterator[Node]:
    """`a and (b and c)` as one chain: a level less of parentheses for SQLite's parser."""
    kind = type(node)
    for item in node.items:
        if isinstance(item, kind):
            yield from _flattened(item)
        else:
            yield item


class Compiler:
    """Turns a tree into a WHERE clause with named parameters."""

    def __init__(self, fields: dict[str, Field], *, text: str = "") -> None:
        self.fields = fields
        self.text = text
        self.params: dict[str, object] = {}

    def param(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def compile(self, node: Node, *, positive: bool = True) -> str:
        """The WHERE clause of a tree; `positive`: no NOT stands above this node."""
        negations = 0
        while isinstance(node, Not):
            negations += 1
            node = node.item
        # Comparisons are two-valued, so `not not x` is x, exactly; each NOT costs parser stack.
        prefix = "NOT " if negations % 2 else ""
        positive = positive and not negations
        if isinstance(node, And | Or):
            op = "AND" if isinstance(node, And) else "OR"
            return prefix + _chain(
                op, [self.compile(n, positive=positive) for n in _flattened(node)]
            )
        return prefix + self.compare(node, positive=positive)

    def fail(self, pos: int, problem: str) -> UsageError:
        if self.text and pos >= 0:
            return ExpressionError(self.text, pos, problem)
        return UsageError(problem)

    def compare(self, node: Cmp, *, positive: bool = False) -> str:
        field = self.fields.get(node.field)
        if field is None:
            shown = [f for f in self.fields if not f.startswith("_")]
            hint = did_you_mean(node.field, shown)
            raise self.fail(
                node.pos, f"unknown field '{node.field}'{hint}; valid fields: {', '.join(shown)}"
            )
        if node.op in ("is null", "is not null"):
            if field.kind == "span":
                raise self.fail(node.pos, f"'{node.field}' is never null; compare it with = or !=")
            return f"({field.sql} {node.op.upper()})"
        if node.op == "overlaps":
            return f"({self.overlaps(field, *node.values)}) IS TRUE"
        self.check_operator(field, node)
        # `in (a, A)` is `in (a)`; the flags, which MAX_VALUES does not bound, repeat values too.
        values = list(dict.fromkeys(self.typed(field, node, i) for i in range(len(node.values))))
        if len(values) > MAX_VALUES:
            raise self.fail(
                node.pos, f"'{node.field}' is compared with more than {MAX_VALUES} values"
            )
        # Every comparison is two-valued: an unknown value never satisfies `=`, `<` or `~`,
        # and always satisfies their negations, so `not` is an exact complement. `IS TRUE` makes
        # unknown false as coalesce(x, false) would, for one parser stack entry instead of three.
        sql = {
            "list": self.on_list,
            "date": self.on_dates,
            "span": self.on_span,
        }.get(field.kind, self.on_scalar)(field, node.op, values, node)
        if positive and node.op in ("=", "in") and field.kind in ("text", "list"):
            # With no NOT above it, unknown and false both leave the row out: the comparison
            # stays bare, where the query planner can meet it with an index.
            return f"({sql})"
        return f"({sql}) IS TRUE"

    def check_operator(self, field: Field, node: Cmp) -> None:
        """Refuse what a kind cannot mean before looking at the values."""
        op, name = node.op, node.field
        if field.kind == "list" and op not in (*EQUALITY, "~", "!~"):
            raise self.fail(node.pos, f"'{name}' is a list: use =, !=, in, not in, ~ or !~")
        if field.kind == "span" and op not in EQUALITY:
            raise self.fail(node.pos, "compare year with =, !=, in or not in, or compare the dates")
        if op in ("~", "!~") and field.kind in ("int", "amount", "date"):
            what = "a date" if field.kind == "date" else "a number"
            raise self.fail(node.pos, f"'{name}' is {what}: use =, !=, <, <=, >, >=, in or not in")

    def typed(self, field: Field, node: Cmp, index: int) -> object:
        text = node.values[index]
        pos = node.value_pos[index] if index < len(node.value_pos) else node.pos
        if field.kind == "span":
            year = self.number(node.field, text, pos)
            if year != year.to_integral_value() or not 1 <= year <= 9999:
                raise self.fail(pos, f"'{node.field}' is a year from 1 to 9999; '{text}' is not")
            return int(year)
        if field.kind == "int":
            number = self.number(node.field, text, pos)
            if number != number.to_integral_value():
                raise self.fail(pos, f"'{node.field}' holds whole numbers; '{text}' is not one")
            # Compared as Decimals first: int() of 1e9999999 would build a million-digit integer.
            if not INT64_MIN <= number <= INT64_MAX:
                raise self.fail(
                    pos,
                    f"'{text}' is out of range: '{node.field}' holds whole numbers from {INT64_MIN} to {INT64_MAX}",
                )
            return int(number)
        if field.kind == "amount":
            return decimal_key(self.number(node.field, text, pos))
        if field.kind == "date":
            from atmptrack.dates import PartialDate

            try:
                when = PartialDate.parse(text)
            except ValueError as exc:
                raise self.fail(pos, str(exc)) from None
            if when.year is None:
                raise self.fail(pos, "compare with a date that has a year")
            return when
        if field.check is not None and node.op in EQUALITY:
            try:
                return field.check(text)
            except UsageError as exc:
                raise self.fail(pos, exc.message) from None
        return text

    def number(self, name: str, text: str, pos: int) -> Decimal:
        """A decimal number, range-checked before anything builds it at full size."""
        match = _NUMBER.fullmatch(text.strip())
        if match is None:
            raise self.fail(pos, f"'{name}' is a number; '{text}' is not")
        exponent = (match["exp"] or "0").lstrip("+-").lstrip("0")
        try:
            number = Decimal(match.group()) if len(exponent) <= 7 else None
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
            number = None
        if number is not None and number.is_zero():
            return Decimal(0)
        if number is None or abs(number.adjusted()) > MAX_ADJUSTED_EXPONENT:
            raise self.fail(
                pos,
                f"'{text}' is out of range: a number's magnitude must lie between 10^-{MAX_ADJUSTED_EXPONENT} and 10^{MAX_ADJUSTED_EXPONENT + 1}",
            )
        return number

    def on_scalar(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        # A checked value is the canonical form that the store holds (a country code, an id,
        # a vocabulary's value): equal exactly when equal ignoring case, and compared as it
        # is, an index on the column can find it.
        canonical = field.check is not None and op in EQUALITY
        text = field.kind == "text" and not canonical
        left = f"{FOLD}({field.sql})" if text else field.sql

        def right(value: object) -> str:
            return self.param(fold(value) if text else value)

        if op in ("in", "not in"):
            found = f"{left} IN ({', '.join(right(v) for v in values)})"
            return _negated(found) if op == "not in" else found
        if op in ("~", "!~"):
            found = f"instr({left}, {right(values[0])}) > 0"
            return _negated(found) if op == "!~" else found
        if op == "!=":
            return _negated(f"{left} = {right(values[0])}")
        return f"{left} {op} {right(values[0])}"

    def on_list(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        # List cells hold SEP-joined items: an item matches when it equals (or contains) a value.
        # A value holding SEP would match across two items, and no item holds it.
        # Values a check made canonical, or that the `list` flags built from such (pos -1),
        # are the items as stored: compared over the list's own tables, through their indexes.
        if field.member and op in EQUALITY and (field.check is not None or node.pos < 0):
            found = field.member.format(values=", ".join(self.param(v) for v in values))
            return _negated(found) if op in ("!=", "not in") else found
        items = [fold(v) or "" for v in values]
        if op in ("~", "!~"):
            found = (
                "0"
                if SEP in items[0]
                else f"instr({FOLD}({field.sql}), {self.param(items[0])}) > 0"
            )
            return _negated(found) if op == "!~" else found
        padded = f"{SEP_SQL} || {FOLD}({field.sql}) || {SEP_SQL}"
        found = _chain(
            "OR",
            [
                "0" if SEP in item else f"instr({padded}, {self.param(SEP + item + SEP)}) > 0"
                for item in items
            ],
        )
        return _negated(found) if op in ("!=", "not in") else found

    def overlaps(self, field: Field, start: str, end: str) -> str:
        """The span meets [start, end]; an unknown end is not endless, but does not exclude."""
        lo, hi = field.lo, field.hi
        return (
            f"({lo} IS NOT NULL OR {hi} IS NOT NULL)"
            f" AND ({hi} >= {self.param(start)}) IS NOT FALSE"
            f" AND ({lo} <= {self.param(end)}) IS NOT FALSE"
        )

    def on_span(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        inside = _chain(
            "OR",
            [
                f"({self.overlaps(field, f'{year:04d}-01-01', f'{year:04d}-12-31')})"
                for year in values
            ],
        )
        return _negated(inside) if op in ("!=", "not in") else inside

    def on_dates(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        from atmptrack.dates import PartialDate

        lo, hi = field.lo or field.sql, field.hi or field.sql
        dates = [v for v in values if isinstance(v, PartialDate)]

        def bounds(value: PartialDate) -> tuple[str, str]:
            first, last = value.earliest(), value.latest()
            assert first is not None and last is not None, "typed() refuses dates without a year"
            return first.isoformat(), last.isoformat()

        if op in EQUALITY:
            # Equal means: known to fall within the value (2025-03-21 = 2025-03, not 2025 = 2025-03).
            parts = []
            for value in dates:
                first, last = bounds(value)
                parts.append(f"({lo} >= {self.param(first)} AND {hi} <= {self.param(last)})")
            found = _chain("OR", parts)
            return _negated(found) if op in ("!=", "not in") else found
        first, last = bounds(dates[0])
        if op == ">=":
            return f"{lo} >= {self.param(first)}"
        if op == ">":
            return f"{lo} > {self.param(last)}"
        if op == "<=":
            return f"{hi} <= {self.param(last)}"
        return f"{hi} < {self.param(first)}"
