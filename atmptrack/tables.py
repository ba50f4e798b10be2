"""SQLModel table classes of the store; the read side queries the same tables with plain SQL."""

# No `from __future__ import annotations` here: SQLModel needs the real annotations.

import types
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import AutoString

from atmptrack import shape


class Exact(TypeDecorator[str]):
    """An exact decimal amount: NUMERIC on PostgreSQL; text on SQLite, which has no decimal type
    (beside it, an integer of cents sorts and sums). Both read back as the text written."""

    impl = AutoString
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric())
        return dialect.type_descriptor(AutoString())


def _within(table: str, column: str) -> ForeignKeyConstraint:
    """A reference to a record of the same initiative: (initiative_id, column) -> table's key."""
    return ForeignKeyConstraint(
        ["initiative_id", column], [f"{table}.initiative_id", f"{table}.id"]
    )


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class SourceRow(SQLModel, table=True):
    __tablename__ = "source"
    id: str = Field(primary_key=True)
    title: str
    publisher: str | None = None
    url: str
    published: str | None = None
    published_lo: str | None = None
    published_hi: str | None = None
    verify: str | None = None
    note: str | None = None
    file: str
    line: int


class OrganisationRow(SQLModel, table=True):
    __tablename__ = "organisation"
    id: str = Field(primary_key=True)
    name: str
    short_name: str | None = None
    country: str | None = Field(default=None, index=True)
    # Indexed: the `list` flags meet these with a plain `IN` (see query.Column.member).
    sector: str = Field(index=True)
    helix: str | None = Field(default=None, index=True)  # stated, or derived from the sector
    helix_stated: bool = False
    helix_reason: str | None = None
    city: str | None = None
    website: str | None = None
    # Indexed: with foreign keys on, deleting an organisation looks up the ones it hosts.
    parent_id: str | None = Field(default=None, foreign_key="organisation.id", index=True)
    pic: str | None = None
    ror: str | None = None
    vat: str | None = None
    sme: bool | None = None
    source_country: str | None = None
    note: str | None = None
    file: str
    line: int


class InitiativeRow(SQLModel, table=True):
    __tablename__ = "initiative"
    id: str = Field(primary_key=True)
    acronym: str | None = None
    name: str
    kind: str = Field(index=True)
    summary: str | None = None
    status: str | None = None
    start: str | None = None
    start_lo: str | None = None
    start_hi: str | None = None
    end: str | None = None
    end_lo: str | None = None
    end_hi: str | None = None
    website: str | None = None
    cordis_id: str | None = None
    grant_doi: str | None = None
    declared_partners: int | None = None
    declared_qualifier: str | None = None
    declared_countries: int | None = None
    note: str | None = None
    file: str
    line: int


# Every list is a table of its own, one row per item in order (`shape.Link`): the same
# representation for words (aims), vocabulary values and references (sources, people).


class InitiativeAimRow(SQLModel, table=True):
    __tablename__ = "initiative_aim"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    position: int = Field(primary_key=True)
    aim: str


class InitiativeTherapyAreaRow(SQLModel, table=True):
    __tablename__ = "initiative_therapy_area"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    position: int = Field(primary_key=True)
    therapy_area: str = Field(index=True)


class OrganisationOtherNameRow(SQLModel, table=True):
    __tablename__ = "organisation_other_name"
    organisation_id: str = Field(primary_key=True, foreign_key="organisation.id")
    position: int = Field(primary_key=True)
    name: str


class PartnerCountRow(SQLModel, table=True):
    __tablename__ = "partner_count"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    position: int = Field(primary_key=True)
    count: int
    qualifier: str
    as_of: str | None = None
    countries: int | None = None
    note: str | None = None


class MembershipRow(SQLModel, table=True):
    __tablename__ = "membership"
    # By organisation, then initiative: an organisation's memberships in order, and the pairs
    # of initiatives sharing a partner (`report overlap`) from the index alone.
    __table_args__ = (Index("ix_membership_organisation_id", "organisation_id", "initiative_id"),)
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    organisation_id: str = Field(primary_key=True, foreign_key="organisation.id")
    # Not indexed: with no statistics, SQLite would pick an index on role over the key for
    # "this initiative's coordinator", and read every coordinator to find one.
    role: str
    position: int
    ec_contribution: str | None = Field(default=None, sa_type=Exact)
    ec_contribution_cents: int | None = Field(default=None, sa_type=BigInteger)
    net_ec_contribution: str | None = Field(default=None, sa_type=Exact)
    net_ec_contribution_cents: int | None = Field(default=None, sa_type=BigInteger)
    source_helix: str | None = None  # the helix the cited sources group it in, not ours
    order: int | None = None  # the participant's number in the grant
    note: str | None = None


