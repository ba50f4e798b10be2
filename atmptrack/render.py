"""The only writer of output: tables for people, TSV/CSV/JSON/JSONL/YAML/Markdown for pipelines.

Machine formats are plain writes: Rich would wrap and truncate them in a pipe. Rich is
imported only for the `table` format, and user data reaches it as Text, never as markup.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, TextIO, cast

from atmptrack.results import (
    BarChart,
    Chart,
    Gantt,
    Heatmap,
    Row,
    Section,
    Span,
    StackedChart,
    capped,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console, RenderableType
    from rich.progress import Progress, TaskID
    from rich.text import Text

    from atmptrack.errors import Diagnostic


class Format(StrEnum):
    """Every output format. Each table format has one writer in `_TABLE_WRITERS`."""

    TABLE = "table"
    TSV = "tsv"
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"
    YAML = "yaml"
    MARKDOWN = "markdown"
    SVG = "svg"  # a report's chart
    HTML = "html"  # a page with a report's tables and charts


# The formats that write a table; reports also draw (`svg`, `html`).
FORMATS: tuple[Format, ...] = tuple(f for f in Format if f not in (Format.SVG, Format.HTML))
REPORT_FORMATS: tuple[Format, ...] = tuple(Format)


# What a file name says about its format: `-o funding.svg` asks for svg.
_SUFFIXES = {
    ".txt": Format.TABLE,
    ".tsv": Format.TSV,
    ".csv": Format.CSV,
    ".json": Format.JSON,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".yaml": Format.YAML,
    ".yml": Format.YAML,
    ".md": Format.MARKDOWN,
    ".svg": Format.SVG,
    ".html": Format.HTML,
    ".htm": Format.HTML,
}
# Pictures and documents atmptrack does not write: named so, a file would be misread.
_FOREIGN_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".xlsx", ".docx"})


def format_for_file(path: Path, fmt: Format | None) -> Format:
    """The format for `-o name`: the one asked for, else the one the suffix names, else TSV.

    A suffix that names another format (or a picture atmptrack cannot draw) is a usage error
    rather than, say, SVG written into a `.png`.
    """
    from atmptrack.errors import UsageError

    suffix = path.suffix.lower()
    named = _SUFFIXES.get(suffix)
    if suffix in _FOREIGN_SUFFIXES:
        raise UsageError(
            f"{path}: atmptrack does not write {suffix[1:].upper()}; "
            "name the file .svg or .html (a browser prints HTML to PDF)"
        )
    if fmt is not None and named is not None and named != fmt:
        raise UsageError(f"{path}: the file name says {named}, but --format asks for {fmt}")
    return fmt or named or Format.TSV


def parse_format(value: str, allowed: Sequence[Format] = FORMATS) -> Format:
    """A --format value, case-insensitive; an unknown one is a usage error with a suggestion."""
    from atmptrack.errors import UsageError, did_you_mean

    wanted = value.strip().lower()
    for fmt in allowed:
        if fmt.value == wanted:
            return fmt
    hint = did_you_mean(wanted, allowed)
    raise UsageError(f"unknown format '{value}'{hint}; valid formats: {', '.join(allowed)}")


# C0 and C1 controls and the bidi overrides: they could move the cursor, recolour or disguise text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean(text: str) -> str:
    """Strip terminal control characters from a value meant for a terminal or a text table."""
    return _CONTROL.sub("", text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """Show terminal control characters as escapes (`\\x1b`, `\\u202e`): for messages, where
    the reader should see that something odd is there rather than lose it."""
    return _CONTROL.sub(_escaped, text)


# Characters JSON may carry raw but that a terminal or an editor would act on: written as \u escapes.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Markdown and HTML syntax in a value: escaped, so that data cannot become links, images or tags.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def default_format(stream: TextIO) -> Format:
    return Format.TABLE if _isatty(stream) else Format.TSV


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO) -> Console:
    """A Rich console for one stream; colour follows NO_COLOR, FORCE_COLOR and TERM=dumb."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1; the CLI's boundary ends a closed pipe with 0, as filters do.
            self.quiet = True
            raise BrokenPipeError

    # Rich reads NO_COLOR, FORCE_COLOR and TERM itself; a pipe gets no colour unless forced.
    return _Console(file=stream, highlight=False, soft_wrap=False, emoji=False, markup=False)


# ---------------------------------------------------------------- scalar encodings


