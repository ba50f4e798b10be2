"""Semantic diff: two versions of the data, matched by stable ids, told in the language of the domain."""

from __future__ import annotations

import dataclasses
import io
import json
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from atmptrack import shape
from atmptrack.datadir import discover, fingerprint
from atmptrack.errors import DataError, UsageError

if TYPE_CHECKING:
    from atmptrack.store import Location

Record = dict[str, Any]
Snapshot = dict[str, dict[str, Record]]  # entity → key → fields

COLUMNS = ["entity", "id", "change", "field", "old", "new", "initiative", "detail"]

# Every kind of change, in the words the output uses; `group` sorts them for people.
ChangeKind = Literal[
    "added",
    "removed",
    "changed",
    "joined",
    "left",
    "role-changed",
    "coordinator-changed",
    "renamed",
    "moved",
    "moved-country",
    "funding-changed",
]
Group = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class Change:
    entity: str  # one of the declared shapes' entities (`shape.ENTITIES`)
    id: str
    change: ChangeKind
    field: str | None = None
    old: Any = None
    new: Any = None
    initiative: str | None = None
    detail: str | None = None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    @property
    def group(self) -> Group:
        if self.change in ("added", "joined"):
            return "added"
        if self.change in ("removed", "left"):
            return "removed"
        return "changed"


# ---------------------------------------------------------------- reading one side


@dataclass(frozen=True, slots=True)
class Side:
    label: str  # as the user wrote it, for messages
    path: Path  # a data directory, a YAML file or a store
    is_store: bool = False


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise UsageError("git is not installed, so revisions cannot be read") from None


def _is_store(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _git_side(spec: str, data_dir: Path, scratch: Path) -> Side | None:
    """Extract the YAML of a revision (`REV` for the data directory, `REV:path` for another)."""
    start = data_dir if data_dir.is_dir() else data_dir.parent
    top_run = _git(["rev-parse", "--show-toplevel"], start)
    if top_run.returncode != 0:
        return None
    top = Path(top_run.stdout.decode().strip())
    rev, _, inside = spec.partition(":")
    if _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).returncode != 0:
        return None
    if not inside:
        try:
            inside = data_dir.resolve().relative_to(top.resolve()).as_posix()
        except ValueError:
            raise UsageError(f"{data_dir} is not inside the git repository {top}") from None
    archive = _git(["archive", "--format=tar", rev, "--", inside or "."], top)
    if archive.returncode != 0:
        problem = archive.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"{spec}: {problem[-1] if problem else 'git archive failed'}")
    target = scratch / "tree"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return Side(f"{rev}:{inside}", target / inside if inside not in ("", ".") else target)


def resolve_side(spec: str, data_dir: Path, scratch: Path) -> Side:
    """A data directory, a YAML file, a store file, or a git revision, in that order."""
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_file() and _is_store(path):
            return Side(spec, path.resolve(), is_store=True)
        return Side(spec, path.resolve())
    side = _git_side(spec, data_dir, scratch)
    if side is None:
        raise UsageError(
            f"'{spec}' is not a data directory, a YAML file, a store or a git revision"
        )
    return dataclasses.replace(side, label=spec if ":" in spec else side.label)


def load_side(side: Side, scratch: Path, name: str) -> Snapshot:
    """Validate a side and read it as a snapshot; invalid data names the side and the place."""
    if side.is_store:
        return snapshot(side.path)
    from atmptrack.datadir import fingerprint
    from atmptrack.writer import load

    store = scratch / f"{name}.sqlite"
    if not discover(side.path):
        raise UsageError(f"{name} side '{side.label}' holds no YAML files")
    try:
        # The side's real fingerprint: with any other, the writer would take the rows it just
        # read for stale and read every file again.
        load(side.path, store, fingerprint=fingerprint(side.path), force=True)
    except DataError as exc:
        raise DataError([_on_side(d, side, name) for d in exc.diagnostics]) from None
    return snapshot(store)


def _on_side(diagnostic: Any, side: Side, name: str) -> Any:
    path = Path(diagnostic.path)
    try:
        shown = f"{side.label.rstrip('/')}/{path.resolve().relative_to(side.path).as_posix()}"
    except ValueError:
        shown = diagnostic.path
    return dataclasses.replace(diagnostic, path=f"{name} {shown}")


# ---------------------------------------------------------------- snapshots


