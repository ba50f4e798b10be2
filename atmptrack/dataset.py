"""Find, read and validate a data directory: every file, every record, every cross-reference.

One pass over the files: each is read, validated and handed on (to the writer, which turns it
into rows) before the next, so that a large directory is never held in memory whole. What the
checks across files need (ids, the names references use, parents) is kept on the way; the
checks that need every id run when the last file has been read.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from atmptrack import shape as stored
from atmptrack.datadir import scan, shown
from atmptrack.errors import DataError, Diagnostic, Severity, did_you_mean
from atmptrack.schema import (
    ID_PATTERN,
    DataFile,
    Initiative,
    Organisation,
    Source,
    Sourced,
    id_message,
    model_at,
)
from atmptrack.vocab import quote
from atmptrack.yamlio import Document, Loaded, YamlPath, load_yaml, read_bytes


@dataclass(slots=True)
class LoadedFile:
    """A valid file: its path as diagnostics show it, the line of each record, its records."""

    path: str
    lines: dict[str, list[int]]  # "sources", "organisations", "initiatives" -> line of each
    model: DataFile


@dataclass(slots=True)
class Dataset:
    """A validated data directory, ready to be written to a store."""

    root: Path
    files: list[LoadedFile]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def sources(self) -> Iterator[Source]:
        for loaded in self.files:
            yield from loaded.model.sources

    @property
    def organisations(self) -> Iterator[Organisation]:
        for loaded in self.files:
            yield from loaded.model.organisations

    @property
    def initiatives(self) -> Iterator[Initiative]:
        for loaded in self.files:
            yield from loaded.model.initiatives


class Sink(Protocol):
    """Takes each valid file as it is read (the writer builds its rows from it)."""

    def start(self) -> None:
        """Forget every file taken so far: the files changed while they were read, and the
        reading starts again."""

    def add(self, loaded: LoadedFile) -> None:
        """Take one valid file. The dataset may still turn out invalid: nothing is final
        until check_dataset returns."""


# Told how far long work has gone: what it is doing, how much of it is done, out of how much
# (`render.progress_bar` draws it on a terminal).
Progress = Callable[[str, int, int], None]


def read_dataset(root: Path, *, files: list[Path] | None = None) -> Dataset:
    """Read and validate every file, keeping every record; raise DataError with every problem
    found, warnings included."""
    kept = _Kept()
    warnings = check_dataset(root, files=files, sink=kept)
    return Dataset(root, kept.files, warnings)


class _Kept:
    def __init__(self) -> None:
        self.files: list[LoadedFile] = []

    def start(self) -> None:
        self.files = []

    def add(self, loaded: LoadedFile) -> None:
        self.files.append(loaded)


def check_dataset(
    root: Path,
    *,
    files: list[Path] | None = None,
    sink: Sink | None = None,
    progress: Progress | None = None,
) -> list[Diagnostic]:
    """Read and validate every file, handing each valid one to sink as soon as it is read.

    Returns the warnings, sorted; raises DataError with every problem found, warnings included.
    A file whose problems are found after it was read is read again for their positions; if it
    changed meanwhile, everything is read again, as an editor may be saving several files.
    """
    changed = ""
    with paused_collector():
        for _attempt in range(_READ_ATTEMPTS):
            paths, problems = scan(root) if files is None else (files, [])
            if sink is not None:
                sink.start()
            try:
                return _Reader(sink, progress).run(paths, problems)
            except _Changed as exc:
                changed = exc.path
    message = "the file kept changing while it was read; check again when it is still"
    raise DataError([Diagnostic(changed, 1, 1, "error", "data-changed", message)])


# A directory rewritten this many times during one check is being edited: say so and stop.
_READ_ATTEMPTS = 3


@dataclass(slots=True)
class Defined:
    """What the files left as they were define, as the store holds it: the ids of each kind,
    and each organisation's parent."""

    sources: set[str]
    organisations: dict[str, str | None]
    initiatives: set[str]


