"""CORDIS open-data exports as published: a zip, a directory or loose files; CSV or JSON; streamed.

The files' quirks (see the README's CORDIS section) are met here and nowhere else: columns are
read by name, both quoting styles and decimal commas are accepted, a malformed row is reported
with its file and line and skipped, and every value comes out as text for `importer` to map.
Nothing is extracted from a zip: entries are read in place, so no entry name reaches the disk.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Container, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, TypeVar

from atmptrack import atmp
from atmptrack.errors import AtmptrackError, ExitCode

# The tables an import reads, by the stem of their file name (compared ignoring case).
PROJECT, ORGANISATION, TOPICS, SCIENCE = "project", "organization", "topics", "euroscivoc"
TABLES = (PROJECT, ORGANISATION, TOPICS, SCIENCE)
REQUIRED = {
    PROJECT: ("id",),
    ORGANISATION: ("projectID", "organisationID", "name"),
    TOPICS: ("projectID", "topic"),
    SCIENCE: ("projectID",),
}
PROGRAMMES = {"HORIZON": "Horizon Europe", "H2020": "Horizon 2020"}
PROJECT_PAGE = "https://cordis.europa.eu/project/id/{}"

# (where, message): a row or a value that was skipped or left unknown, and why.
Warn = Callable[[str, str], None]
# (what is being read, bytes done, bytes in all): for a progress bar.
Progress = Callable[[str, int, int], None]


class CordisError(AtmptrackError):
    """An export that cannot be read: a missing file or column, a wrong delimiter, a broken zip."""

    exit_code = ExitCode.DATA


# ---------------------------------------------------------------- where the files are


@dataclass(frozen=True, slots=True)
class Table:
    """One file of an export: its name in messages, its format, and how to open it."""

    shown: str
    kind: Literal["csv", "json"]
    size: int
    open: Callable[[], IO[bytes]]


@dataclass(slots=True)
class Bundle:
    """The files of one export (a zip, a directory, or files named one by one)."""

    label: str
    tables: dict[str, Table] = field(default_factory=dict)

    def add(self, name: str, table: Table, warn: Warn) -> None:
        path = PurePosixPath(name)
        stem, suffix = path.stem.lower(), path.suffix.lower()
        if stem not in TABLES or suffix not in (".csv", ".json"):
            return
        if stem in self.tables:
            # A bundle has one file per table; CSV and JSON of the same export are the same rows.
            warn(table.shown, f"ignored: {self.tables[stem].shown} is read for this table")
            return
        self.tables[stem] = table


def open_bundles(paths: list[Path], stack: ExitStack, warn: Warn) -> list[Bundle]:
    """The exports these paths hold: each zip and directory is one, loose files make one."""
    bundles: list[Bundle] = []
    loose = Bundle("files")
    for path in paths:
        if path.is_dir():
            bundles.append(_directory(path, warn))
        elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
            bundles.append(_zip(path, stack, warn))
        elif path.is_file():
            if PurePosixPath(path.name).stem.lower() not in TABLES:
                raise CordisError(
                    f"{path}: not a CORDIS export file; expected a zip, a directory, or "
                    f"{', '.join(t + '.csv' for t in TABLES)} (or .json)"
                )
            loose.add(path.name, _file(path), warn)
        else:
            raise CordisError(f"{path}: no such file or directory")
    if loose.tables:
        bundles.append(loose)
    for bundle in bundles:
        for needed in (PROJECT, ORGANISATION):
            if needed not in bundle.tables:
                raise CordisError(
                    f"{bundle.label}: no {needed}.csv or {needed}.json; a CORDIS export has both"
                )
    return bundles


def _file(path: Path) -> Table:
    kind: Literal["csv", "json"] = "json" if path.suffix.lower() == ".json" else "csv"
    return Table(str(path), kind, path.stat().st_size, lambda: path.open("rb"))


def _directory(root: Path, warn: Warn) -> Bundle:
    bundle = Bundle(str(root))
    # Unpacked bundles keep their files in a folder (`csv/`, `json/`): look one level down too.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if Path(dirpath) != root and Path(dirpath).parent != root:
            dirnames[:] = []
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_file():
                bundle.add(name, _file(path), warn)
    return bundle


def _zip(path: Path, stack: ExitStack, warn: Warn) -> Bundle:
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CordisError(
            f"{path}: not a complete zip archive ({exc}); download the export again"
        ) from None
    except OSError as exc:
        raise CordisError(f"{path}: cannot read: {exc.strerror or exc}") from None
    bundle = Bundle(str(path))
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            # Never extracted, so never written; said anyway, as the archive is suspect.
            warn(f"{path}:{info.filename}", "skipped: the entry's path leads outside the archive")
            continue

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return archive.open(info)

        kind: Literal["csv", "json"] = "json" if name.lower().endswith(".json") else "csv"
        bundle.add(name, Table(f"{path}:{name}", kind, info.file_size, opener), warn)
    return bundle


# ---------------------------------------------------------------- reading rows


class _Counted(io.RawIOBase):
    """A byte stream that reports how far it has been read, for the progress bar."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None]) -> None:
        self.raw, self.report, self.done = raw, report, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.raw.read(len(view))
        view[: len(data)] = data
        self.done += len(data)
        self.report(self.done)
        return len(data)


