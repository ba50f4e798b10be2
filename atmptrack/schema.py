"""The YAML contract: Pydantic input models with unknown fields rejected, and the checks across records."""

from __future__ import annotations

import re
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
)

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Plain decimal notation only: `1,000`, `1e3`, `.nan`, `.inf` and signs are refused on purpose.
_AMOUNT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"'{value}' is not an id; use lower-case letters, digits and single hyphens"
        )
    return value


def _parse_date(value: Any) -> PartialDate:
    if isinstance(value, PartialDate):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a partial date such as 2025-03, found {type(value).__name__}")
    return PartialDate.parse(value)


def _parse_amount(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    text = str(value).strip()
    if not _AMOUNT.match(text):
        raise ValueError(
            f"'{text}' is not an amount; write digits with an optional decimal point "
            "(no thousands separators, signs or exponents), e.g. 4885375 or 2500000.50"
        )
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise ValueError(f"'{text}' is not an amount") from exc


def _check_country(value: str) -> str:
    code = country_code(value)
    if code is not None:
        return code
    suggestion = country_suggestion(value)
    hint = f"; use {suggestion}" if suggestion else ""
    raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code{hint}")


def _check_currency(value: str) -> str:
    import pycountry

    code = value.strip().upper()
    if len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None:
        return code
    raise ValueError(f"'{value}' is not an ISO 4217 currency code (for example EUR)")


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' is not an http(s) URL")
    return value


Id = Annotated[str, AfterValidator(_check_id)]
Date = Annotated[PartialDate, BeforeValidator(_parse_date), PlainSerializer(str)]
Amount = Annotated[Decimal, BeforeValidator(_parse_amount)]
Country = Annotated[str, AfterValidator(_check_country)]
Currency = Annotated[str, AfterValidator(_check_currency)]
Url = Annotated[str, AfterValidator(_check_url)]
Text = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0)]


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
    note: Text | None = None


class OrganisationIds(Model):
    pic: Annotated[str, Field(pattern=r"^[0-9]{9}$")] | None = None
    ror: Annotated[str, Field(pattern=r"^0[a-z0-9]{8}$")] | None = None


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
    countries: Count | None = None


class Member(Sourced):
    organisation: Id
    role: Role


class WorkGroup(Sourced):
    id: Id
    kind: GroupKind
    number: Annotated[int, Field(ge=0)] | None = None
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


class Relation(Sourced):
    kind: RelationKind
    initiative: Id


class InitiativeIds(Model):
    cordis: Annotated[str, Field(pattern=r"^[0-9]{5,9}$")] | None = None


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
