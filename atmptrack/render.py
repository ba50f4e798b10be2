"""The only writer of output: tables for people, TSV/CSV/JSON/JSONL/YAML/Markdown for pipelines.

Machine formats are plain writes: Rich would wrap and truncate them in a pipe. Rich is
imported only for the `table` format, and user data reaches it as Text, never as markup.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

from atmptrack.results import BarChart, Chart, Gantt, Heatmap, Row, Section, StackedChart

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console, RenderableType


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
    from difflib import get_close_matches

    from atmptrack.errors import UsageError

    wanted = value.strip().lower()
    for fmt in allowed:
        if fmt.value == wanted:
            return fmt
    close = get_close_matches(wanted, [f.value for f in allowed], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
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


def _json(value: Any) -> str:
    """JSON for the flat and nested values we produce; Decimals stay exact numbers."""
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json(v) for v in value) + "]"
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
    if not section.rows:
        out.write("[]\n")
        return
    out.write("[\n")
    out.write(
        ",\n".join("  " + _json({c: row.get(c) for c in section.columns}) for row in section.rows)
    )
    out.write("\n]\n")


def _write_jsonl(section: Section, out: TextIO, _header: bool, _guarded: bool) -> None:
    for row in section.rows:
        out.write(_json({c: row.get(c) for c in section.columns}) + "\n")


def _write_yaml(section: Section, out: TextIO, _header: bool, _guarded: bool) -> None:
    import yaml

    data = [_yaml_ready({c: row.get(c) for c in section.columns}) for row in section.rows]
    yaml.safe_dump(data, out, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _write_markdown(section: Section, out: TextIO, header: bool, _guarded: bool) -> None:
    columns = section.columns
    if header:
        out.write("| " + " | ".join(columns) + " |\n")
        out.write("|" + "|".join("---:" if c in section.right else "---" for c in columns) + "|\n")
    for row in section.rows:
        out.write("| " + " | ".join(_md_cell(row.get(c)) for c in columns) + " |\n")


def _write_table(section: Section, out: TextIO, header: bool, _guarded: bool) -> None:
    con = console(out)
    con.print(_rich_table(section, header=header))
    for line in section.footer:
        con.print(clean(line), style="dim")


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


def _human(section: Section, row: Row, column: str) -> str:
    show = section.human.get(column)
    if show is not None:
        return clean(show(row))
    value = row.get(column)
    if isinstance(value, list):
        return clean(", ".join(str(v) for v in value))
    return _text(value)


def _rich_table(section: Section, *, header: bool) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(section.title, style="bold") if section.title else None,
        box=box.SIMPLE_HEAVY,
        show_header=header,
        header_style="bold",
        title_justify="left",
    )
    columns = section.table_columns or section.columns
    cells = [[_human(section, row, c) for c in columns] for row in section.rows]
    for index, column in enumerate(columns):
        # Short values (codes, dates, amounts) keep their width so that only text wraps: Rich
        # would otherwise narrow every column alike and break `2024-01` or `4,885,375` apart.
        longest = max((len(line[index]) for line in cells), default=0)
        table.add_column(
            Text(column),
            justify="right" if column in section.right else "left",
            min_width=max(min(len(column), 14), longest if longest <= 12 else 0),
            overflow="fold",
        )
    for line in cells:
        table.add_row(*(Text(cell) for cell in line))
    return table


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
    if fmt in ("table", "markdown"):
        for index, section in enumerate(sections):
            if fmt == "markdown":
                if index:
                    out.write("\n")
                out.write(f"## {section.title}\n\n")
            write_section(section, fmt, out, header=header, formula_guard=formula_guard)
            if fmt == "markdown" and section.footer:
                out.write("\n" + "\n".join(f"- {_md_cell(line)}" for line in section.footer) + "\n")
            if fmt == "table" and section.chart is not None:
                rendered = _rich_chart(section.chart)
                if rendered is not None:
                    console(out).print(rendered)
        return
    write_section(sections[0], fmt, out, header=header, formula_guard=formula_guard)


def html_escape(text: str) -> str:
    import html

    return html.escape(clean(text))


def svg_chart(chart: Chart) -> str:
    """One chart as a standalone SVG document."""
    from atmptrack import charts

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
                subtitle="hatched: approximate or spread" if hatched else "",
            )
        case StackedChart():
            return charts.stacked_bars(
                chart.title,
                [(clean(r.label), r.values) for r in chart.rows],
                chart.series,
                percent=chart.percent,
            )
        case Heatmap():
            return charts.heatmap(
                chart.title,
                [clean(r.label) for r in chart.rows],
                chart.series,
                [[int(v) for v in r.values] for r in chart.rows],
            )
        case Gantt():
            spans = [charts.Span(clean(s.label), s.start, s.end) for s in chart.spans]
            markers = [
                charts.Marker(clean(m.row), m.day, clean(m.label), m.approximate)
                for m in chart.markers
            ]
            return charts.gantt(chart.title, spans, markers, today=chart.today)


_SHADES = ("cyan", "magenta", "yellow", "green", "blue", "red")


def _fill(index: int) -> str:
    # A different block per series, so that stacked bars read without colour too.
    return "█▓▒░▞▚"[index % 6]


def _rich_chart(chart: Chart) -> RenderableType | None:
    """Text charts for a terminal: bars of blocks, stacked blocks, a timeline of the years."""
    from rich.table import Table
    from rich.text import Text

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
        days = [d for s in chart.spans for d in (s.start, s.end) if d] + [
            m.day for m in chart.markers
        ]
        if not days:
            return None
        first, last = min(days).year, max(days).year
        width = 60
        span = (last - first + 1) * 365.25

        def column(day: date) -> int:
            return min(width - 1, int(((day - date(first, 1, 1)).days / span) * width))

        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        for label, start, end in ((s.label, s.start, s.end) for s in chart.spans):
            cells = [" "] * width
            if start or end:
                a = column(start) if start else max(0, column(end) - 4) if end else 0
                b = column(end) if end else min(width - 1, column(start) + 4) if start else 0
                for i in range(a, b + 1):
                    cells[i] = "━"
                if not start:
                    cells[a] = "░"
                if not end:
                    cells[b] = "░"
            for marker in chart.markers:
                if marker.row == label:
                    cells[column(marker.day)] = "◇" if marker.approximate else "◆"
            grid.add_row(Text(clean(label)), Text("".join(cells), style="cyan"))
        axis = [" "] * width
        free = 0  # year labels are written only where the previous one has ended
        for year in range(first, last + 1):
            at = column(date(year, 1, 1))
            if at < free or at + 4 > width:
                continue
            axis[at : at + 4] = list(str(year))
            free = at + 5
        grid.add_row(Text(""), Text("".join(axis), style="dim"))
        caption = "━ span  ░ end unknown  ◆ milestone  ◇ approximate date"
    else:
        return None
    from rich.console import Group

    parts: list[RenderableType] = [Text(clean(chart.title), style="bold"), grid]
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
    """One nested record: an object in JSON/YAML, `field value` pairs in TSV/CSV, a layout for people."""
    if fmt == "json" or fmt == "jsonl":
        out.write(_json(document) + "\n")
    elif fmt == "yaml":
        import yaml

        yaml.safe_dump(_yaml_ready(document), out, allow_unicode=True, sort_keys=False)
    elif fmt in ("tsv", "csv", "markdown"):
        pairs = [{"field": k, "value": v} for k, v in _flatten(document)]
        write_section(Section("fields", "", ["field", "value"], pairs), fmt, out, header=header)
    elif fmt == "table":
        con = console(out)
        con.print(_rich_document(document))
        for chart in charts:
            rendered = _rich_chart(chart)
            if rendered is not None:
                con.print(rendered)
    else:
        raise ValueError(f"unknown format {fmt}")


def _rich_document(document: Mapping[str, Any]) -> RenderableType:
    from rich.console import Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    def cell(value: Any) -> Text:
        if isinstance(value, list):
            return Text(clean(", ".join(_text(v) for v in value)))
        return Text(_text(value))

    scalars = Table.grid(padding=(0, 2))
    scalars.add_column(style="bold")
    scalars.add_column(overflow="fold")
    parts: list[RenderableType] = []
    for key, value in document.items():
        if key == "title":
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            columns = list(dict.fromkeys(k for item in value for k in item))
            table = Table(title=Text(key.replace("_", " "), style="bold"), title_justify="left")
            for column in columns:
                table.add_column(Text(column), overflow="fold")
            for item in value:
                table.add_row(*(cell(item.get(c)) for c in columns))
            parts.append(Padding(table, (1, 0, 0, 0)))
        elif isinstance(value, Mapping):
            sub = Table.grid(padding=(0, 2))
            sub.add_column(style="bold")
            sub.add_column(overflow="fold")
            for sub_key, sub_value in value.items():
                if sub_value not in (None, [], {}):
                    sub.add_row(Text(str(sub_key)), cell(sub_value))
            parts.append(
                Padding(
                    Panel(sub, title=Text(key.replace("_", " ")), title_align="left"), (1, 0, 0, 0)
                )
            )
        elif value not in (None, [], {}):
            scalars.add_row(Text(key), cell(value))
    title = Text(_text(document.get("title") or document.get("id")), style="bold")
    return Group(Panel(scalars, title=title, title_align="left"), *parts)


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

    con = console(out)
    con.print(Text(clean(title), style="bold"))
    for heading, style, lines in groups:
        if lines:
            con.print(Text(f"\n{heading} ({len(lines)})", style=f"bold {style}"))
            for line in lines:
                con.print(Text(f"  {clean(line)}", style=style))


def write_messages(lines: Sequence[str], stream: TextIO | None = None) -> None:
    """Messages for people go to stderr, one per line, control characters stripped."""
    target = stream if stream is not None else sys.stderr
    for line in lines:
        target.write(escape(line) + "\n")
    target.flush()