_BROKEN = (zlib.error, zipfile.BadZipFile, EOFError)


def rows(
    table: Table,
    required: tuple[str, ...],
    warn: Warn,
    progress: Progress | None = None,
    wanted: tuple[str, Container[str]] | None = None,
    counter: Export | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each record of a table as (line, {column: text}); bad rows are reported and skipped.

    With `wanted` (a column and the values to keep), other CSV rows are dropped before they
    become records: most rows of a big file belong to projects nobody asked for.
    """
    try:
        raw = table.open()
    except (OSError, *_BROKEN) as exc:
        raise CordisError(f"{table.shown}: cannot read: {exc}") from None
    step = max(table.size // 200, 1 << 16)
    last = [0]

    def report(done: int) -> None:
        if progress is not None and (done - last[0] >= step or done >= table.size):
            last[0] = done
            progress(table.shown, done, table.size)

    stream = io.BufferedReader(_Counted(raw, report), 1 << 16)
    try:
        if table.kind == "json":
            for line, record in _json_rows(table, stream, required, warn):
                if counter is not None:
                    counter.rows_read += 1
                if wanted is None or record.get(wanted[0], "").strip() in wanted[1]:
                    yield line, record
        else:
            yield from _csv_rows(table, stream, required, warn, wanted, counter)
    finally:
        stream.close()
        raw.close()


class _Cordis(csv.Dialect):
    delimiter = ";"
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    # Strict: a quote where none may be is an error for this row, not a value kept with stray
    # quotes; the reader goes on at the next line.
    strict = True


def _lines(table: Table, stream: IO[bytes]) -> Iterator[str]:
    """The file's lines as text, decoded one by one so that a bad byte is told at its line."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CordisError(f"{table.shown}:{number}: not UTF-8 text") from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _csv_rows(
    table: Table,
    stream: IO[bytes],
    required: tuple[str, ...],
    warn: Warn,
    wanted: tuple[str, Container[str]] | None,
    counter: Export | None,
) -> Iterator[tuple[int, dict[str, str]]]:
    lines = _lines(table, stream)
    try:
        first = next(lines, "")
    except _BROKEN as exc:
        raise CordisError(f"{table.shown}:1: the archive is damaged: {exc}") from None
    if ";" not in first and any(sep in first for sep in ",\t|"):
        raise CordisError(
            f"{table.shown}:1:1: the header is one column; CORDIS files separate columns with "
            f"';' (this file looks separated by {_separator(first)!r})"
        )
    try:
        header = [name.strip() for name in next(csv.reader([first], _Cordis), [])]
    except csv.Error as exc:
        raise CordisError(f"{table.shown}:1: the header cannot be read: {exc}") from None
    _check_header(table, header, required)
    reader = csv.reader(lines, _Cordis)
    key, values = (header.index(wanted[0]), wanted[1]) if wanted else (-1, ())
    while True:
        start = reader.line_num + 2  # the header was line 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            warn(f"{table.shown}:{start}", f"malformed row skipped ({exc})")
            continue
        except _BROKEN as exc:
            raise CordisError(
                f"{table.shown}:{start}: the archive is damaged or cut short ({exc}); "
                "download the export again"
            ) from None
        if not row or row == [""]:
            continue
        if counter is not None:
            counter.rows_read += 1
        if key >= 0 and (len(row) <= key or row[key].strip() not in values):
            continue
        if len(row) != len(header):
            warn(
                f"{table.shown}:{start}",
                f"row skipped: {len(row)} fields where the header has {len(header)}",
            )
            continue
        yield start, dict(zip(header, row, strict=True))


