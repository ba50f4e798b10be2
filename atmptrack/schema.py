"""The YAML contract: Pydantic input models with unknown fields rejected, and the checks across records."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from atmptrack.dates import PartialDate
from atmptrack.vocab import (
    DEFAULT_HELIX,
    AmountQualifier,
    CountQualifier,
    DateQualifier,
    GroupKind,
    Helix,
    InitiativeKind,
    MilestoneKind,
    RelationKind,
    Role,
    Sector,
    Status,
    TherapyArea,
    country_code,
    country_suggestion,
    quote,
)

# Every pattern here is applied with fullmatch and spells digits [0-9]: Python's `$` also matches
# before a trailing newline (so "charite\n" would pass as a second id that prints like
# "charite"), and \d also matches Arabic-Indic, fullwidth and other non-ASCII digits.
# Plain decimal notation only: `1,000`, `1e3`, `.nan`, `.inf` and signs are refused on purpose.
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")

# Amounts are below 10^15 with at most 4 decimal places. 10^15 is ten thousand times the largest
# research programme (Horizon Europe, EUR 95.5 billion), and EUR 100 million stays below it even
# in the currency with the smallest unit (the Iranian rial, about a million to the euro).
# Unbounded, 309 digits overflow the floats that charts use, and sums and the yearly spread
# leave Decimal's 28-digit precision; 15 + 4 digits keep them exact. Four decimal places is the
# finest ISO 4217 minor unit (CLF, UYW; the dinars have three).
MAX_AMOUNT_DIGITS = 15
MAX_AMOUNT_DECIMALS = 4
_AMOUNT_LIMIT = Decimal(10) ** MAX_AMOUNT_DIGITS
# Counts and numbers must fit an SQLite INTEGER (larger ones made `load` fail): a million is far
# beyond any partner count, and ISO 3166-1 has 249 country codes.
MAX_COUNT = 1_000_000
MAX_COUNTRIES = 249
# ISO 4217 codes that name no currency, so an amount in them means nothing.
_NOT_CURRENCIES = {
    "XXX": "code for transactions where no currency is involved",
    "XTS": "code reserved for testing",
}


def id_message(value: str) -> str:
    """What is wrong with a value that is not an id (see `Id`)."""
    return f"{quote(value)} is not an id; use lower-case letters, digits and single hyphens"


def _matching(pattern: str, expected: str) -> AfterValidator:
    """A validator for a code written in a fixed form, with a message saying the form."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{quote(value)} is not {expected}")
        return value

    return AfterValidator(check)


def _check_text(value: str) -> str:
    # Spaces and invisible format characters (U+200B and kin) alone would show as an empty
    # name in every table, so they count as nothing written.
    first = value[:1]
    if first and not first.isspace() and unicodedata.category(first) != "Cf":
        return value  # the usual case, decided by the first character without a loop
    if all(c.isspace() or unicodedata.category(c) == "Cf" for c in value):
        raise ValueError(
            "text is blank (empty, or only spaces and invisible characters); "
            "expected at least one visible character"
        )
    return value


