"""The Typer commands: each parses its options, calls one core function and renders the result.

Imported by `cli.main` only when a command runs. The command groups are lazy: a command's
parameters are built (and Typer's validators with them) only for the command invoked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TextIO

import typer
from typer.core import TyperArgument, TyperGroup

from atmptrack import __version__, complete
from atmptrack.errors import DataError, ExitCode, OutputClosed, UsageError, did_you_mean

if TYPE_CHECKING:
    import sqlite3

    from typer._click import Command, Context, HelpFormatter

    from atmptrack.cli import Settings
    from atmptrack.importer import Outcome
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

EntityArg = Annotated[
    str,
    typer.Argument(
        metavar="ENTITY",
        help="initiatives, partners, organisations, members, workgroups, milestones, people, funding or sources.",
        show_default=False,
        autocompletion=complete.entities,
    ),
]
InitiativesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--initiative",
        "-i",
        metavar="ID",
        help="Only these initiatives (id or acronym).",
        autocompletion=complete.initiatives,
    ),
]


@dataclass(frozen=True, slots=True)
class Output:
    """What every command that prints data is asked for besides its own options.

    Declared once, in `_output`; each command takes the part listed in `_OUTPUT_OPTIONS`.
    """

    fmt: str | None = None
    file: Path | None = None
    header: bool = True
    formula_guard: bool = True
    columns: list[str] | None = None
    sort: list[str] = field(default_factory=list)
    limit: int | None = None
    section: str | None = None


def _output(
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: table on a terminal, else the -o file's suffix, else tsv.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE (whole or not at all) instead of standard output.",
        ),
    ] = None,
    no_header: Annotated[
        bool, typer.Option("--no-header", help="Omit the header row (tsv, csv, markdown, table).")
    ] = False,
    formula_guard: Annotated[
        bool,
        typer.Option(
            "--formula-guard/--no-formula-guard",
            help="In CSV, prefix text cells starting with = + - @ with ' so spreadsheets do not run them.",
        ),
    ] = True,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            metavar="COLUMNS",
            help="Comma-separated columns to show; `--columns help` lists them.",
            autocompletion=complete.columns,
        ),
    ] = None,
    sort: Annotated[
        list[str] | None,
        typer.Option(
            "--sort", metavar="COLUMN", help="Sort by column; -column sorts descending. Repeatable."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, metavar="N", help="At most N rows.")
    ] = None,
    section: Annotated[
        str | None,
        typer.Option(
            "--section",
            metavar="NAME",
            help="Which table machine formats print (and svg draws); the report's first by default. Tables and html show them all.",
        ),
    ] = None,
) -> Output:
    from atmptrack.query import split_values

    return Output(
        fmt,
        output,
        not no_header,
        formula_guard,
        split_values([columns]) if columns is not None else None,
        split_values(sort or []),
        limit,
        section,
    )


def _opts(ctx: typer.Context) -> Output:
    output: Output = ctx.meta.get("output", Output())
    return output


def _emit(
    ctx: typer.Context, allowed: tuple[Format, ...], write: Callable[[Format, TextIO], None]
) -> None:
    """Write to stdout (long tables for people through a pager) or, with -o, to the file whole;
    the format as asked, named or by default."""
    from atmptrack.render import default_format, format_for_file, page, paged, parse_format

    opts = _opts(ctx)
    asked = parse_format(opts.fmt, allowed) if opts.fmt is not None else None
    if opts.file is None:
        chosen = asked or default_format(sys.stdout)
        if chosen == "table" and _settings(ctx).pager and paged(sys.stdout):
            page(lambda out: write(chosen, out), sys.stdout)
        else:
            write(chosen, sys.stdout)
        return
    chosen = format_for_file(opts.file, asked)
    if chosen not in allowed:
        raise UsageError(f"{opts.file}: this command does not write {chosen}")
    with replacing(opts.file) as handle:
        write(chosen, handle)


# ---------------------------------------------------------------- the root and its options


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
    no_pager: Annotated[
        bool,
        typer.Option(
            "--no-pager",
            help="Never page long tables (by default they go through ATMPTRACK_PAGER, PAGER or less -FRX on a terminal).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", help="Print the version and exit; with -v, more.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="With --version: the data directory and store in use."
        ),
    ] = False,
) -> None:
    """Track European ATMP (gene, cell and tissue therapy) initiatives from sourced YAML files.

    Global options may also follow the command: atmptrack list partners --data ./data
    """
    settings = _settings(ctx)
    settings.data, settings.db, settings.debug = data, db, debug
    settings.pager = not no_pager
    if version:
        sys.stdout.write(f"atmptrack {__version__}\n")
        if verbose:
            from atmptrack.datadir import resolve_data_dir
            from atmptrack.store import resolve_store

            data_dir = resolve_data_dir(data)
            sys.stdout.write(f"data  {data_dir}\nstore {resolve_store(db, data_dir)}\n")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        raise UsageError("missing command; `atmptrack --help` lists them")


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
    from atmptrack.render import progress_bar, write_messages
    from atmptrack.store import resolve_store

    settings = _settings(ctx)
    data_dir = resolve_data_dir(settings.data)
    store = resolve_store(settings.db, data_dir)
    with progress_bar() as progress:
        result = ensure_fresh(data_dir, store, force=True, progress=progress)
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
            autocompletion=complete.countries,
        ),
    ] = None,
    sector: Annotated[
        list[str] | None,
        typer.Option(
            "--sector",
            metavar="SECTOR",
            help="Sector(s), e.g. university, company.",
            autocompletion=complete.vocabulary("Sector"),
        ),
    ] = None,
    helix: Annotated[
        list[str] | None,
        typer.Option(
            "--helix",
            metavar="HELIX",
            help="academia, industry, government, civil-society.",
            autocompletion=complete.vocabulary("Helix"),
        ),
    ] = None,
    initiative: InitiativesOpt = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="Role(s), e.g. coordinator, partner.",
            autocompletion=complete.vocabulary("Role"),
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", metavar="KIND", help="Kind(s) of initiative, milestone or work group."
        ),
    ] = None,
    year: Annotated[
        list[str] | None,
        typer.Option(
            "--year",
            metavar="YEAR",
            help="Dated things that overlap one of these years; repeatable or comma-separated.",
        ),
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
    _rows(ctx, entity, filters, None)


def filter_cmd(
    ctx: typer.Context,
    entity: EntityArg,
    expression: Annotated[
        str,
        typer.Argument(
            metavar="EXPRESSION", help="A filter expression; see above.", show_default=False
        ),
    ],
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

    _rows(ctx, entity, query.Filters(), expression)


def _rows(ctx: typer.Context, entity: str, filters: Filters, expression: str | None) -> None:
    """The body shared by `list` and `filter`: one query, one table."""
    from atmptrack import query
    from atmptrack.render import FORMATS, write_section
    from atmptrack.results import Section

    ent = query.entity(entity)
    opts = _opts(ctx)
    if opts.columns is not None and [c.lower() for c in opts.columns] in (["help"], ["?"]):
        rows = [{"column": c.name, "kind": c.kind, "description": c.help} for c in ent.columns]
        title = f"Columns of {ent.name}"
        listing = Section("columns", title, ["column", "kind", "description"], rows)
        _emit(ctx, FORMATS, lambda fmt, out: write_section(listing, fmt, out, header=opts.header))
        return
    request = query.Query(ent, filters, opts.columns, opts.sort, opts.limit, expression)
    _, store = _settings(ctx).store()
    from atmptrack.store import reading

    # Written while the store is open: rows stream from the query to the output.
    with reading(store) as conn:
        names, found = query.iterate(request, conn)
        section = Section(
            ent.name,
            ent.help[:1].upper() + ent.help[1:],
            names,
            found,
            human=ent.display,
            right={c.name for c in ent.columns if c.kind in ("int", "amount", "sum")},
            table_columns=None if opts.columns else list(ent.brief) or None,
        )
        _emit(
            ctx,
            FORMATS,
            lambda fmt, out: write_section(
                section, fmt, out, header=opts.header, formula_guard=opts.formula_guard
            ),
        )


def show_cmd(
    ctx: typer.Context,
    ident: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="Initiative or organisation: id, acronym or short name.",
            show_default=False,
            autocompletion=complete.records,
        ),
    ],
) -> None:
    """Everything known about one initiative or organisation, with the sources of each part.

    Example: atmptrack show join4atmp --format json
    """
    from atmptrack.detail import describe
    from atmptrack.render import FORMATS, write_document
    from atmptrack.store import reading

    _, store = _settings(ctx).store()
    with reading(store) as conn:
        record, charts = describe(conn, ident)
    _emit(ctx, FORMATS, lambda fmt, out: write_document(record, fmt, out, charts=charts))


# ---------------------------------------------------------------- reports


def _report(ctx: typer.Context, build: Callable[[sqlite3.Connection], list[Section]]) -> None:
    """The body shared by every report: read, pick the sections, shape them, write them."""
    from atmptrack.render import REPORT_FORMATS, write_sections
    from atmptrack.store import reading

    opts = _opts(ctx)
    _, store = _settings(ctx).store()
    # Written while the store is open: long sections stream from it rather than being held.
    with reading(store) as conn:
        everything = build(conn)
        sections = everything
        if opts.section is not None:
            sections = [s for s in everything if s.name == opts.section]
            if not sections:
                names = [s.name for s in everything]
                hint = did_you_mean(opts.section, names)
                raise UsageError(
                    f"unknown section '{opts.section}'{hint}; valid sections: {', '.join(names)}"
                )

        def write(fmt: Format, out: TextIO) -> None:
            # Machine formats print one table: only that one is computed, shaped and checked.
            chosen = sections if fmt in ("table", "markdown", "html", "svg") else sections[:1]
            if fmt == "svg" and not any(s.charted for s in chosen):
                with_chart = ", ".join(s.name for s in everything if s.charted) or "none"
                raise UsageError(f"this table has no chart; sections with one: {with_chart}")
            charts = fmt in ("table", "html", "svg")
            shaped = [_shaped(s.ready(charts=charts), opts) for s in chosen]
            write_sections(shaped, fmt, out, header=opts.header, formula_guard=opts.formula_guard)

        _emit(ctx, REPORT_FORMATS, write)


def _shaped(section: Section, opts: Output) -> Section:
    """A report's section with the --columns, --sort and --limit that `list` takes."""
    from dataclasses import replace

    from atmptrack.errors import did_you_mean

    def known(name: str) -> str:
        if name not in section.columns:
            hint = did_you_mean(name, section.columns)
            raise UsageError(
                f"no column '{name}' in section '{section.name}'{hint}; "
                f"its columns: {', '.join(section.columns)}"
            )
        return name

    if opts.columns is None and not opts.sort and opts.limit is None:
        return section
    columns = [known(c) for c in opts.columns] if opts.columns else section.columns
    rows: Iterable[dict[str, Any]] = section.rows
    if opts.sort:
        ordered = list(rows)  # sorting needs every row; without --sort, rows stream
        for key in reversed(opts.sort):
            name = known(key.removeprefix("-"))
            present = [r for r in ordered if r.get(name) is not None]
            present.sort(key=lambda r: _sort_key(r[name]), reverse=key.startswith("-"))
            ordered = present + [r for r in ordered if r.get(name) is None]  # unknown last
        rows = ordered
    if opts.limit is not None:
        from itertools import islice

        rows = islice(rows, opts.limit)  # the rest is never read
    return replace(section, columns=columns, rows=rows, table_columns=None)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers by value, everything else as text ignoring case; never a number against a string.
    from decimal import Decimal

    if isinstance(value, bool | int | float | Decimal):
        return (0, value)
    return (1, str(value).casefold())


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


