"""The store's write side: map a validated dataset to rows and replace the store's contents atomically."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import SQLModel, create_engine

from atmptrack import __version__, tables
from atmptrack.dataset import Dataset, read_dataset
from atmptrack.errors import StoreError
from atmptrack.schema import Initiative, Sourced
from atmptrack.store import APPLICATION_ID, BUSY_TIMEOUT_MS, SCHEMA_VERSION, LoadResult, check_owned

Rows = dict[type[SQLModel], list[dict[str, Any]]]


def load(data_dir: Path, store: Path, *, fingerprint: str, force: bool) -> LoadResult:
    """Validate every file, then replace the store's contents in one immediate transaction.

    With force=False the load is skipped when another process brought the store up to date
    while this one waited for the write lock, so parallel refreshes never load twice.
    """
    started = time.perf_counter()
    dataset = read_dataset(data_dir)  # raises DataError before anything is written
    rows = build_rows(dataset)
    store.parent.mkdir(parents=True, exist_ok=True)
    check_owned(store)  # again: reading the data took a while, and a file may have appeared
    # Ctrl-C waits until the transaction is over and the connection closed: interrupting
    # SQLite or the pool halfway gains nothing and leaves noise. kill -9 is the journal's job.
    with _interrupts_held():
        engine = _engine(store)
        try:
            with engine.begin() as conn:
                meta = _meta(conn)
                if (
                    not force
                    and meta.get("fingerprint") == fingerprint
                    and meta.get("schema_version") == str(SCHEMA_VERSION)
                ):
                    return LoadResult(loaded=False, counts=_counts(rows), warnings=dataset.warnings)
                _reset(conn, rebuild=meta.get("schema_version") != str(SCHEMA_VERSION))
                # The mark that tells our stores from other databases (see store.check_owned).
                conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
                rows[tables.MetaRow] = [
                    {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                    {"key": "fingerprint", "value": fingerprint},
                    {"key": "data_dir", "value": str(data_dir)},
                    {"key": "atmptrack_version", "value": __version__},
                    {"key": "loaded_at", "value": datetime.now(UTC).isoformat(timespec="seconds")},
                ]
                for table in tables.TABLES:
                    if rows.get(table):
                        # One executemany per table: row-at-a-time ORM inserts are ~40x slower.
                        conn.execute(
                            SQLModel.metadata.tables[str(table.__tablename__)].insert(), rows[table]
                        )
        except OperationalError as exc:
            raise StoreError(f"cannot write the store {store}: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write the store {store}: {exc}") from exc
        finally:
            engine.dispose()
    return LoadResult(
        loaded=True,
        counts=_counts(rows),
        warnings=dataset.warnings,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _interrupts_held() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _engine(store: Path) -> Engine:
    engine = create_engine(f"sqlite:///{store}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin() emit our own BEGIN IMMEDIATE: the driver's implicit BEGIN
        # would take the write lock only at the first write, inviting "database is locked".
        dbapi.isolation_level = None
        dbapi.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi.execute("PRAGMA journal_mode = WAL")
        dbapi.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        # Parents may come after children in a file: check references at commit, not per row.
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")

    return engine


def _meta(conn: Connection) -> dict[str, str]:
    exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"))
    if exists.first() is None:
        return {}
    return {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM meta"))}


def _reset(conn: Connection, *, rebuild: bool) -> None:
    if rebuild:
        # A store of another schema version (or none) is rebuilt, never misread.
        names = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            )
        ]
        for name in names:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
        SQLModel.metadata.create_all(conn)
        return
    for table in reversed(tables.TABLES):
        conn.execute(SQLModel.metadata.tables[str(table.__tablename__)].delete())


def _counts(rows: Rows) -> dict[str, int]:
    return {
        "sources": len(rows.get(tables.SourceRow, [])),
        "organisations": len(rows.get(tables.OrganisationRow, [])),
        "initiatives": len(rows.get(tables.InitiativeRow, [])),
        "members": len(rows.get(tables.MembershipRow, [])),
    }


def _lo(value: Any) -> str | None:
    day = value.earliest() if value is not None else None
    return day.isoformat() if day else None


def _hi(value: Any) -> str | None:
    day = value.latest() if value is not None else None
    return day.isoformat() if day else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _json(values: Iterable[str]) -> str | None:
    items = list(values)
    return json.dumps(items, ensure_ascii=False) if items else None


class _Builder:
    def __init__(self) -> None:
        self.rows: Rows = {table: [] for table in tables.TABLES}

    def add(self, table: type[SQLModel], **values: Any) -> None:
        self.rows[table].append(values)

    def provenance(self, entity: str, key: str, record: Sourced) -> None:
        for position, source in enumerate(record.sources):
            self.add(
                tables.CitationRow, entity=entity, key=key, source_id=source, position=position
            )
        for field, reason in record.inferred.items():
            self.add(tables.InferredRow, entity=entity, key=key, field=field, reason=reason)

    def initiative(self, ini: Initiative, file: str, line: int) -> None:
        declared = ini.partner_counts[-1] if ini.partner_counts else None
        self.add(
            tables.InitiativeRow,
            id=ini.id,
            acronym=ini.acronym,
            name=ini.name,
            kind=ini.kind.value,
            summary=ini.summary,
            aims=_json(ini.aims),
            therapy_areas=",".join(a.value for a in ini.therapy_areas) or None,
            status=_str(ini.status and ini.status.value),
            start=_str(ini.start),
            start_lo=_lo(ini.start),
            start_hi=_hi(ini.start),
            end=_str(ini.end),
            end_lo=_lo(ini.end),
            end_hi=_hi(ini.end),
            website=ini.website,
            cordis_id=ini.ids.cordis,
            declared_partners=declared.count if declared else None,
            declared_qualifier=declared.qualifier.value if declared else None,
            declared_countries=declared.countries if declared else None,
            note=ini.note,
            file=file,
            line=line,
        )
        self.provenance("initiative", ini.id, ini)
        for pos, count in enumerate(ini.partner_counts):
            self.add(
                tables.PartnerCountRow,
                initiative_id=ini.id,
                position=pos,
                count=count.count,
                qualifier=count.qualifier.value,
                as_of=_str(count.as_of),
                countries=count.countries,
                note=count.note,
            )
            self.provenance("partner_count", f"{ini.id}/{pos}", count)
        for pos, member in enumerate(ini.members):
            self.add(
                tables.MembershipRow,
                initiative_id=ini.id,
                organisation_id=member.organisation,
                role=member.role.value,
                position=pos,
                note=member.note,
            )
            self.provenance("member", f"{ini.id}/{member.organisation}", member)
        for pos, person in enumerate(ini.people):
            self.add(
                tables.PersonRow,
                initiative_id=ini.id,
                id=person.id,
                position=pos,
                name=person.name,
                role=person.role,
                organisation_id=person.organisation,
                note=person.note,
            )
            self.provenance("person", f"{ini.id}/{person.id}", person)
        for pos, group in enumerate(ini.workgroups):
            self.add(
                tables.WorkGroupRow,
                initiative_id=ini.id,
                id=group.id,
                position=pos,
                kind=group.kind.value,
                number=group.number,
                name=group.name,
                goal=group.goal,
                note=group.note,
            )
            self.provenance("workgroup", f"{ini.id}/{group.id}", group)
            for lead_pos, lead in enumerate(group.leads):
                self.add(
                    tables.WorkGroupLeadRow,
                    initiative_id=ini.id,
                    workgroup_id=group.id,
                    organisation_id=lead,
                    position=lead_pos,
                )
            for c_pos, person_id in enumerate(group.coordinators):
                self.add(
                    tables.WorkGroupCoordinatorRow,
                    initiative_id=ini.id,
                    workgroup_id=group.id,
                    person_id=person_id,
                    position=c_pos,
                )
        for pos, ms in enumerate(ini.milestones):
            self.add(
                tables.MilestoneRow,
                initiative_id=ini.id,
                id=ms.id,
                position=pos,
                kind=ms.kind.value,
                date=str(ms.date),
                date_lo=_lo(ms.date),
                date_hi=_hi(ms.date),
                precision=ms.date.precision,
                end_date=_str(ms.end_date),
                end_lo=_lo(ms.end_date),
                end_hi=_hi(ms.end_date),
                date_qualifier=ms.date_qualifier.value,
                place=ms.place,
                note=ms.note,
            )
            self.provenance("milestone", f"{ini.id}/{ms.id}", ms)
            for s_pos, speaker in enumerate(ms.speakers):
                self.add(
                    tables.MilestoneSpeakerRow,
                    initiative_id=ini.id,
                    milestone_id=ms.id,
                    person_id=speaker,
                    position=s_pos,
                )
        for pos, fund in enumerate(ini.funding):
            self.add(
                tables.FundingRow,
                initiative_id=ini.id,
                id=fund.id,
                position=pos,
                amount=_str(fund.amount),
                currency=fund.currency,
                qualifier=fund.qualifier.value,
                funder=fund.funder,
                programme=fund.programme,
                instrument=fund.instrument,
                start=_str(fund.start),
                start_lo=_lo(fund.start),
                start_hi=_hi(fund.start),
                end=_str(fund.end),
                end_lo=_lo(fund.end),
                end_hi=_hi(fund.end),
                note=fund.note,
            )
            self.provenance("funding", f"{ini.id}/{fund.id}", fund)
            for r_pos, reported in enumerate(fund.also_reported):
                self.add(
                    tables.ReportedAmountRow,
                    initiative_id=ini.id,
                    funding_id=fund.id,
                    position=r_pos,
                    amount=str(reported.amount),
                    qualifier=reported.qualifier.value,
                    sources=",".join(reported.sources),
                    note=reported.note,
                )
        for pos, relation in enumerate(ini.relations):
            self.add(
                tables.RelationRow,
                initiative_id=ini.id,
                kind=relation.kind.value,
                target_id=relation.initiative,
                position=pos,
                note=relation.note,
            )
            self.provenance(
                "relation", f"{ini.id}/{relation.kind.value}/{relation.initiative}", relation
            )


def build_rows(dataset: Dataset) -> Rows:
    """Explicit mapping from input models to rows: SQLModel tables do not validate on their own."""
    builder = _Builder()
    for loaded in dataset.files:
        doc = loaded.document
        # Recorded relative to the data directory, so the store does not depend on the cwd.
        file = Path(os.path.relpath(Path(doc.path).resolve(), dataset.root)).as_posix()
        for index, src in enumerate(loaded.model.sources):
            builder.add(
                tables.SourceRow,
                id=src.id,
                title=src.title,
                publisher=src.publisher,
                url=src.url,
                published=_str(src.published),
                published_lo=_lo(src.published),
                published_hi=_hi(src.published),
                note=src.note,
                file=file,
                line=doc.mark(("sources", index)).line,
            )
        for index, org in enumerate(loaded.model.organisations):
            helix = org.effective_helix
            builder.add(
                tables.OrganisationRow,
                id=org.id,
                name=org.name,
                short_name=org.short_name,
                other_names=_json(org.other_names),
                country=org.country,
                sector=org.sector.value,
                helix=helix.value if helix else None,
                helix_stated=org.helix is not None,
                helix_reason=org.helix_reason,
                city=org.city,
                website=org.website,
                parent_id=org.parent,
                pic=org.ids.pic,
                ror=org.ids.ror,
                note=org.note,
                file=file,
                line=doc.mark(("organisations", index)).line,
            )
            builder.provenance("organisation", org.id, org)
        for index, ini in enumerate(loaded.model.initiatives):
            builder.initiative(ini, file, doc.mark(("initiatives", index)).line)
    return builder.rows