class PersonRow(SQLModel, table=True):
    __tablename__ = "person"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    id: str = Field(primary_key=True)
    position: int
    name: str
    role: str | None = None
    organisation_id: str | None = Field(default=None, foreign_key="organisation.id")
    note: str | None = None


class WorkGroupRow(SQLModel, table=True):
    __tablename__ = "workgroup"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    id: str = Field(primary_key=True)
    position: int
    kind: str
    number: int | None = None
    name: str
    goal: str | None = None
    note: str | None = None


class WorkGroupLeadRow(SQLModel, table=True):
    __tablename__ = "workgroup_lead"
    __table_args__ = (_within("workgroup", "workgroup_id"),)
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    workgroup_id: str = Field(primary_key=True)
    organisation_id: str = Field(primary_key=True, foreign_key="organisation.id")
    position: int


class WorkGroupCoordinatorRow(SQLModel, table=True):
    __tablename__ = "workgroup_coordinator"
    __table_args__ = (_within("workgroup", "workgroup_id"), _within("person", "person_id"))
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    workgroup_id: str = Field(primary_key=True)
    person_id: str = Field(primary_key=True)
    position: int


class MilestoneRow(SQLModel, table=True):
    __tablename__ = "milestone"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    id: str = Field(primary_key=True)
    position: int
    kind: str
    date: str
    # The earliest and latest day each partial date can mean; NULL when the year is unknown.
    date_lo: str | None = None
    date_hi: str | None = None
    precision: str
    end_date: str | None = None
    end_lo: str | None = None
    end_hi: str | None = None
    date_qualifier: str
    place: str | None = None
    note: str | None = None


class MilestoneSpeakerRow(SQLModel, table=True):
    __tablename__ = "milestone_speaker"
    __table_args__ = (_within("milestone", "milestone_id"), _within("person", "person_id"))
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    milestone_id: str = Field(primary_key=True)
    person_id: str = Field(primary_key=True)
    position: int


class FundingRow(SQLModel, table=True):
    __tablename__ = "funding"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    id: str = Field(primary_key=True)
    position: int
    amount: str | None = Field(default=None, sa_type=Exact)
    # For ORDER BY and sums in SQL; 64 bits (PostgreSQL's integer has 32), as amounts allow.
    amount_cents: int | None = Field(default=None, index=True, sa_type=BigInteger)
    currency: str
    qualifier: str
    funder: str | None = None
    programme: str | None = None
    instrument: str | None = None
    start: str | None = None
    start_lo: str | None = None
    start_hi: str | None = None
    end: str | None = None
    end_lo: str | None = None
    end_hi: str | None = None
    call: str | None = None
    topic: str | None = None
    total_cost: str | None = Field(default=None, sa_type=Exact)
    note: str | None = None


class ReportedAmountRow(SQLModel, table=True):
    __tablename__ = "reported_amount"
    __table_args__ = (_within("funding", "funding_id"),)
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    funding_id: str = Field(primary_key=True)
    position: int = Field(primary_key=True)
    amount: str = Field(sa_type=Exact)
    amount_cents: int = Field(sa_type=BigInteger)
    qualifier: str
    note: str | None = None


class ReportedAmountSourceRow(SQLModel, table=True):
    __tablename__ = "reported_amount_source"
    __table_args__ = (
        ForeignKeyConstraint(
            ["initiative_id", "funding_id", "reported_position"],
            [
                "reported_amount.initiative_id",
                "reported_amount.funding_id",
                "reported_amount.position",
            ],
        ),
    )
    initiative_id: str = Field(primary_key=True)
    funding_id: str = Field(primary_key=True)
    reported_position: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    source_id: str = Field(foreign_key="source.id")


class RelationRow(SQLModel, table=True):
    __tablename__ = "relation"
    initiative_id: str = Field(primary_key=True, foreign_key="initiative.id")
    kind: str = Field(primary_key=True)
    target_id: str = Field(primary_key=True, foreign_key="initiative.id")
    position: int
    note: str | None = None


def _model(
    name: str, table: str, columns: dict[str, tuple[Any, Any]], args: tuple[Any, ...]
) -> Any:
    """A table class made from declarations: `columns` maps a name to its type and Field."""

    def body(namespace: dict[str, Any]) -> None:
        namespace["__tablename__"] = table
        namespace["__table_args__"] = args
        namespace["__annotations__"] = {c: kind for c, (kind, _) in columns.items()}
        namespace.update({c: declared for c, (_, declared) in columns.items()})

    return types.new_class(name, (SQLModel,), {"table": True}, body)


