"""Closed vocabularies of the data format, importable without pydantic for fast option checks."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Sector(StrEnum):
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research-institute"
    HOSPITAL = "hospital"
    COMPANY = "company"
    INNOVATION_INTERMEDIARY = (
        "innovation-intermediary"  # technology parks, incubators, tech transfer
    )
    PUBLIC_AGENCY = "public-agency"
    GOVERNMENT = "government"
    PATIENT_ORGANISATION = "patient-organisation"
    CIVIL_SOCIETY_ORGANISATION = "civil-society-organisation"
    NETWORK = "network"  # networks, clusters, alliances
    FUNDER = "funder"
    OTHER = "other"


class Helix(StrEnum):
    ACADEMIA = "academia"
    INDUSTRY = "industry"
    GOVERNMENT = "government"
    CIVIL_SOCIETY = "civil-society"


# Sectors missing here have no natural helix (a hospital may be academic or public, a network
# may be anything): the data must state the helix with a reason, or leave it unknown.
DEFAULT_HELIX: dict[Sector, Helix] = {
    Sector.UNIVERSITY: Helix.ACADEMIA,
    Sector.RESEARCH_INSTITUTE: Helix.ACADEMIA,
    Sector.COMPANY: Helix.INDUSTRY,
    Sector.INNOVATION_INTERMEDIARY: Helix.INDUSTRY,
    Sector.PUBLIC_AGENCY: Helix.GOVERNMENT,
    Sector.GOVERNMENT: Helix.GOVERNMENT,
    Sector.PATIENT_ORGANISATION: Helix.CIVIL_SOCIETY,
    Sector.CIVIL_SOCIETY_ORGANISATION: Helix.CIVIL_SOCIETY,
}


class Role(StrEnum):
    COORDINATOR = "coordinator"
    CO_COORDINATOR = "co-coordinator"
    HOST = "host"
    SUPPORTING = "supporting"
    PARTNER = "partner"
    MEMBER = "member"
    ASSOCIATED = "associated"
    # A linked organisation that works on the action with its own EU contribution but signs no
    # grant (CORDIS `thirdParty`).
    THIRD_PARTY = "third-party"


class InitiativeKind(StrEnum):
    CONSORTIUM = "consortium"
    PROJECT = "project"
    NETWORK = "network"
    HUB = "hub"
    CENTRE_OF_EXCELLENCE = "centre-of-excellence"
    ALLIANCE = "alliance"
    PROGRAMME = "programme"


class TherapyArea(StrEnum):
    GENE = "gene"
    CELL = "cell"
    TISSUE = "tissue"


class Status(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    ENDED = "ended"
    TERMINATED = "terminated"  # ended before its planned end (CORDIS `TERMINATED`)


class GroupKind(StrEnum):
    WORK_PACKAGE = "work-package"
    WORK_GROUP = "work-group"


class MilestoneKind(StrEnum):
    KICK_OFF = "kick-off"
    PRESENTATION = "presentation"
    LAUNCH = "launch"
    MANDATE = "mandate"
    MEETING = "meeting"
    REPORT = "report"
    OTHER = "other"


class DateQualifier(StrEnum):
    EXACT = "exact"
    APPROXIMATELY = "approximately"


class AmountQualifier(StrEnum):
    EXACT = "exact"
    APPROXIMATELY = "approximately"
    AT_MOST = "at-most"
    AT_LEAST = "at-least"


class CountQualifier(StrEnum):
    EXACT = "exact"
    APPROXIMATELY = "approximately"
    AT_LEAST = "at-least"
    MORE_THAN = "more-than"


class RelationKind(StrEnum):
    GREW_OUT_OF = "grew-out-of"
    BRINGS_TOGETHER = "brings-together"
    PART_OF = "part-of"
    RELATED_TO = "related-to"


# How qualifiers read in tables meant for people.
AMOUNT_SYMBOL: dict[str, str] = {
    "exact": "",
    "approximately": "≈",
    "at-most": "≤",
    "at-least": "≥",
}
COUNT_WORDS: dict[str, str] = {
    "exact": "",
    "approximately": "about",
    "at-least": "at least",
    "more-than": "more than",
}


def values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code for value written as a code (any case), or None."""
    import pycountry

    written = value.strip()
    code = written.upper()
    # ASCII only: upper() turns some other letters into ASCII ones (the ligature `ﬁ` into `FI`).
    if not written.isascii() or len(code) != 2:
        return None
    return code if pycountry.countries.get(alpha_2=code) is not None else None


def country_suggestion(value: str) -> str | None:
    """The code of the country value names (`Slovenia` → `SI`), for error messages."""
    import pycountry

    try:
        return str(pycountry.countries.lookup(value.strip()).alpha_2)
    except LookupError:
        return None


def combine(qualifiers: Iterable[str]) -> str:
    """The qualifier of a sum: exact only if every part is; bounds survive only in one direction."""
    found = set(qualifiers) - {"exact"}
    if not found:
        return "exact"
    if found in ({"at-least"}, {"at-most"}):
        return found.pop()
    return "approximately"


QUOTED_CHARS = 60


def quote(value: str) -> str:
    """A value from the data as messages quote it: on one line, and cut short when long."""
    short = value[:QUOTED_CHARS] + ("…" if len(value) > QUOTED_CHARS else "")
    text = f"'{short}'" if short.isprintable() else repr(short)
    return text if len(value) <= QUOTED_CHARS else f"{text} ({len(value)} characters)"