class Changes:
    """Files read and checked on their own, for an update of the store with only them.

    Each file went through every check of its own records and was handed to the sink. What
    remains are the checks across files, against what the others define (`fit`). Any problem
    is only detected, not reported: the caller then checks the whole directory, which reports
    each problem exactly as a full check always has, positions in the other files included.
    """

    def __init__(self, files: list[Path], sink: Sink) -> None:
        self._reader = _Reader(sink, None)
        out: list[Diagnostic] = []
        with paused_collector():
            for path in files:
                self._reader._read(path, out)
        self.clean = not out and not any(
            d.severity == "error" for file in self._reader.files for d in file.found
        )

    def ids(self) -> set[str]:
        """Every id the files define, of every kind."""
        return set(self._reader.ids)

    def fit(self, others: Defined) -> bool:
        """Whether the files and the others, together, pass the checks across files: no id
        used twice, every reference names an id, parents lead up to a top organisation.
        (References of the other files to ids these files no longer define are the store's
        to find: its foreign keys name each one.)"""
        reader = self._reader
        if not self.clean or reader.duplicates:
            return False
        other_ids = (others.sources, others.organisations.keys(), others.initiatives)
        if any(record_id in ids for record_id in reader.ids for ids in other_ids):
            return False
        known = (
            reader.sources | others.sources,
            reader.organisations.keys() | others.organisations.keys(),
            reader.initiatives | others.initiatives,
        )
        for file in reader.files:
            for names, named in zip(known, file.named, strict=True):
                if not names.issuperset(named):
                    return False
        parents = dict(others.organisations)
        parents.update((org_id, parent) for org_id, (_, _, parent) in reader.organisations.items())
        for start in reader.organisations:
            # A cycle the update makes passes through one of its organisations: the store's
            # own parents lead up to a top organisation.
            walked: set[str] = set()
            here: str | None = start
            while here is not None:
                if here in walked:
                    return False
                walked.add(here)
                here = parents.get(here)
        return True


