"""The Typer app: parse, call one core function, render, exit; errors become one message at one boundary."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

from atmptrack import __version__
from atmptrack.errors import AtmptrackError, DataError, ExitCode, UsageError


def _interrupted(_signum: int, _frame: object) -> None:
    # Click would turn Ctrl-C into "Aborted!" and exit 1, and during imports Python would print
    # a traceback; shells expect 130. Unwinding with SystemExit rolls back an open transaction.
    sys.stderr.write("atmptrack: error: interrupted\n")
    raise SystemExit(int(ExitCode.INTERRUPTED))


# Installed before the Typer import, so that Ctrl-C at any moment of start-up exits quietly.
signal.signal(signal.SIGINT, _interrupted)

import typer  # noqa: E402

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from atmptrack.query import Filters
    from atmptrack.render import Section

app = typer.Typer(
    name="atmptrack",
    help="Track European ATMP (gene, cell and tissue therapy) initiatives from sourced YAML files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
report_app = typer.Typer(
    help="Reports over the whole dataset.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(report_app, name="report")


@dataclass(slots=True)
class Settings:
    data: str | None = None
    db: str | None = None
    debug: bool = False


SETTINGS = Settings()

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table, tsv, csv, json, jsonl, yaml or markdown. Default: table on a terminal, tsv otherwise.",
    ),
]
NoHeaderOpt = Annotated[
    bool, typer.Option("--no-header", help="Omit the header row (tsv, csv, markdown, table).")
]
FormulaOpt = Annotated[
    bool,
    typer.Option(
        "--formula-guard/--no-formula-guard",
        help="In CSV, prefix text cells starting with = + - @ with ' so spreadsheets do not run them.",
    ),
]


EntityArg = Annotated[
    str,
    typer.Argument(
        help="initiatives, partners, organisations, members, workgroups, milestones, people, funding or sources.",
        show_default=False,
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option("--columns", help="Comma-separated columns to show; `--columns help` lists them."),
]
SortOpt = Annotated[
    list[str] | None,
    typer.Option("--sort", help="Sort by column; -column sorts descending. Repeatable."),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=0, help="At most N rows.")]


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"atmptrack {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            envvar="ATMPTRACK_DATA",
            show_envvar=True,
            help="Data directory (or one YAML file). Default: ./data when it holds atmptrack files, else the bundled dataset.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="ATMPTRACK_DB",
            show_envvar=True,
            help="Store: a file path or sqlite:///path URL. Default: one store per data directory in the user data directory.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    SETTINGS.data, SETTINGS.db, SETTINGS.debug = data, db, debug


def _format(value: str | None, allowed: tuple[str, ...] | None = None) -> str:
    from atmptrack.render import FORMATS, default_format

    if value is None:
        return default_format(sys.stdout)
    fmt = value.lower()
    valid = allowed or FORMATS
    if fmt not in valid:
        raise UsageError(f"unknown format '{value}'; valid formats: {', '.join(valid)}")
    return fmt


def _store() -> tuple[Path, Path]:
    """Resolve the data directory and store, refreshing the store when the YAML changed."""
    from atmptrack.datadir import resolve_data_dir
    from atmptrack.store import ensure_fresh, resolve_store

    data_dir = resolve_data_dir(SETTINGS.data)
    store = resolve_store(SETTINGS.db, data_dir)
    ensure_fresh(data_dir, store)
    return data_dir, store


@app.command("load")
def load_cmd(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Validate every YAML file and replace the store's contents in one transaction.

    Read commands refresh the store by themselves when a file changed; `load` forces it.
    Example: atmptrack --data ./data load
    """
    from atmptrack.datadir import resolve_data_dir
    from atmptrack.render import write_messages
    from atmptrack.store import ensure_fresh, resolve_store

    data_dir = resolve_data_dir(SETTINGS.data)
    store = resolve_store(SETTINGS.db, data_dir)
    result = ensure_fresh(data_dir, store, force=True)
    if result is None or quiet:
        return
    write_messages([w.format() for w in result.warnings])
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    write_messages(
        [f"atmptrack: loaded {counts} from {data_dir} into {store} in {result.seconds:.2f} s"]
    )