def report_partners_cmd(
    ctx: typer.Context,
    initiative: InitiativesOpt = None,
    helix_from: Annotated[
        str,
        typer.Option(
            "--helix-from",
            metavar="[sector|source]",
            help="Whose helix grouping: ours, from each organisation's sector (default), or the one each member's source gives.",
        ),
    ] = "sector",
) -> None:
    """Partners by country and quadruple-helix group, the helix balance of each initiative, and countries per initiative.

    Sections: matrix, balance, countries. Example: atmptrack report partners -i geneh --format html -o geneh.html
    """
    from atmptrack import report
    from atmptrack.query import split_values

    chosen = split_values(initiative or [])
    _report(
        ctx,
        lambda conn: report.partners(conn, initiatives=chosen, helix_from=helix_from),
    )


def report_overlap_cmd(
    ctx: typer.Context,
    roll_up: Annotated[
        bool, typer.Option("--roll-up", help="Count a hosted body with its parent organisation.")
    ] = False,
) -> None:
    """Organisations in two or more initiatives, with their role in each, and the pairs of initiatives that share the most partners (--limit of them, 20 by default).

    Sections: shared, pairs, matrix (of the top pairs' initiatives). Example: atmptrack report overlap --section pairs --limit 50
    """
    from atmptrack import report

    limit = _opts(ctx).limit
    _report(ctx, lambda conn: report.overlap(conn, roll_up=roll_up, limit=limit))


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
    stat: Annotated[
        bool, typer.Option("--stat", help="Print counts per entity and change only.")
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code", help="Exit 1 when there are differences and 0 when there are none."
        ),
    ] = False,
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
    from atmptrack.render import FORMATS, write_grouped, write_section
    from atmptrack.results import Section
    from atmptrack.store import resolve_store

    opts = _opts(ctx)
    settings = _settings(ctx)
    data_dir = resolve_data_dir(settings.data)
    store = resolve_store(settings.db, data_dir)
    old_label, new_label, changes = diff.diff(old, new, data_dir, store)

    def write(fmt: Format, out: TextIO) -> None:
        options = {"header": opts.header, "formula_guard": opts.formula_guard}
        if stat:
            title = f"Changes from {old_label} to {new_label}"
            columns = ["entity", "change", "count"]
            section = Section("stat", title, columns, diff.stat(changes), right={"count"})
            write_section(section, fmt, out, **options)
        elif fmt in ("table", "markdown"):
            title = f"Changes from {old_label} to {new_label}: {len(changes) or 'none'}"
            write_grouped(title, diff.grouped(changes), fmt, out)
        else:
            section = Section("changes", "", diff.COLUMNS, [c.row() for c in changes])
            write_section(section, fmt, out, **options)

    _emit(ctx, FORMATS, write)
    if exit_code and changes:
        raise typer.Exit(int(ExitCode.DIFFERENCES))


