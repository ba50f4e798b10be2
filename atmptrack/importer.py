"""From a CORDIS export to atmptrack's own YAML: one file per project and per organisation.

The files the import writes (under `--into`) are its own, marked by a checksum line; every
import rewrites them from the export. Everything else in the data directory is curated and is
never written: a curated organisation is reused (same PIC, or a name match a person confirmed
in `matches.tsv`), a curated project (same CORDIS id) is left alone. A file of the import that
was edited by hand is never overwritten: the import refuses and names it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atmptrack.cordis import PROJECT_PAGE, Export, Participation, Progress, Project, Selection
from atmptrack.datadir import discover
from atmptrack.errors import AtmptrackError, DataError, ExitCode, UsageError, did_you_mean
from atmptrack.schema import DataFile, Initiative, Organisation, Source
from atmptrack.vocab import Role, Sector, Status

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

# The line that marks a file as the import's, with the checksum of what follows it.
MARK = "# atmptrack-import: sha256="
_HEADER = (
    "# Written by `atmptrack import cordis` from the CORDIS open-data export; every import\n"
    "# rewrites it. To curate this record, move the file out of this directory: the import then\n"
    "# leaves the record to you. An edited file here stops the import.\n"
)
MATCHES = "matches.tsv"
PROJECTS, ORGANISATIONS = "projects", "organisations"

SECTORS: dict[str, tuple[Sector, str]] = {
    "HES": (Sector.UNIVERSITY, "higher or secondary education establishment"),
    "REC": (Sector.RESEARCH_INSTITUTE, "research organisation"),
    "PRC": (Sector.COMPANY, "private for-profit entity"),
    "PUB": (Sector.PUBLIC_AGENCY, "public body"),
    "OTH": (Sector.OTHER, "other"),
}
ROLES: dict[str, Role] = {
    "coordinator": Role.COORDINATOR,
    "participant": Role.PARTNER,
    "partner": Role.PARTNER,  # older H2020 files
    "beneficiary": Role.PARTNER,
    "associatedpartner": Role.ASSOCIATED,
    "thirdparty": Role.THIRD_PARTY,
}
STATUSES: dict[str, Status] = {
    "SIGNED": Status.ACTIVE,
    "ONG": Status.ACTIVE,
    "CLOSED": Status.ENDED,
    "TERMINATED": Status.TERMINATED,
}
FUNDER = "European Union"
# CORDIS placeholders in the VAT column, which name no number.
_NO_VAT = re.compile(r"[A-Z]*(?:MISSING|NOTAPPLICABLE|NOT APPLICABLE|N/?A)[A-Z]*")
_VAT = re.compile(r"[A-Z0-9][A-Z0-9.\- ]{1,19}")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#][!-~]*)?")


class ImportRefused(AtmptrackError):
    """The import would overwrite a hand edit, or needs a decision it cannot take alone."""

    exit_code = ExitCode.DATA


# ---------------------------------------------------------------- what the import finds


@dataclass(frozen=True, slots=True)
class Proposal:
    """A CORDIS organisation that may be an organisation already in the data."""

    pic: str
    cordis_name: str
    country: str | None
    organisation: str
    name: str
    file: str


@dataclass(slots=True)
class Outcome:
    """What an import did (or, with dry_run, would do)."""

    into: Path
    dry_run: bool
    projects: dict[str, str] = field(default_factory=dict)  # CORDIS id → new|changed|unchanged
    signals: dict[str, list[str]] = field(default_factory=dict)
    acronyms: dict[str, str] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    organisations: dict[str, str] = field(default_factory=dict)  # id → new|changed|unchanged
    reused: dict[str, str] = field(default_factory=dict)  # PIC → curated organisation id
    missing_pics: dict[str, str] = field(default_factory=dict)  # curated id → PIC to add
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    proposals: list[Proposal] = field(default_factory=list)
    rows_read: int = 0

    @property
    def participations(self) -> int:
        return sum(self.members.values())


# ---------------------------------------------------------------- the data directory as it is


@dataclass(slots=True)
class _Owned:
    """A file the import wrote: what it holds, and whether it is still as written."""

    path: Path
    records: list[str]  # `initiative genexa`, for messages
    intact: bool
    checksum: str | None = None  # of its body, when intact: equal content needs no reading


@dataclass(frozen=True, slots=True)
class _OwnedProject:
    """What later steps need of a project the import wrote before: not the whole record, as
    a full import holds thousands."""

    file: _Owned
    id: str
    members: tuple[str, ...]


@dataclass(slots=True)
class _OwnedOrganisation:
    """An organisation the import wrote before; its record is read when it must be written."""

    file: _Owned
    id: str
    sources: list[str]
    model: Organisation | None = None

    def record(self) -> Organisation:
        if self.model is None:
            from atmptrack.yamlio import read_yaml

            (self.model,) = DataFile.model_validate(read_yaml(self.file.path).data).organisations
        return self.model


@dataclass(slots=True)
class _Survey:
    owned_projects: dict[str, _OwnedProject] = field(default_factory=dict)
    owned_orgs: dict[str, _OwnedOrganisation] = field(default_factory=dict)  # PIC →
    curated_orgs: dict[str, tuple[Organisation, str]] = field(default_factory=dict)  # id →
    curated_pics: dict[str, str] = field(default_factory=dict)  # PIC → curated organisation id
    curated_projects: dict[str, tuple[str, str]] = field(default_factory=dict)  # CORDIS id →
    curated_refs: set[str] = field(default_factory=set)  # organisation ids curated records use
    ids: set[str] = field(default_factory=set)  # every id in use (one namespace)
    owned_files: list[_Owned] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def checksum(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _split_mark(raw: bytes) -> tuple[str, bytes] | None:
    """(recorded checksum, body) of a file the import wrote; None for any other file."""
    head = raw[:2048].decode("utf-8", "replace")
    at = head.find("\n" + MARK)
    if at < 0:
        return None
    line_end = raw.find(b"\n", at + 1)
    recorded = head[at + 1 + len(MARK) : (line_end if line_end >= 0 else len(head))].strip()
    return recorded, raw[line_end + 1 :] if line_end >= 0 else b""


def _survey(data_dir: Path, into: Path) -> _Survey:
    """What the data directory holds: curated records, and the files of earlier imports."""
    from pydantic import ValidationError

    from atmptrack.yamlio import read_yaml

    survey = _Survey()
    paths = discover(data_dir) if data_dir.exists() else []
    if into.is_dir() and not into.is_relative_to(data_dir):
        paths = [*paths, *discover(into)]
    broken = False
    for path in paths:
        owned_mark = None
        if path.is_relative_to(into):
            try:
                owned_mark = _split_mark(path.read_bytes())
            except OSError:
                owned_mark = None
        if owned_mark is not None:
            recorded, body = owned_mark
            if recorded == checksum(body) and _known(survey, path, recorded, body):
                continue  # as the import wrote it: its own lines say what it holds
        try:
            model = DataFile.model_validate(read_yaml(path).data)
        except (DataError, ValidationError):
            if owned_mark is not None:
                raise ImportRefused(
                    f"{path}: the import wrote this file, but it no longer reads as data; "
                    "delete it to import its record afresh, or move it out of "
                    f"{into} and fix it to curate it"
                ) from None
            broken = True
            continue
        _note_ids(survey, model)
        if owned_mark is not None:
            names = [f"initiative {i.id}" for i in model.initiatives]
            names += [f"organisation {o.id}" for o in model.organisations]
            owned = _Owned(path, names, intact=False)
            survey.owned_files.append(owned)
            for ini in model.initiatives:
                if ini.ids.cordis:
                    members = tuple(m.organisation for m in ini.members)
                    survey.owned_projects[ini.ids.cordis] = _OwnedProject(owned, ini.id, members)
            for org in model.organisations:
                if org.ids.pic:
                    survey.owned_orgs[org.ids.pic] = _OwnedOrganisation(
                        owned, org.id, org.sources, org
                    )
            continue
        shown = _shown(path, data_dir)
        for org in model.organisations:
            survey.curated_orgs[org.id] = (org, shown)
            if org.ids.pic:
                survey.curated_pics.setdefault(org.ids.pic, org.id)
            if org.parent:
                survey.curated_refs.add(org.parent)
        for ini in model.initiatives:
            if ini.ids.cordis:
                survey.curated_projects[ini.ids.cordis] = (ini.id, shown)
            survey.curated_refs.update(m.organisation for m in ini.members)
            survey.curated_refs.update(lead for g in ini.workgroups for lead in g.leads)
            survey.curated_refs.update(p.organisation for p in ini.people if p.organisation)
    if broken:
        from atmptrack.dataset import read_dataset

        read_dataset(data_dir)  # raises DataError with every problem and its place
        raise UsageError(f"the data in {data_dir} is invalid; `atmptrack validate` says where")
    return survey


# The lines of the import's own files that say what they hold. A file whose checksum holds is
# byte for byte what `render` wrote, so these suffice, and a full import reads thousands of
# files; a file they do not fit is read as YAML.
_ID = r"'?([a-z0-9-]+)'?"
_TOP_IDS = re.compile(rf"^- id: {_ID}$", re.MULTILINE)
_CORDIS = re.compile(r"^    cordis: '([0-9]+)'$", re.MULTILINE)
_MEMBERS = re.compile(rf"^  - organisation: {_ID}$", re.MULTILINE)
_PIC_LINE = re.compile(r"^    pic: '([0-9]{9})'$", re.MULTILINE)
_SOURCES = re.compile(r"^  sources: \[([^\]]*)\]$", re.MULTILINE)


def _known(survey: _Survey, path: Path, recorded: str, raw: bytes) -> bool:
    body = raw.decode("utf-8")
    ids = _TOP_IDS.findall(body)
    owned = _Owned(path, [], intact=True, checksum=recorded)
    if body.startswith("sources:\n") and "\ninitiatives:\n" in body and len(ids) == 2:
        part = body.partition("\ninitiatives:\n")[2]
        cordis = _CORDIS.search(part)
        if cordis is None:
            return False
        owned.records.append(f"initiative {ids[1]}")
        members = tuple(_MEMBERS.findall(part))
        survey.owned_projects[cordis.group(1)] = _OwnedProject(owned, ids[1], members)
    elif body.startswith("organisations:\n") and len(ids) == 1:
        pic, cited = _PIC_LINE.search(body), _SOURCES.findall(body)
        if pic is None or len(cited) != 1:
            return False
        owned.records.append(f"organisation {ids[0]}")
        sources = [s.strip() for s in cited[0].split(",")]
        survey.owned_orgs[pic.group(1)] = _OwnedOrganisation(owned, ids[0], sources)
    else:
        return False
    survey.ids.update(ids)
    survey.owned_files.append(owned)
    return True


def _note_ids(survey: _Survey, model: DataFile) -> None:
    survey.ids.update(s.id for s in model.sources)
    survey.ids.update(o.id for o in model.organisations)
    survey.ids.update(i.id for i in model.initiatives)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- reviewed name matches


@dataclass(slots=True)
class Decisions:
    """Which CORDIS organisations (PIC) are, or are not, organisations already in the data.

    Kept in `matches.tsv` under `--into`, which people review and may edit; `--match ORG=PIC`
    and `--no-match ORG=PIC` add to it.
    """

    same: dict[str, str] = field(default_factory=dict)  # PIC → organisation id
    different: set[tuple[str, str]] = field(default_factory=set)  # (PIC, organisation id)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # PIC → (CORDIS name, country)

    def text(self) -> str:
        lines = [
            "# CORDIS organisations (PIC) that are, or are not, organisations of the data,",
            "# as people decided them: `atmptrack import cordis --match ORG=PIC` (same) or",
            "# `--no-match ORG=PIC` (different) write here, and so may you. The import reuses",
            "# an organisation that is the same, and never overwrites it.",
            "pic\torganisation\tdecision\tcordis_name\tcountry",
        ]
        rows = [(pic, org, "same") for pic, org in self.same.items()]
        rows += [(pic, org, "different") for pic, org in self.different]
        for pic, org, decision in sorted(rows):
            name, country = self.names.get(pic, ("", ""))
            lines.append(f"{pic}\t{org}\t{decision}\t{_one_line(name)}\t{country}")
        return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_decisions(path: Path) -> Decisions:
    decisions = Decisions()
    if not path.exists():
        return decisions
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#") or line.startswith("pic\t"):
            continue
        cells = line.split("\t")
        if len(cells) < 3 or not re.fullmatch(r"[0-9]{9}", cells[0].strip()):
            raise UsageError(
                f"{path}:{number}: expected PIC, organisation id and decision (same or "
                "different) separated by tabs"
            )
        pic, org, decision = (c.strip() for c in cells[:3])
        if decision == "same":
            decisions.same[pic] = org
        elif decision == "different":
            decisions.different.add((pic, org))
        else:
            raise UsageError(f"{path}:{number}: decision '{decision}' is not same or different")
        if len(cells) >= 5:
            decisions.names[pic] = (cells[3].strip(), cells[4].strip())
    return decisions


def parse_pair(text: str, option: str) -> tuple[str, str]:
    """`ORG=PIC` → (PIC, ORG)."""
    org, sep, pic = text.partition("=")
    org, pic = org.strip(), pic.strip()
    if not sep or not re.fullmatch(r"[0-9]{9}", pic) or not org:
        raise UsageError(f"{option} '{text}': expected ORGANISATION_ID=PIC (a PIC has 9 digits)")
    return pic, org


def _name_keys(name: str) -> set[str]:
    """Forms of a name that match across spellings: case, accents, punctuation, and German
    umlauts written out (`Universitätsmedizin` = `UNIVERSITAETSMEDIZIN`)."""
    folded = name.casefold()
    keys = set()
    for variant in (folded, folded.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")):
        plain = unicodedata.normalize("NFKD", variant)
        plain = "".join(c for c in plain if not unicodedata.combining(c))
        plain = re.sub(r"[^a-z0-9]+", " ", plain).strip()
        if plain:
            keys.add(plain)
    return keys


def _candidates(survey: _Survey) -> list[tuple[Organisation, str, set[str]]]:
    """The curated organisations a CORDIS organisation may be, with the forms of their names:
    those without a PIC (one with another PIC is another organisation)."""
    return [
        (
            org,
            file,
            {k for n in (org.name, org.short_name, *org.other_names) if n for k in _name_keys(n)},
        )
        for _id, (org, file) in sorted(survey.curated_orgs.items())
        if not org.ids.pic
    ]


def _proposals(
    pic: str,
    rows: list[Participation],
    candidates: list[tuple[Organisation, str, set[str]]],
    decisions: Decisions,
) -> list[Proposal]:
    """Curated organisations with the same name or short name, in the same country."""
    names = {k for r in rows for n in (r.name, r.short_name) if n for k in _name_keys(n)}
    country = rows[-1].country
    found = []
    for org, file, theirs in candidates:
        if (pic, org.id) in decisions.different:
            continue
        if org.country and country and org.country != country:
            continue
        if names & theirs:
            found.append(Proposal(pic, rows[-1].name, country, org.id, org.name, file))
    return found


# ---------------------------------------------------------------- records


def _slug(text: str, limit: int = 40) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    while len(slug) > limit and "-" in slug:
        slug = slug.rsplit("-", 1)[0]
    return slug[:limit].strip("-")


def _new_id(base: str, suffix: str, fallback: str, used: set[str]) -> str:
    slug = _slug(base)
    ident = slug if slug and slug not in used else f"{slug or fallback}-{suffix}"
    used.add(ident)
    return ident


def source_id(project_id: str) -> str:
    return f"cordis-{project_id}"


def _website(text: str) -> tuple[str | None, str | None]:
    """(URL, why it was completed): CORDIS often writes a bare domain."""
    from urllib.parse import urlsplit

    if not text or any(c.isspace() for c in text):
        return None, None
    parts = urlsplit(text)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return text, None
    if not parts.scheme and _DOMAIN.fullmatch(text):
        return f"http://{text}", f"CORDIS gives {text} without a scheme; http:// is added"
    return None, None


def _canonical(model: BaseModel) -> dict[str, Any]:
    """A validated record as the import writes it: no defaults, fields in the format's order
    with the note and sources last, as people write them."""
    data = model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    ordered: dict[str, Any] = _ordered(data)
    return ordered


def _ordered(value: Any) -> Any:
    if isinstance(value, dict):
        tail = [k for k in ("note", "sources", "inferred") if k in value]
        keys = [k for k in value if k not in tail] + tail
        return {k: _ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


class _Builder:
    """Records from the export's rows, validated by the data format's own models."""

    def __init__(self, export: Export, outcome: Outcome) -> None:
        self.export = export
        self.outcome = outcome

    def skip(self, where: str, why: str) -> None:
        self.outcome.skipped.append((where, why))

    def organisation(self, ident: str, rows: list[Participation]) -> Organisation | None:
        """The organisation as its freshest row gives it, citing that row's project (the
        import cites every project that lists it once the projects are known)."""
        from pydantic import ValidationError

        # The freshest row speaks for the organisation: rows are snapshots of different days.
        row = max(rows, key=lambda r: (r.updated or "", int(r.project)))
        inferred: dict[str, str] = {}
        kinds = list(dict.fromkeys(k for k in row.activity.split(";") if k.strip()))
        sector, words = SECTORS.get(kinds[0], (Sector.OTHER, "")) if kinds else (Sector.OTHER, "")
        if kinds:
            inferred["sector"] = (
                f"mapped from the CORDIS activity type {kinds[0]} ({words or 'not a known type'})"
                + (f"; the row also gives {', '.join(kinds[1:])}" if kinds[1:] else "")
            )
        else:
            inferred["sector"] = "CORDIS gives no activity type"
        website, completed = _website(row.website)
        if completed:
            inferred["website"] = completed
        vat = row.vat.upper()
        data: dict[str, Any] = {
            "id": ident,
            "name": row.name,
            "short_name": row.short_name if row.short_name not in ("", row.name) else None,
            "country": row.country,
            "source_country": row.country_written,
            "sector": sector.value,
            "city": row.city or None,
            "website": website,
            "ids": {
                "pic": row.pic,
                "vat": vat if _VAT.fullmatch(vat) and not _NO_VAT.fullmatch(vat) else None,
            },
            "sme": row.sme,
            "sources": [source_id(row.project)],
            "inferred": inferred,
        }
        try:
            return Organisation.model_validate(data)
        except ValidationError as exc:
            self.skip(row.where, f"organisation {row.pic} skipped: {_first_error(exc)}")
            return None

    def project(
        self, ident: str, project: Project, members: list[dict[str, Any]]
    ) -> tuple[Source, Initiative] | None:
        from pydantic import ValidationError

        cited = [source_id(project.id)]
        source: dict[str, Any] = {
            "id": cited[0],
            "title": f"CORDIS project {project.id}"
            + (f" ({project.acronym})" if project.acronym else ""),
            "publisher": "European Commission, CORDIS",
            "url": PROJECT_PAGE.format(project.id),
            "published": project.updated,
            "note": "CORDIS open-data export; published is when CORDIS last updated the record",
        }
        inferred: dict[str, str] = {}
        doi = project.grant_doi
        if not doi:
            doi = f"10.3030/{project.id}"
            inferred["ids"] = "the export has no grantDoi; CORDIS gives every grant 10.3030/<id>"
        status = STATUSES.get(project.status)
        if project.status and status is None:
            self.skip(project.where, f"status '{project.status}' is not one CORDIS uses; left out")
        elif status is not None:
            # CORDIS states the grant's administrative state, not whether the work runs: a
            # signed grant may not have started yet. Our status is read from it, so say so.
            inferred["status"] = f"from the CORDIS status {project.status}"
        funding: dict[str, Any] = {
            "id": "eu-grant",
            "amount": project.ec_max,
            "currency": "EUR",
            "funder": FUNDER,
            "programme": project.programme,
            "instrument": project.scheme or None,
            "start": project.start,
            "end": project.end,
            "call": project.call or None,
            "topic": project.topic or None,
            "total_cost": project.total_cost,
            "sources": cited,
        }
        summary = project.objective or None
        if summary and len(summary) > _MAX_TEXT:
            summary = summary[:_MAX_TEXT].rstrip() + "…"
            self.skip(project.where, f"objective cut to {_MAX_TEXT} characters")
        data: dict[str, Any] = {
            "id": ident,
            "acronym": project.acronym or None,
            "name": project.title or project.acronym or f"CORDIS project {project.id}",
            "kind": "project",
            "summary": summary,
            "status": status.value if status else None,
            "start": project.start,
            "end": project.end,
            "ids": {"cordis": project.id, "grant_doi": doi},
            "members": members,
            "funding": [funding],
            "sources": cited,
            "inferred": inferred,
        }
        if project.end and project.start and project.end < project.start:
            self.skip(project.where, "endDate is before startDate; both left out")
            data["start"] = data["end"] = funding["start"] = funding["end"] = None
        try:
            return Source.model_validate(source), Initiative.model_validate(data)
        except ValidationError as exc:
            self.skip(project.where, f"project {project.id} skipped: {_first_error(exc)}")
            return None

    def members(
        self, project: Project, rows: list[Participation], org_of: dict[str, str]
    ) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []
        seen: dict[str, Participation] = {}
        ordered = sorted(rows, key=lambda r: (r.order is None, r.order or 0, r.pic))
        coordinator = False
        for row in ordered:
            org = org_of.get(row.pic)
            if org is None:
                continue  # its organisation could not be made: said where it was skipped
            role = ROLES.get(row.role.replace("_", "").replace(" ", "").lower())
            if role is None:
                self.skip(row.where, f"participation skipped: role '{row.role[:40]}' is unknown")
                continue
            if org in seen:
                self.skip(
                    row.where,
                    f"participation skipped: {org} already takes part in {project.id} "
                    f"({seen[org].where})",
                )
                continue
            if role is Role.COORDINATOR:
                if coordinator:
                    self.skip(row.where, "a second coordinator: recorded as co-coordinator")
                    role = Role.CO_COORDINATOR
                coordinator = True
            seen[org] = row
            member: dict[str, Any] = {
                "organisation": org,
                "role": role.value,
                "order": row.order,
                "ec_contribution": row.ec,
                "net_ec_contribution": row.net_ec,
                "sources": [source_id(project.id)],
            }
            if row.ended:
                member["note"] = "its participation ended before the project's end"
            members.append(member)
        return members


# The reader refuses scalars above 64 KiB; objectives are far shorter, but a bad export is not.
_MAX_TEXT = 60_000


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


# ---------------------------------------------------------------- writing


@cache
def _dumper() -> Any:
    """PyYAML's dumper (the C one when built), told to write as people write this format."""
    import yaml

    base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):  # type: ignore[misc]
        # The reader refuses anchors and aliases: never share a node.
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def sequence(dumper: Any, value: list[Any]) -> Any:
        # Lists of ids on one line, as people write `sources: [a, b]`; records one per line.
        flow = all(isinstance(v, str) and len(v) < 80 for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    Dumper.add_representer(str, text)
    Dumper.add_representer(list, sequence)
    return Dumper


def _dump(data: dict[str, Any]) -> str:
    import yaml

    out: str = yaml.dump(
        data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return out


def render(data: dict[str, Any]) -> bytes:
    body = _dump(data).encode("utf-8")
    return f"{_HEADER}{MARK}{checksum(body)}\n".encode() + body


@dataclass(slots=True)
class _Plan:
    """The files an import changes. Each new content goes to a staging file at once (so that
    a full import does not hold every file in memory), and reaches its place in `apply`."""

    staging: Path | None  # None in a dry run: nothing is written
    writes: dict[Path, Path | None] = field(default_factory=dict)  # place → staged file
    removals: list[Path] = field(default_factory=list)
    mode: int = 0o644

    def put(self, path: Path, content: bytes, owned: _Owned | None = None) -> str:
        """Plan a file's content; new, changed or unchanged."""
        mark = _split_mark(content)
        if owned is not None and owned.checksum and mark and mark[0] == owned.checksum:
            return "unchanged"  # an intact file of ours, and its checksum line says the same
        before: bytes | None
        try:
            before = path.read_bytes()
        except FileNotFoundError:
            before = None
        except OSError:
            before = b""
        if before == content:
            return "unchanged"
        if before is not None and mark is not None and _split_mark(before) is None:
            # A file of the same name that the import did not write (`--into` a curated
            # directory, say) is someone else's.
            raise ImportRefused(
                f"{path} exists and was not written by the import; it is never overwritten. "
                "Choose another --into. Nothing was written"
            )
        staged = None
        if self.staging is not None:
            staged = self.staging / f"{len(self.writes)}.tmp"
            # Not fsync'd, like every file atmptrack writes: the rename keeps a file whole
            # against an interruption; at thousands of files a sync each would take minutes.
            staged.write_bytes(content)
            staged.chmod(self.mode)
        self.writes[path] = staged
        return "new" if before is None else "changed"

    def apply(self, into: Path, progress: Progress | None) -> None:
        """Each file whole or not at all: staged beside its place, then renamed over it.

        Organisations come before the projects that name them, removals last, so that an
        import cut short leaves files that each read whole; running it again completes it.
        """
        root = into.resolve()
        for path in [*self.writes, *self.removals]:
            if not _inside(path.parent, root) or path.is_symlink():
                raise ImportRefused(f"{path}: outside {into}; nothing is written outside --into")
        order = sorted(self.writes, key=lambda p: (p.parent.name != ORGANISATIONS, str(p)))
        for done, path in enumerate(order, start=1):
            staged = self.writes[path]
            assert staged is not None, "apply() runs only with a staging directory"
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, path)
            if progress is not None and (done % 100 == 0 or done == len(order)):
                progress("writing", done, len(order))
        for path in sorted(self.removals, key=lambda p: p.parent.name == ORGANISATIONS):
            path.unlink(missing_ok=True)


@contextmanager
def _staging(into: Path, *, dry_run: bool) -> Iterator[Path | None]:
    """A hidden directory inside `into` for the new files (the data directory's readers skip
    hidden directories); gone afterwards, and so is `into` if the import made it for nothing."""
    if dry_run:
        yield None
        return
    made = not into.exists()
    try:
        into.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".atmptrack-import-", dir=into))
    except OSError as exc:
        raise ImportRefused(f"cannot write in {into}: {exc.strerror or exc}") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if made:
            with suppress(OSError):
                into.rmdir()  # only when empty: the import failed before writing anything