@app.command("list")
def list_cmd(
    entity: EntityArg,
    country: Annotated[
        list[str] | None,
        typer.Option("--country", "-c", help="ISO country code(s); repeatable or comma-separated."),
    ] = None,
    sector: Annotated[
        list[str] | None, typer.Option("--sector", help="Sector(s), e.g. university, company.")
    ] = None,
    helix: Annotated[
        list[str] | None,
        typer.Option("--helix", help="academia, industry, government, civil-society."),
    ] = None,
    initiative: Annotated[
        list[str] | None, typer.Option("--initiative", "-i", help="Initiative id(s) or acronym(s).")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Role(s), e.g. coordinator, partner.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Kind(s) of initiative, milestone or work group."),
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="Dated things that overlap this year.")
    ] = None,
    date_from: Annotated[
        str | None,
        typer.Option("--from", help="Dated things on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Dated things on or before DATE.")
    ] = None,
    fmt: FormatOpt = None,
    columns: ColumnsOpt = None,
    sort: SortOpt = None,
    limit: LimitOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """List one kind of record, filtered, in any output format.

    Example: atmptrack list partners --country SI --format json
    """
    from atmptrack import query

    split = query.split_values
    filters = query.Filters(
        country=split(country or []),
        sector=split(sector or []),
        helix=split(helix or []),
        initiative=split(initiative or []),
        role=split(role or []),
        kind=split(kind or []),
        year=year,
        date_from=date_from,
        date_to=date_to,
    )
    _rows(entity, filters, None, fmt, columns, sort, limit, no_header, formula_guard)


@app.command("filter")
def filter_cmd(
    entity: EntityArg,
    expression: Annotated[
        str, typer.Argument(help="A filter expression; see above.", show_default=False)
    ],
    fmt: FormatOpt = None,
    columns: ColumnsOpt = None,
    sort: SortOpt = None,
    limit: LimitOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """List the records of ENTITY for which EXPRESSION holds.

    Fields are the columns of `list ENTITY` (`--columns help` lists them), plus `year` for
    dated things. Comparisons: = != < <= > >= ; in (a, b) and not in (a, b) ; ~ (contains,
    ignoring case) and !~ ; is null and is not null. Combine with and, or, not and
    parentheses. Values are bare words or "quoted strings". Numbers compare as numbers,
    dates by what they mean (2025 >= 2024-12), text and countries ignoring case; on list
    fields (initiatives, countries, ...) = and in match any item. An unknown value never
    satisfies a comparison and always satisfies its negation.

    Example: atmptrack filter partners 'country in (PT, SI) and helix = industry'
    """
    from atmptrack import query

    _rows(entity, query.Filters(), expression, fmt, columns, sort, limit, no_header, formula_guard)


def _rows(
    entity: str,
    filters: Filters,
    expression: str | None,
    fmt: str | None,
    columns: str | None,
    sort: list[str] | None,
    limit: int | None,
    no_header: bool,
    formula_guard: bool,
) -> None:
    """The body shared by `list` and `filter`: one query, one table."""
    from atmptrack import query
    from atmptrack.render import Section, write_section

    ent = query.entity(entity)
    out_format = _format(fmt)
    if columns is not None and columns.strip().lower() in ("help", "?"):
        rows = [{"column": c.name, "kind": c.kind, "description": c.help} for c in ent.columns]
        write_section(
            Section("columns", f"Columns of {ent.name}", ["column", "kind", "description"], rows),
            out_format,
            sys.stdout,
            header=not no_header,
        )
        return
    split = query.split_values
    wanted = split([columns]) if columns else None
    request = query.Query(ent, filters, wanted, split(sort or []), limit, expression)
    _, store = _store()
    from atmptrack.store import reading

    with reading(store) as conn:
        names, rows = query.run(request, conn)
    section = Section(
        ent.name,
        ent.help[:1].upper() + ent.help[1:],
        names,
        rows,
        human=ent.display,
        right={c.name for c in ent.columns if c.kind in ("int", "amount", "sum")},
        table_columns=None if wanted else list(ent.brief) or None,
    )
    write_section(
        section, out_format, sys.stdout, header=not no_header, formula_guard=formula_guard
    )


@app.command("show")
def show_cmd(
    ident: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="Initiative or organisation: id, acronym or short name.",
            show_default=False,
        ),
    ],
    fmt: FormatOpt = None,
) -> None:
    """Everything known about one initiative or organisation, with the sources of each part.

    Example: atmptrack show join4atmp --format json
    """
    from atmptrack.detail import describe
    from atmptrack.render import write_document
    from atmptrack.store import reading

    out_format = _format(fmt)
    _, store = _store()
    with reading(store) as conn:
        record, charts = describe(conn, ident)
    write_document(record, out_format, sys.stdout, charts=charts)


ReportFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table, tsv, csv, json, jsonl, yaml, markdown, svg (the chart) or html (a page with tables and charts). Default: table on a terminal, tsv otherwise.",
    ),
]
SectionOpt = Annotated[
    str | None,
    typer.Option(
        "--section",
        help="Which table machine formats print (and svg draws); the report's first by default. Tables and html show them all.",
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to FILE instead of standard output.")
]
InitiativesOpt = Annotated[
    list[str] | None,
    typer.Option("--initiative", "-i", help="Only these initiatives (id or acronym)."),
]


def _report(
    build: Callable[[sqlite3.Connection], list[Section]],
    *,
    fmt: str | None,
    section: str | None,
    output: Path | None,
    no_header: bool,
    formula_guard: bool,
) -> None:
    """The body shared by every report: read, pick the section, write to stdout or a file."""
    from atmptrack.render import REPORT_FORMATS, default_format, write_sections
    from atmptrack.store import reading

    if fmt is not None:
        out_format = _format(fmt, REPORT_FORMATS)
    elif output is not None:
        # A file named .svg or .html asks for that format; any other file gets TSV, as a pipe would.
        out_format = {".svg": "svg", ".html": "html"}.get(output.suffix.lower(), "tsv")
    else:
        out_format = default_format(sys.stdout)
    _, store = _store()
    with reading(store) as conn:
        everything = build(conn)
    sections = everything
    if section is not None:
        sections = [s for s in everything if s.name == section]
        if not sections:
            raise UsageError(
                f"unknown section '{section}'; valid: {', '.join(s.name for s in everything)}"
            )
    if out_format == "svg" and not any(s.chart for s in sections):
        with_chart = ", ".join(s.name for s in everything if s.chart) or "none"
        raise UsageError(f"this table has no chart; sections with one: {with_chart}")
    if output is None:
        write_sections(
            sections, out_format, sys.stdout, header=not no_header, formula_guard=formula_guard
        )
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as handle:
            write_sections(
                sections, out_format, handle, header=not no_header, formula_guard=formula_guard
            )
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


@report_app.command("funding")
def report_funding_cmd(
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Group totals by initiative, programme, funder, country (the coordinator's) or year (spread evenly over each funding period).",
        ),
    ] = None,
    initiative: InitiativesOpt = None,
    section: SectionOpt = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """Funding per entry with honest totals per currency: approximate stays approximate, unknown is not zero.

    Sections: entries (or by_<group> with --by), totals. Example: atmptrack report funding --by year
    """
    from atmptrack import report
    from atmptrack.query import split_values

    _report(
        lambda conn: report.funding(conn, by=by, initiatives=split_values(initiative or [])),
        fmt=fmt,
        section=section,
        output=output,
        no_header=no_header,
        formula_guard=formula_guard,
    )


@report_app.command("partners")
def report_partners_cmd(
    initiative: InitiativesOpt = None,
    section: SectionOpt = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """Partners by country and quadruple-helix group, the helix balance of each initiative, and countries per initiative.

    Sections: matrix, balance, countries. Example: atmptrack report partners -i geneh --format html -o geneh.html
    """
    from atmptrack import report
    from atmptrack.query import split_values

    _report(
        lambda conn: report.partners(conn, initiatives=split_values(initiative or [])),
        fmt=fmt,
        section=section,
        output=output,
        no_header=no_header,
        formula_guard=formula_guard,
    )


@report_app.command("overlap")
def report_overlap_cmd(
    roll_up: Annotated[
        bool, typer.Option("--roll-up", help="Count a hosted body with its parent organisation.")
    ] = False,
    section: SectionOpt = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """Organisations in two or more initiatives, with their role in each, and shared partners per pair of initiatives.

    Sections: shared, matrix. Example: atmptrack report overlap --roll-up
    """
    from atmptrack import report

    _report(
        lambda conn: report.overlap(conn, roll_up=roll_up),
        fmt=fmt,
        section=section,
        output=output,
        no_header=no_header,
        formula_guard=formula_guard,
    )


@report_app.command("timeline")
def report_timeline_cmd(
    date_from: Annotated[
        str | None, typer.Option("--from", help="Only events on or after DATE.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Only events on or before DATE.")
    ] = None,
    upcoming: Annotated[
        bool, typer.Option("--upcoming", help="Only events from today on.")
    ] = False,
    today: Annotated[
        str | None, typer.Option("--today", help="Take DATE (YYYY-MM-DD) as today.")
    ] = None,
    section: SectionOpt = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """Every milestone and every initiative's start and end in date order, dates as precisely as known, with a Gantt chart.

    Example: atmptrack report timeline --upcoming --today 2026-01-01
    """
    from datetime import date

    from atmptrack import report

    day = None
    if today is not None:
        try:
            day = date.fromisoformat(today)
        except ValueError:
            raise UsageError(f"--today: '{today}' is not a date (YYYY-MM-DD)") from None
    _report(
        lambda conn: report.timeline(
            conn, date_from=date_from, date_to=date_to, upcoming=upcoming, today=day
        ),
        fmt=fmt,
        section=section,
        output=output,
        no_header=no_header,
        formula_guard=formula_guard,
    )


@report_app.command("coverage")
def report_coverage_cmd(
    section: SectionOpt = None,
    fmt: ReportFormatOpt = None,
    output: OutputOpt = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """How complete the data is: declared against known partners, sourced against inferred facts, unknown fields, what to look up next.

    Sections: initiatives, lookup. Example: atmptrack report coverage --section lookup
    """
    from atmptrack import report

    _report(
        report.coverage,
        fmt=fmt,
        section=section,
        output=output,
        no_header=no_header,
        formula_guard=formula_guard,
    )


@app.command("diff")
def diff_cmd(
    old: Annotated[
        str,
        typer.Argument(
            help="Data directory, YAML file, store file, or git revision (REV or REV:path).",
            show_default=False,
        ),
    ],
    new: Annotated[
        str | None,
        typer.Argument(help="Like OLD. Default: the data directory in use.", show_default=False),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table, markdown, json, jsonl, tsv, csv or yaml. Default: table on a terminal, tsv otherwise.",
        ),
    ] = None,
    stat: Annotated[
        bool, typer.Option("--stat", help="Print counts per entity and change only.")
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code", help="Exit 1 when there are differences and 0 when there are none."
        ),
    ] = False,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> None:
    """What changed between two versions of the data, matched by ids, in the words of the domain.

    Initiatives added or removed, organisations joining or leaving (with their role), roles and
    coordinators changing, funding changing (old, new, difference), milestones moving (by days,
    or months for partial dates), work groups and organisations renamed, organisations moving
    country, sources added or removed, and field-level changes for the rest. Formatting, comments,
    key order and file layout are not changes. With one argument, that version is compared with
    the data directory in use.

    Example: atmptrack diff HEAD~1 --format markdown
    """
    from atmptrack import diff
    from atmptrack.datadir import resolve_data_dir
    from atmptrack.render import Section, write_grouped, write_section

    out_format = _format(fmt)
    old_label, new_label, changes = diff.diff(old, new, resolve_data_dir(SETTINGS.data))
    if stat:
        rows = diff.stat(changes)
        write_section(
            Section(
                "stat",
                f"Changes from {old_label} to {new_label}",
                ["entity", "change", "count"],
                rows,
                right={"count"},
            ),
            out_format,
            sys.stdout,
            header=not no_header,
            formula_guard=formula_guard,
        )
    elif out_format in ("table", "markdown"):
        groups = [
            (heading, style, [diff.sentence(c) for c in changes if c.group == group])
            for heading, style, group in (
                ("Added", "green", "added"),
                ("Removed", "red", "removed"),
                ("Changed", "yellow", "changed"),
            )
        ]
        title = f"Changes from {old_label} to {new_label}: {len(changes) or 'none'}"
        write_grouped(title, groups, out_format, sys.stdout)
    else:
        section = Section("changes", "", diff.COLUMNS, [c.row() for c in changes])
        write_section(
            section, out_format, sys.stdout, header=not no_header, formula_guard=formula_guard
        )
    if exit_code and changes:
        raise typer.Exit(int(ExitCode.DIFFERENCES))


@app.command("validate")
def validate_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or directories. Default: the data directory in use.", show_default=False
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="text (default) or json.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check the data without touching the store: one `file:line:col: severity: message [rule]` per problem.

    Example: atmptrack validate data/initiatives/geneh.yaml
    """
    from atmptrack.datadir import discover, resolve_data_dir
    from atmptrack.dataset import read_dataset
    from atmptrack.render import write_messages

    out_format = (fmt or "text").lower()
    if out_format not in ("text", "json"):
        raise UsageError(f"unknown format '{fmt}'; valid formats: text, json")
    root = resolve_data_dir(SETTINGS.data)
    files = None
    if paths:
        files = []
        for path in paths:
            if not path.exists():
                raise UsageError(f"{path}: no such file or directory")
            files.extend(discover(path))
    try:
        diagnostics = read_dataset(root, files=files).warnings
    except DataError as exc:
        diagnostics = exc.diagnostics
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if out_format == "json":
        from atmptrack.render import Section, write_section

        rows = [
            {
                "path": d.path,
                "line": d.line,
                "column": d.column,
                "severity": d.severity,
                "rule": d.rule,
                "message": d.message,
                "field": d.field,
            }
            for d in diagnostics
        ]
        write_section(
            Section("diagnostics", "", list(rows[0]) if rows else [], rows), "json", sys.stdout
        )
    else:
        sys.stdout.writelines(d.format() + "\n" for d in diagnostics)
    write_messages([f"atmptrack: {errors} error(s), {warnings} warning(s)"])
    if errors or (strict and warnings):
        raise typer.Exit(int(ExitCode.DATA))


def _fail(message: str, code: ExitCode) -> NoReturn:
    from atmptrack.render import write_messages

    write_messages([f"atmptrack: error: {message}"])
    raise SystemExit(int(code))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point and the one error boundary."""
    try:
        app(args=argv, prog_name="atmptrack")
    except AtmptrackError as exc:
        if SETTINGS.debug:
            raise
        if isinstance(exc, DataError):
            from atmptrack.render import write_messages

            write_messages([d.format() for d in exc.diagnostics])
            _fail(f"{exc.message}; the store was not changed", exc.exit_code)
        _fail(exc.message, exc.exit_code)
    except BrokenPipeError:
        # The reader (head, less) has gone: stop quietly, as Unix filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(int(ExitCode.OK)) from None