# text: `file:line:col: severity: message [rule]`; json: one object per problem; github: GitHub
# Actions workflow commands, which annotate the pull request's files; sarif: a SARIF 2.1.0 log
# for code scanning (github/codeql-action/upload-sarif and other SARIF viewers).
_DIAGNOSTIC_FORMATS = ("text", "json", "github", "sarif")


def _diagnostic_format(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one `-o` names (`.sarif`, `.sarif.json`, `.json`), else text.

    As `format_for_file` does for tables: a file name that contradicts --format is a usage error.
    """
    name = output.name.lower() if output is not None else ""
    named = None
    if name.endswith((".sarif", ".sarif.json")):
        named = "sarif"
    elif name.endswith(".json"):
        named = "json"
    if fmt is None:
        return named or "text"
    asked = fmt.lower()
    if asked not in _DIAGNOSTIC_FORMATS:
        hint = did_you_mean(asked, _DIAGNOSTIC_FORMATS)
        valid = ", ".join(_DIAGNOSTIC_FORMATS)
        raise UsageError(f"unknown format '{fmt}'{hint}; valid formats: {valid}")
    if named is not None and named != asked:
        raise UsageError(f"{output}: the file name says {named}, but --format asks for {asked}")
    return asked


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
        typer.Option(
            "--format",
            "-f",
            metavar="[text|json|github|sarif]",
            help="text (default), json, github (annotations for GitHub Actions), or sarif (a SARIF 2.1.0 log for code scanning).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the diagnostics to FILE (whole or not at all); a .sarif or .json name sets the format.",
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check the data without touching the store: one `file:line:col: severity: message [rule]` per problem.

    Example: atmptrack validate data/initiatives/geneh.yaml
    """
    from atmptrack.datadir import discover, resolve_data_dir
    from atmptrack.dataset import check_dataset
    from atmptrack.render import progress_bar, write_messages

    out_format = _diagnostic_format(fmt, output)
    root = resolve_data_dir(_settings(ctx).data)
    files = None
    if paths:
        files = []
        for path in paths:
            if not path.exists():
                raise UsageError(f"{path}: no such file or directory")
            files.extend(discover(path))
    try:
        with progress_bar() as progress:
            # Keeps no record, only the problems.
            diagnostics = check_dataset(root, files=files, progress=progress)
    except DataError as exc:
        diagnostics = exc.diagnostics
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors

    def write(out: TextIO) -> None:
        if out_format == "json":
            from atmptrack.render import write_section
            from atmptrack.results import Section

            rows = [d.row() for d in diagnostics]
            write_section(
                Section("diagnostics", "", list(rows[0]) if rows else [], rows), "json", out
            )
        elif out_format == "github":
            from atmptrack.render import github_annotation

            out.writelines(github_annotation(d) + "\n" for d in diagnostics)
        elif out_format == "sarif":
            from atmptrack.render import sarif_log

            out.write(sarif_log(diagnostics))
        else:
            from atmptrack.render import escape

            # Values from an untrusted file reach the reviewer's terminal: escaped, never obeyed.
            out.writelines(escape(d.format()) + "\n" for d in diagnostics)

    if output is None:
        write(sys.stdout)
    else:
        # Written even when the data has errors: CI uploads the log, then fails on the status.
        with replacing(output) as handle:
            write(handle)
    write_messages([f"atmptrack: {errors} error(s), {warnings} warning(s)"])
    if errors or (strict and warnings):
        raise typer.Exit(int(ExitCode.DATA))


def schema_cmd() -> None:
    """Print the JSON Schema (draft 2020-12) of the data format, for editors and CI.

    Generated from the models that validate the data, so it cannot drift; the same file ships
    in the package as atmptrack/data.schema.json. Example: atmptrack schema > data.schema.json
    """
    import json

    from atmptrack.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


def init_cmd(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A new or empty directory for the tracker.", show_default=False
        ),
    ],
) -> None:
    """Start a new tracker: example data that validates, the schema for editors, a pre-commit hook.

    Overwrites nothing. Example: atmptrack init my-tracker && cd my-tracker && atmptrack validate
    """
    from atmptrack.render import write_messages
    from atmptrack.scaffold import init

    created = init(directory)
    write_messages([f"atmptrack: created {directory} with {len(created)} files"])