def _mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# ---------------------------------------------------------------- the import


@dataclass(slots=True)
class Request:
    paths: list[Path]
    data_dir: Path
    into: Path
    selection: Selection = field(default_factory=Selection)
    matches: list[tuple[str, str]] = field(default_factory=list)  # (PIC, organisation id)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False


def import_cordis(request: Request, *, progress: Progress | None = None) -> Outcome:
    """Read the export, map the selected projects, and write what changed under `into`.

    Nothing is written when a name match awaits review, when a file of the import was edited
    by hand, or when the export cannot be read.
    """
    from atmptrack.cordis import read_export

    into = request.into
    survey = _survey(request.data_dir, into.resolve())
    decisions = _decide(request, survey)
    export = read_export(request.paths, request.selection, progress=progress)
    run = _Run(request, survey, decisions, export)
    run.leave_curated_projects()
    run.identify_organisations()
    if run.outcome.proposals and not request.dry_run:
        return run.outcome  # nothing is written until a person has decided
    with _staging(into, dry_run=request.dry_run) as staging:
        plan = _Plan(staging, mode=_mode())
        run.plan(plan)
        _refuse_edits(survey, plan, into)
        if staging is not None:
            plan.apply(into, progress)
    return run.outcome


def _decide(request: Request, survey: _Survey) -> Decisions:
    """The reviewed matches of matches.tsv, with this command line's added."""
    decisions = read_decisions(request.into / MATCHES)
    known = set(survey.curated_orgs) | {o.id for o in survey.owned_orgs.values()}
    for _pic, org_id in [*request.matches, *request.refusals]:
        if org_id not in known:
            raise UsageError(
                f"--match/--no-match: no organisation '{org_id}' in the data"
                + did_you_mean(org_id, known)
            )
    for pic, org_id in request.matches:
        decisions.same[pic] = org_id
        decisions.different.discard((pic, org_id))
    for pic, org_id in request.refusals:
        decisions.different.add((pic, org_id))
        if decisions.same.get(pic) == org_id:
            del decisions.same[pic]
    return decisions


