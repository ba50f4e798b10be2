"""The throwaway PostgreSQL server the PostgreSQL half runs on (tests/pgserver.py, conftest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psycopg
import pytest

import pgserver
from conftest import ROOT


def test_a_test_database_takes_a_table_and_gives_the_rows_back(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE amount (id integer PRIMARY KEY, value numeric NOT NULL)")
        conn.execute("INSERT INTO amount VALUES (1, 4885375), (2, 15000000.25)")
    with psycopg.connect(pg_url) as conn:  # committed, seen by a new connection
        rows = conn.execute(
            "SELECT id, value::text AS s FROM amount ORDER BY value DESC"
        ).fetchall()
    assert rows == [(2, "15000000.25"), (1, "4885375")]


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_an_empty_database_of_its_own(pg_url: str, run: int) -> None:
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchall() == []  # the other run's table is not here
        conn.execute("CREATE TABLE left_behind (run integer)")


def test_two_databases_are_apart_and_a_drop_removes_one(postgres: pgserver.Server) -> None:
    first, second = (f"test_{uuid.uuid4().hex[:16]}" for _ in range(2))
    try:
        with psycopg.connect(postgres.create_database(first)) as conn:
            conn.execute("CREATE TABLE only_here (x integer)")
            conn.execute("INSERT INTO only_here VALUES (1)")
        with psycopg.connect(postgres.create_database(second)) as conn:
            found = conn.execute("SELECT to_regclass('only_here') IS NULL").fetchone()
            assert found == (True,)
            # A connection left open does not stop the drop.
            postgres.drop_database(first)
        with psycopg.connect(postgres.url("postgres")) as admin:
            names = {r[0] for r in admin.execute("SELECT datname FROM pg_database").fetchall()}
        assert first not in names and second in names
    finally:
        postgres.drop_database(first)
        postgres.drop_database(second)


def test_the_server_never_runs_as_root(postgres: pgserver.Server, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT current_setting('data_directory'), current_user").fetchone()
    assert row is not None
    data_directory, role = row
    assert role == pgserver.USER
    expected = os.geteuid() if os.geteuid() != 0 else postgres.account and postgres.account.pw_uid
    assert expected  # as root: the postgres (or nobody) user, never 0
    assert Path(data_directory).stat().st_uid == expected
    status = Path(f"/proc/{postgres.pid}/status").read_text()
    real, effective = (int(uid) for uid in status.split("Uid:", 1)[1].split()[:2])
    assert real == effective == expected


def test_sqlalchemy_connects_through_psycopg(pg_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE t (x text)"))
            conn.execute(sqlalchemy.text("INSERT INTO t VALUES ('ok')"))
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT x FROM t")).scalar_one() == "ok"
            database = conn.execute(sqlalchemy.text("SELECT current_database()")).scalar_one()
        assert pg_url.startswith(f"postgresql://{pgserver.USER}@/{database}?host=/")
        assert sqlalchemy.inspect(engine).get_table_names() == ["t"]
    finally:
        engine.dispose()


def test_a_server_that_cannot_start_says_why_and_leaves_nothing(
    postgres: pgserver.Server,
) -> None:
    with pytest.raises(pgserver.StartError) as failed:
        pgserver.start(postgres.bindir, settings={"max_connections": "'lots'"})
    message = str(failed.value)
    assert "pg_ctl start failed" in message
    assert 'invalid value for parameter "max_connections"' in message  # the log's tail
    base = Path(message.split("server log ", 1)[1].split(":\n", 1)[0]).parent
    assert base.name.startswith("atmptrack-pg-") and not base.exists()


def test_stop_ends_the_server_and_removes_its_directory(postgres: pgserver.Server) -> None:
    server = pgserver.start(postgres.bindir)  # a second server, of its own
    pid = server.pid
    assert _alive(pid) and server.base.is_dir()
    server.stop()
    server.stop()  # twice is fine
    assert not _alive(pid) and not server.base.exists()


def test_a_killed_test_process_leaves_no_server_behind(postgres: pgserver.Server) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        import pgserver
        server = pgserver.start()
        print(server.base, server.pid, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT / "tests"),
            pgserver.BINDIR_VARIABLE: str(postgres.bindir),
        },
    )
    try:
        assert child.stdout is not None
        base, pid = child.stdout.readline().split()
        assert _alive(int(pid)) and Path(base).is_dir()
        child.send_signal(signal.SIGKILL)  # no atexit, no finalizer: the watchdog cleans up
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 30
    while (_alive(int(pid)) or Path(base).exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid)) and not Path(base).exists()


@pytest.mark.slow
def test_without_postgresql_the_half_is_skipped_with_one_reason_but_fails_in_ci(
    tmp_path: Path,
) -> None:
    test = "tests/test_pgserver.py::test_a_test_database_takes_a_table_and_gives_the_rows_back"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[pgserver.BINDIR_VARIABLE] = str(tmp_path)  # no initdb there
    args = [sys.executable, "-m", "pytest", test, "-p", "no:cacheprovider"]

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    skipped = run(env)
    assert skipped.returncode == 0, skipped.stdout
    assert "SKIPPED [1] tests/conftest.py:" in skipped.stdout
    assert f"PostgreSQL half skipped (1 tests): {pgserver.NOT_FOUND}" in skipped.stdout
    in_ci = run({**env, "CI": "true"})
    assert in_ci.returncode == 1, in_ci.stdout
    assert f"{pgserver.NOT_FOUND} (CI is set: CI runs it)" in in_ci.stdout
    assert "PostgreSQL half skipped" not in in_ci.stdout


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