def snapshot(store: Path, files: set[str] | None = None) -> Snapshot:
    """Every record of a store, keyed by its stable id, without file or position; with
    `files`, only the records of those files (relative to the data directory)."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return _snapshot(conn) if files is None else _of_files(conn, files)
    except sqlite3.Error as exc:
        raise UsageError(f"{store} is not a readable atmptrack store: {exc}") from None
    finally:
        conn.close()


def _snapshot(conn: sqlite3.Connection) -> Snapshot:
    # Every entity as the store's declared shape reads it back: no file, line or derived column.
    provenance = shape.Provenance(conn)
    return {entity.entity: shape.records(conn, entity, provenance) for entity in shape.ENTITIES}


def _of_files(conn: sqlite3.Connection, files: set[str]) -> Snapshot:
    """The records of these files: each record of a file (a source, an organisation, an
    initiative) and, for an initiative, everything in it, read by its key."""
    provenance = shape.Provenance(conn)
    tops: dict[str, list[str]] = {}
    for entity in shape.ENTITIES:
        if entity.key == ("id",):  # a record of a file
            found = conn.execute(f'SELECT id, file FROM "{entity.table}"').fetchall()
            tops[entity.table] = sorted(record_id for record_id, file in found if file in files)
    out: Snapshot = {}
    for entity in shape.ENTITIES:
        narrowed = (
            [{"id": record_id} for record_id in tops[entity.table]]
            if entity.key == ("id",)
            else [{"initiative_id": record_id} for record_id in tops["initiative"]]
        )
        assert entity.key == ("id",) or entity.key[0] == "initiative_id", entity.entity
        records: dict[str, Record] = {}
        for where in narrowed:
            records.update(shape.records(conn, entity, provenance, where=where))
        out[entity.entity] = records
    return out


# ---------------------------------------------------------------- comparing


_ORDER = tuple(entity.entity for entity in shape.ENTITIES)


def compare(old: Snapshot, new: Snapshot) -> list[Change]:
    """The changes from old to new, in a stable order: by entity, id, then field."""
    changes: list[Change] = []
    for entity in _ORDER:
        before, after = old.get(entity, {}), new.get(entity, {})
        for key in sorted(before.keys() | after.keys()):
            changes.extend(_record(entity, key, before.get(key), after.get(key)))
    changes.extend(_coordinators(old, new))
    rank = {e: i for i, e in enumerate(_ORDER)}
    return sorted(
        changes,
        key=lambda c: (rank[c.entity], c.id, c.change != "coordinator-changed", c.field or ""),
    )


def _initiative_of(entity: str, key: str, record: Record) -> str | None:
    if entity == "initiative":
        return key
    return record.get("initiative")


def _record(entity: str, key: str, old: Record | None, new: Record | None) -> Iterator[Change]:
    record = new if new is not None else old
    assert record is not None
    ini = _initiative_of(entity, key, record)
    if old is None or new is None:
        yield _presence(entity, key, old, new, ini)
        return
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        yield _field(entity, key, name, a, b, ini)


def _presence(
    entity: str, key: str, old: Record | None, new: Record | None, ini: str | None
) -> Change:
    if entity == "member":
        record = new or old
        assert record is not None
        role = record["role"]
        return Change(
            entity,
            key,
            "joined" if new else "left",
            "role",
            None if new else role,
            role if new else None,
            ini,
        )
    shown = (new or old or {}).get("name") or (new or old or {}).get("title")
    return Change(
        entity,
        key,
        "added" if new else "removed",
        None,
        None if new else shown,
        shown if new else None,
        ini,
    )


def _field(entity: str, key: str, name: str, a: Any, b: Any, ini: str | None) -> Change:
    if entity == "member" and name == "role":
        return Change(entity, key, "role-changed", name, a, b, ini)
    if name == "name" and entity in ("organisation", "workgroup", "initiative", "person"):
        return Change(entity, key, "renamed", name, a, b, ini)
    if entity == "organisation" and name == "country":
        return Change(entity, key, "moved-country", name, a, b, ini)
    if entity == "funding" and name == "amount":
        detail = None
        if a is not None and b is not None:
            difference = Decimal(b) - Decimal(a)
            detail = f"{'+' if difference >= 0 else ''}{format(difference, 'f')}"
        return Change(entity, key, "funding-changed", name, _amount(a), _amount(b), ini, detail)
    if entity == "milestone" and name == "date" and a and b:
        return Change(entity, key, "moved", name, a, b, ini, _moved_by(a, b))
    return Change(entity, key, "changed", name, a, b, ini)


def _amount(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _moved_by(a: str, b: str) -> str | None:
    """`+3 days`, `-2 months`: in days when both are full dates, else in the coarser unit."""
    from datetime import date

    from atmptrack.dates import PartialDate

    old, new = PartialDate.parse(a), PartialDate.parse(b)
    if (old.year is None) != (new.year is None):
        return None  # a year found or lost: no distance to tell
    if old.day is not None and new.day is not None and old.month and new.month:
        # Both without a year: the distance within one (leap) year, as the same event re-dated.
        first = date(old.year or 2000, old.month, old.day)
        last = date(new.year or 2000, new.month, new.day)
        days = (last - first).days
        return f"{days:+d} day{'s' if abs(days) != 1 else ''}"
    if old.year is None or new.year is None:
        if old.month and new.month:
            months = new.month - old.month
            return f"{months:+d} month{'s' if abs(months) != 1 else ''}"
        return None
    if old.month is not None and new.month is not None:
        months = (new.year - old.year) * 12 + (new.month - old.month)
        return f"{months:+d} month{'s' if abs(months) != 1 else ''}"
    years = new.year - old.year
    return f"{years:+d} year{'s' if abs(years) != 1 else ''}"


def _coordinators(old: Snapshot, new: Snapshot) -> Iterator[Change]:
    def by_initiative(snap: Snapshot) -> dict[str, str]:
        return {
            m["initiative"]: m["organisation"]
            for m in snap.get("member", {}).values()
            if m["role"] == "coordinator"
        }

    before, after = by_initiative(old), by_initiative(new)
    for ini in sorted(before.keys() | after.keys()):
        if (
            before.get(ini) != after.get(ini)
            and ini in new.get("initiative", {})
            and ini in old.get("initiative", {})
        ):
            yield Change(
                "initiative",
                ini,
                "coordinator-changed",
                "coordinator",
                before.get(ini),
                after.get(ini),
                ini,
            )


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def diff(
    old_spec: str, new_spec: str | None, data_dir: Path, store: Location
) -> tuple[str, str, list[Change]]:
    """Resolve, validate and compare two sides; the new side defaults to the data directory.

    When one side is the data directory in use, its store (`store`, brought up to date) holds
    it validated, and the other side is that store updated with the files that differ: only
    those files are read, and only their records compared. Otherwise each side is loaded.
    """
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="atmptrack-diff-")))
        (scratch / "old").mkdir()
        (scratch / "new").mkdir()
        old_side = resolve_side(old_spec, data_dir, scratch / "old")
        new_side = (
            resolve_side(new_spec, data_dir, scratch / "new")
            if new_spec
            else Side(_shown(data_dir), data_dir)
        )
        sides = {"OLD": old_side, "NEW": new_side}
        compared = compare_by_files(sides, data_dir, store, scratch)
        if compared is not None:
            return old_side.label, new_side.label, compared
        old = load_side(old_side, scratch, "OLD")
        new = load_side(new_side, scratch, "NEW")
        return old_side.label, new_side.label, compare(old, new)


def compare_by_files(
    sides: dict[str, Side], data_dir: Path, store: Location, scratch: Path
) -> list[Change] | None:
    """The changes, reading only the files that differ between the sides, when one side is
    the data directory in use with its store on this machine; None when that cannot be."""
    here = [name for name, side in sides.items() if not side.is_store and side.path == data_dir]
    if not here or not isinstance(store, Path) or not data_dir.is_dir():
        return None
    known = here[0]
    (other,) = [name for name in sides if name != known]
    if sides[other].is_store or not sides[other].path.is_dir():
        return None
    from atmptrack.refresh import ensure_fresh
    from atmptrack.store import peek
    from atmptrack.writer import update

    try:
        ensure_fresh(data_dir, store)
    except DataError as exc:
        raise DataError([_on_side(d, sides[known], known) for d in exc.diagnostics]) from None
    meta = peek(store)
    if meta.get("fingerprint") != fingerprint(data_dir):
        return None  # another process is writing it: the store may not be the files yet
    differing = _differing(data_dir, sides[other].path)
    if differing is None:
        return None
    # The other side's store: this one, with the files that differ read and checked again.
    copy = scratch / f"{other}.sqlite"
    _copy(store, copy)
    now = fingerprint(sides[other].path)
    base = _as_if_unchanged(meta["fingerprint"], now, differing)
    _mark_as_read(copy, base)
    if update(sides[other].path, copy, base=base, fingerprint=now) is None:
        return None  # a load says what is wrong with that side, or it is the faster way
    snapshots = {known: snapshot(store, differing), other: snapshot(copy, differing)}
    return compare(snapshots["OLD"], snapshots["NEW"])


def _differing(one: Path, two: Path) -> set[str] | None:
    """The YAML files (relative paths) whose bytes differ between two directories, or that
    only one has; None when a file cannot be compared so (a symbolic link). How many is too
    many to read one by one is the update's to say."""
    files = []
    for root in (one, two):
        found = {}
        for path in discover(root):
            if path.is_symlink():
                return None
            found[path.relative_to(root).as_posix()] = path
        files.append(found)
    first, second = files
    differing = set(first.keys() ^ second.keys())
    for name in first.keys() & second.keys():
        a, b = first[name], second[name]
        try:
            if a.stat().st_size != b.stat().st_size or a.read_bytes() != b.read_bytes():
                differing.add(name)
        except OSError:
            differing.add(name)
    return differing