@contextmanager
def paused_collector() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration, then back as it was.

    A load allocates millions of containers (data, records, rows) that live until their file
    or the load is done, and the collector would traverse them again and again: it took over
    a quarter of a load. They form no reference cycles, so reference counting frees them all
    the same; only the odd exception's traceback waits for the collector's next run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Changed(Exception):
    """A file read again for positions is no longer the file that was checked."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(slots=True, eq=False)
class _File:
    """A valid file as the checks across files need it once its records are gone."""

    source: Path  # to read it again, when a problem needs its positions
    path: str  # as diagnostics show it
    digest: int  # of the bytes checked, to know that a second read finds the same file
    sources: list[str] = field(default_factory=list)  # the ids it defines, in order
    organisations: list[str] = field(default_factory=list)
    # The ids its references name, by kind: checked once every file has been read.
    named: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
    found: list[Diagnostic] = field(default_factory=list)  # what the checks of its records found


# A finding of the record checks, placed by where it is in the file: (loc, severity, rule, message).
_Finding = tuple[YamlPath, Severity, str, str]


class _Reader:
    """One check of a data directory: reads every file, then runs the checks across files."""

    def __init__(self, sink: Sink | None, progress: Progress | None) -> None:
        self.sink = sink
        self.progress = progress
        self.files: list[_File] = []
        self.unparsed = False
        # Ids in files whose records could not all be validated.
        self.extra: dict[str, set[str]] = {}
        # Every id with the first record that uses it (file, kind, index), and the records
        # that use an id again.
        self.ids: dict[str, tuple[_File, str, int]] = {}
        self.duplicates: list[tuple[_File, str, int, str]] = []
        self.sources: set[str] = set()
        # Each organisation id with its record (the last, when an id is used twice) and parent.
        self.organisations: dict[str, tuple[_File, int, str | None]] = {}
        self.initiatives: set[str] = set()
        # What the records refer to, for the warnings about unused records.
        self.cited: set[str] = set()
        self.in_initiative: set[str] = set()
        self.suggestions: dict[tuple[str, str], str] = {}
        self.documents: dict[_File, Document] = {}

    def run(self, paths: list[Path], problems: list[tuple[str, str]]) -> list[Diagnostic]:
        out = [Diagnostic(where, 1, 1, "error", "data-file", why) for where, why in problems]
        for done, path in enumerate(paths, 1):
            self._read(path, out)
            if self.progress is not None:
                self.progress("checking files", done, len(paths))
        # Checks across files run whenever every file could be parsed, so that one run reports
        # every problem; ids of records that failed validation still count as existing.
        if not self.unparsed:
            out.extend(self._across())
        if any(d.severity == "error" for d in out):
            raise DataError(out)
        return sorted(out, key=Diagnostic.sort_key)

    def _read(self, path: Path, out: list[Diagnostic]) -> None:
        shown = _display(path)
        try:
            raw = read_bytes(path, display_path=shown)
            loaded = load_yaml(raw, path=shown)
        except DataError as exc:
            out.extend(exc.diagnostics)
            self.unparsed = True
            return
        text_problems = list(_check_text(loaded)) if loaded.controls else []
        out.extend(text_problems)
        try:
            model = DataFile.model_validate(loaded.data)
        except ValidationError as exc:
            out.extend(_from_pydantic(loaded.document(), exc))
            _raw_ids(loaded.data, self.extra)
            return
        if text_problems:
            _raw_ids(loaded.data, self.extra)
            return
        # The hash of the bytes, not the bytes: Python's own hash is fast, and a file read again
        # within this process either hashes the same or was changed.
        file = _File(path, shown, hash(raw))
        self._note_ids(file, model)
        names = _Noted(), _Noted(), _Noted()
        records = _Records(*names, cited=self.cited, in_initiative=self.in_initiative)
        found = records.check(model)
        if found:
            document = loaded.document()
            file.found = [_diagnostic(document, *finding) for finding in found]
        file.named = (names[0].names(), names[1].names(), names[2].names())
        self.files.append(file)
        if self.sink is not None:
            self.sink.add(LoadedFile(shown, loaded.lines, model))

    def _note_ids(self, file: _File, model: DataFile) -> None:
        """Ids are unique across all records of all files; notes the ids references may name."""
        groups: tuple[tuple[str, list[Any]], ...] = (
            ("source", model.sources),
            ("organisation", model.organisations),
            ("initiative", model.initiatives),
        )
        for kind, records in groups:
            for index, record in enumerate(records):
                if record.id in self.ids:
                    self.duplicates.append((file, kind, index, record.id))
                else:
                    self.ids[record.id] = (file, kind, index)
        file.sources = [s.id for s in model.sources]
        file.organisations = [o.id for o in model.organisations]
        self.sources.update(file.sources)
        for index, org in enumerate(model.organisations):
            self.organisations[org.id] = (file, index, org.parent)
        self.initiatives.update(i.id for i in model.initiatives)

    # ------------------------------------------------------------ once every file is read

    def _across(self) -> list[Diagnostic]:
        """The checks that need every file, in the order the diagnostics were always made."""
        out: list[Diagnostic] = []
        for file, kind, index, record_id in self.duplicates:
            first_file, first_kind, first_index = self.ids[record_id]
            first = self._mark(first_file, (first_kind + "s", first_index, "id"))
            out.append(
                self._diagnostic(
                    file,
                    (kind + "s", index, "id"),
                    "error",
                    "duplicate-id",
                    f"id '{record_id}' is already used by the {first_kind} at "
                    f"{first_file.path}:{first.line}:{first.column}",
                )
            )
        known = (
            self.sources | self.extra.get("sources", set()),
            set(self.organisations) | self.extra.get("organisations", set()),
            self.initiatives | self.extra.get("initiatives", set()),
        )
        for file in self.files:
            if all(
                name in names
                for names, named in zip(known, file.named, strict=True)
                for name in named
            ):
                out.extend(file.found)
            else:
                out.extend(self._recheck(file, known))
        out.extend(self._parent_cycles())
        if not self.extra:
            # Every file was validated: otherwise what the others cite or contain is unknown,
            # and "unused" and "in no initiative" would be guesses.
            out.extend(self._unused())
        return out

    def _recheck(self, file: _File, known: tuple[set[str], set[str], set[str]]) -> list[Diagnostic]:
        """The checks of a file's records again, now that every id is known: it names one
        that is not, so its diagnostics need the suggestions and the positions."""
        loaded = self._read_again(file)
        model = DataFile.model_validate(loaded.data)  # the same bytes: valid as before
        records = _Records(*known, cited=set(), in_initiative=set(), suggestions=self.suggestions)
        found = records.check(model)
        document = loaded.document()  # not kept: hundreds of files may need rechecking
        return [_diagnostic(document, *finding) for finding in found]

    def _read_again(self, file: _File) -> Loaded:
        try:
            raw = read_bytes(file.source, display_path=file.path)
        except DataError:
            raise _Changed(file.path) from None
        if hash(raw) != file.digest:
            raise _Changed(file.path)
        return load_yaml(raw, path=file.path)

    def _mark(self, file: _File, loc: YamlPath) -> Any:
        document = self.documents.get(file)
        if document is None:
            document = self.documents[file] = self._read_again(file).document()
        return document.mark(loc)

    def _diagnostic(
        self, file: _File, loc: YamlPath, severity: Severity, rule: str, message: str
    ) -> Diagnostic:
        mark = self._mark(file, loc)
        return Diagnostic(file.path, mark.line, mark.column, severity, rule, message, _field(loc))

    def _parent_cycles(self) -> list[Diagnostic]:
        """Parents lead up to a top organisation: a cycle (a → b → a) is one error, at the
        parent of its member read first. Self-parents are reported with the records."""
        organisations = self.organisations
        order = {org_id: i for i, org_id in enumerate(organisations)}
        done: set[str] = set()
        out = []
        for start in organisations:
            path: dict[str, int] = {}  # the chain walked from start, with each id's place
            here: str | None = start
            while here is not None and here in organisations and here not in done:
                if here in path:
                    cycle = list(path)[path[here] :]
                    if len(cycle) > 1:
                        out.append(self._cycle(cycle, order))
                    break
                path[here] = len(path)
                here = organisations[here][2]
            done.update(path)
        return out

    def _cycle(self, cycle: list[str], order: dict[str, int]) -> Diagnostic:
        first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        chain = " → ".join([*cycle, cycle[0]])
        others = []
        for org_id in cycle[1:]:
            other_file, other_index, _ = self.organisations[org_id]
            mark = self._mark(other_file, ("organisations", other_index, "parent"))
            others.append(f"'{org_id}' at {other_file.path}:{mark.line}:{mark.column}")
        file, index, _ = self.organisations[cycle[0]]
        return self._diagnostic(
            file,
            ("organisations", index, "parent"),
            "error",
            "reference-cycle",
            f"parents form a cycle: {chain} (parent of {', '.join(others)}); "
            "following parents must end at an organisation without one",
        )

    def _unused(self) -> list[Diagnostic]:
        """Warnings for sources nothing cites and organisations in no initiative."""
        hosts = {
            parent
            for org_id, (_, _, parent) in self.organisations.items()
            if parent and org_id in self.in_initiative
        }
        out = []
        for file in self.files:
            for index, source_id in enumerate(file.sources):
                if source_id not in self.cited:
                    out.append(
                        self._diagnostic(
                            file,
                            ("sources", index, "id"),
                            "warning",
                            "unused-source",
                            f"source '{source_id}' is cited by nothing",
                        )
                    )
            for index, org_id in enumerate(file.organisations):
                if org_id not in self.in_initiative and org_id not in hosts:
                    out.append(
                        self._diagnostic(
                            file,
                            ("organisations", index, "id"),
                            "warning",
                            "orphan-organisation",
                            f"organisation '{org_id}' takes part in no initiative",
                        )
                    )
        return out


def _diagnostic(
    document: Document, loc: YamlPath, severity: Severity, rule: str, message: str
) -> Diagnostic:
    mark = document.mark(loc)
    return Diagnostic(document.path, mark.line, mark.column, severity, rule, message, _field(loc))


def _display(path: Path) -> str:
    """The path as people can open it: relative below the working directory, else absolute."""
    # abspath, not resolve: a symlink loop must reach the reader, which reports it in place.
    absolute = Path(os.path.abspath(path))
    try:
        return shown(absolute.relative_to(Path.cwd()))
    except ValueError:
        return shown(absolute)


def _check_text(loaded: Loaded) -> Iterator[Diagnostic]:
    """Refuse control characters anywhere in the data, so no value can drive a terminal."""
    stack: list[tuple[YamlPath, Any]] = [((), loaded.data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*loc, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
        elif isinstance(value, str):
            bad = _CONTROL.search(value)
            if bad is not None:
                mark = loaded.document().mark(loc)
                yield Diagnostic(
                    loaded.path,
                    mark.line,
                    mark.column,
                    "error",
                    "text-control-character",
                    f"{_field(loc)}: control character U+{ord(bad.group()):04X} is not allowed "
                    "in text",
                    _field(loc),
                )


# C0 and C1 controls (Unicode's Cc) but tab and line feed, and the bidi overrides (Cf), which
# can disguise text on a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _field(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


_RULES = {
    "extra_forbidden": "schema-unknown-field",
    "missing": "schema-missing-field",
    "enum": "schema-vocabulary",
    "literal_error": "schema-vocabulary",
}


def _from_pydantic(document: Document, exc: ValidationError) -> Iterator[Diagnostic]:
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        kind = error["type"]
        rule = _RULES.get(kind, "schema-type" if kind.endswith("_type") else "schema-value")
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == ID_PATTERN:
            message = id_message(str(error["input"]))
        if kind == "extra_forbidden":
            model = model_at(loc)
            message = f"unknown field '{loc[-1]}'"
            if model is not None:
                message += did_you_mean(str(loc[-1]), model.model_fields)
                where = f"'{_field(loc[:-1])}'" if loc[:-1] else "the top level"
                message += f" (fields of {where}: {', '.join(model.model_fields)})"
            mark = document.mark(loc, key=True)
        elif kind == "missing":
            message = f"{_field(loc)}: required field is missing"
            mark = document.mark(loc[:-1])
        elif rule == "schema-vocabulary" and isinstance(error.get("input"), str):
            # `unknown sector 'hospitl' (did you mean 'hospital'?)`, as the command line says it.
            valid = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
            found = str(error["input"])
            message = (
                f"{_field(loc)}: unknown {_noun(loc)} {quote(found)}{did_you_mean(found, valid)}; "
                f"valid values: {', '.join(valid)}"
            )
            mark = document.mark(loc)
        else:
            found = error.get("input")
            quoted = isinstance(found, str) and (found in message or quote(found) in message)
            shown = "" if quoted else _found(found)
            message = f"{_field(loc)}: {message}{shown}"
            mark = document.mark(loc)
        yield Diagnostic(document.path, mark.line, mark.column, "error", rule, message, _field(loc))


def _noun(loc: tuple[str | int, ...]) -> str:
    """What a value at loc is called: its field (`sector`; `therapy_areas` for an item of it)."""
    return next((str(part) for part in reversed(loc) if isinstance(part, str)), "value")


def _found(value: Any) -> str:
    """What the file holds, in words, for a message that says what was expected."""
    if isinstance(value, str):
        # quote() keeps the message on one line and short, whatever the file holds.
        return f" (found {quote(value)})"
    if isinstance(value, dict):
        return " (found a mapping)"
    if isinstance(value, list):
        return " (found a list)"
    return " (found nothing)" if value is None else ""


# For each list of an initiative, the fields that identify an item within it: its key in the
# store, less the initiative's own.
_UNIQUE_WITHIN: dict[str, list[str]] = {
    name: [child.paths.get(c, c) for c in child.key if c not in child.parent]
    for name, child in stored.INITIATIVE.children
}


# Gets those fields of an item: one value, or a tuple of them when there are several.
_KEY_OF = {name: attrgetter(*fields) for name, fields in _UNIQUE_WITHIN.items() if fields}


def _plain(value: object) -> object:
    return getattr(value, "value", value)  # an enum member as it is written


class _Names(Protocol):
    """Ids a reference may name: a set, or `_Noted`."""

    def __contains__(self, name: object, /) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def issuperset(self, names: Iterable[str], /) -> bool: ...


class _Noted:
    """Stands for the ids of every file while files are still being read: a name is taken as
    known, and noted, to be looked up once the last file is read."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __contains__(self, name: object, /) -> bool:
        self.seen.add(str(name))
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.seen)

    def issuperset(self, names: Iterable[str], /) -> bool:
        self.seen.update(names)
        return True

    def names(self) -> tuple[str, ...]:
        return tuple(self.seen)