def store_cmd(
    ctx: typer.Context,
    action: Annotated[
        str,
        typer.Argument(
            metavar="[show|prune]",
            help="show (default): the store of the data directory in use; prune: remove the stores whose data directory is gone.",
            show_default=False,
        ),
    ] = "show",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With prune: say what would be removed.")
    ] = False,
) -> None:
    """Where the store of the data directory in use lives, its size, what it holds, when it was loaded.

    Example: atmptrack store prune --dry-run
    """
    from atmptrack import store
    from atmptrack.datadir import resolve_data_dir
    from atmptrack.render import FORMATS, write_document, write_messages

    if action not in ("show", "prune"):
        hint = did_you_mean(action, ("show", "prune"))
        raise UsageError(f"unknown action '{action}'{hint}; valid actions: show, prune")
    if action == "prune":
        removed = store.prune(dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        sys.stdout.writelines(f"{path}\n" for path in removed)
        write_messages(
            [f"atmptrack: {verb} {len(removed)} store(s) of data directories that are gone"]
        )
        return
    settings = _settings(ctx)
    data_dir = resolve_data_dir(settings.data)
    info = {"data": str(data_dir), **store.describe(store.resolve_store(settings.db, data_dir))}
    _emit(ctx, FORMATS, lambda fmt, out: write_document(info, fmt, out))


# ---------------------------------------------------------------- import


def import_group() -> None:
    """Bring records in from public registries as sourced YAML: import cordis."""


def import_cordis_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="A CORDIS export: its zip, a directory of its files, or the files themselves (project and organization, CSV or JSON; topics and euroSciVoc when present).",
            show_default=False,
        ),
    ],
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            metavar="DIR",
            help="Where the import writes (and only there). Default: cordis/ in the data directory in use.",
        ),
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option(
            "--project",
            metavar="ID",
            help="Import this project, whatever the filters say; repeatable or comma-separated.",
        ),
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option(
            "--topic", metavar="CODE", help="Only projects whose call topic starts with CODE."
        ),
    ] = None,
    programme: Annotated[
        str | None,
        typer.Option(
            "--programme",
            metavar="NAME",
            help="Only Horizon Europe (horizon) or Horizon 2020 (h2020).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Only projects that start on or after DATE (YYYY, YYYY-MM, YYYY-MM-DD).",
        ),
    ] = None,
    atmp: Annotated[
        bool,
        typer.Option(
            "--atmp",
            help="Only advanced-therapy projects: by call topic, euroSciVoc field, or words in the title and objective.",
        ),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="ID",
            help="Never import this project; its file from an earlier import is removed.",
        ),
    ] = None,
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            metavar="ORG=PIC",
            help="Confirm that the CORDIS organisation PIC is organisation ORG of the data (kept in matches.tsv).",
        ),
    ] = None,
    no_match: Annotated[
        list[str] | None,
        typer.Option(
            "--no-match",
            metavar="ORG=PIC",
            help="Refuse a proposed match: the CORDIS organisation PIC is not ORG.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be imported; write nothing.")
    ] = False,
) -> None:
    """Import EU-funded projects from CORDIS open-data exports as YAML files, one per project and organisation.

    Organisations already in the data are reused (same PIC, or a name match you confirm with
    --match) and never overwritten; the import's own files are rewritten by every import, and
    one edited by hand stops it. Example: atmptrack import cordis cordis-HORIZONprojects-csv.zip --atmp --dry-run
    """
    from atmptrack.cordis import Selection, programme_code
    from atmptrack.datadir import bundled_data, resolve_data_dir
    from atmptrack.importer import Request, describe, import_cordis, parse_pair
    from atmptrack.query import date_bound, split_values
    from atmptrack.render import progress_bar, write_messages

    data_dir = resolve_data_dir(_settings(ctx).data)
    if into is None:
        if data_dir == bundled_data().resolve() or not data_dir.is_dir():
            raise UsageError(
                f"the data in use ({data_dir}) is not a data directory of your own; "
                "give --data DIR, or --into DIR"
            )
        into = data_dir / "cordis"

    def project_ids(values: list[str] | None, option: str) -> set[str]:
        found = set(split_values(values or []))
        for value in found:
            if not (value.isascii() and value.isdigit() and 5 <= len(value) <= 9):
                raise UsageError(f"{option} '{value}': a CORDIS project id has 5 to 9 digits")
        return found

    code = None
    if programme is not None:
        code = programme_code(programme)
        if code is None:
            raise UsageError(
                f"--programme '{programme}': expected horizon (Horizon Europe) or h2020 (Horizon 2020)"
            )
    selection = Selection(
        projects=project_ids(project, "--project"),
        topics=split_values(topic or []),
        programme=code,
        since=date_bound(since, "--since", low=True) if since else None,
        atmp=atmp,
        exclude=project_ids(exclude, "--exclude"),
    )
    request = Request(
        paths=list(paths),
        data_dir=data_dir,
        into=into,
        selection=selection,
        matches=[parse_pair(v, "--match") for v in match or []],
        refusals=[parse_pair(v, "--no-match") for v in no_match or []],
        dry_run=dry_run,
    )
    with progress_bar() as progress:
        outcome = import_cordis(request, progress=progress)
    shown = outcome.skipped[:_SKIPS_SHOWN]
    write_messages([f"{where}: warning: {why}" for where, why in shown])
    if len(outcome.skipped) > len(shown):
        write_messages([f"atmptrack: ... and {len(outcome.skipped) - len(shown)} more warnings"])
    for p in outcome.proposals:
        write_messages(
            [
                f"atmptrack: CORDIS organisation {p.pic} '{p.cordis_name}' ({p.country or '?'}) "
                f"may be {p.organisation} '{p.name}' ({p.file}): "
                f"--match {p.organisation}={p.pic} or --no-match {p.organisation}={p.pic}"
            ]
        )
    if dry_run:
        _import_plan(ctx, outcome)
    if outcome.proposals and not dry_run:
        raise UsageError(
            f"{len(outcome.proposals)} CORDIS organisation(s) may be organisations already in the "
            "data: confirm or refuse each (the lines above), then import again; nothing was written"
        )
    write_messages(list(describe(outcome)))