class _Run:
    """One import: from the export's rows to planned files, step by step."""

    def __init__(
        self, request: Request, survey: _Survey, decisions: Decisions, export: Export
    ) -> None:
        self.request, self.survey, self.decisions, self.export = request, survey, decisions, export
        self.outcome = Outcome(request.into, request.dry_run, rows_read=export.rows_read)
        self.outcome.skipped.extend(export.warnings)
        self.builder = _Builder(export, self.outcome)
        self.used = set(survey.ids)  # one namespace: new ids must not collide with any
        self.by_pic: dict[str, list[Participation]] = {}
        self.org_of: dict[str, str] = {}  # PIC → the organisation id members name
        self.ours: dict[str, str] = {}  # PIC → id of an organisation the import writes

    def leave_curated_projects(self) -> None:
        for pid in sorted(self.export.projects, key=int):
            if pid in self.survey.curated_projects:
                ini_id, file = self.survey.curated_projects[pid]
                where = self.export.projects.pop(pid).where
                self.outcome.skipped.append(
                    (where, f"project {pid} is curated as {ini_id} in {file}")
                )

    def identify_organisations(self) -> None:
        """Who each PIC is: curated (by PIC, or confirmed by a person), ours, new, or a name
        match that awaits review."""
        survey, decisions, outcome = self.survey, self.decisions, self.outcome
        for pid in self.export.projects:
            for row in self.export.participations[pid]:
                self.by_pic.setdefault(row.pic, []).append(row)
        pending = set()
        candidates = _candidates(survey)
        for pic in sorted(self.by_pic):
            rows = self.by_pic[pic]
            if pic in survey.curated_pics:
                self.org_of[pic] = survey.curated_pics[pic]
                outcome.reused[pic] = self.org_of[pic]
            elif pic in decisions.same:
                self.org_of[pic] = decisions.same[pic]
                decisions.names.setdefault(pic, (rows[-1].name, rows[-1].country or ""))
                if self.org_of[pic] in survey.curated_orgs:
                    outcome.reused[pic] = self.org_of[pic]
                    outcome.missing_pics[self.org_of[pic]] = pic
            elif pic in survey.owned_orgs:
                self.org_of[pic] = self.ours[pic] = survey.owned_orgs[pic].id
            else:
                found = _proposals(pic, rows, candidates, decisions)
                outcome.proposals.extend(found)
                if found:
                    pending.add(pic)
                for proposal in found:
                    decisions.names.setdefault(pic, (proposal.cordis_name, proposal.country or ""))
        for pic in sorted(self.by_pic):
            if pic not in self.org_of and pic not in pending:
                row = self.by_pic[pic][-1]
                base = row.short_name if len(_slug(row.short_name)) >= 2 else row.name
                self.org_of[pic] = self.ours[pic] = _new_id(base, pic, "organisation", self.used)

    def plan(self, plan: _Plan) -> None:
        """Build the records and plan every file that changes."""
        survey, outcome = self.survey, self.outcome
        into = self.request.into
        into_abs = into.resolve()
        # The projects the import keeps after this run, with their members: ours from before,
        # less the excluded and the curated ones, with this export's selection replacing its own.
        final: dict[str, tuple[str, ...]] = {
            pid: owned.members
            for pid, owned in survey.owned_projects.items()
            if pid not in self.request.selection.exclude and pid not in survey.curated_projects
        }
        built_orgs: dict[str, Organisation] = {}
        for pic, ident in sorted(self.ours.items()):
            built = self.builder.organisation(ident, self.by_pic[pic])
            if built is None:
                del self.org_of[pic]
            else:
                built_orgs[ident] = built
        for pid in sorted(self.export.projects, key=int):
            project = self.export.projects[pid]
            rows = self.export.participations.pop(pid)
            members = self.builder.members(project, rows, self.org_of)
            if pid in survey.owned_projects:
                ident = survey.owned_projects[pid].id
            else:
                ident = _new_id(project.acronym, pid, "project", self.used)
            made = self.builder.project(ident, project, members)
            if made is None:
                continue
            source, initiative = made
            final[pid] = tuple(m.organisation for m in initiative.members)
            owned = survey.owned_projects.get(pid)
            path = owned.file.path if owned else into_abs / PROJECTS / f"{pid}.yaml"
            document = {"sources": [_canonical(source)], "initiatives": [_canonical(initiative)]}
            outcome.projects[pid] = plan.put(path, render(document), owned.file if owned else None)
            outcome.signals[pid] = project.signals
            outcome.acronyms[pid] = project.acronym
            outcome.members[pid] = len(members)
        self._organisations(plan, built_orgs, final)
        for pid, owned_project in sorted(survey.owned_projects.items()):
            if pid not in final:
                plan.removals.append(owned_project.file.path)
                outcome.projects[pid] = "removed"
        if self.decisions.same or self.decisions.different:
            plan.put(into_abs / MATCHES, self.decisions.text().encode("utf-8"))

    def _organisations(
        self, plan: _Plan, built: dict[str, Organisation], final: dict[str, tuple[str, ...]]
    ) -> None:
        """Each organisation of ours cites every project of ours that lists it; one that no
        project lists any more goes, unless curated records name it."""
        survey, outcome, into = self.survey, self.outcome, self.request.into
        listed: dict[str, list[str]] = {}
        for pid in sorted(final, key=int):
            for member in final[pid]:
                listed.setdefault(member, []).append(source_id(pid))
        removed_sources = {source_id(pid) for pid in survey.owned_projects if pid not in final}
        before = {o.id: o for o in survey.owned_orgs.values()}
        for ident in sorted(built.keys() | before.keys()):
            earlier = before.get(ident)
            cited = earlier.sources if earlier else []
            if earlier is not None:
                path = earlier.file.path
            else:
                path = into.resolve() / ORGANISATIONS / f"{built[ident].ids.pic}.yaml"
            cites = listed.get(ident)
            if not cites and ident in survey.curated_refs:
                # Curated records name it (a project moved out of the import, say): it stays
                # as it is, unless what it cites goes away with this import.
                if set(cited) & removed_sources:
                    raise ImportRefused(
                        f"{path}: organisation {ident} is used by curated records, but the "
                        f"projects it cites leave the import; move the file out of {into} to "
                        "curate it"
                    )
                outcome.organisations[ident] = "unchanged"
            elif not cites:
                if path.exists():
                    plan.removals.append(path)
                    outcome.organisations[ident] = "removed"
            elif ident not in built and cites == cited:
                # Not in this export's rows and cited as before: its file stays as it is,
                # edited or not (an edit is refused only where the import would overwrite it).
                outcome.organisations[ident] = "unchanged"
            else:
                org = built[ident] if ident in built else before[ident].record()
                record = org.model_copy(update={"sources": cites})
                content = render({"organisations": [_canonical(record)]})
                outcome.organisations[ident] = plan.put(
                    path, content, earlier.file if earlier else None
                )


