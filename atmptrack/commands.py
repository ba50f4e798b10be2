"""The Typer commands: each parses its options, calls one core function and renders the result.

Imported by `cli.main` only when a command runs. The command groups are lazy: a command's
parameters are built (and Typer's validators with them) only for the command invoked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TextIO

import typer
from typer.core import TyperGroup

from atmptrack import __version__
from atmptrack.errors import DataError, ExitCode, OutputClosed, UsageError

if TYPE_CHECKING:
    import sqlite3

    from typer._click import Command, Context, HelpFormatter

    from atmptrack.cli import Settings
    from atmptrack.query import Filters
    from atmptrack.render import Format
    from atmptrack.results import Section

_TYPER_SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


def _settings(ctx: typer.Context) -> Settings:
    from atmptrack.cli import Settings

    settings = ctx.find_object(Settings)
    assert settings is not None, "main() passes the settings as the context object"
    return settings


# ---------------------------------------------------------------- shared options

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
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
        metavar="ENTITY",
        help="initiatives, partners, organisations, members, workgroups, milestones, people, funding or sources.",
        show_default=False,
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="COLUMNS",
        help="Comma-separated columns to show; `--columns help` lists them.",
    ),
]
SortOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sort", metavar="COLUMN", help="Sort by column; -column sorts descending. Repeatable."
    ),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=0, help="At most N rows.")]
InitiativesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--initiative", "-i", metavar="ID", help="Only these initiatives (id or acronym)."
    ),
]


def _format(value: str | None, allowed: tuple[Format, ...] | None = None) -> Format:
    from atmptrack.render import FORMATS, default_format, parse_format

    if value is None:
        return default_format(sys.stdout)
    return parse_format(value, allowed or FORMATS)


# ---------------------------------------------------------------- the root and its options


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"atmptrack {__version__}\n")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            envvar="ATMPTRACK_DATA",
            show_envvar=True,
            metavar="DIR",
            help="Data directory (or one YAML file). Default: ./data when it holds atmptrack files, else the bundled dataset.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="ATMPTRACK_DB",
            show_envvar=True,
            metavar="STORE",
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
    """Track European ATMP (gene, cell and tissue therapy) initiatives from sourced YAML files.

    Global options may also follow the command: atmptrack list partners --data ./data
    """
    settings = _settings(ctx)
    settings.data, settings.db, settings.debug = data, db, debug


# ---------------------------------------------------------------- load, list, filter, show


def load_cmd(
    ctx: typer.Context,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")] = False,
) -> None:
    """Validate every YAML file and replace the store's contents in one transaction.

    Read commands refresh the store by themselves when a file changed; `load` forces it.
    Example: atmptrack --data ./data load
    """
    from atmptrack.datadir import resolve_data_dir
    from atmptrack.refresh import ensure_fresh
    from atmptrack.render import write_messages
    from atmptrack.store import resolve_store

    settings = _settings(ctx)
    data_dir = resolve_data_dir(settings.data)
    store = resolve_store(settings.db, data_dir)
    result = ensure_fresh(data_dir, store, force=True)
    if result is None or quiet:
        return
    write_messages([w.format() for w in result.warnings])
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    write_messages(
        [f"atmptrack: loaded {counts} from {data_dir} into {store} in {result.seconds:.2f} s"]
    )


def list_cmd(
    ctx: typer.Context,
    entity: EntityArg,
    country: Annotated[
        list[str] | None,
        typer.Option(
            "--country",
            "-c",
            metavar="CODE",
            help="ISO country code(s); repeatable or comma-separated.",
        ),
    ] = None,
    sector: Annotated[
        list[str] | None,
        typer.Option("--sector", metavar="SECTOR", help="Sector(s), e.g. university, company."),
    ] = None,
    helix: Annotated[
        list[str] | None,
        typer.Option(
            "--helix", metavar="HELIX", help="academia, industry, government, civil-society."
        ),
    ] = None,
    initiative: InitiativesOpt = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", metavar="ROLE", help="Role(s), e.g. coordinator, partner."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", metavar="KIND", help="Kind(s) of initiative, milestone or work group."
        ),
    ] = None,
    year: Annotated[
        int | None,
        typer.Option("--year", metavar="YEAR", help="Dated things that overlap this year."),
    ] = None,
    date_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="Dated things on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD).",
        ),
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="Dated things on or before DATE."),
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
    _rows(ctx, entity, filters, None, fmt, columns, sort, limit, no_header, formula_guard)


def filter_cmd(
    ctx: typer.Context,
    entity: EntityArg,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="EXPRESSION", help="A filter expression; see above.", show_default=False
        ),
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

    _rows(
        ctx,
        entity,
        query.Filters(),
        expression,
        fmt,
        columns,
        sort,
        limit,
        no_header,
        formula_guard,
    )


def _rows(
    ctx: typer.Context,
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
    from atmptrack.render import write_section
    from atmptrack.results import Section

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
    _, store = _settings(ctx).store()
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


def show_cmd(
    ctx: typer.Context,
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
    _, store = _settings(ctx).store()
    with reading(store) as conn:
        record, charts = describe(conn, ident)
    write_document(record, out_format, sys.stdout, charts=charts)


# ---------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class ReportOutput:
    """What every report is asked for besides its own options: declared once, in `_report_output`."""

    section: str | None
    fmt: str | None
    output: Path | None
    header: bool
    formula_guard: bool


def _report_output(
    section: Annotated[
        str | None,
        typer.Option(
            "--section",
            metavar="NAME",
            help="Which table machine formats print (and svg draws); the report's first by default. Tables and html show them all.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="table, tsv, csv, json, jsonl, yaml, markdown, svg (the chart) or html (a page with tables and charts). Default: table on a terminal, tsv otherwise.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."
        ),
    ] = None,
    no_header: NoHeaderOpt = False,
    formula_guard: FormulaOpt = True,
) -> ReportOutput:
    return ReportOutput(section, fmt, output, not no_header, formula_guard)


def _report(ctx: typer.Context, build: Callable[[sqlite3.Connection], list[Section]]) -> None:
    """The body shared by every report: read, pick the section, write to stdout or a file."""
    from atmptrack.render import REPORT_FORMATS, format_for_file, parse_format, write_sections
    from atmptrack.store import reading

    opts: ReportOutput = ctx.meta["report_output"]
    asked = parse_format(opts.fmt, REPORT_FORMATS) if opts.fmt is not None else None
    if opts.output is not None:
        out_format = format_for_file(opts.output, asked)
    else:
        out_format = asked or _format(None)
    _, store = _settings(ctx).store()
    with reading(store) as conn:
        everything = build(conn)
    sections = everything
    if opts.section is not None:
        sections = [s for s in everything if s.name == opts.section]
        if not sections:
            raise UsageError(
                f"unknown section '{opts.section}'; valid: {', '.join(s.name for s in everything)}"
            )
    if out_format == "svg" and not any(s.chart for s in sections):
        with_chart = ", ".join(s.name for s in everything if s.chart) or "none"
        raise UsageError(f"this table has no chart; sections with one: {with_chart}")
    if opts.output is None:
        write_sections(
            sections, out_format, sys.stdout, header=opts.header, formula_guard=opts.formula_guard
        )
        return
    with replacing(opts.output) as handle:
        write_sections(
            sections, out_format, handle, header=opts.header, formula_guard=opts.formula_guard
        )


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """Write a file whole or not at all: beside it first, then renamed over it.

    A crash or a full disk midway leaves the old file as it was, never a truncated one.
    """
    import os
    import tempfile

    from atmptrack.errors import OutputError

    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as exc:
        os.unlink(temporary)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.unlink(temporary)
        raise


def _umask() -> int:
    import os

    current = os.umask(0)
    os.umask(current)
    return current


def report_group() -> None:
    """Reports over the whole dataset."""


def report_funding_cmd(
    ctx: typer.Context,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="GROUP",
            help="Group totals by initiative, programme, funder, country (the coordinator's) or year (spread evenly over each funding period).",
        ),
    ] = None,
    initiative: InitiativesOpt = None,
) -> None:
    """Funding per entry with honest totals per currency: approximate stays approximate, unknown is not zero.

    Sections: entries (or by_<group> with --by), totals. Example: atmptrack report funding --by year
    """
    from atmptrack import report
    from atmptrack.query import split_values

    chosen = split_values(initiative or [])
    _report(ctx, lambda conn: report.funding(conn, by=by, initiatives=chosen))


def report_partners_cmd(ctx: typer.Context, initiative: InitiativesOpt = None) -> None:
    """Partners by country and quadruple-helix group, the helix balance of each initiative, and countries per initiative.

    Sections: matrix, balance, countries. Example: atmptrack report partners -i geneh --format html -o geneh.html
    """
    from atmptrack import report
    from atmptrack.query import split_values

    chosen = split_values(initiative or [])
    _report(ctx, lambda conn: report.partners(conn, initiatives=chosen))


def report_overlap_cmd(
    ctx: typer.Context,
    roll_up: Annotated[
        bool, typer.Option("--roll-up", help="Count a hosted body with its parent organisation.")
    ] = False,
) -> None:
    """Organisations in two or more initiatives, with their role in each, and shared partners per pair of initiatives.

    Sections: shared, matrix. Example: atmptrack report overlap --roll-up
    """
    from atmptrack import report

    _report(ctx, lambda conn: report.overlap(conn, roll_up=roll_up))


def report_timeline_cmd(
    ctx: typer.Context,
    date_from: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="Only events on or after DATE.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", metavar="DATE", help="Only events on or before DATE.")
    ] = None,
    upcoming: Annotated[
        bool, typer.Option("--upcoming", help="Only events from today on.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="DATE", help="Take DATE (YYYY-MM-DD) as today."),
    ] = None,
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
        ctx,
        lambda conn: report.timeline(
            conn, date_from=date_from, date_to=date_to, upcoming=upcoming, today=day
        ),
    )


def report_coverage_cmd(ctx: typer.Context) -> None:
    """How complete the data is: declared against known partners, sourced against inferred facts, unknown fields, what to look up next.

    Sections: initiatives, lookup. Example: atmptrack report coverage --section lookup
    """
    from atmptrack import report

    _report(ctx, report.coverage)


# ---------------------------------------------------------------- diff and validate


def diff_cmd(
    ctx: typer.Context,
    old: Annotated[
        str,
        typer.Argument(
            metavar="OLD",
            help="Data directory, YAML file, store file, or git revision (REV or REV:path).",
            show_default=False,
        ),
    ],
    new: Annotated[
        str | None,
        typer.Argument(
            metavar="[NEW]",
            help="Like OLD. Default: the data directory in use.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
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
    from atmptrack.render import write_grouped, write_section
    from atmptrack.results import Section

    out_format = _format(fmt)
    data_dir = resolve_data_dir(_settings(ctx).data)
    old_label, new_label, changes = diff.diff(old, new, data_dir)
    options = {"header": not no_header, "formula_guard": formula_guard}
    if stat:
        title = f"Changes from {old_label} to {new_label}"
        columns = ["entity", "change", "count"]
        section = Section("stat", title, columns, diff.stat(changes), right={"count"})
        write_section(section, out_format, sys.stdout, **options)
    elif out_format in ("table", "markdown"):
        title = f"Changes from {old_label} to {new_label}: {len(changes) or 'none'}"
        write_grouped(title, diff.grouped(changes), out_format, sys.stdout)
    else:
        section = Section("changes", "", diff.COLUMNS, [c.row() for c in changes])
        write_section(section, out_format, sys.stdout, **options)
    if exit_code and changes:
        raise typer.Exit(int(ExitCode.DIFFERENCES))


def validate_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[PATH]...",
            help="Files or directories. Default: the data directory in use.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", metavar="FORMAT", help="text (default) or json."),
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
    root = resolve_data_dir(_settings(ctx).data)
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
        from atmptrack.render import write_section
        from atmptrack.results import Section

        rows = [d.row() for d in diagnostics]
        write_section(
            Section("diagnostics", "", list(rows[0]) if rows else [], rows), "json", sys.stdout
        )
    else:
        from atmptrack.render import escape

        # Values from an untrusted file reach the reviewer's terminal: escaped, never obeyed.
        sys.stdout.writelines(escape(d.format()) + "\n" for d in diagnostics)
    write_messages([f"atmptrack: {errors} error(s), {warnings} warning(s)"])
    if errors or (strict and warnings):
        raise typer.Exit(int(ExitCode.DATA))


# ---------------------------------------------------------------- lazy groups and running

# Every command, in the order `--help` lists them. Only the invoked one is built.
COMMANDS: dict[str, Callable[..., None]] = {
    "load": load_cmd,
    "list": list_cmd,
    "filter": filter_cmd,
    "show": show_cmd,
    "report": report_group,
    "diff": diff_cmd,
    "validate": validate_cmd,
}
REPORTS: dict[str, Callable[..., None]] = {
    "funding": report_funding_cmd,
    "partners": report_partners_cmd,
    "overlap": report_overlap_cmd,
    "timeline": report_timeline_cmd,
    "coverage": report_coverage_cmd,
}


def _summary(function: Callable[..., Any]) -> str:
    return (function.__doc__ or "").strip().split("\n", 1)[0]


class _LazyGroup(TyperGroup):
    """A group that builds a subcommand only when it is looked up, and lists them from docstrings."""

    registry: ClassVar[dict[str, Callable[..., None]]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.registry)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in self.registry:
            self.commands[cmd_name] = _build(cmd_name, self.registry[cmd_name])
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        from difflib import get_close_matches

        from typer._click.exceptions import UsageError as ClickUsageError

        try:
            return self._click_resolve_command(ctx, args)
        except ClickUsageError as exc:
            matches = get_close_matches(args[0], self.registry) if args else []
            if matches:
                exc.message = f"{exc.message.rstrip('.')}; did you mean '{matches[0]}'?"
            raise

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = [(name, _summary(function)) for name, function in self.registry.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise OutputClosed from None


class _Root(_LazyGroup):
    registry = COMMANDS


class _Reports(_LazyGroup):
    registry = REPORTS


def _build(name: str, function: Callable[..., None]) -> Command:
    """One command's Click object, made by Typer from the function's signature."""
    if function is report_group:
        group = typer.Typer(cls=_Reports, no_args_is_help=True, **_TYPER_SETTINGS)
        group.callback()(report_group)
        command = typer.main.get_command(group)
        command.name = name
        return command
    app = typer.Typer(**_TYPER_SETTINGS)
    app.command(name)(function)
    command = typer.main.get_command(app)
    if function in REPORTS.values():
        _attach(command, _report_output)
    return command


def _attach(command: Command, options: Callable[..., Any]) -> None:
    """Add the options of `options` to a command; their parsed result goes to `ctx.meta[...]`."""
    shared = _build("options", options)
    names = {p.name for p in shared.params}
    command.params.extend(shared.params)
    inner, build = command.callback, shared.callback
    assert inner is not None and build is not None

    def callback(**kwargs: Any) -> Any:
        from typer._click.globals import get_current_context

        picked = {n: kwargs.pop(n) for n in names if n in kwargs}
        get_current_context().meta["report_output"] = build(**picked)
        return inner(**kwargs)

    command.callback = callback


def build_app() -> Command:
    """The root command; only the invoked subcommand will be built."""
    app = typer.Typer(cls=_Root, no_args_is_help=True, **_TYPER_SETTINGS)
    app.callback()(root)
    return typer.main.get_command(app)


def run(args: list[str], settings: Settings) -> int:
    """Parse and run one command line; Click's own errors become atmptrack's messages and codes."""
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError

    from atmptrack.render import write_messages

    try:
        result = build_app().main(
            args=args, prog_name="atmptrack", standalone_mode=False, obj=settings
        )
    except NoArgsIsHelpError as exc:
        sys.stderr.write(exc.format_message() + "\n")
        return int(ExitCode.USAGE)
    except ClickUsageError as exc:
        text = exc.format_message().strip()
        where = exc.ctx.command_path if exc.ctx is not None else "atmptrack"
        write_messages([f"atmptrack: error: {text[:1].lower()}{text[1:]} (see '{where} --help')"])
        return int(ExitCode.USAGE)
    except typer.Abort:
        write_messages(["atmptrack: error: interrupted"])
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    return result if isinstance(result, int) else int(ExitCode.OK)