# Warnings printed one per line; a bad export can have thousands.
_SKIPS_SHOWN = 100


def _import_plan(ctx: typer.Context, outcome: Outcome) -> None:
    """What a dry run would import, one row per project."""
    from atmptrack.render import FORMATS, write_section
    from atmptrack.results import Section

    rows = [
        {
            "project": pid,
            "acronym": outcome.acronyms.get(pid),
            "action": action,
            "members": outcome.members.get(pid),
            "signals": outcome.signals.get(pid, []),
        }
        for pid, action in sorted(outcome.projects.items(), key=lambda kv: int(kv[0]))
    ]
    columns = ["project", "acronym", "action", "members", "signals"]
    section = Section(
        "projects", "Projects the import would write", columns, rows, right={"members"}
    )
    _emit(ctx, FORMATS, lambda fmt, out: write_section(section, fmt, out))


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
    "schema": schema_cmd,
    "init": init_cmd,
    "import": import_group,
    "store": store_cmd,
}
REPORTS: dict[str, Callable[..., None]] = {
    "funding": report_funding_cmd,
    "partners": report_partners_cmd,
    "overlap": report_overlap_cmd,
    "timeline": report_timeline_cmd,
    "coverage": report_coverage_cmd,
}
IMPORTS: dict[str, Callable[..., None]] = {"cordis": import_cordis_cmd}


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
        from typer._click.exceptions import UsageError as ClickUsageError

        try:
            return self._click_resolve_command(ctx, args)
        except ClickUsageError as exc:
            if args:
                exc.message = exc.message.rstrip(".") + did_you_mean(args[0], self.registry)
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