class _Records:
    """The checks of one file's records, phase by phase; findings are placed by loc.

    References to sources, organisations and initiatives are looked up in the collections
    given: every id of the dataset, or `_Noted` while the other files are not read yet.
    """

    def __init__(
        self,
        sources: _Names,
        organisations: _Names,
        initiatives: _Names,
        *,
        cited: set[str],
        in_initiative: set[str],
        suggestions: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.sources = sources
        self.organisations = organisations
        self.initiatives = initiatives
        # What the records refer to, for the warnings about unused records.
        self.cited = cited
        self.in_initiative = in_initiative
        # One renamed id can leave hundreds of references to the old one: the close-match
        # search over every id runs once per name, not once per reference.
        self.suggestions = {} if suggestions is None else suggestions
        self.found: list[_Finding] = []

    def add(self, loc: YamlPath, severity: Severity, rule: str, message: str) -> None:
        self.found.append((loc, severity, rule, message))

    def check(self, model: DataFile) -> list[_Finding]:
        for index, org in enumerate(model.organisations):
            self._organisation(("organisations", index), org)
        for index, ini in enumerate(model.initiatives):
            self._initiative(("initiatives", index), ini)
        return self.found

    def _organisation(self, base: YamlPath, org: Organisation) -> None:
        self._sourced(base, org)
        if org.parent is not None:
            self._ref((*base, "parent"), org.parent, self.organisations, "organisation")
            if org.parent == org.id:
                self.add(
                    (*base, "parent"),
                    "error",
                    "reference-cycle",
                    f"organisation '{org.id}' cannot be its own parent",
                )

    def _ref(self, loc: YamlPath, value: str, known: _Names, what: str) -> bool:
        if value in known:
            return True
        global_kind = known is self.sources or known is self.organisations
        if global_kind or known is self.initiatives:
            # Among every id of the dataset a search takes about 50 ms at 30,000 ids: one per
            # unknown name, and at most _SEARCHES of them, after which the messages go without.
            hint = self.suggestions.get((what, value))
            if hint is None:
                searched = len(self.suggestions) < _SEARCHES
                hint = did_you_mean(value, known) if searched else ""
                self.suggestions[(what, value)] = hint
        else:
            hint = did_you_mean(value, known)
        self.add(loc, "error", "unknown-reference", f"unknown {what} '{value}'{hint}")
        return False

    def _cite(self, loc: YamlPath, source: str) -> None:
        if self._ref(loc, source, self.sources, "source"):
            self.cited.add(source)

    def _sourced(self, base: YamlPath, record: Sourced) -> None:
        # Every source known, as nearly always: one lookup of them all, not one per source.
        if self.sources.issuperset(record.sources):
            self.cited.update(record.sources)
        else:
            for i, src in enumerate(record.sources):
                self._cite((*base, "sources", i), src)
        if not record.inferred:
            return
        fields = type(record).model_fields
        for name in record.inferred:
            if name not in fields or name in ("sources", "inferred", "note"):
                self.add(
                    (*base, "inferred", name),
                    "error",
                    "unknown-inferred-field",
                    f"inferred names '{name}', which is not a field of this record"
                    f"{did_you_mean(name, fields)}",
                )
            elif getattr(record, name) in (None, [], {}):
                self.add(
                    (*base, "inferred", name),
                    "error",
                    "unknown-inferred-field",
                    f"inferred names '{name}', but that field has no value",
                )

    def _initiative(self, base: YamlPath, ini: Initiative) -> None:
        """Every check of one initiative, phase by phase."""
        self._sourced(base, ini)
        if ini.start and ini.end and _before(ini.end, ini.start):
            self.add(
                (*base, "end"),
                "error",
                "end-before-start",
                f"end {ini.end} is before start {ini.start}",
            )
        self._listed_records(base, ini)
        self._members(base, ini)
        people = {p.id for p in ini.people}
        self._workgroups(base, ini, people)
        self._people(base, ini)
        self._milestones(base, ini, people)
        self._funding(base, ini)
        self._relations(base, ini)
        self._declared_count(base, ini)

    def _listed_records(self, base: YamlPath, ini: Initiative) -> None:
        """The sources of every record in the initiative's lists, and no id twice in a list."""
        for group_name in _LISTS:
            seen: dict[str, int] = {}
            fields = _UNIQUE_WITHIN.get(group_name)
            key_of = _KEY_OF.get(group_name)
            for i, item in enumerate(getattr(ini, group_name)):
                loc: YamlPath = (*base, group_name, i)
                self._sourced(loc, item)
                if group_name == "funding":
                    for reported_i, reported in enumerate(item.also_reported):
                        for s_i, src in enumerate(reported.sources):
                            self._cite((*loc, "also_reported", reported_i, "sources", s_i), src)
                if fields and key_of:
                    # The fields that make up the record's key in the store (`shape`): two
                    # records with the same key could never both be stored.
                    found: Any = key_of(item)
                    if type(found) is str:  # one field holding an id: the key as it is
                        key = found
                    else:
                        values = found if len(fields) > 1 else (found,)
                        key = " ".join(str(_plain(value)) for value in values)
                    if key in seen:
                        self.add(
                            (*loc, fields[-1]),
                            "error",
                            "duplicate-id",
                            f"'{key}' appears twice in {group_name} of '{ini.id}' "
                            f"(first at {group_name}[{seen[key]}])",
                        )
                    seen[key] = i

    def _members(self, base: YamlPath, ini: Initiative) -> None:
        """Members name known organisations, and at most one of them coordinates."""
        named = [member.organisation for member in ini.members]
        if self.organisations.issuperset(named):
            self.in_initiative.update(named)
        else:
            for i, member in enumerate(ini.members):
                if self._ref(
                    (*base, "members", i, "organisation"),
                    member.organisation,
                    self.organisations,
                    "organisation",
                ):
                    self.in_initiative.add(member.organisation)
        coordinators = [i for i, m in enumerate(ini.members) if m.role == "coordinator"]
        for i in coordinators[1:]:
            self.add(
                (*base, "members", i, "role"),
                "error",
                "several-coordinators",
                f"'{ini.id}' already has a coordinator; use role 'co-coordinator' for the others",
            )

    def _workgroups(self, base: YamlPath, ini: Initiative, people: set[str]) -> None:
        """Work groups are led by known organisations and coordinated by the initiative's people."""
        for i, group in enumerate(ini.workgroups):
            for j, lead in enumerate(group.leads):
                self._ref(
                    (*base, "workgroups", i, "leads", j),
                    lead,
                    self.organisations,
                    "organisation",
                )
            for j, person in enumerate(group.coordinators):
                self._ref(
                    (*base, "workgroups", i, "coordinators", j),
                    person,
                    people,
                    f"person in '{ini.id}'",
                )

    def _people(self, base: YamlPath, ini: Initiative) -> None:
        for i, person_record in enumerate(ini.people):
            if person_record.organisation is not None and self._ref(
                (*base, "people", i, "organisation"),
                person_record.organisation,
                self.organisations,
                "organisation",
            ):
                # An organisation whose people take part is linked to the initiative too.
                self.in_initiative.add(person_record.organisation)

    def _milestones(self, base: YamlPath, ini: Initiative, people: set[str]) -> None:
        """Speakers are the initiative's people; a milestone ends after it starts and should
        lie within the initiative's span."""
        for i, milestone in enumerate(ini.milestones):
            loc: YamlPath = (*base, "milestones", i)
            for j, speaker in enumerate(milestone.speakers):
                self._ref((*loc, "speakers", j), speaker, people, f"person in '{ini.id}'")
            if milestone.end_date and _before(milestone.end_date, milestone.date):
                self.add(
                    (*loc, "end_date"),
                    "error",
                    "end-before-start",
                    f"end_date {milestone.end_date} is before date {milestone.date}",
                )
            if _outside(milestone.date, ini):
                self.add(
                    (*loc, "date"),
                    "warning",
                    "milestone-outside-span",
                    f"milestone {milestone.date} lies outside {ini.id}'s span "
                    f"({ini.start or '?'} to {ini.end or '?'})",
                )

    def _funding(self, base: YamlPath, ini: Initiative) -> None:
        for i, funding in enumerate(ini.funding):
            if funding.start and funding.end and _before(funding.end, funding.start):
                self.add(
                    (*base, "funding", i, "end"),
                    "error",
                    "end-before-start",
                    f"end {funding.end} is before start {funding.start}",
                )

    def _relations(self, base: YamlPath, ini: Initiative) -> None:
        for i, relation in enumerate(ini.relations):
            loc: YamlPath = (*base, "relations", i, "initiative")
            self._ref(loc, relation.initiative, self.initiatives, "initiative")
            if relation.initiative == ini.id:
                self.add(loc, "error", "reference-cycle", f"'{ini.id}' cannot relate to itself")

    def _declared_count(self, base: YamlPath, ini: Initiative) -> None:
        """The last partner count is the declared one; more listed members than it is suspect."""
        if not ini.partner_counts:
            return
        declared = ini.partner_counts[-1]
        known = len({m.organisation for m in ini.members})
        limit = declared.count if declared.qualifier in ("exact", "approximately") else None
        if limit is not None and known > limit:
            self.add(
                (*base, "partner_counts", len(ini.partner_counts) - 1, "count"),
                "warning",
                "more-members-than-declared",
                f"{known} members are listed but {declared.count} are declared",
            )


# Unknown names, each looked up among every id of the dataset for a suggestion: enough for a
# few renamed or mistyped ids, and bounded when a whole file of organisations goes missing.
_SEARCHES = 32

# The lists of records inside an initiative, in the order of the data format.
_LISTS = (
    "partner_counts",
    "members",
    "workgroups",
    "milestones",
    "people",
    "funding",
    "relations",
)


def _before(a: Any, b: Any) -> bool:
    a_hi, b_lo = a.latest(), b.earliest()
    return a_hi is not None and b_lo is not None and a_hi < b_lo


def _outside(when: Any, ini: Initiative) -> bool:
    lo, hi = when.earliest(), when.latest()
    if lo is None or hi is None:
        return False
    start = ini.start.earliest() if ini.start else None
    end = ini.end.latest() if ini.end else None
    return bool((start and hi < start) or (end and lo > end))


def _raw_ids(data: dict[str, Any], into: dict[str, set[str]]) -> None:
    for name in ("sources", "organisations", "initiatives"):
        records = data.get(name)
        if isinstance(records, list):
            ids = {r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)}
            into.setdefault(name, set()).update(ids)
