"""Find, read and validate a data directory: every file, every record, every cross-reference."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from atmptrack import shape as stored
from atmptrack.datadir import scan, shown
from atmptrack.errors import DataError, Diagnostic, Severity, did_you_mean
from atmptrack.schema import DataFile, Initiative, Organisation, Source, model_at
from atmptrack.vocab import quote
from atmptrack.yamlio import Document, YamlPath, read_yaml


@dataclass(slots=True)
class LoadedFile:
    document: Document
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


def read_dataset(root: Path, *, files: list[Path] | None = None) -> Dataset:
    """Read and validate every file; raise DataError with every problem found, warnings included."""
    paths, problems = scan(root) if files is None else (files, [])
    diagnostics = [Diagnostic(where, 1, 1, "error", "data-file", why) for where, why in problems]
    loaded: list[LoadedFile] = []
    unparsed = False
    extra: dict[str, set[str]] = {}  # ids in files whose records could not all be validated
    for path in paths:
        try:
            document = read_yaml(path, display_path=_display(path))
        except DataError as exc:
            diagnostics.extend(exc.diagnostics)
            unparsed = True
            continue
        text_problems = list(_check_text(document))
        diagnostics.extend(text_problems)
        try:
            model = DataFile.model_validate(document.data)
        except ValidationError as exc:
            diagnostics.extend(_from_pydantic(document, exc))
            _raw_ids(document, extra)
            continue
        if text_problems:
            _raw_ids(document, extra)
        else:
            loaded.append(LoadedFile(document, model))
    # Checks across files run whenever every file could be parsed, so that one run reports
    # every problem; ids of records that failed validation still count as existing.
    if not unparsed:
        diagnostics.extend(check_references(loaded, extra=extra, complete=not extra))
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise DataError(diagnostics)
    return Dataset(root, loaded, sorted(diagnostics, key=Diagnostic.sort_key))


def _display(path: Path) -> str:
    """The path as people can open it: relative below the working directory, else absolute."""
    # abspath, not resolve: a symlink loop must reach the reader, which reports it in place.
    absolute = Path(os.path.abspath(path))
    try:
        return shown(absolute.relative_to(Path.cwd()))
    except ValueError:
        return shown(absolute)


def _check_text(document: Document) -> Iterator[Diagnostic]:
    """Refuse control characters anywhere in the data, so no value can drive a terminal."""
    stack: list[tuple[YamlPath, Any]] = [((), document.data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*loc, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
        elif isinstance(value, str):
            bad = next((c for c in value if _is_control(c)), None)
            if bad is not None:
                mark = document.mark(loc)
                yield Diagnostic(
                    document.path,
                    mark.line,
                    mark.column,
                    "error",
                    "text-control-character",
                    f"{_field(loc)}: control character U+{ord(bad):04X} is not allowed in text",
                    _field(loc),
                )


def _is_control(char: str) -> bool:
    if char in "\n\t":
        return False
    category = unicodedata.category(char)
    # Cc covers C0/C1 controls; the bidi overrides (Cf) can disguise text on a terminal.
    return category == "Cc" or char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


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


# Organisations by id, each with its file and place in it.
_Placed = dict[str, tuple[Document, YamlPath, Organisation]]


# For each list of an initiative, the fields that identify an item within it: its key in the
# store, less the initiative's own.
_UNIQUE_WITHIN: dict[str, list[str]] = {
    name: [child.paths.get(c, c) for c in child.key if c not in child.parent]
    for name, child in stored.INITIATIVE.children
}


def _plain(value: object) -> object:
    return getattr(value, "value", value)  # an enum member as it is written


class _Checker:
    """Checks across records and files; collects diagnostics with positions."""

    def __init__(
        self, files: list[LoadedFile], *, extra: dict[str, set[str]], complete: bool
    ) -> None:
        self.files = files
        self.complete = complete
        self.out: list[Diagnostic] = []
        # What references may name: ids of records in files that failed validation count too.
        self.sources: set[str] = set(extra.get("sources", ()))
        self.organisations: set[str] = set(extra.get("organisations", ()))
        self.initiatives: set[str] = set(extra.get("initiatives", ()))
        # What the checks find in use, for the warnings about unused records.
        self.cited: set[str] = set()
        self.in_initiative: set[str] = set()

    def add(
        self, doc: Document, loc: YamlPath, severity: Severity, rule: str, message: str
    ) -> None:
        mark = doc.mark(loc)
        self.out.append(
            Diagnostic(doc.path, mark.line, mark.column, severity, rule, message, _field(loc))
        )

    def run(self) -> list[Diagnostic]:
        organisations = self._unique_ids()
        for loaded in self.files:
            doc = loaded.document
            for index, org in enumerate(loaded.model.organisations):
                self._organisation(doc, ("organisations", index), org)
            for index, ini in enumerate(loaded.model.initiatives):
                self._initiative(doc, ("initiatives", index), ini)
        self._parent_cycles(organisations)
        if not self.complete:
            # Some files could not be validated: what they cite or contain is unknown, so
            # "unused" and "in no initiative" would be guesses.
            return self.out
        self._unused(organisations)
        return self.out

    def _unique_ids(self) -> _Placed:
        """Ids are unique across all records of all files; collects the ids references name.

        Returns each organisation id with its record (the last, when an id is used twice).
        """
        ids: dict[str, tuple[Document, YamlPath, str]] = {}
        organisations: _Placed = {}
        for loaded in self.files:
            doc = loaded.document
            groups: tuple[tuple[str, Sequence[Source | Organisation | Initiative]], ...] = (
                ("source", loaded.model.sources),
                ("organisation", loaded.model.organisations),
                ("initiative", loaded.model.initiatives),
            )
            for kind, records in groups:
                plural = kind + "s"
                for index, record in enumerate(records):
                    loc: YamlPath = (plural, index, "id")
                    if record.id in ids:
                        first_doc, first_loc, first_kind = ids[record.id]
                        first = first_doc.mark(first_loc)
                        self.add(
                            doc,
                            loc,
                            "error",
                            "duplicate-id",
                            f"id '{record.id}' is already used by the {first_kind} at "
                            f"{first_doc.path}:{first.line}:{first.column}",
                        )
                        continue
                    ids[record.id] = (doc, loc, kind)
            self.sources.update(s.id for s in loaded.model.sources)
            organisations.update(
                (o.id, (doc, ("organisations", i), o))
                for i, o in enumerate(loaded.model.organisations)
            )
            self.initiatives.update(i.id for i in loaded.model.initiatives)
        self.organisations.update(organisations)
        return organisations

    def _organisation(self, doc: Document, base: YamlPath, org: Organisation) -> None:
        self._sourced(doc, base, org)
        if org.parent is not None:
            self._ref(doc, (*base, "parent"), org.parent, self.organisations, "organisation")
            if org.parent == org.id:
                self.add(
                    doc,
                    (*base, "parent"),
                    "error",
                    "reference-cycle",
                    f"organisation '{org.id}' cannot be its own parent",
                )

    def _parent_cycles(self, organisations: _Placed) -> None:
        """Parents lead up to a top organisation: a cycle (a → b → a) is one error, at the
        parent of its member read first. Self-parents are reported by _organisation."""
        order = {org_id: i for i, org_id in enumerate(organisations)}
        done: set[str] = set()
        for start in organisations:
            path: dict[str, int] = {}  # the chain walked from start, with each id's place
            here: str | None = start
            while here is not None and here in organisations and here not in done:
                if here in path:
                    cycle = list(path)[path[here] :]
                    if len(cycle) > 1:
                        self._cycle(cycle, organisations, order)
                    break
                path[here] = len(path)
                here = organisations[here][2].parent
            done.update(path)

    def _cycle(
        self,
        cycle: list[str],
        organisations: _Placed,
        order: dict[str, int],
    ) -> None:
        first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        chain = " → ".join([*cycle, cycle[0]])
        others = []
        for org_id in cycle[1:]:
            other_doc, other_base, _ = organisations[org_id]
            mark = other_doc.mark((*other_base, "parent"))
            others.append(f"'{org_id}' at {other_doc.path}:{mark.line}:{mark.column}")
        doc, base, _ = organisations[cycle[0]]
        self.add(
            doc,
            (*base, "parent"),
            "error",
            "reference-cycle",
            f"parents form a cycle: {chain} (parent of {', '.join(others)}); "
            "following parents must end at an organisation without one",
        )

    def _unused(self, organisations: _Placed) -> None:
        """Warnings for sources nothing cites and organisations in no initiative."""
        hosts = {
            o.parent
            for _, _, o in organisations.values()
            if o.parent and o.id in self.in_initiative
        }
        for loaded in self.files:
            doc = loaded.document
            for index, src in enumerate(loaded.model.sources):
                if src.id not in self.cited:
                    self.add(
                        doc,
                        ("sources", index, "id"),
                        "warning",
                        "unused-source",
                        f"source '{src.id}' is cited by nothing",
                    )
            for index, org in enumerate(loaded.model.organisations):
                if org.id not in self.in_initiative and org.id not in hosts:
                    self.add(
                        doc,
                        ("organisations", index, "id"),
                        "warning",
                        "orphan-organisation",
                        f"organisation '{org.id}' takes part in no initiative",
                    )

    def _ref(
        self, doc: Document, loc: YamlPath, value: str, known: Collection[str], what: str
    ) -> bool:
        if value in known:
            return True
        self.add(
            doc,
            loc,
            "error",
            "unknown-reference",
            f"unknown {what} '{value}'{did_you_mean(value, known)}",
        )
        return False

    def _cite(self, doc: Document, loc: YamlPath, source: str) -> None:
        if self._ref(doc, loc, source, self.sources, "source"):
            self.cited.add(source)

    def _sourced(self, doc: Document, base: YamlPath, record: BaseModel) -> None:
        for i, src in enumerate(getattr(record, "sources", [])):
            self._cite(doc, (*base, "sources", i), src)
        fields = type(record).model_fields
        for name in getattr(record, "inferred", {}):
            if name not in fields or name in ("sources", "inferred", "note"):
                self.add(
                    doc,
                    (*base, "inferred", name),
                    "error",
                    "unknown-inferred-field",
                    f"inferred names '{name}', which is not a field of this record"
                    f"{did_you_mean(name, fields)}",
                )
            elif getattr(record, name) in (None, [], {}):
                self.add(
                    doc,
                    (*base, "inferred", name),
                    "error",
                    "unknown-inferred-field",
                    f"inferred names '{name}', but that field has no value",
                )

    def _initiative(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        """Every check of one initiative, phase by phase."""
        self._sourced(doc, base, ini)
        if ini.start and ini.end and _before(ini.end, ini.start):
            self.add(
                doc,
                (*base, "end"),
                "error",
                "end-before-start",
                f"end {ini.end} is before start {ini.start}",
            )
        self._listed_records(doc, base, ini)
        self._members(doc, base, ini)
        people = {p.id for p in ini.people}
        self._workgroups(doc, base, ini, people)
        self._people(doc, base, ini)
        self._milestones(doc, base, ini, people)
        self._funding(doc, base, ini)
        self._relations(doc, base, ini)
        self._declared_count(doc, base, ini)

    def _listed_records(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        """The sources of every record in the initiative's lists, and no id twice in a list."""
        for group_name in _LISTS:
            seen: dict[str, int] = {}
            for i, item in enumerate(getattr(ini, group_name)):
                loc: YamlPath = (*base, group_name, i)
                self._sourced(doc, loc, item)
                for reported_i, reported in enumerate(getattr(item, "also_reported", [])):
                    for s_i, src in enumerate(reported.sources):
                        self._cite(doc, (*loc, "also_reported", reported_i, "sources", s_i), src)
                fields = _UNIQUE_WITHIN.get(group_name)
                if fields:
                    # The fields that make up the record's key in the store (`shape`): two
                    # records with the same key could never both be stored.
                    key = " ".join(str(_plain(getattr(item, f))) for f in fields)
                    if key in seen:
                        self.add(
                            doc,
                            (*loc, fields[-1]),
                            "error",
                            "duplicate-id",
                            f"'{key}' appears twice in {group_name} of '{ini.id}' "
                            f"(first at {group_name}[{seen[key]}])",
                        )
                    seen[key] = i

    def _members(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        """Members name known organisations, and at most one of them coordinates."""
        for i, member in enumerate(ini.members):
            if self._ref(
                doc,
                (*base, "members", i, "organisation"),
                member.organisation,
                self.organisations,
                "organisation",
            ):
                self.in_initiative.add(member.organisation)
        coordinators = [i for i, m in enumerate(ini.members) if m.role == "coordinator"]
        for i in coordinators[1:]:
            self.add(
                doc,
                (*base, "members", i, "role"),
                "error",
                "several-coordinators",
                f"'{ini.id}' already has a coordinator; use role 'co-coordinator' for the others",
            )

    def _workgroups(
        self, doc: Document, base: YamlPath, ini: Initiative, people: Collection[str]
    ) -> None:
        """Work groups are led by known organisations and coordinated by the initiative's people."""
        for i, group in enumerate(ini.workgroups):
            for j, lead in enumerate(group.leads):
                self._ref(
                    doc,
                    (*base, "workgroups", i, "leads", j),
                    lead,
                    self.organisations,
                    "organisation",
                )
            for j, person in enumerate(group.coordinators):
                self._ref(
                    doc,
                    (*base, "workgroups", i, "coordinators", j),
                    person,
                    people,
                    f"person in '{ini.id}'",
                )

    def _people(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        for i, person_record in enumerate(ini.people):
            if person_record.organisation is not None and self._ref(
                doc,
                (*base, "people", i, "organisation"),
                person_record.organisation,
                self.organisations,
                "organisation",
            ):
                # An organisation whose people take part is linked to the initiative too.
                self.in_initiative.add(person_record.organisation)

    def _milestones(
        self, doc: Document, base: YamlPath, ini: Initiative, people: Collection[str]
    ) -> None:
        """Speakers are the initiative's people; a milestone ends after it starts and should
        lie within the initiative's span."""
        for i, milestone in enumerate(ini.milestones):
            loc: YamlPath = (*base, "milestones", i)
            for j, speaker in enumerate(milestone.speakers):
                self._ref(doc, (*loc, "speakers", j), speaker, people, f"person in '{ini.id}'")
            if milestone.end_date and _before(milestone.end_date, milestone.date):
                self.add(
                    doc,
                    (*loc, "end_date"),
                    "error",
                    "end-before-start",
                    f"end_date {milestone.end_date} is before date {milestone.date}",
                )
            if _outside(milestone.date, ini):
                self.add(
                    doc,
                    (*loc, "date"),
                    "warning",
                    "milestone-outside-span",
                    f"milestone {milestone.date} lies outside {ini.id}'s span "
                    f"({ini.start or '?'} to {ini.end or '?'})",
                )

    def _funding(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        for i, funding in enumerate(ini.funding):
            if funding.start and funding.end and _before(funding.end, funding.start):
                self.add(
                    doc,
                    (*base, "funding", i, "end"),
                    "error",
                    "end-before-start",
                    f"end {funding.end} is before start {funding.start}",
                )

    def _relations(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        for i, relation in enumerate(ini.relations):
            loc: YamlPath = (*base, "relations", i, "initiative")
            self._ref(doc, loc, relation.initiative, self.initiatives, "initiative")
            if relation.initiative == ini.id:
                self.add(
                    doc, loc, "error", "reference-cycle", f"'{ini.id}' cannot relate to itself"
                )

    def _declared_count(self, doc: Document, base: YamlPath, ini: Initiative) -> None:
        """The last partner count is the declared one; more listed members than it is suspect."""
        if not ini.partner_counts:
            return
        declared = ini.partner_counts[-1]
        known = len({m.organisation for m in ini.members})
        limit = declared.count if declared.qualifier in ("exact", "approximately") else None
        if limit is not None and known > limit:
            self.add(
                doc,
                (*base, "partner_counts", len(ini.partner_counts) - 1, "count"),
                "warning",
                "more-members-than-declared",
                f"{known} members are listed but {declared.count} are declared",
            )


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


def check_references(
    files: list[LoadedFile], *, extra: dict[str, set[str]] | None = None, complete: bool = True
) -> list[Diagnostic]:
    return _Checker(files, extra=extra or {}, complete=complete).run()


def _raw_ids(document: Document, into: dict[str, set[str]]) -> None:
    for name in ("sources", "organisations", "initiatives"):
        records = document.data.get(name)
        if isinstance(records, list):
            ids = {r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)}
            into.setdefault(name, set()).update(ids)