def _check_header(table: Table, header: list[str], required: tuple[str, ...]) -> None:
    missing = [name for name in required if name not in header]
    if missing:
        shown = ", ".join(header[:30]) or "none"
        raise CordisError(
            f"{table.shown}:1:1: no column '{missing[0]}', which a CORDIS {Path(table.shown).stem} "
            f"file has (columns found: {shown})"
        )


def _separator(text: str) -> str:
    return max(",\t|", key=text.count)


_CHUNK = 1 << 20
_MAX_RECORD = 16 << 20


def _json_rows(
    table: Table, stream: IO[bytes], required: tuple[str, ...], warn: Warn
) -> Iterator[tuple[int, dict[str, str]]]:
    """One object at a time out of a top-level array, so that memory does not grow with the file.

    Numbers stay as written (`1.732084396E7`, `912`): amounts must not pass through float,
    and a post code that lost its zeros is text anyway.
    """
    decoder = json.JSONDecoder(parse_float=str, parse_int=str)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig")
    buffer, pos, line, eof = "", 0, 1, False
    checked = False

    def more() -> bool:
        nonlocal buffer, pos, eof
        try:
            chunk = text.read(_CHUNK)
        except UnicodeDecodeError:
            raise CordisError(f"{table.shown}:{line}: not UTF-8 text") from None
        except _BROKEN as exc:
            raise CordisError(
                f"{table.shown}:{line}: the archive is damaged or cut short ({exc})"
            ) from None
        buffer, pos = buffer[pos:] + chunk, 0
        eof = not chunk
        return bool(chunk)

    def skip_space() -> str:
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n":
                line += buffer[pos] == "\n"
                pos += 1
            if pos < len(buffer) or not more():
                return buffer[pos] if pos < len(buffer) else ""

    if skip_space() != "[":
        raise CordisError(f"{table.shown}:{line}: expected a JSON array of records")
    pos += 1
    first = True
    while True:
        char = skip_space()
        if char == "]":
            return
        if not char:
            raise CordisError(
                f"{table.shown}:{line}: the file ends before its closing ']'; cut short?"
            )
        if not first:
            if char != ",":
                raise CordisError(f"{table.shown}:{line}: expected ',' or ']' between records")
            pos += 1
            skip_space()
        first = False
        start = line
        while True:
            try:
                record, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as exc:
                # An error at the end of what is read may be a record cut by the chunk: read
                # on (a record is far below the limit). One before the end is in the file.
                at = start + buffer.count("\n", pos, exc.pos)
                at_end = exc.pos >= len(buffer) - 64 or exc.msg.startswith("Unterminated")
                if at_end and len(buffer) - pos <= _MAX_RECORD and not eof and more():
                    continue
                raise CordisError(
                    f"{table.shown}:{at}: not JSON ({exc.msg})"
                    + ("; the file is cut short" if at_end and eof else "")
                ) from None
        line += buffer.count("\n", pos, end)
        pos = end
        if not isinstance(record, dict):
            warn(f"{table.shown}:{start}", "skipped: a record that is not a JSON object")
            continue
        values = {str(k): _json_text(v) for k, v in record.items()}
        if not checked:
            _check_header(table, list(values), required)
            checked = True
        elif any(name not in values for name in required):
            missing = next(name for name in required if name not in values)
            warn(f"{table.shown}:{start}", f"record skipped: it has no '{missing}'")
            continue
        yield start, values


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- values


class Invalid(ValueError):
    """A value that is not what its column holds; the message says what it is."""


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Amounts are below 10^15 with at most 4 decimals (schema.py says why).
_LIMIT = Decimal(10) ** 15