def _text(value: Any) -> str:
    """A value as one cell of TSV, CSV or Markdown."""
    if value is None:
        return ""
    if isinstance(value, list) and not any(isinstance(v, Mapping | list) for v in value):
        return ",".join(_text(v) for v in value)
    if isinstance(value, Mapping | list):
        return clean(_json(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _decimal(value)
    return clean(str(value))


def _decimal(value: Decimal) -> str:
    # Fixed notation: 4885375, never 4.885375E+6.
    return format(value, "f")


def _json(value: Any, indent: int | None = None, level: int = 0) -> str:
    """JSON for the flat and nested values we produce; Decimals stay exact numbers.

    One line by default; with `indent`, nested objects and arrays one member a line.
    """
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, Mapping | list | tuple):
        members = (
            [f"{json.dumps(str(k))}: {_json(v, indent, level + 1)}" for k, v in value.items()]
            if isinstance(value, Mapping)
            else [_json(v, indent, level + 1) for v in value]
        )
        start, end = ("{", "}") if isinstance(value, Mapping) else ("[", "]")
        if indent is None or not members:
            return start + ", ".join(members) + end
        inner, outer = " " * (indent * (level + 1)), " " * (indent * level)
        return f"{start}\n{inner}" + f",\n{inner}".join(members) + f"\n{outer}{end}"
    return _JSON_UNSAFE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


def _yaml_ready(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {str(k): _yaml_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yaml_ready(v) for v in value]
    if isinstance(value, str):
        return clean(value)  # PyYAML writes bidi overrides raw; the text formats' policy applies
    return value


def _guard(cell: str, value: Any, enabled: bool) -> str:
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ gets a leading '."""
    if enabled and isinstance(value, str | list) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _tsv_cell(value: Any) -> str:
    text = _text(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _md_cell(value: Any) -> str:
    text = _text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "<br>")


# ---------------------------------------------------------------- flat tables


def write_section(
    section: Section,
    fmt: str,
    out: TextIO,
    *,
    header: bool = True,
    formula_guard: bool = True,
) -> None:
    """Write one table in one table format."""
    writer = _TABLE_WRITERS.get(Format(fmt))
    if writer is None:
        raise ValueError(f"{fmt} does not write a table")
    writer(section, out, header, formula_guard)


def _write_tsv(section: Section, out: TextIO, header: bool, _guarded: bool) -> None:
    if header:
        out.write("\t".join(section.columns) + "\n")
    for row in section.rows:
        out.write("\t".join(_tsv_cell(row.get(c)) for c in section.columns) + "\n")


def _write_csv(section: Section, out: TextIO, header: bool, guarded: bool) -> None:
    import csv

    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(section.columns)
    for row in section.rows:
        writer.writerow([_guard(_text(row.get(c)), row.get(c), guarded) for c in section.columns])


def _write_json(section: Section, out: TextIO, _header: bool, _guarded: bool) -> None:
    # Each row is written as it is read: the array is never held whole.
    opening = "[\n"
    for row in section.rows:
        out.write(opening + "  " + _json({c: row.get(c) for c in section.columns}))
        opening = ",\n"
    out.write("[]\n" if opening == "[\n" else "\n]\n")


def _write_jsonl(section: Section, out: TextIO, _header: bool, _guarded: bool) -> None:
    for row in section.rows:
        out.write(_json({c: row.get(c) for c in section.columns}) + "\n")


def _write_yaml(section: Section, out: TextIO, _header: bool, _guarded: bool) -> None:
    import yaml

    # One list item per row, written as read: the items of a list, one after the other, are
    # the list that one dump of all of them would write.
    empty = True
    for row in section.rows:
        item = [_yaml_ready({c: row.get(c) for c in section.columns})]
        yaml.safe_dump(item, out, allow_unicode=True, sort_keys=False, default_flow_style=False)
        empty = False
    if empty:
        out.write("[]\n")


def _write_markdown(section: Section, out: TextIO, header: bool, _guarded: bool) -> None:
    columns = section.columns
    if header:
        out.write("| " + " | ".join(columns) + " |\n")
        out.write("|" + "|".join("---:" if c in section.right else "---" for c in columns) + "|\n")
    for row in section.rows:
        out.write("| " + " | ".join(_md_cell(row.get(c)) for c in columns) + " |\n")


def _write_table(section: Section, out: TextIO, header: bool, _guarded: bool) -> None:
    screen = _Screen(out)
    screen.section(section, header=header)
    screen.note()


# One writer per table format: (section, stream, header, formula guard).
_TABLE_WRITERS: dict[Format, Callable[[Section, TextIO, bool, bool], None]] = {
    Format.TABLE: _write_table,
    Format.TSV: _write_tsv,
    Format.CSV: _write_csv,
    Format.JSON: _write_json,
    Format.JSONL: _write_jsonl,
    Format.YAML: _write_yaml,
    Format.MARKDOWN: _write_markdown,
}


# ---------------------------------------------------------------- tables for people
#
# Rich fits a table to the width by dropping the columns that do not fit and by cutting cells
# anywhere (`JOIN4AT` / `MP`, `2025-03-2` / `1`). So the layout is decided here and Rich only
# draws it. Each cell is cut into units a line may break between: its words (an id, a date, a
# number or a URL is one word; `≈ 5,000,000` is one unit). No column is narrower than its
# widest unit, nor than the widest word of its header (`declared_` / `partners`). When the
# columns at their full width do not fit, long headers wrap first, then the wide columns are
# narrowed to a common level and their text wraps at words; when even the narrowest widths do
# not fit, each record becomes a block of `field  value` lines (as `psql \x` shows them), and
# one note on stderr says so. Nothing is ever dropped or cut inside a word in a table.

# The spaces between two columns: the one SIMPLE_HEAVY draws and a padding of one on the right.
# Two, not Rich's three: at 80 columns a space saved per column is a table kept a table.
_GAP = 2
# Qualifier symbols belong to the amount after them: `≈ 5,000,000` is one unit.
_GLUE = frozenset({"≈", "≤", "≥", "<", ">", "~", "±"})
_URL = re.compile(r"https?://\S")
# What marks a word as a number, a date or an id rather than prose: a digit or a joiner.
_TOKEN = re.compile(r"[\d_:/.@-]")
# Where a value holds several items (aims, reasons, nested records), an item's continuation
# lines are indented by this much, so that the eye finds where the next item starts.
_HANG = 2
# Escape sequences that set colours and styles: kept when the padding around them goes.
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_PADDING = re.compile(r"(?:[ \t]|\x1b\[[0-9;]*m)+$")


def _unpadded(text: str) -> str:
    """text without the spaces Rich pads each line with; style codes among them are kept."""

    def strip(line: str) -> str:
        tail = _PADDING.search(line)
        if tail is None:
            return line
        return line[: tail.start()] + "".join(_SGR.findall(tail.group()))

    return "\n".join(strip(line) for line in text.split("\n"))


def _units(paragraph: str) -> list[str]:
    """The pieces a line may break between: its words, a qualifier symbol with the next one."""
    units: list[str] = []
    for word in paragraph.split():
        if units and units[-1] in _GLUE:
            units[-1] += " " + word
        else:
            units.append(word)
    return units


def _head_units(name: str) -> list[str]:
    """A column name breaks only after an underscore: `declared_` / `partners`, words whole."""
    return re.findall(r"[^_]+_*|_+", name)


def _narrowest(text: str) -> int:
    """The narrowest width text wraps to without cutting a unit."""
    from rich.cells import cell_len

    paragraphs = text.split("\n")
    hang = _HANG if len(paragraphs) > 1 else 0
    return max((cell_len(u) + hang for p in paragraphs for u in _units(p)), default=0)


def _widest(text: str) -> int:
    from rich.cells import cell_len

    return max(cell_len(p.strip()) for p in text.split("\n"))


def _keeps_whole(unit: str) -> bool:
    """Whether a unit names or counts something (a number, a date, an id, a URL): such a unit
    is written whole even where it is wider than the line, since a cropped one would name
    something else; a terminal soft-wraps the long line, and a URL stays openable."""
    return bool(_URL.search(unit) or _TOKEN.search(unit.strip(".,;:!?()[]\"'")))


def _wrap(text: str, width: int) -> list[str]:
    """text as lines of at most `width` cells, broken only between units.

    Table columns are never narrower than their units; only a record's value can meet a unit
    wider than its line, which is then kept whole (`_keeps_whole`) or cropped with `…`.
    """
    from rich.cells import cell_len, set_cell_size

    paragraphs = text.split("\n")
    hang = _HANG if len(paragraphs) > 1 else 0
    lines: list[str] = []
    for paragraph in paragraphs:
        indent, room = "", width
        line: list[str] = []
        used = 0
        for unit in _units(paragraph):
            size = cell_len(unit)
            if line and used + 1 + size <= room:
                line.append(unit)
                used += 1 + size
                continue
            if line:
                lines.append(indent + " ".join(line))
                indent, room = " " * hang, width - hang
            if size > room and not _keeps_whole(unit):
                unit = set_cell_size(unit, max(room - 1, 0)) + "…"
                size = cell_len(unit)
            line, used = [unit], size
        lines.append(indent + " ".join(line))
    return lines


def _wrap_head(name: str, width: int) -> str:
    from rich.cells import cell_len

    lines = [""]
    for unit in _head_units(name):
        if lines[-1] and cell_len(lines[-1] + unit) > width:
            lines.append("")
        lines[-1] += unit
    return "\n".join(lines)


def _fit(heads: list[str], cells: list[list[str]], room: int) -> list[int] | None:
    """Column widths within room, or None when the columns cannot fit it.

    Three widths per column: whole (header and cells on one line), with the header wrapped
    after its underscores, and narrowest (wrapped down to its widest unit). Headers wrap
    first, since a long name over short values costs width without telling more; then the
    text wraps. Either way the widest columns give way first, down to one common level.
    """
    head_units = [max((_widest(u) for u in _head_units(h)), default=0) for h in heads]
    text = [max((_widest(row[i]) for row in cells), default=0) for i in range(len(heads))]
    least = [max((_narrowest(row[i]) for row in cells), default=0) for i in range(len(heads))]
    whole = [max(_widest(h), t) for h, t in zip(heads, text, strict=True)]
    headed = [max(u, t) for u, t in zip(head_units, text, strict=True)]
    narrowest = [max(u, n) for u, n in zip(head_units, least, strict=True)]
    if sum(whole) <= room:
        return whole
    if sum(headed) <= room:
        return _level(headed, whole, room)
    if sum(narrowest) <= room:
        return _level(narrowest, headed, room)
    return None


def _level(lows: list[int], highs: list[int], room: int) -> list[int]:
    """Widths between lows and highs that fill room: the highest columns lowered to one level."""

    def at(level: int) -> list[int]:
        return [max(lo, min(hi, level)) for lo, hi in zip(lows, highs, strict=True)]

    low, high = 0, max(highs)  # at(low) fits and at(high) does not: the highest level that fits
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if sum(at(middle)) <= room else (low, middle)
    widths = at(low)
    spare = room - sum(widths)
    for index, (width, most) in enumerate(zip(widths, highs, strict=True)):
        if spare and width < most:
            widths[index] += 1
            spare -= 1
    return widths


def _human(section: Section, row: Row, column: str) -> str:
    show = section.human.get(column)
    if show is not None:
        return clean(show(row) or "")  # a function that finds nothing to say leaves the cell empty
    return _readable(row.get(column))


def _readable(value: Any, *, items: bool = False) -> str:
    """A value as people read it: lists as `a, b` (with items=True, items holding spaces one per
    line), a mapping as `key: value` lines, nested records one per line, amounts as
    `report funding` writes them. Never JSON."""
    if isinstance(value, Mapping):
        return "\n".join(f"{clean(str(k))}: {_inline(v)}" for k, v in value.items() if _known(v))
    if isinstance(value, list | tuple):
        if any(isinstance(v, Mapping) for v in value):
            return "\n".join(_inline(v) for v in value)
        texts = [_inline(v) for v in value]
        return ("\n" if items and any(" " in t for t in texts) else ", ").join(texts)
    return _inline(value)


def _inline(value: Any) -> str:
    """A value on one line: a nested record as `≈ 5,000,000 EUR; note: nearly EUR 5 million`."""
    from atmptrack.query import show_amount

    if isinstance(value, Mapping):
        rest = {k: v for k, v in value.items() if _known(v)}
        parts = []
        if "amount" in value:
            parts.append(
                show_amount(value["amount"], value.get("qualifier"), value.get("currency"))
            )
            rest = {k: v for k, v in rest.items() if k not in ("amount", "qualifier", "currency")}
        parts.extend(f"{clean(str(k))}: {_inline(v)}" for k, v in rest.items())
        return "; ".join(parts)
    if isinstance(value, list | tuple):
        return ", ".join(_inline(v) for v in value)
    if isinstance(value, Decimal):
        return show_amount(value, None)
    return _text(value)


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, list | tuple | Mapping | str) and not value)