def _parse_date(value: Any) -> PartialDate:
    if isinstance(value, PartialDate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a partial date such as 2025-03, found {type(value).__name__}")
    return PartialDate.parse(value)


def _parse_amount(value: Any) -> Decimal:
    # A Decimal built in code passes the same checks as text from a file.
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if not _AMOUNT.fullmatch(text):
        raise ValueError(
            f"{quote(text)} is not an amount; write digits with an optional decimal point "
            "(no thousands separators, signs or exponents), e.g. 4885375 or 2500000.50"
        )
    decimals = len(text.partition(".")[2])
    if decimals > MAX_AMOUNT_DECIMALS:
        raise ValueError(
            f"{quote(text)} has {decimals} decimal places; expected at most "
            f"{MAX_AMOUNT_DECIMALS}, as no currency has a finer unit"
        )
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise ValueError(f"{quote(text)} is not an amount") from exc
    if amount >= _AMOUNT_LIMIT:
        raise ValueError(
            f"{quote(text)} is too large; expected an amount below 10^{MAX_AMOUNT_DIGITS} "
            f"(at most {MAX_AMOUNT_DIGITS} digits before the decimal point)"
        )
    return amount


def _check_country(value: str) -> str:
    code = country_code(value)
    if code is not None:
        return code
    suggestion = country_suggestion(value)
    hint = f"; use {suggestion}" if suggestion else ""
    raise ValueError(f"{quote(value)} is not an ISO 3166-1 alpha-2 country code{hint}")


def _check_currency(value: str) -> str:
    import pycountry

    written = value.strip()
    code = written.upper()
    if code in _NOT_CURRENCIES:
        raise ValueError(
            f"{quote(value)} is ISO 4217's {_NOT_CURRENCIES[code]}, not a currency; "
            "give the currency of the funding (for example EUR)"
        )
    # ASCII only: upper() turns some other letters into ASCII ones (`ß` into `SS`).
    if written.isascii() and len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None:
        return code
    raise ValueError(f"{quote(value)} is not an ISO 4217 currency code (for example EUR)")


# Matches exactly the characters for which str.isspace() is true.
_SPACE = re.compile(r"\s")


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or _SPACE.search(value):
        raise ValueError(f"{quote(value)} is not an http(s) URL")
    return value


# What editors see (`atmptrack schema`): the JSON Schema of each type says what the reader
# accepts, as YAML 1.2 tools parse the file (an unquoted 2025 is a number, 2025-03 a string).
_DATE_PATTERN = r"^(?:[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?|--[0-9]{2}(?:-[0-9]{2})?)$"
_DATE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": _DATE_PATTERN},
        {"type": "integer", "minimum": 1, "maximum": 9999},
    ],
    "description": "A partial date: YYYY, YYYY-MM, YYYY-MM-DD, or --MM / --MM-DD when the year is unknown.",
}
# Checked by Pydantic's own regex engine, not by a Python validator: a call into Python for
# each of the million ids of 10,000 initiatives took half of the validation. That engine's `$`
# matches only at the very end, and [a-z0-9] only ASCII. The message of a mismatch is
# `id_message`, which `dataset` gives in place of Pydantic's own.
ID_PATTERN = "^[a-z0-9]+(?:-[a-z0-9]+)*$"
_ID_SCHEMA = {
    "type": "string",
    "pattern": ID_PATTERN,
    "description": "Lower-case letters, digits and single hyphens.",
}

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN), WithJsonSchema(_ID_SCHEMA)]
Date = Annotated[
    PartialDate,
    BeforeValidator(_parse_date),
    PlainSerializer(str),
    WithJsonSchema(_DATE_SCHEMA),
]
Amount = Annotated[Decimal, BeforeValidator(_parse_amount)]
Country = Annotated[str, AfterValidator(_check_country)]
Currency = Annotated[str, AfterValidator(_check_currency)]
Url = Annotated[str, AfterValidator(_check_url)]
Text = Annotated[str, AfterValidator(_check_text)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Pic = Annotated[str, _matching(r"[0-9]{9}", "a PIC; expected 9 digits")]
Ror = Annotated[
    str, _matching(r"0[a-z0-9]{8}", "a ROR id; expected 0 and 8 lower-case letters or digits")
]
Cordis = Annotated[str, _matching(r"[0-9]{5,9}", "a CORDIS project id; expected 5 to 9 digits")]
Doi = Annotated[str, _matching(r"10\.[0-9]{4,9}/[!-~]+", "a DOI; expected 10.NNNN/suffix")]
# As the source writes it (CORDIS: `DE811304768`, with or without the country prefix).
Vat = Annotated[str, _matching(r"[A-Z0-9][A-Z0-9.\- ]{1,19}", "a VAT number")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Model):
    """A fact-bearing record: it cites sources, and names the fields no source states."""

    sources: list[Id] = Field(min_length=1)
    inferred: dict[str, Text] = Field(default_factory=dict)
    note: Text | None = None


class Source(Model):
    id: Id
    title: Text
    publisher: Text | None = None
    url: Url
    published: Date | None = None
    # Why a curator must check this source before it is relied on (a staging host, a dead link):
    # `report coverage` lists it under what to look up next.
    verify: Text | None = None
    note: Text | None = None


class OrganisationIds(Model):
    pic: Pic | None = None
    ror: Ror | None = None
    vat: Vat | None = None


class Organisation(Sourced):
    id: Id
    name: Text
    short_name: Text | None = None
    other_names: list[Text] = Field(default_factory=list)
    country: Country | None = None
    sector: Sector
    helix: Helix | None = None
    helix_reason: Text | None = None
    city: Text | None = None
    website: Url | None = None
    parent: Id | None = None
    ids: OrganisationIds = Field(default_factory=OrganisationIds)
    # Whether the source counts it as a small or medium-sized enterprise (CORDIS `SME`).
    sme: bool | None = None
    # The country code the source gives where it is not ISO 3166-1 (CORDIS writes EL for
    # Greece and UK for the United Kingdom); `country` holds the ISO code.
    source_country: Annotated[str, _matching(r"[A-Z]{2}", "a country code")] | None = None

    @model_validator(mode="after")
    def _helix_reason(self) -> Organisation:
        default = DEFAULT_HELIX.get(self.sector)
        if self.helix is not None and self.helix != default and self.helix_reason is None:
            raise ValueError(
                f"helix '{self.helix}' differs from the default for sector '{self.sector}' "
                f"({default or 'none'}); give helix_reason"
            )
        if self.helix_reason is not None and self.helix is None:
            raise ValueError("helix_reason is given without helix")
        return self

    @property
    def effective_helix(self) -> Helix | None:
        return self.helix or DEFAULT_HELIX.get(self.sector)


class PartnerCount(Sourced):
    count: Count
    qualifier: CountQualifier = CountQualifier.EXACT
    as_of: Date | None = None
    countries: Annotated[int, Field(ge=0, le=MAX_COUNTRIES)] | None = None


class Member(Sourced):
    organisation: Id
    role: Role
    # What the EU contributes to this member's part (CORDIS `ecContribution`), and the same net
    # of what it passes on to linked third parties (`netEcContribution`); in the funding's currency.
    ec_contribution: Amount | None = None
    net_ec_contribution: Amount | None = None
    # The quadruple-helix group the member's cited sources put it in, as they group the
    # partners. Kept apart from the organisation's helix, which follows our sector classification.
    source_helix: Helix | None = None
    # The participant's number in the grant (CORDIS `order`; the coordinator is 1).
    order: Count | None = None


class WorkGroup(Sourced):
    id: Id
    kind: GroupKind
    number: Count | None = None
    name: Text
    goal: Text | None = None
    leads: list[Id] = Field(default_factory=list)
    coordinators: list[Id] = Field(default_factory=list)


class Person(Sourced):
    id: Id
    name: Text
    role: Text | None = None
    organisation: Id | None = None


class Milestone(Sourced):
    id: Id
    kind: MilestoneKind
    date: Date
    end_date: Date | None = None
    date_qualifier: DateQualifier = DateQualifier.EXACT
    place: Text | None = None
    speakers: list[Id] = Field(default_factory=list)


class ReportedAmount(Model):
    """The same funding as another source words it (a rounder figure, a hedge)."""

    amount: Amount
    qualifier: AmountQualifier
    sources: list[Id] = Field(min_length=1)
    note: Text | None = None


class Funding(Sourced):
    id: Id
    amount: Amount | None = None
    currency: Currency
    qualifier: AmountQualifier = AmountQualifier.EXACT
    funder: Text | None = None
    programme: Text | None = None
    instrument: Text | None = None
    start: Date | None = None
    end: Date | None = None
    also_reported: list[ReportedAmount] = Field(default_factory=list)
    call: Text | None = None  # the call for proposals (HORIZON-HLTH-2023-IND-06)
    topic: Text | None = None  # the call topic (HORIZON-HLTH-2023-IND-06-05)
    # The whole cost of the action, of which `amount` is the funder's share (CORDIS `totalCost`).
    total_cost: Amount | None = None


class Relation(Sourced):
    kind: RelationKind
    initiative: Id


class InitiativeIds(Model):
    cordis: Cordis | None = None
    grant_doi: Doi | None = None  # CORDIS gives each grant one: 10.3030/<project id>


class Initiative(Sourced):
    id: Id
    acronym: Text | None = None
    name: Text
    kind: InitiativeKind
    summary: Text | None = None
    aims: list[Text] = Field(default_factory=list)
    therapy_areas: list[TherapyArea] = Field(default_factory=list)
    status: Status | None = None
    start: Date | None = None
    end: Date | None = None
    website: Url | None = None
    ids: InitiativeIds = Field(default_factory=InitiativeIds)
    partner_counts: list[PartnerCount] = Field(default_factory=list)
    members: list[Member] = Field(default_factory=list)
    workgroups: list[WorkGroup] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    funding: list[Funding] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)


class DataFile(Model):
    """One YAML file: any mix of the three record lists."""

    sources: list[Source] = Field(default_factory=list)
    organisations: list[Organisation] = Field(default_factory=list)
    initiatives: list[Initiative] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    """The data format as a JSON Schema (draft 2020-12), from the models that validate it."""
    schema = DataFile.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "atmptrack data file",
        "description": "One YAML file of an atmptrack data directory: sources, organisations "
        "and initiatives. Cross-file checks (references, unique ids) need `atmptrack validate`.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the last element of loc, to suggest field names."""
    model: type[BaseModel] = DataFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _model_in(field.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