def amount(text: str) -> str | None:
    """An exact amount as plain decimal text: `2835524,25` and `1.732084396E7` both work."""
    written = text.strip()
    if not written:
        return None
    if "," in written and "." in written:
        raise Invalid(f"'{written[:40]}' has both a decimal comma and a decimal point")
    plain = written.replace(",", ".")
    if not _NUMBER.fullmatch(plain):
        raise Invalid(f"'{written[:40]}' is not an amount")
    try:
        value = Decimal(plain)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        raise Invalid(f"'{written[:40]}' is not an amount") from None
    if not value.is_finite() or value >= _LIMIT:
        raise Invalid(f"'{written[:40]}' is too large for an amount")
    exact = format(value.normalize(), "f")
    if len(exact.partition(".")[2]) > 4:
        raise Invalid(f"'{written[:40]}' has more than 4 decimal places")
    return exact


def whole(text: str) -> int | None:
    """A count such as `order`: `3`, `3.0` (JSON floats) or empty."""
    written = text.strip()
    if not written:
        return None
    try:
        exact = amount(written)
    except Invalid:
        exact = None
    if exact is None or "." in exact or len(exact) > 6:
        raise Invalid(f"'{written[:40]}' is not a whole number")
    return int(exact)


def boolean(text: str) -> bool | None:
    written = text.strip().lower()
    if written in ("true", "false"):
        return written == "true"
    if not written:
        return None
    raise Invalid(f"'{text[:40]}' is not true, false or empty")


_DAY = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T][0-9:.]+)?")


def day(text: str) -> str | None:
    """A date as YYYY-MM-DD; a timestamp's time is dropped (CORDIS gives no time zone)."""
    written = text.strip()
    if not written:
        return None
    found = _DAY.fullmatch(written)
    if found is None:
        raise Invalid(f"'{written[:40]}' is not a date")
    from datetime import date

    try:
        return date.fromisoformat(found.group(1)).isoformat()
    except ValueError:
        raise Invalid(f"'{written[:40]}' is not a date") from None


# The EU's own country codes where they differ from ISO 3166-1.
EU_CODES = {"EL": "GR", "UK": "GB"}


def country(text: str) -> tuple[str | None, str | None]:
    """(ISO 3166-1 code, the code as written when it differs): `EL` → (`GR`, `EL`)."""
    written = text.strip().upper()
    if not written:
        return None, None
    from atmptrack.vocab import country_code

    iso = country_code(EU_CODES.get(written, written))
    return iso, (written if iso != written else None)


# Control characters other than line breaks and tabs, and the bidi overrides: the data format
# refuses them in text (they could drive a terminal), so they become spaces.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def unescaped(text: str) -> str:
    """Text as the data format keeps it: CSV escaping that leaked into it undone (`"A ""B"" C"`
    → `A "B" C`), line breaks as `\\n`, no trailing spaces, no control characters."""
    stripped = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    inner = stripped[1:-1]
    # Leaked escaping quotes the whole text and doubles every quote inside; a text that merely
    # starts and ends with a quotation (`"A" and "B"`) has single quotes inside.
    if (
        len(stripped) > 1
        and stripped[0] == stripped[-1] == '"'
        and '"' not in inner.replace('""', "")
    ):
        stripped = inner.replace('""', '"').strip()
    return "\n".join(line.rstrip() for line in stripped.split("\n"))


# ---------------------------------------------------------------- what an import reads


@dataclass(slots=True)
class Project:
    id: str
    where: str  # file:line
    acronym: str
    title: str
    objective: str
    status: str
    start: str | None
    end: str | None
    total_cost: str | None
    ec_max: str | None
    programme: str | None
    scheme: str
    call: str
    topic: str
    grant_doi: str
    updated: str | None
    signals: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Participation:
    project: str
    where: str
    pic: str
    name: str
    short_name: str
    vat: str
    sme: bool | None
    activity: str
    city: str
    country: str | None
    country_written: str | None
    website: str
    order: int | None
    role: str
    ec: str | None
    net_ec: str | None
    ended: bool | None
    updated: str | None


@dataclass(slots=True)
class Selection:
    """Which projects to import; with nothing given, every project of the export."""

    projects: set[str] = field(default_factory=set)
    topics: list[str] = field(default_factory=list)
    programme: str | None = None  # `HORIZON` or `H2020`
    since: str | None = None  # YYYY-MM-DD: projects that start on or after it
    atmp: bool = False
    exclude: set[str] = field(default_factory=set)


