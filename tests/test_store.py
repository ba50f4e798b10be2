"""The store: loads are all-or-nothing, reads refresh it by themselves, each data directory has its own."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Cli, table_dump


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_load_then_failed_load_leaves_the_store_exactly_as_it_was(cli: Cli) -> None:
    cli.ok("load", "-q")
    before = table_dump(cli.db)
    geneh = cli.data / "initiatives" / "geneh.yaml"
    geneh.write_text(geneh.read_text().replace("role: coordinator", "role: boss"))
    result = cli("load")
    assert result.code == 3
    assert "initiatives/geneh.yaml:" in result.err
    assert "role" in result.err and "boss" in result.err
    assert "Traceback" not in result.err
    assert table_dump(cli.db) == before
    # A read command reports the same problem and leaves the store alone too.
    read = cli("list", "partners")
    assert read.code == 3 and read.out == ""
    assert table_dump(cli.db) == before
    check = sqlite3.connect(cli.db).execute("PRAGMA integrity_check").fetchone()
    assert check == ("ok",)


def test_edit_add_and_delete_are_picked_up_by_the_next_read(cli: Cli) -> None:
    assert "zops" in cli.ok("list", "partners", "--country", "SI")
    slovenia = cli.data / "organisations" / "slovenia.yaml"
    slovenia.write_text(
        slovenia.read_text().replace("name: BioSistemika", "name: BioSistemika d.o.o.")
    )
    assert "BioSistemika d.o.o." in cli.ok("list", "partners", "--country", "SI")

    extra = cli.data / "extra.yml"
    extra.write_text(
        "organisations:\n"
        "  - id: new-lab\n    name: New Lab\n    country: SI\n    sector: company\n"
        "    sources: [ctgct-geneh-role]\n"
        "initiatives:\n"
        "  - id: new-net\n    name: New Net\n    kind: network\n    sources: [ctgct-geneh-role]\n"
        "    members:\n      - {organisation: new-lab, role: member, sources: [ctgct-geneh-role]}\n"
    )
    rows = json.loads(cli.ok("list", "partners", "--country", "SI", "-f", "json"))
    assert "new-lab" in {r["id"] for r in rows}

    extra.unlink()
    rows = json.loads(cli.ok("list", "partners", "--country", "SI", "-f", "json"))
    assert "new-lab" not in {r["id"] for r in rows}


def test_each_data_directory_gets_its_own_default_store(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(cli.data, other)
    (other / "initiatives" / "catalonia.yaml").unlink()
    env = cli.env()
    del env["ATMPTRACK_DB"]
    first = cli("list", "initiatives", "-f", "json", env=env)
    env_other = dict(env, ATMPTRACK_DATA=str(other))
    second = cli("list", "initiatives", "-f", "json", env=env_other)
    assert first.code == second.code == 0, first.err + second.err
    assert len(json.loads(first.out)) == 8
    assert len(json.loads(second.out)) == 7
    stores = sorted((cli.home / "atmptrack" / "stores").glob("*.sqlite"))
    assert len(stores) == 2
    # Reading the first again does not see the second's data.
    assert len(json.loads(cli("list", "initiatives", "-f", "json", env=env).out)) == 8


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_a_store_of_another_schema_version_is_rebuilt(cli: Cli) -> None:
    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.execute("DELETE FROM organisation WHERE id = 'zops'")
    conn.commit()
    conn.close()
    assert "zops" in cli.ok("list", "partners", "--country", "SI")


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_a_file_that_is_not_a_store_is_a_store_error(cli: Cli) -> None:
    assert isinstance(cli.db, Path)
    cli.db.write_text("this is not sqlite, just text that is long enough to have a header" * 20)
    result = cli("list", "partners")
    assert result.code == 4
    assert "not an atmptrack store" in result.err
    assert "Traceback" not in result.err


def test_db_accepts_a_sqlite_url_and_refuses_other_schemes(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "url-store.sqlite"
    env = dict(cli.env(), ATMPTRACK_DB=f"sqlite:///{target}")
    result = cli("list", "sources", "-f", "json", env=env)
    assert result.code == 0, result.err
    assert target.exists() and len(json.loads(result.out)) == 15
    bad = cli("--db", "mysql://localhost/atmp", "list", "sources")
    assert bad.code == 2 and "sqlite" in bad.err and "postgresql://" in bad.err
    # A server that does not answer is a store problem (exit 4), named without its password.
    down = cli("--db", "postgresql://me:secret@127.0.0.1:1/atmp", "list", "sources")
    assert down.code == 4 and "cannot connect" in down.err
    assert "secret" not in down.err and "me:***@" in down.err


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_the_store_records_its_dataset(cli: Cli) -> None:
    # Foreign keys: tests/test_writer.py shows that atmptrack's own writes enforce them.
    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    conn.close()
    assert meta["data_dir"] == str(cli.data)
    assert meta["fingerprint"] and meta["schema_version"] and meta["loaded_at"]


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount TEXT)")
    conn.executemany("INSERT INTO invoices (amount) VALUES (?)", [(str(n),) for n in range(100)])
    conn.commit()
    conn.close()


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 a zip archive, or anything else\n" * 50)


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("keep me\n")


FOREIGN: dict[str, Callable[[Path], None]] = {
    "sqlite-with-tables": _foreign_sqlite,
    "not-sqlite": _not_sqlite,
    "empty-file": _empty_file,
    "directory": _directory,
}


def _snapshot_bytes(path: Path) -> dict[str, bytes]:
    """Every file at or under path (and its -wal/-shm/-journal siblings), byte for byte."""
    found = {}
    for candidate in [path, *path.parent.glob(path.name + "-*")]:
        if candidate.is_dir():
            found.update({str(f): f.read_bytes() for f in candidate.rglob("*") if f.is_file()})
        elif candidate.exists():
            found[str(candidate)] = candidate.read_bytes()
    return found


@pytest.mark.parametrize("kind", FOREIGN)
@pytest.mark.parametrize(
    "command", [["load"], ["list", "partners"], ["report", "funding"]], ids=" ".join
)
def test_a_database_that_is_not_ours_is_refused_and_left_byte_for_byte(
    cli: Cli, tmp_path: Path, kind: str, command: list[str]
) -> None:
    target = tmp_path / "other.db"
    FOREIGN[kind](target)
    before = _snapshot_bytes(target)
    # The global option after the subcommand, as users type it.
    result = cli(*command, "--db", str(target))
    assert result.code == 4, result.err
    assert str(target) in result.err and "not an atmptrack store" in result.err
    assert "Traceback" not in result.err
    assert _snapshot_bytes(target) == before


def test_our_own_stores_and_empty_databases_are_written(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("VACUUM").connection.close()  # SQLite, no tables
    for store in (empty, tmp_path / "new" / "store.db"):
        assert cli("load", "-q", "--db", str(store)).code == 0
        conn = sqlite3.connect(store)
        assert conn.execute("PRAGMA application_id").fetchone() == (0x41544D50,)
        conn.close()
        # Ours now: a second load rebuilds it without complaint.
        assert cli("load", "-q", "--db", str(store)).code == 0


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_a_store_of_the_previous_version_without_the_mark_is_still_ours(cli: Cli) -> None:
    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    assert conn.execute("PRAGMA application_id").fetchone() == (0x41544D50,)
    conn.close()


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_a_read_does_not_queue_behind_a_stuck_writer(cli: Cli) -> None:
    import time

    cli.ok("load", "-q")
    before = json.loads(cli.ok("list", "sources", "-f", "json"))
    sources = cli.data / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    writer = sqlite3.connect(cli.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process, stuck in its write transaction
    try:
        started = time.monotonic()
        result = cli("list", "sources", "-f", "json")
        waited = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.code == 0, result.err
    assert json.loads(result.out) == before  # the last committed dataset, whole
    assert "another process is writing the store" in result.err and "locked" not in result.err
    assert waited < 10  # not the 30-second busy timeout of a writer
    # Once the writer is gone, the next read refreshes.
    assert "another process" not in cli("list", "sources").err


@pytest.mark.slow
def test_a_current_store_in_a_read_only_directory_can_be_read(cli: Cli) -> None:
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        base = Path(scratch)
        data, stores = base / "data", base / "stores"
        shutil.copytree(cli.data, data)
        stores.mkdir()
        store = stores / "store.sqlite"
        for path in (base, data, *data.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        cli.ok("load", "-q", "--data", str(data), "--db", str(store))
        store.chmod(0o444)
        stores.chmod(0o555)
        before = sorted(p.name for p in stores.iterdir())
        argv = [sys.executable, "-m", "atmptrack", "--data", str(data), "--db", str(store)]
        if os.geteuid() == 0:  # root ignores permissions: read as an unprivileged user
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**cli.env(), "PYTHONDONTWRITEBYTECODE": "1", "HOME": scratch}
        proc = subprocess.run(
            [*argv, "list", "sources", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=scratch,
        )
        stores.chmod(0o755)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == len(
            json.loads(cli.ok("list", "sources", "-f", "json"))
        )
        assert sorted(p.name for p in stores.iterdir()) == before


AMOUNT_COLUMNS = [
    ("funding", "amount"),
    ("reported_amount", "amount"),
    ("membership", "ec_contribution"),
    ("membership", "net_ec_contribution"),
]


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
@pytest.mark.parametrize(("table", "column"), AMOUNT_COLUMNS)
def test_amounts_are_exact_text_beside_cents_that_sort_as_numbers(
    cli: Cli, table: str, column: str
) -> None:
    from decimal import Decimal

    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    rows = conn.execute(
        f'SELECT "{column}", "{column}_cents" FROM "{table}" WHERE "{column}" IS NOT NULL '
        f'ORDER BY "{column}_cents"'
    ).fetchall()
    conn.close()
    assert rows, f"no {table}.{column} in the test landscape"
    assert all(isinstance(text, str) and isinstance(cents, int) for text, cents in rows)
    assert all(cents == round(Decimal(text) * 100) for text, cents in rows)
    exact = [Decimal(text) for text, _ in rows]
    assert exact == sorted(exact)  # the integer orders them as the numbers they are


@pytest.mark.sqlite_only  # the file itself; test_postgres.py has the server's form
def test_the_views_people_query_are_there_with_their_columns(cli: Cli) -> None:
    cli.ok("load", "-q")
    conn = sqlite3.connect(cli.db)
    expected = {
        "partners": {"organisation_id", "name", "country", "helix", "initiatives"},
        "members": {"initiative_id", "initiative", "organisation", "role", "ec_contribution"},
        "funding_entries": {"initiative", "amount", "amount_cents", "currency", "programme"},
        "milestones_by_date": {"initiative", "kind", "date", "earliest", "latest", "place"},
    }
    for view, columns in expected.items():
        cursor = conn.execute(f'SELECT * FROM "{view}"')
        names = {d[0] for d in cursor.description}
        assert columns <= names, (view, columns - names)
        assert cursor.fetchall(), view
    dated = [r[0] for r in conn.execute("SELECT earliest FROM milestones_by_date")]
    known = [d for d in dated if d is not None]
    assert known == sorted(known) and dated[: len(known)] == known  # by date, unknown last
    partners = dict(conn.execute("SELECT organisation_id, initiatives FROM partners"))
    assert partners["kemijski-institut"] == 2
    conn.close()


def test_store_says_where_it_is_what_it_holds_and_when_it_was_loaded(cli: Cli) -> None:
    cli.ok("load", "-q")
    info = json.loads(cli.ok("store", "-f", "json"))
    assert info["store"] == str(cli.db) and info["data"] == str(cli.data)
    assert info.get("bytes", 1) > 0 and info["initiatives"] == len(
        json.loads(cli.ok("list", "initiatives", "-f", "json"))
    )
    assert info["loaded_at"] and info["data_dir"] == str(cli.data)


def test_store_before_any_load_says_so_and_counts_nothing(cli: Cli) -> None:
    info = json.loads(cli.ok("store", "-f", "json"))
    assert info["exists"] is False and "initiatives" not in info


@pytest.mark.sqlite_only  # an SQLite database without tables, which a load may write
def test_store_of_an_empty_database_is_described_not_an_error(cli: Cli) -> None:
    import sqlite3

    assert isinstance(cli.db, Path)
    sqlite3.connect(cli.db).execute("PRAGMA user_version = 1").connection.commit()
    info = json.loads(cli.ok("store", "-f", "json"))
    assert info["exists"] is True and info["bytes"] > 0 and "initiatives" not in info


def test_store_prune_removes_only_our_stores_of_data_directories_that_are_gone(
    cli: Cli, tmp_path: Path
) -> None:
    env = {k: v for k, v in cli.env().items() if k != "ATMPTRACK_DB"}  # default stores
    gone, kept = tmp_path / "gone", tmp_path / "kept"
    for data in (gone, kept):
        shutil.copytree(cli.data, data)
        assert cli("--data", str(data), "load", "-q", env=env).code == 0
    stores = cli.home / "atmptrack" / "stores"
    foreign = stores / "someone-else.sqlite"
    _foreign_sqlite(foreign)
    before = sorted(p.name for p in stores.iterdir())
    shutil.rmtree(gone)
    dry = cli("store", "prune", "--dry-run", env=env)
    assert dry.code == 0 and len(dry.out.splitlines()) == 1 and "gone-" in dry.out
    assert sorted(p.name for p in stores.iterdir()) == before
    done = cli("store", "prune", env=env)
    assert done.code == 0 and "removed 1 store(s)" in done.err
    left = sorted(p.name for p in stores.iterdir())
    assert "someone-else.sqlite" in left and not any(n.startswith("gone-") for n in left)
    assert any(n.startswith("kept-") for n in left)