# Rows of a table for people laid out at a time: enough that a table reads as one, few enough
# that a long listing streams.
CHUNK = 1000


class _Screen:
    """Output for people on one stream, at its width (COLUMNS, the terminal's, or Rich's 80).

    Rich pads each line of a table to the width: lines reach the stream without that padding,
    so that a table in a file or a pipe has no trailing spaces. Tables shown as records are
    counted for one note on stderr at the end.
    """

    def __init__(self, stream: TextIO) -> None:
        self.console = console(stream)
        self.stream = stream
        self.width = self.console.width
        self.as_records: list[tuple[str, int]] = []

    def print(self, renderable: RenderableType, **options: Any) -> None:
        with self.console.capture() as capture:
            self.console.print(renderable, **options)
        self.stream.write(_unpadded(capture.get()))

    def lines(self, lines: Sequence[Text]) -> None:
        """Lines already fitted: printed as they are, never wrapped or cropped again."""
        from rich.text import Text

        if lines:
            self.print(Text("\n").join(lines), soft_wrap=True)

    def text(self, text: str, style: str = "") -> None:
        from rich.text import Text

        self.lines([Text(line, style=style) for line in _wrap(clean(text), self.width)])

    def blank(self) -> None:
        self.stream.write("\n")

    def section(self, section: Section, *, header: bool) -> None:
        """A titled table, or one block per record when its columns cannot fit; its footer.

        Rows are laid out CHUNK at a time, each chunk a table fitted to its own cells (with
        the header again): a listing of 100,000 rows is written as it is read, never held.
        """
        names = section.table_columns or section.columns
        columns = [clean(c) for c in names]
        heads = columns if header else [""] * len(columns)
        room = self.width - _GAP * (len(columns) - 1)
        if section.title:
            self.text(section.title, "bold")
        rows = iter(section.rows)
        first = True
        as_records = False
        while True:
            cells = [[_human(section, row, c) for c in names] for row in islice(rows, CHUNK)]
            if not cells and not first:
                break
            widths = _fit(heads, cells, room) if names else []
            if widths is None:
                if not as_records:
                    as_records = True
                    self.as_records.append((section.title or section.name, len(columns)))
                for index, row in enumerate(cells):
                    if index or section.title or not first:
                        self.blank()  # a block per record, set off from the title too
                    self.record(list(zip(columns, row, strict=True)))
                if not cells:
                    self.blank()
                    self.text(f"no rows; columns: {', '.join(columns)}", "dim")
            elif names:
                if section.title or not first:
                    self.blank()
                right = [c in section.right for c in names]
                if first:
                    self.print(_rich_table(heads if header else None, cells, right, widths))
                else:  # the same lines, without Rich's layout cost per row
                    self.lines(_plain_table(heads if header else None, cells, right, widths))
            first = False
            if len(cells) < CHUNK:
                break
        if section.footer:
            self.blank()
        for line in section.footer:
            self.text(line, "dim")
        self.blank()

    def record(self, fields: Sequence[tuple[str, str]]) -> None:
        """One `field  value` line per field; a value wraps under itself."""
        from rich.cells import cell_len
        from rich.text import Text

        # A name longer than a third of the width gets a line of its own rather than squeezing
        # every value; it is never broken either.
        names = min(max((cell_len(n) for n, _ in fields), default=0), max(self.width // 3, 8))
        room = max(self.width - names - 2, 8)
        indent = " " * (names + 2)
        out: list[Text] = []
        for name, value in fields:
            wrapped = _wrap(value, room) if value.strip() else []
            if cell_len(name) > names or not wrapped:
                out.append(Text(name, style="bold"))
            else:
                padding = " " * (names - cell_len(name) + 2)
                out.append(Text.assemble((name, "bold"), padding + wrapped.pop(0)))
            out.extend(Text(indent + line) for line in wrapped)
        self.lines(out)

    def note(self) -> None:
        """One line on stderr when tables were shown as records: a column is never lost in silence."""
        if not self.as_records:
            return
        if len(self.as_records) == 1:
            what = f"{self.as_records[0][1]} columns do not fit {self.width} characters"
        else:
            tables = "; ".join(f"{title}: {n} columns" for title, n in self.as_records)
            what = f"{len(self.as_records)} tables do not fit {self.width} characters ({tables})"
        write_messages([f"atmptrack: note: {what}; showing one record per block"])


def _rich_table(
    headers: list[str] | None, cells: list[list[str]], right: list[bool], widths: list[int]
) -> RenderableType:
    """The table Rich draws at the widths `_fit` chose: every cell and header wrapped beforehand,
    so that Rich has nothing left to wrap, crop or drop."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    wrapped = [
        ["\n".join(_wrap(cell, width)) for cell, width in zip(row, widths, strict=True)]
        for row in cells
    ]
    table = Table(
        box=box.SIMPLE_HEAVY,
        show_header=headers is not None,
        header_style="bold",
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for index, width in enumerate(widths):
        head = _wrap_head(headers[index], width) if headers is not None else ""
        used = max([_widest(head), *(_widest(row[index]) for row in wrapped)])
        table.add_column(
            Text(head),
            justify="right" if right[index] else "left",
            # What the wrapped cells use, which is at most what _fit allowed.
            width=max(used, 1),
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in wrapped:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _plain_table(
    headers: list[str] | None, cells: list[list[str]], right: list[bool], widths: list[int]
) -> list[Text]:
    """The lines `_rich_table` draws, laid out directly: the same text, many times faster for
    the long listings that stream a chunk at a time (a test keeps the two identical)."""
    from rich.cells import cell_len
    from rich.text import Text

    wrapped = [
        [_wrap(cell, width) for cell, width in zip(row, widths, strict=True)] for row in cells
    ]
    heads = (
        [_wrap_head(h, w).split("\n") for h, w in zip(headers, widths, strict=True)]
        if headers is not None
        else None
    )
    used = [
        max(
            1,
            *(_widest("\n".join(head)) for head in ([heads[i]] if heads else [])),
            *(_widest("\n".join(row[i])) for row in wrapped),
        )
        for i in range(len(widths))
    ]

    def lines_of(parts: list[list[str]], *, bottom: bool = False) -> list[str]:
        height = max(len(p) for p in parts)
        if bottom:  # as Rich sets headers: a shorter one on the last line, over its column
            parts = [[""] * (height - len(p)) + p for p in parts]
        out = []
        for n in range(height):
            pieces = []
            for index, part in enumerate(parts):
                text = part[n] if n < len(part) else ""
                room = used[index] - cell_len(text)
                pieces.append(" " * room + text if right[index] else text + " " * room)
            # Each column padded by one on the right, then the box's blank divider.
            out.append("  ".join(pieces).rstrip())
        return out

    lines: list[Text] = []
    if heads is not None:
        lines.extend(Text(line, style="bold") for line in lines_of(heads, bottom=True))
        lines.append(Text("━" * (sum(used) + _GAP * (len(used) - 1))))
    for row in wrapped:
        lines.extend(Text(line) for line in lines_of(row))
    return lines


def write_sections(
    sections: Sequence[Section],
    fmt: str,
    out: TextIO,
    *,
    header: bool = True,
    formula_guard: bool = True,
    title: str = "",
) -> None:
    """People see every section (and its chart); a machine format gets one table, the first given;
    `svg` is the first chart, `html` a page with every table and chart."""
    for section in sections:
        section.ready(charts=fmt in ("table", "svg", "html"))
    if fmt == "svg":
        chart = next((s.chart for s in sections if s.chart is not None), None)
        if chart is None:
            raise ValueError("no chart")
        out.write(svg_chart(chart))
        return
    if fmt == "html":
        from atmptrack import charts

        parts = []
        for section in sections:
            fragment = charts.html_table(section.columns, section.rows, right=section.right)
            if section.chart is not None:
                fragment = svg_chart(section.chart) + fragment
            if section.footer:
                fragment += "".join(f"<p>{html_escape(line)}</p>" for line in section.footer)
            parts.append((section.title, fragment))
        out.write(charts.html_page(title or (sections[0].title if sections else ""), parts))
        return
    if fmt == "table":
        screen = _Screen(out)
        for section in sections:
            screen.section(section, header=header)
            rendered = _rich_chart(section.chart) if section.chart is not None else None
            if rendered is not None:
                screen.print(rendered)
        screen.note()
        return
    if fmt == "markdown":
        for index, section in enumerate(sections):
            if index:
                out.write("\n")
            out.write(f"## {section.title}\n\n")
            write_section(section, fmt, out, header=header, formula_guard=formula_guard)
            if section.footer:
                out.write("\n" + "\n".join(f"- {_md_cell(line)}" for line in section.footer) + "\n")
        return
    write_section(sections[0], fmt, out, header=header, formula_guard=formula_guard)


def html_escape(text: str) -> str:
    import html

    return html.escape(clean(text))


def svg_chart(chart: Chart) -> str:
    """One chart as a standalone SVG document: at most MOST_BARS bars or rows (`capped`), and
    a subtitle that says what was left out."""
    from atmptrack import charts

    chart = capped(chart)
    note = clean(chart.note)
    match chart:
        case BarChart():
            bars = [
                charts.Bar(
                    clean(b.label), b.value, clean(b.text), "hatched" if b.estimated else "solid"
                )
                for b in chart.bars
            ]
            hatched = any(b.style == "hatched" for b in bars)
            return charts.bar_chart(
                chart.title,
                bars,
                unit=chart.unit,
                subtitle="; ".join(
                    t for t in ("hatched: approximate or spread" if hatched else "", note) if t
                ),
            )
        case StackedChart():
            return charts.stacked_bars(
                chart.title,
                [(clean(r.label), r.values) for r in chart.rows],
                chart.series,
                percent=chart.percent,
                subtitle=note,
            )
        case Heatmap():
            labels = [r.label for r in chart.rows]
            # The same things as rows and columns (initiatives against initiatives): each with
            # itself is a total, not an overlap, and must not set the scale the overlaps are read on.
            square = bool(labels) and labels == list(chart.series)
            return charts.heatmap(
                chart.title,
                [clean(label) for label in labels],
                chart.series,
                [[int(v) for v in r.values] for r in chart.rows],
                diagonal="diagonal: each with itself (its own total), not on the colour scale"
                if square
                else "",
                subtitle=note,
            )
        case Gantt():
            spans = [
                charts.Span(clean(s.label), s.start, s.end, s.started_by, s.running_on)
                for s in chart.spans
            ]
            markers = [
                charts.Marker(clean(m.row), m.day, clean(m.label), m.approximate)
                for m in chart.markers
            ]
            return charts.gantt(chart.title, spans, markers, today=chart.today, subtitle=note)


_SHADES = ("cyan", "magenta", "yellow", "green", "blue", "red")


def _fill(index: int) -> str:
    # A different block per series, so that stacked bars read without colour too.
    return "█▓▒░▞▚"[index % 6]


def _terminal_columns() -> int:
    import shutil

    return int(os.environ.get("COLUMNS") or shutil.get_terminal_size().columns)


def _gantt_cells(row: Span, chart: Gantt, column: Callable[[date], int], width: int) -> str:
    """One timeline row: solid where the initiative is known to run, open to the edge where its
    start or end is unknown, and its milestones on top."""
    known_from = row.start or row.started_by
    known_to = row.end or row.running_on
    if known_from and known_to and known_to < known_from:
        known_from, known_to = known_to, known_from
    cells = [" "] * width
    if known_from is None and known_to is None:
        cells = ["░"] * width  # nothing known but that it exists: open on both sides
    else:
        a = column(known_from) if known_from else column(known_to)  # type: ignore[arg-type]
        b = column(known_to) if known_to else a
        cells[a : b + 1] = ["━"] * (b - a + 1)
        if row.start is None:
            cells[:a] = ["░"] * a
        if row.end is None:
            cells[b + 1 :] = ["░"] * (width - b - 1)
    for marker in chart.markers:
        if marker.row == row.label:
            cells[column(marker.day)] = "◇" if marker.approximate else "◆"
    return "".join(cells)


def _rich_chart(chart: Chart) -> RenderableType | None:
    """Text charts for a terminal: bars of blocks, stacked blocks, a timeline of the years; at
    most MOST_BARS rows (`capped`), with a line that says what was left out."""
    from rich.table import Table
    from rich.text import Text

    chart = capped(chart)

    width = 40
    grid = Table.grid(padding=(0, 1))
    if isinstance(chart, BarChart):
        top = max((b.value for b in chart.bars if b.value), default=0.0)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for label, value, text, estimated in (
            (b.label, b.value, b.text, b.estimated) for b in chart.bars
        ):
            length = round(width * value / top) if value and top else 0
            bar = Text(("▒" if estimated else "█") * length, style="cyan")
            grid.add_row(
                Text(clean(label)), bar, Text(clean(text), style="dim" if value is None else "")
            )
        caption = "▒ approximate or spread" if any(b.estimated for b in chart.bars) else ""
    elif isinstance(chart, StackedChart):
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for label, values in ((r.label, r.values) for r in chart.rows):
            total = sum(values) or 1
            bar = Text()
            for index, value in enumerate(values):
                bar.append(
                    _fill(index) * round(width * value / total), style=_SHADES[index % len(_SHADES)]
                )
            grid.add_row(Text(clean(label)), bar)
        legend = Text()
        for index, name in enumerate(chart.series):
            legend.append(f"{_fill(index)} ", style=_SHADES[index % len(_SHADES)]).append(
                f"{name}  "
            )
        grid.add_row(Text(""), legend)
        caption = ""
    elif isinstance(chart, Gantt):
        days = [
            d
            for s in chart.spans
            for d in (s.start, s.end, s.started_by, s.running_on)
            if d is not None
        ] + [m.day for m in chart.markers]
        if not days:
            return None
        first, last = min(days).year, max(days).year
        # As wide as the terminal leaves beside the longest label, at most 60 and at least 20.
        labels = max((len(clean(row.label)) for row in chart.spans), default=0)
        width = max(20, min(60, _terminal_columns() - labels - 2))
        span = (last - first + 1) * 365.25

        def column(day: date) -> int:
            return min(width - 1, int(((day - date(first, 1, 1)).days / span) * width))

        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for row in chart.spans:
            cells = _gantt_cells(row, chart, column, width)
            grid.add_row(Text(clean(row.label)), Text(cells, style="cyan"))
        axis = [" "] * width
        free = 0  # year labels are written only where the previous one has ended
        for year in range(first, last + 1):
            at = column(date(year, 1, 1))
            if at < free or at + 4 > width:
                continue
            axis[at : at + 4] = list(str(year))
            free = at + 5
        grid.add_row(Text(""), Text("".join(axis), style="dim"))
        keys = ["━ known to be running"]
        if any(row.start is None for row in chart.spans):
            keys.append("░ start unknown (open to the left)")
        if any(row.end is None for row in chart.spans):
            keys.append("░ end unknown (open to the right)")
        caption = "  ".join([*keys, "◆ milestone", "◇ approximate date"])
    else:
        return None
    from rich.console import Group

    parts: list[RenderableType] = [Text(clean(chart.title), style="bold"), grid]
    if chart.note:
        caption = "; ".join(c for c in (caption, f"Shown: {clean(chart.note)}") if c)
    if caption:
        parts.append(Text(caption, style="dim"))
    parts.append(Text(""))
    return Group(*parts)


# ---------------------------------------------------------------- one record (`show`)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        return [pair for i, item in enumerate(value) for pair in _flatten(item, f"{prefix}[{i}]")]
    return [(prefix, value)]


def write_document(
    document: Mapping[str, Any],
    fmt: str,
    out: TextIO,
    *,
    header: bool = True,
    charts: Sequence[Chart] = (),
) -> None:
    """One nested record: an object in JSON/YAML, `field value` pairs in TSV/CSV, a layout for people.

    JSON is indented for a reader on a terminal and one line in a pipe, as before.
    """
    if fmt == "json" or fmt == "jsonl":
        indent = 2 if fmt == "json" and _isatty(out) else None
        out.write(_json(document, indent) + "\n")
    elif fmt == "yaml":
        import yaml

        yaml.safe_dump(_yaml_ready(document), out, allow_unicode=True, sort_keys=False)
    elif fmt in ("tsv", "csv", "markdown"):
        pairs = [{"field": k, "value": v} for k, v in _flatten(document)]
        write_section(Section("fields", "", ["field", "value"], pairs), fmt, out, header=header)
    elif fmt == "table":
        screen = _Screen(out)
        _people_document(screen, document)
        for chart in charts:
            rendered = _rich_chart(chart)
            if rendered is not None:
                screen.print(rendered)
        screen.note()
    else:
        raise ValueError(f"unknown format {fmt}")


def _people_document(screen: _Screen, document: Mapping[str, Any]) -> None:
    """The title, the plain fields as `field  value` lines, then a table per list of records."""
    screen.text(_text(document.get("title") or document.get("id")), "bold")
    screen.blank()
    fields: list[tuple[str, str]] = []
    tables: list[Section] = []
    for key, value in document.items():
        if key == "title" or not _known(value):
            continue
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            tables.append(_nested_section(key, value))
        else:
            fields.append((clean(key), _readable(value, items=True)))
    screen.record(fields)
    screen.blank()
    for table in tables:
        screen.section(table, header=True)


def _nested_section(key: str, items: list[Mapping[str, Any]]) -> Section:
    """A list of records inside a document, as a table of the columns something is known in:
    `show` is read, and an empty column would cost width without telling anything."""
    from atmptrack.query import show_amount

    names = dict.fromkeys(k for item in items for k in item)
    columns = [str(c) for c in names if any(_known(item.get(c)) for item in items)]
    human: dict[str, Callable[[Row], str]] = {c: _cell_of(c) for c in columns}
    if "amount" in columns:  # as `report funding` shows it: `≈ 5,000,000`
        human["amount"] = lambda row: show_amount(row.get("amount"), row.get("qualifier"))
    right = {
        c
        for c in columns
        if all(
            isinstance(v, int | Decimal) and not isinstance(v, bool)
            for v in (item.get(c) for item in items)
            if v is not None
        )
    }
    title = key.replace("_", " ").capitalize()
    return Section(key, title, columns, [dict(item) for item in items], human=human, right=right)


def _cell_of(column: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        return _readable(row.get(column), items=True)

    return cell


def write_grouped(
    title: str, groups: Sequence[tuple[str, str, Sequence[str]]], fmt: str, out: TextIO
) -> None:
    """Headed lists of sentences for people (`table`) or for a pull request (`markdown`).

    Each group is (heading, Rich style, lines); empty groups are left out.
    """
    if fmt == "markdown":
        out.write(f"## {title}\n")
        for heading, _style, lines in groups:
            if lines:
                out.write(f"\n### {heading}\n\n")
                out.writelines(f"- {_md_cell(line)}\n" for line in lines)
        return
    from rich.text import Text

    con = _Screen(out)
    con.print(Text(clean(title), style="bold"))
    for heading, style, lines in groups:
        if lines:
            con.print(Text(f"\n{heading} ({len(lines)})", style=f"bold {style}"))
            for line in lines:
                con.print(Text(f"  {clean(line)}", style=style))


def paged(stream: TextIO) -> bool:
    """Whether output to this stream is for a person at a terminal, who may want a pager."""
    return _isatty(stream)


def page(write: Callable[[TextIO], None], stream: TextIO) -> None:
    """Output for a terminal, through the user's pager as git and gh do.

    ATMPTRACK_PAGER, else PAGER, else `less`; `less` gets LESS=FRX unless the user set LESS, so
    output that fits on one screen prints and returns at once. An empty value or `cat` means no
    pager; a pager that cannot be started means none either. Output goes to the pager as it
    is written, so a long table shows its first screen at once and is never held whole; a
    reader who quits the pager early ends the command quietly.
    """
    import shlex
    import shutil
    import subprocess

    command = os.environ.get("ATMPTRACK_PAGER", os.environ.get("PAGER", "less")).strip()
    # Laid out for the terminal, not for the 80 columns of an unknown stream.
    width = os.environ.get("COLUMNS") or str(shutil.get_terminal_size().columns)
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        pager = None
        if command and command != "cat":
            env = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
            try:
                # The pager writes to the terminal itself.
                pager = subprocess.Popen(
                    shlex.split(command),
                    stdin=subprocess.PIPE,
                    text=True,
                    encoding="utf-8",
                    env=env,
                )
            except OSError:
                pager = None
        if pager is None or pager.stdin is None:
            write(stream)
            return
        try:
            write(cast(TextIO, pager.stdin))  # a text pipe: a TextIOWrapper
            pager.stdin.close()
        except BrokenPipeError:
            pass  # the reader quit the pager: what is left is not wanted
        except BaseException:
            with contextlib.suppress(BrokenPipeError):
                pager.stdin.close()
            pager.wait()
            raise
        with contextlib.suppress(BrokenPipeError):
            pager.stdin.close()
        pager.wait()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def github_annotation(diagnostic: Diagnostic) -> str:
    """A GitHub Actions workflow command that annotates the file at the problem's place.

    Values are escaped as the runner expects (`%`, CR and LF everywhere; also `:` and `,` in
    properties), so that nothing in a data file can end the command or start another.
    """

    def data(text: str) -> str:
        return escape(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    level = "error" if diagnostic.severity == "error" else "warning"
    return (
        f"::{level} file={prop(diagnostic.path)},line={diagnostic.line},col={diagnostic.column},"
        f"title={prop(diagnostic.rule)}::{data(diagnostic.message)}"
    )


# The base of relative artifact URIs: the working directory `validate` runs in, which in CI is
# the checkout's root, where GitHub code scanning looks for the files.
_SRCROOT = "%SRCROOT%"


def _artifact_location(path: str, cwd: Path) -> dict[str, str]:
    """A diagnostic's file as a SARIF artifactLocation: a relative URI reference under %SRCROOT%
    for a file below the working directory, else an absolute file URI.

    Percent-encoded (spaces, non-ASCII, `%`, `#`, and `:`, so that a first segment cannot read
    as a scheme); a name that is not UTF-8 keeps the escaped form the other formats show.
    """
    from pathlib import Path, PurePath
    from urllib.parse import quote

    pure = PurePath(path)
    if pure.is_absolute():
        try:
            # Some diagnostics (unreadable directories, undecodable names) carry absolute paths.
            pure = pure.relative_to(cwd)
        except ValueError:
            return {"uri": Path(path).as_uri()}
    return {"uri": quote(pure.as_posix(), safe="/"), "uriBaseId": _SRCROOT}


def sarif_log(diagnostics: Sequence[Diagnostic]) -> str:
    """The diagnostics as a SARIF 2.1.0 log (one run), as code-scanning tools upload it.

    Carries what `validate --format json` does: a result per diagnostic with its rule, level,
    message, file, line and column (1-based, in code points, as the YAML reader counts them).
    """
    from pathlib import Path

    from atmptrack import __version__

    cwd = Path.cwd()
    rules = sorted({d.rule for d in diagnostics})
    index = {rule: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for d in diagnostics:
        region = {"startLine": d.line} if d.line >= 1 else {}
        if region and d.column >= 1:
            region["startColumn"] = d.column
        location: dict[str, Any] = {"artifactLocation": _artifact_location(d.path, cwd)}
        if region:
            location["region"] = region
        result: dict[str, Any] = {
            "ruleId": d.rule,
            "ruleIndex": index[d.rule],
            "level": "error" if d.severity == "error" else "warning",
            "message": {"text": d.message},
            "locations": [{"physicalLocation": location}],
        }
        if d.field is not None:
            result["properties"] = {"field": d.field}
        results.append(result)
    root = cwd.as_uri()
    run = {
        "tool": {
            "driver": {
                "name": "atmptrack",
                "version": __version__,
                # No informationUri: the project declares no home page (pyproject has no urls).
                "rules": [{"id": rule} for rule in rules],
            }
        },
        "originalUriBaseIds": {_SRCROOT: {"uri": root if root.endswith("/") else root + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return _json(log, indent=2) + "\n"


def write_messages(lines: Sequence[str], stream: TextIO | None = None) -> None:
    """Messages for people go to stderr, one per line, control characters stripped."""
    target = stream if stream is not None else sys.stderr
    bar = _ProgressBar.active
    if bar is not None and bar.shown is not None and bar.stream is target:
        for line in lines:  # above the bar, which moves down a line
            bar.shown.console.print(escape(line), soft_wrap=True)
        return
    for line in lines:
        target.write(escape(line) + "\n")
    target.flush()


# How long a load or validation runs before its progress bar shows: quicker work prints none.
_PROGRESS_AFTER_S = 1.0


@contextmanager
def progress_bar(stream: TextIO | None = None) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar on stderr for long work (`dataset.Progress`), when stderr is a terminal.

    Yields None when it is not (a pipe, a file, TERM=dumb): nothing is drawn, nothing imported.
    The bar appears once the work has taken a second (ATMPTRACK_PROGRESS_AFTER seconds) and is
    erased when it ends, so output that follows starts on a clean line.
    """
    target = stream if stream is not None else sys.stderr
    if not _isatty(target) or os.environ.get("TERM") == "dumb":
        yield None
        return
    try:
        after = float(os.environ.get("ATMPTRACK_PROGRESS_AFTER", _PROGRESS_AFTER_S))
    except ValueError:
        after = _PROGRESS_AFTER_S
    bar = _ProgressBar(target, after)
    _ProgressBar.active = bar
    try:
        yield bar
    finally:
        _ProgressBar.active = None
        bar.close()


class _ProgressBar:
    """Draws from the caller's thread, at most ten times a second.

    Rich can refresh from a thread of its own, but a store write holds Ctrl-C back by blocking
    SIGINT in the main thread, and a signal delivered to any other thread would still run
    Python's handler in the middle of that write.
    """

    # The bar on screen, if any: messages written meanwhile go above it (`write_messages`).
    active: ClassVar[_ProgressBar | None] = None

    def __init__(self, stream: TextIO, after: float) -> None:
        self.stream = stream
        self.after = after
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.shown is None:
            if now - self.started < self.after:
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.shown = Progress(
                TextColumn("{task.description}", markup=False),  # paths are text, not markup
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console(self.stream),
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.shown.start()
            self.task = self.shown.add_task(clean(what), total=total, completed=done)
        assert self.task is not None
        self.shown.update(self.task, description=clean(what), completed=done, total=total)
        if now - self.drawn >= 0.1 or done >= total:
            self.shown.refresh()
            self.drawn = now

    def close(self) -> None:
        if self.shown is not None:
            self.shown.stop()