class _Imports(_LazyGroup):
    registry = IMPORTS


# Which of the shared output options (`_output`) each command takes.
_TABLE_OPTIONS = ("fmt", "output", "no_header", "formula_guard", "columns", "sort", "limit")
_OUTPUT_OPTIONS: dict[Callable[..., None], tuple[str, ...]] = {
    list_cmd: _TABLE_OPTIONS,
    filter_cmd: _TABLE_OPTIONS,
    show_cmd: ("fmt", "output"),
    store_cmd: ("fmt", "output"),
    diff_cmd: ("fmt", "output", "no_header", "formula_guard"),
    import_cordis_cmd: ("fmt",),
    **{report: (*_TABLE_OPTIONS, "section") for report in REPORTS.values()},
}


def _build(name: str, function: Callable[..., None]) -> Command:
    """One command's Click object, made by Typer from the function's signature."""
    groups: dict[Callable[..., None], type[_LazyGroup]] = {
        report_group: _Reports,
        import_group: _Imports,
    }
    if function in groups:
        group = typer.Typer(cls=groups[function], no_args_is_help=True, **_TYPER_SETTINGS)
        group.callback()(function)
        command = typer.main.get_command(group)
        command.name = name
        return command
    app = typer.Typer(**_TYPER_SETTINGS)
    app.command(name)(function)
    command = typer.main.get_command(app)
    if function in _OUTPUT_OPTIONS:
        _attach(command, _OUTPUT_OPTIONS[function], _formats(function))
    for param in command.params:
        if isinstance(param, TyperArgument) and param.metavar is not None:
            # Typer appends the Python type to an argument's name in --help (`ENTITY <str>`);
            # the placeholder says all a user needs.
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010
    return command