def _refuse_edits(survey: _Survey, plan: _Plan, into: Path) -> None:
    """A file of the import that a person edited is never overwritten or removed."""
    touched = {p.resolve() for p in [*plan.writes, *plan.removals]}
    edited = [o for o in survey.owned_files if not o.intact and o.path.resolve() in touched]
    if not edited:
        return
    lines = [f"{o.path} ({', '.join(o.records) or 'no record'})" for o in edited]
    raise ImportRefused(
        "the import would overwrite hand edits in "
        + "; ".join(lines)
        + f". To keep them, move the file out of {into} (the import then leaves the record to "
        "you); to drop them, delete the file. Nothing was written"
    )


def describe(outcome: Outcome) -> Iterator[str]:
    """The summary for people, one line each."""
    counts = _tally(outcome.projects.values())
    orgs = _tally(outcome.organisations.values())
    verb = "would import" if outcome.dry_run else "imported"
    yield (
        f"atmptrack: {verb} {len(outcome.projects)} project(s) ({counts}), "
        f"{outcome.participations} participation(s), "
        f"{sum(1 for v in outcome.organisations.values() if v != 'removed')} organisation(s) "
        f"of the import ({orgs}), {len(set(outcome.reused.values()))} reused from the data, "
        f"into {outcome.into}; {outcome.rows_read} rows read"
    )
    for org, pic in sorted(outcome.missing_pics.items()):
        yield f'atmptrack: {org} is PIC {pic} (matches.tsv); its record could say so: ids: {{pic: "{pic}"}}'
    if outcome.skipped:
        yield f"atmptrack: {len(outcome.skipped)} warning(s): rows or values skipped, as said above"


def _tally(values: Iterable[str]) -> str:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    order = ("new", "changed", "unchanged", "removed")
    return ", ".join(f"{counted[k]} {k}" for k in order if k in counted) or "none"
