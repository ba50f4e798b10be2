"""The store on a PostgreSQL server: the guarantees the store tests check on SQLite, where they
take another form on a server (a schema instead of a file, roles, an advisory lock), on a real
server that the test set-up starts (tests/pgserver.py). Everything else runs on both backends
through the `cli` and `landscape_cli` fixtures, kill -9, Ctrl-C and parallel loads included
(test_durability.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import LANDSCAPE, Cli, table_dump


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def _psql(url: str, *statements: str) -> None:
    with _connect(url) as conn:
        for statement in statements:
            conn.execute(statement)


def _pg_cli(tmp_path: Path, url: str, data: Path | None = None) -> Cli:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if data is None:
        data = tmp_path / "data"
        shutil.copytree(LANDSCAPE, data)
    return Cli(data, url, home)


def test_a_schema_of_another_application_is_refused_and_left_as_it_was(
    tmp_path: Path, pg_url: str
) -> None:
    _psql(
        pg_url,
        "CREATE SCHEMA atmptrack",
        "CREATE TABLE atmptrack.invoices (id int PRIMARY KEY, total numeric)",
        "INSERT INTO atmptrack.invoices SELECT n, n * 10 FROM generate_series(1, 100) n",
    )
    cli = _pg_cli(tmp_path, pg_url)
    for args in (("load",), ("list", "partners"), ("store",)):
        result = cli(*args)
        assert result.code == 4, (args, result.err)
        assert "another application's" in result.err and "left as it was" in result.err
        assert "Traceback" not in result.err
    with _connect(pg_url) as conn:
        rows = conn.execute("SELECT count(*), sum(total) FROM atmptrack.invoices").fetchone()
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'atmptrack'"
        ).fetchall()
    assert rows == (100, 50500) and tables == [("invoices",)]


def test_tables_outside_our_schema_are_never_touched(tmp_path: Path, pg_url: str) -> None:
    # A team's database may hold other things: a load writes in its own schema only.
    _psql(
        pg_url,
        "CREATE TABLE public.organisation (id text PRIMARY KEY, note text)",
        "INSERT INTO public.organisation VALUES ('theirs', 'keep me')",
    )
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    cli.ok("load")  # and again, replacing our own contents
    with _connect(pg_url) as conn:
        assert conn.execute("SELECT * FROM public.organisation").fetchall() == [
            ("theirs", "keep me")
        ]
        ours = conn.execute("SELECT count(*) FROM atmptrack.organisation").fetchone()
    assert ours is not None and ours[0] > 20


def test_a_failed_load_leaves_the_store_exactly_as_it_was(tmp_path: Path, pg_url: str) -> None:
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    before = table_dump(pg_url)
    victim = next(cli.data.rglob("*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8") + "\n  - broken: [\n", encoding="utf-8")
    failed = cli("load")
    assert failed.code == 3 and "Traceback" not in failed.err
    assert table_dump(pg_url) == before


def test_a_clone_elsewhere_with_the_same_files_does_not_reload(tmp_path: Path, pg_url: str) -> None:
    # The fingerprint kept on the server is of the files' contents: another clone of the same
    # commit (other paths, times and inodes) reads what was loaded, without loading it again.
    (tmp_path / "one").mkdir()
    first = _pg_cli(tmp_path / "one", pg_url)
    first.ok("load")
    loaded_at = json.loads(first.ok("store", "--format", "json"))["loaded_at"]
    other = tmp_path / "two"
    other.mkdir()
    second = _pg_cli(other, pg_url)
    time.sleep(1.1)  # a reload would record a later second
    assert json.loads(second.ok("list", "initiatives", "--format", "json"))
    assert json.loads(second.ok("store", "--format", "json"))["loaded_at"] == loaded_at
    # A change of content in either clone is picked up by the next read.
    victim = next(second.data.rglob("*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    second.ok("list", "initiatives")
    assert json.loads(second.ok("store", "--format", "json"))["loaded_at"] != loaded_at


def test_a_reader_role_reads_and_never_writes(tmp_path: Path, pg_url: str) -> None:
    # The README's read-only role, granted as it says, through a rebuild of the schema.
    cli = _pg_cli(tmp_path, pg_url)
    reader = f"reader_{abs(hash(pg_url)) % 10**8}"
    with _connect(pg_url) as conn:
        owner = conn.execute("SELECT current_user").fetchone()
        dbname = conn.execute("SELECT current_database()").fetchone()
    assert owner is not None and dbname is not None
    _psql(
        pg_url,
        f"CREATE ROLE {reader} LOGIN",
        f"GRANT CONNECT ON DATABASE {dbname[0]} TO {reader}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner[0]} GRANT USAGE ON SCHEMAS TO {reader}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner[0]} GRANT SELECT ON TABLES TO {reader}",
    )
    try:
        cli.ok("load")
        reader_url = pg_url.replace(f"{owner[0]}@", f"{reader}@", 1)
        as_reader = Cli(cli.data, reader_url, cli.home)
        expected = cli.ok("list", "partners", "--format", "json")
        assert as_reader.ok("list", "partners", "--format", "json") == expected
        before = table_dump(pg_url)
        # The files change: the reader's role may not load them; it answers from the store.
        victim = next(cli.data.rglob("*.yaml"))
        victim.write_text(victim.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        result = as_reader("list", "partners", "--format", "json")
        assert result.code == 0 and result.out == expected
        assert "this role may not load them" in result.err
        denied = as_reader("load")
        assert denied.code == 4 and "may not write" in denied.err
        assert table_dump(pg_url) == before
    finally:
        _psql(
            pg_url,
            f"DROP OWNED BY {reader}",
            f"REVOKE ALL ON DATABASE {dbname[0]} FROM {reader}",
            f"DROP ROLE {reader}",
        )


def test_a_store_of_another_layout_is_rebuilt(tmp_path: Path, pg_url: str) -> None:
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    expected = cli.ok("list", "members", "--format", "json")
    _psql(
        pg_url,
        "UPDATE atmptrack.meta SET value = 'old-layout' WHERE key = 'schema_version'",
        "ALTER TABLE atmptrack.membership DROP COLUMN role CASCADE",
    )
    assert cli.ok("list", "members", "--format", "json") == expected


def test_amounts_are_numeric_and_sort_as_numbers(tmp_path: Path, pg_url: str) -> None:
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    with _connect(pg_url) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'atmptrack' AND column_name IN "
                "('amount', 'ec_contribution', 'net_ec_contribution')"
            ).fetchall()
        )
        amounts = [
            r[0]
            for r in conn.execute(
                "SELECT amount FROM atmptrack.funding_entries WHERE amount IS NOT NULL"
                " ORDER BY amount DESC"
            )
        ]
    assert set(types.values()) == {"numeric"} and "funding.amount" in types
    assert amounts == sorted(amounts, reverse=True) and len(amounts) >= 3
    # Exact text in the answers, as on SQLite: the scale written in the YAML is kept.
    listed = json.loads(cli.ok("list", "funding", "--format", "json", "--columns", "amount"))
    assert {str(r["amount"]) for r in listed if r["amount"] is not None} == {
        format(a, "f") for a in amounts
    }


def test_views_people_query_are_on_the_server_too(tmp_path: Path, pg_url: str) -> None:
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    with _connect(pg_url) as conn:
        for view in ("partners", "members", "funding_entries", "milestones_by_date"):
            count = conn.execute(f"SELECT count(*) FROM atmptrack.{view}").fetchone()
            assert count is not None and count[0] > 0, view


_ATMPTRACK = (sys.executable, "-m", "atmptrack")


def _load_process(data: Path, url: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "atmptrack", "--data", str(data), "--db", url, "load", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=Cli(data, url, home).env(),
    )


@pytest.mark.slow
def test_a_load_waits_for_another_machines_load_and_neither_is_lost(
    tmp_path: Path, pg_url: str
) -> None:
    # Another machine's load holds the advisory lock: this one waits, then writes its own data.
    cli = _pg_cli(tmp_path, pg_url)
    cli.ok("load")
    holder = _connect(pg_url)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_advisory_xact_lock(x'41544D50'::int)")
    victim = next(cli.data.rglob("*.yaml"))
    victim.write_text(victim.read_text(encoding="utf-8") + "\n# newer\n", encoding="utf-8")
    proc = _load_process(cli.data, pg_url, cli.home)
    time.sleep(2.0)
    assert proc.poll() is None, "the load did not wait for the lock"
    # Meanwhile a read answers from the dataset in the store, with a note, within its wait.
    started = time.monotonic()
    read = cli("list", "initiatives", "--format", "json")
    assert read.code == 0 and "another process is writing" in read.err
    assert time.monotonic() - started < 10
    holder.execute("COMMIT")
    holder.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    fingerprint = json.loads(cli.ok("store", "--format", "json"))
    assert fingerprint["loaded_at"]
    with _connect(pg_url) as conn:
        stored = conn.execute("SELECT value FROM atmptrack.meta WHERE key = 'fingerprint'")
        row = stored.fetchone()
    from atmptrack.datadir import content_fingerprint

    assert row is not None and row[0] == content_fingerprint(cli.data)