def programme_code(text: str) -> str | None:
    """`Horizon Europe`, `horizon`, `HE` → `HORIZON`; `Horizon 2020`, `h2020` → `H2020`."""
    key = re.sub(r"[^a-z0-9]", "", text.lower())
    if key in ("horizon", "horizoneurope", "he", "heu"):
        return "HORIZON"
    if key in ("h2020", "horizon2020"):
        return "H2020"
    return None


@dataclass(slots=True)
class Export:
    """The selected projects of every bundle, with their participations, and what was skipped."""

    projects: dict[str, Project] = field(default_factory=dict)
    participations: dict[str, list[Participation]] = field(default_factory=dict)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    rows_read: int = 0

    def warn(self, where: str, message: str) -> None:
        self.warnings.append((where, message))


def read_export(
    paths: list[Path], selection: Selection, *, progress: Progress | None = None
) -> Export:
    """Read the bundles, keep the selected projects and their participations.

    Memory grows with the selection, not with the files: rows of other projects are dropped
    as they are read.
    """
    export = Export()
    with ExitStack() as stack:
        for bundle in open_bundles(paths, stack, export.warn):
            _read_bundle(bundle, selection, export, progress)
    return export


def _read_bundle(
    bundle: Bundle, selection: Selection, export: Export, progress: Progress | None
) -> None:
    warn = export.warn
    topics: dict[str, list[str]] = {}
    flagged: dict[str, list[str]] = {}  # project id → the ATMP signals of topics and fields
    if TOPICS in bundle.tables:
        for _line, row in rows(bundle.tables[TOPICS], REQUIRED[TOPICS], warn, progress):
            export.rows_read += 1
            code = row["topic"].strip()
            if code:
                topics.setdefault(row["projectID"].strip(), []).append(code)
    if selection.atmp and SCIENCE in bundle.tables:
        for _line, row in rows(bundle.tables[SCIENCE], REQUIRED[SCIENCE], warn, progress):
            export.rows_read += 1
            text = " ".join(row.get(c, "") for c in ("euroSciVocTitle", "euroSciVocPath"))
            found = atmp.field_signal(text)
            if found:
                signals = flagged.setdefault(row["projectID"].strip(), [])
                if f"field {found}" not in signals:
                    signals.append(f"field {found}")
    table = bundle.tables[PROJECT]
    for line, row in rows(table, REQUIRED[PROJECT], warn, progress):
        export.rows_read += 1
        if not _candidate(row, selection, flagged, topics):
            continue  # most rows: decided on the raw text, without parsing the rest
        # What is wrong with a project that is not imported is not this import's business.
        held = Export()
        project = _project(row, f"{table.shown}:{line}", topics, held.warn)
        if project is None:
            export.warnings.extend(held.warnings)
            continue
        if _selected(project, selection, flagged.get(project.id, [])):
            export.warnings.extend(held.warnings)
            if project.id in export.projects:
                warn(project.where, f"project {project.id} read again: this row replaces the first")
            export.projects[project.id] = project
            export.participations[project.id] = []
    table = bundle.tables[ORGANISATION]
    wanted = ("projectID", export.participations.keys())
    for line, row in rows(table, REQUIRED[ORGANISATION], warn, progress, wanted, export):
        project_id = row["projectID"].strip()
        participation = _participation(row, f"{table.shown}:{line}", warn)
        if participation is not None:
            export.participations[project_id].append(participation)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Cells:
    """One row's values; a value that is not what its column holds is reported, then unknown."""

    row: dict[str, str]
    where: str
    warn: Warn

    def text(self, column: str) -> str:
        return _CONTROL.sub(" ", self.row.get(column, "")).strip()

    def parsed(self, parse: Callable[[str], T | None], column: str) -> T | None:
        try:
            return parse(self.row.get(column, ""))
        except Invalid as exc:
            self.warn(self.where, f"{column}: {exc}; left unknown")
            return None