def _copy(store: Path, target: Path) -> None:
    """A consistent copy of an SQLite store (its write-ahead log included)."""
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def _as_if_unchanged(before: str, now: str, differing: set[str]) -> str:
    """A fingerprint that lists each file of `now` as it is, except those that differ, which
    keep their line of `before` (or none): an update then reads exactly those."""
    lines = [line for line in now.split("\n") if line and line.split("\t", 1)[0] not in differing]
    lines += [line for line in before.split("\n") if line and line.split("\t", 1)[0] in differing]
    return "\n".join(lines)


def _mark_as_read(store: Path, fingerprint: str) -> None:
    conn = sqlite3.connect(store)
    try:
        with conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'fingerprint'", (fingerprint,))
    finally:
        conn.close()


# ---------------------------------------------------------------- words for people


def sentence(change: Change) -> str:
    """One change in plain words."""
    where = (
        f" in {change.initiative}" if change.initiative and change.entity != "initiative" else ""
    )
    subject = f"{change.entity} {change.id.split('/', 1)[-1] if where else change.id}"
    if change.change == "joined":
        return f"{change.id.split('/')[1]} joined {change.initiative} as {change.new}"
    if change.change == "left":
        return f"{change.id.split('/')[1]} left {change.initiative} (was {change.old})"
    if change.change == "role-changed":
        return f"{change.id.split('/')[1]} is now {change.new} in {change.initiative} (was {change.old})"
    if change.change == "coordinator-changed":
        return (
            f"{change.id} coordinator changed from {change.old or 'none'} to {change.new or 'none'}"
        )
    if change.change in ("added", "removed"):
        label = f" ({change.new or change.old})" if (change.new or change.old) else ""
        return f"{subject}{where} {change.change}{label}"
    if change.change == "funding-changed":
        return f"{subject}{where}: amount {change.old} → {change.new} ({change.detail})"
    if change.change == "moved":
        by = f" ({change.detail})" if change.detail else ""
        return f"{subject}{where} moved from {change.old} to {change.new}{by}"
    if change.change == "moved-country":
        return f"{subject} moved from {change.old} to {change.new}"
    if change.change == "renamed":
        return f"{subject}{where} renamed from {change.old!r} to {change.new!r}"
    return f"{subject}{where}: {change.field} {_short(change.old)} → {_short(change.new)}"


def _short(value: Any) -> str:
    text = (
        json.dumps(value, ensure_ascii=False, default=str)
        if not isinstance(value, str)
        else repr(value)
    )
    return text if len(text) <= 80 else text[:77] + "..."


# How people read a list of changes: what appeared, what went, what changed; with a Rich style each.
_GROUPS: tuple[tuple[str, str, Group], ...] = (
    ("Added", "green", "added"),
    ("Removed", "red", "removed"),
    ("Changed", "yellow", "changed"),
)


def grouped(changes: list[Change]) -> list[tuple[str, str, list[str]]]:
    """The changes as (heading, style, sentences) groups for a table or a pull-request comment."""
    return [
        (heading, style, [sentence(c) for c in changes if c.group == group])
        for heading, style, group in _GROUPS
    ]


def stat(changes: list[Change]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for change in changes:
        counts[(change.entity, change.change)] = counts.get((change.entity, change.change), 0) + 1
    return [{"entity": e, "change": c, "count": n} for (e, c), n in sorted(counts.items())]