def _provenance(stored: shape.Shape) -> tuple[type[SQLModel], type[SQLModel]]:
    """The two provenance tables of one record kind, keyed by the record's own key columns.

    Declared from the shapes, so a new cited entity gets them without a line here: which
    sources back each record (in order), and which fields no source states, with the reason.
    Each refers to its record with a composite foreign key, and to the source it cites.
    """
    owner = SQLModel.metadata.tables[stored.table]
    key = {
        name: (
            int if isinstance(owner.columns[column].type, Integer) else str,
            Field(primary_key=True),
        )
        for name, column in zip(stored.owner, stored.key, strict=True)
    }

    def refers() -> ForeignKeyConstraint:
        return ForeignKeyConstraint(list(stored.owner), [f"{stored.table}.{c}" for c in stored.key])

    camel = "".join(part.title() for part in stored.table.split("_"))
    citation = _model(
        f"{camel}CitationRow",
        stored.citations,
        {
            **key,
            # Indexed: `list sources` counts citations per source, and deleting a source with
            # foreign keys on looks up what cites it.
            "source_id": (str, Field(primary_key=True, foreign_key="source.id", index=True)),
            "position": (int, Field()),
        },
        (refers(),),
    )
    inferred = _model(
        f"{camel}InferredRow",
        stored.inferences,
        {
            **key,
            "field": (str, Field(primary_key=True)),
            "reason": (str, Field()),
            "position": (int, Field()),  # the order the data gives them in
        },
        (refers(),),
    )
    return citation, inferred


PROVENANCE: tuple[type[SQLModel], ...] = tuple(
    table for stored in shape.CITED for table in _provenance(stored)
)


# Views with the columns people read, for sqlite3, Datasette, DBeaver or a dashboard; amounts
# come as exact text and as an integer of cents that sorts and sums. Created with the tables.
VIEWS: dict[str, str] = {
    "partners": """
        SELECT o.id AS organisation_id, o.name, o.short_name, o.country, o.sector, o.helix,
          o.city, count(m.initiative_id) AS initiatives,
          group_concat(m.initiative_id, ', ') AS initiative_ids
        FROM organisation o JOIN membership m ON m.organisation_id = o.id
        GROUP BY o.id""",
    "members": """
        SELECT m.initiative_id, coalesce(i.acronym, i.name) AS initiative,
          m.organisation_id, o.name AS organisation, o.country, o.sector, o.helix, m.role,
          m.ec_contribution, m.ec_contribution_cents, m.net_ec_contribution,
          m.net_ec_contribution_cents
        FROM membership m JOIN initiative i ON i.id = m.initiative_id
        JOIN organisation o ON o.id = m.organisation_id""",
    "funding_entries": """
        SELECT f.initiative_id, coalesce(i.acronym, i.name) AS initiative, f.id AS funding_id,
          f.amount, f.amount_cents, f.currency, f.qualifier, f.funder, f.programme,
          f.instrument, f.start, f."end"
        FROM funding f JOIN initiative i ON i.id = f.initiative_id""",
    "milestones_by_date": """
        SELECT ms.initiative_id, coalesce(i.acronym, i.name) AS initiative,
          ms.id AS milestone_id, ms.kind, ms.date, ms.date_lo AS earliest,
          coalesce(ms.end_hi, ms.date_hi) AS latest, ms.date_qualifier, ms.place
        FROM milestone ms JOIN initiative i ON i.id = ms.initiative_id
        ORDER BY ms.date_lo IS NULL, ms.date_lo, ms.initiative_id, ms.position""",
}

# Insert order respects foreign keys; deletes run in reverse.
TABLES: tuple[type[SQLModel], ...] = (
    MetaRow,
    SourceRow,
    OrganisationRow,
    OrganisationOtherNameRow,
    InitiativeRow,
    InitiativeAimRow,
    InitiativeTherapyAreaRow,
    PartnerCountRow,
    MembershipRow,
    PersonRow,
    WorkGroupRow,
    WorkGroupLeadRow,
    WorkGroupCoordinatorRow,
    MilestoneRow,
    MilestoneSpeakerRow,
    FundingRow,
    ReportedAmountRow,
    ReportedAmountSourceRow,
    RelationRow,
    *PROVENANCE,
)


# References are checked when the transaction commits, not row by row: parents may come after
# their children in a file. SQLite's writer also says so with `PRAGMA defer_foreign_keys`;
# PostgreSQL needs it declared.
for _table in SQLModel.metadata.tables.values():
    for _reference in _table.foreign_key_constraints:
        _reference.deferrable, _reference.initially = True, "DEFERRED"