def _formats(function: Callable[..., None]) -> tuple[Format, ...]:
    from atmptrack.render import FORMATS, REPORT_FORMATS

    return REPORT_FORMATS if function in REPORTS.values() else FORMATS


def _attach(command: Command, names: tuple[str, ...], formats: tuple[Format, ...]) -> None:
    """Add these shared output options to a command; their values reach it as `ctx.meta["output"]`."""
    app = typer.Typer(**_TYPER_SETTINGS)
    app.command("output")(_output)
    shared = typer.main.get_command(app)
    params = [p for p in shared.params if p.name in names]
    for param in params:
        if param.name == "fmt":
            param.metavar = "[" + "|".join(formats) + "]"  # the choices, in --help
    command.params.extend(params)
    inner, build = command.callback, shared.callback
    assert inner is not None and build is not None

    def callback(**kwargs: Any) -> Any:
        from typer._click.globals import get_current_context

        picked = {n: kwargs.pop(n) for n in names if n in kwargs}
        get_current_context().meta["output"] = build(**picked)
        return inner(**kwargs)

    command.callback = callback


def build_app() -> Command:
    """The root command; only the invoked subcommand will be built."""
    # The root alone offers --install-completion and --show-completion (bash, zsh, fish).
    app = typer.Typer(
        cls=_Root, no_args_is_help=True, **{**_TYPER_SETTINGS, "add_completion": True}
    )
    # Without a command the callback still runs, so that --version can see -v after it.
    app.callback(invoke_without_command=True)(root)
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
