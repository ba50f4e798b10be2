"""The filter language: tokens with positions, a parse tree, and its compilation to SQL with bound parameters.

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := FIELD OP value | FIELD ["not"] "in" "(" value ("," value)* ")"
                | FIELD "is" ["not"] "null"
    OP         := = != < <= > >= ~ !~
    value      := a bare word, or a "double" or 'single' quoted string

The `list` flags build the same tree, so both commands share one compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from atmptrack.errors import UsageError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in", "is null", "is not null")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op><=|>=|!=|!~|=|<|>|~)
    | (?P<punct>[(),])
    | (?P<word>[^\s()=<>!~,"']+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string | op | punct | word | keyword | end
    text: str
    pos: int  # 0-based offset in the expression


@dataclass(frozen=True, slots=True)
class Cmp:
    field: str
    op: str  # one of OPERATORS, or "overlaps" (flags only: values are the window's first and last day)
    values: tuple[str, ...]
    pos: int = 0  # where the field starts, for error carets
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
        caret = " " * pos + "^"
        super().__init__(f"{problem}\n  {text}\n  {caret}")
        self.pos = pos


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ExpressionError(text, start, f"unexpected character {text[start]!r}")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        start = match.start(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append(Token(kind, value, start))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

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

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.fail(self.tok, "the expression is empty")
        node = self.expr()
        if self.tok.kind != "end":
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

    def factor(self) -> Node:
        if self.keyword("not"):
            return Not(self.factor())
        if self.tok.kind == "punct" and self.tok.text == "(":
            opening = self.take()
            node = self.expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail(
                    self.tok, f"expected ')' to close the '(' at column {opening.pos + 1}"
                )
            self.take()
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
            return Cmp(field.text, "is not null" if negated else "is null", (), field.pos)
        negated = False
        if self.tok.kind == "keyword" and self.tok.text == "not":
            self.take()
            negated = True
            if not (self.tok.kind == "keyword" and self.tok.text == "in"):
                raise self.fail(self.tok, "expected 'in' after 'not'")
        if self.keyword("in"):
            values, positions = self.value_list()
            return Cmp(field.text, "not in" if negated else "in", values, field.pos, positions)
        op = self.take()
        if op.kind != "op":
            raise self.fail(
                op, f"expected an operator ({', '.join(OPERATORS)}), found {op.text or 'the end'!r}"
            )
        value = self.value()
        return Cmp(field.text, op.text, (value.text,), field.pos, (value.pos,))

    def value(self) -> Token:
        token = self.take()
        if token.kind not in ("word", "string") and not (
            token.kind == "keyword" and token.text == "null"
        ):
            raise self.fail(token, f"expected a value, found {token.text or 'the end'!r}")
        return token

    def value_list(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if not (self.tok.kind == "punct" and self.tok.text == "("):
            raise self.fail(self.tok, "expected '(' after 'in'")
        self.take()
        values, positions = [], []
        while True:
            token = self.value()
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


# ---------------------------------------------------------------- compilation


@dataclass(frozen=True, slots=True)
class Field:
    """How one field of an entity compares: its SQL over the row `t`, and its kind."""

    sql: str
    kind: str  # text | int | amount | date | list | span
    lo: str | None = None  # for dates and spans: earliest and latest day, as ISO text
    hi: str | None = None


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

    def compile(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.compile(n) for n in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.compile(n) for n in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.item)})"
        return self.compare(node)

    def fail(self, pos: int, problem: str) -> UsageError:
        if self.text:
            return ExpressionError(self.text, pos, problem)
        return UsageError(problem)

    def compare(self, node: Cmp) -> str:
        field = self.fields.get(node.field)
        if field is None:
            import difflib

            close = difflib.get_close_matches(node.field, list(self.fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise self.fail(
                node.pos,
                f"unknown field '{node.field}'{hint} Valid fields: {', '.join(f for f in self.fields if not f.startswith('_'))}",
            )
        if node.op in ("is null", "is not null"):
            if field.kind == "span":
                raise self.fail(node.pos, f"'{node.field}' is never null; compare it with = or !=")
            return f"({field.sql} {node.op.upper()})"
        if node.op == "overlaps":
            return f"coalesce({self.overlaps(field, *node.values)}, 0)"
        values = [self.typed(field, node, i) for i in range(len(node.values))]
        # Every comparison is two-valued: an unknown value never satisfies `=`, `<` or `~`,
        # and always satisfies their negations, so `not` is an exact complement.
        sql = {
            "list": self.on_list,
            "date": self.on_dates,
            "span": self.on_dates,
        }.get(field.kind, self.on_scalar)(field, node.op, values, node)
        return f"coalesce({sql}, 0)"

    def typed(self, field: Field, node: Cmp, index: int) -> object:
        text = node.values[index]
        pos = node.value_pos[index] if index < len(node.value_pos) else node.pos
        if field.kind in ("int", "amount") or (field.kind == "span" and node.field == "year"):
            try:
                number = Decimal(text)
            except InvalidOperation:
                raise self.fail(pos, f"'{node.field}' is a number; '{text}' is not") from None
            if not number.is_finite():
                raise self.fail(pos, f"'{node.field}' is a number; '{text}' is not")
            return int(number) if field.kind == "int" or node.field == "year" else float(number)
        if field.kind in ("date", "span"):
            from atmptrack.dates import PartialDate

            try:
                when = PartialDate.parse(text)
            except ValueError as exc:
                raise self.fail(pos, str(exc)) from None
            if when.year is None:
                raise self.fail(pos, "compare with a date that has a year")
            return when
        return text

    def on_scalar(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        numeric = field.kind in ("int", "amount")
        left = field.sql if numeric else f"lower({field.sql})"

        def right(value: object) -> str:
            return self.param(value if numeric else str(value).lower())

        if op in ("in", "not in"):
            found = f"({left} IN ({', '.join(right(v) for v in values)}))"
            return f"(NOT coalesce({found}, 0))" if op == "not in" else found
        if op in ("~", "!~"):
            found = f"(instr(lower({field.sql}), {self.param(str(values[0]).lower())}) > 0)"
            return f"(NOT coalesce({found}, 0))" if op == "!~" else found
        if op == "!=":
            return f"(NOT coalesce({left} = {right(values[0])}, 0))"
        return f"({left} {op} {right(values[0])})"

    def on_list(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        # List cells hold SEP-joined items: an item matches when it equals (or contains) a value.
        padded = f"(char(31) || lower({field.sql}) || char(31))"

        def has(value: object) -> str:
            return f"instr({padded}, {self.param(chr(31) + str(value).lower() + chr(31))}) > 0"

        if op in ("=", "in"):
            return "(" + " OR ".join(has(v) for v in values) + ")"
        if op in ("!=", "not in"):
            return "(NOT coalesce(" + " OR ".join(has(v) for v in values) + ", 0))"
        if op in ("~", "!~"):
            found = f"(instr(lower({field.sql}), {self.param(str(values[0]).lower())}) > 0)"
            return f"(NOT coalesce({found}, 0))" if op == "!~" else found
        raise self.fail(node.pos, f"'{node.field}' is a list: use =, !=, in, not in, ~ or !~")

    def overlaps(self, field: Field, start: str, end: str) -> str:
        """The span meets [start, end]; an unknown end is not endless, but does not exclude."""
        lo, hi = field.lo, field.hi
        return (
            f"(({lo} IS NOT NULL OR {hi} IS NOT NULL)"
            f" AND coalesce({hi} >= {self.param(start)}, 1)"
            f" AND coalesce({lo} <= {self.param(end)}, 1))"
        )

    def on_dates(self, field: Field, op: str, values: list[object], node: Cmp) -> str:
        lo, hi = field.lo or field.sql, field.hi or field.sql
        if node.field == "year":
            if op not in ("=", "!="):
                raise self.fail(node.pos, "compare year with = or !=, or compare the dates")
            year = values[0]
            inside = self.overlaps(field, f"{year:04d}-01-01", f"{year:04d}-12-31")
            return f"(NOT coalesce({inside}, 0))" if op == "!=" else inside
        dates = [v for v in values if hasattr(v, "earliest")]

        def bounds(value: object) -> tuple[str, str]:
            first, last = value.earliest(), value.latest()  # type: ignore[attr-defined]
            return first.isoformat(), last.isoformat()

        if op in ("=", "in", "!=", "not in"):
            # Equal means: known to fall within the value (2025-03-21 = 2025-03, not 2025 = 2025-03).
            parts = []
            for value in dates:
                first, last = bounds(value)
                parts.append(f"({lo} >= {self.param(first)} AND {hi} <= {self.param(last)})")
            found = "(" + " OR ".join(parts) + ")"
            return f"(NOT coalesce({found}, 0))" if op in ("!=", "not in") else found
        first, last = bounds(dates[0])
        if op == ">=":
            return f"({lo} >= {self.param(first)})"
        if op == ">":
            return f"({lo} > {self.param(last)})"
        if op == "<=":
            return f"({hi} <= {self.param(last)})"
        if op == "<":
            return f"({hi} < {self.param(first)})"
        raise self.fail(
            node.pos, f"'{node.field}' is a date: use =, !=, <, <=, >, >=, in or not in"
        )