def _project(
    row: dict[str, str], where: str, topics: dict[str, list[str]], warn: Warn
) -> Project | None:
    cells = _Cells(row, where, warn)
    ident = row["id"].strip()
    if not re.fullmatch(r"[0-9]{5,9}", ident):
        warn(where, f"row skipped: '{ident[:40]}' is not a CORDIS project id")
        return None
    framework = row.get("frameworkProgramme", "").strip().upper()
    if framework not in PROGRAMMES:
        # Older files lack the column; the legal basis names the programme first.
        basis = row.get("legalBasis", "").strip().upper()
        framework = next((code for code in PROGRAMMES if basis.startswith(code)), framework)
    topic = row.get("topics", "").strip() or next(iter(topics.get(ident, [])), "")
    call = row.get("subCall", "").strip() or row.get("masterCall", "").strip()
    return Project(
        id=ident,
        where=where,
        acronym=cells.text("acronym"),
        title=unescaped(row.get("title", "")),
        objective=unescaped(row.get("objective", "")),
        status=cells.text("status").upper(),
        start=cells.parsed(day, "startDate"),
        end=cells.parsed(day, "endDate"),
        total_cost=cells.parsed(amount, "totalCost"),
        ec_max=cells.parsed(amount, "ecMaxContribution"),
        programme=PROGRAMMES.get(framework),
        scheme=cells.text("fundingScheme"),
        call=call or cells.text("call"),
        topic=topic,
        grant_doi=cells.text("grantDoi"),
        updated=cells.parsed(day, "contentUpdateDate"),
    )


def _candidate(
    row: dict[str, str],
    selection: Selection,
    flagged: dict[str, list[str]],
    topics: dict[str, list[str]],
) -> bool:
    """Whether a project row may be selected, from its raw text: a cheap first look."""
    ident = row["id"].strip()
    if ident in selection.exclude:
        return False
    if ident in selection.projects:
        return True
    filtered = selection.topics or selection.programme or selection.since or selection.atmp
    if selection.projects and not filtered:
        return False
    if selection.atmp and ident not in flagged:
        topic = row.get("topics", "") or next(iter(topics.get(ident, [])), "")
        text = row.get("title", "") + "\n" + row.get("objective", "")
        return atmp.topic_signal(topic) or bool(atmp.word_signals(text))
    return True


def _selected(project: Project, selection: Selection, flagged: list[str]) -> bool:
    """Named projects come in whatever the filters say; the filters add the projects they
    select; --exclude wins over both."""
    if project.id in selection.exclude:
        return False
    if project.id in selection.projects:
        project.signals = ["named with --project"]
        return True
    filtered = selection.topics or selection.programme or selection.since or selection.atmp
    if selection.projects and not filtered:
        return False
    if selection.programme and PROGRAMMES.get(selection.programme) != project.programme:
        return False
    if selection.since and (project.start is None or project.start < selection.since):
        return False
    if selection.topics and not any(
        project.topic.upper().startswith(t.upper()) for t in selection.topics
    ):
        return False
    if selection.atmp:
        signals = list(flagged)
        if atmp.topic_signal(project.topic):
            signals.insert(0, f"topic {project.topic}")
        for where, text in (("title", project.title), ("objective", project.objective)):
            signals.extend(f"{where}: {word}" for word in atmp.word_signals(text))
        if not signals:
            return False
        project.signals = signals
    return True


_PIC = re.compile(r"[0-9]{9}")


def _participation(row: dict[str, str], where: str, warn: Warn) -> Participation | None:
    pic = row["organisationID"].strip()
    name = unescaped(row["name"])
    if not _PIC.fullmatch(pic):
        warn(where, f"row skipped: organisationID '{pic[:40]}' is not a PIC (9 digits)")
        return None
    if not name:
        warn(where, f"row skipped: organisation {pic} has no name")
        return None
    iso, written = country(row.get("country", ""))
    if row.get("country", "").strip() and iso is None:
        warn(
            where, f"country: '{row['country'].strip()[:10]}' is no ISO 3166-1 code; kept as given"
        )
    cells = _Cells(row, where, warn)
    return Participation(
        project=row["projectID"].strip(),
        where=where,
        pic=pic,
        name=name,
        short_name=unescaped(row.get("shortName", "")),
        vat=cells.text("vatNumber"),
        sme=cells.parsed(boolean, "SME"),
        activity=cells.text("activityType").upper(),
        city=unescaped(row.get("city", "")),
        country=iso,
        country_written=written,
        website=cells.text("organizationURL"),
        order=cells.parsed(whole, "order"),
        role=cells.text("role"),
        ec=cells.parsed(amount, "ecContribution"),
        net_ec=cells.parsed(amount, "netEcContribution"),
        ended=cells.parsed(boolean, "endOfParticipation"),
        updated=cells.parsed(day, "contentUpdateDate"),
    )
