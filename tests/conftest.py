"""Shared fixtures: a private copy of the test landscape, a private store, and the real CLI.

The CLI runs in-process through `main(argv, env=..., stdout=..., stderr=...)`: the same code
path as the console script, in milliseconds. Tests about processes (signals, pipes, imports,
the wheel) use `Cli.process` and are marked `slow`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import pgserver

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "data"  # the product's dataset: only tests about the data use it
# A frozen copy of the bundled dataset, plus a few values invented for the engine tests (each
# says so in a note): editing data/ must not break the tests of the engine.
LANDSCAPE = Path(__file__).resolve().parent / "landscape"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """Runs atmptrack with its own data directory, store and user data directory."""

    data: Path
    db: Path | str  # an SQLite file, or a PostgreSQL URL
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATMPTRACK_")}
        env.update(
            ATMPTRACK_DATA=str(self.data),
            ATMPTRACK_DB=str(self.db),
            XDG_DATA_HOME=str(self.home),
            NO_COLOR="1",
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Result:
        """The real CLI, in-process."""
        from atmptrack.cli import main

        out, err = io.StringIO(), io.StringIO()
        before = Path.cwd()
        os.chdir(cwd or self.home)
        try:
            code = main(list(args), env=env or self.env(), stdout=out, stderr=err)
        finally:
            os.chdir(before)
        return Result(code, out.getvalue(), err.getvalue())

    def process(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Result:
        """The real CLI as `python -m atmptrack` in a subprocess, for tests about processes."""
        proc = subprocess.run(
            [sys.executable, "-m", "atmptrack", *args],
            capture_output=True,
            text=True,
            env=env or self.env(),
            cwd=cwd or self.home,
            timeout=120,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.code == 0, result.err
        assert "Traceback" not in result.err
        return result.out


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(LANDSCAPE, target)
    return target


# Every test of the CLI runs against both stores: the embedded SQLite file and a PostgreSQL
# server. Tests about the SQLite file itself (its header, its bytes, its directory) are marked
# `sqlite_only` and run once; test_postgres.py checks the same guarantees on the server.
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def cli(request: pytest.FixtureRequest, tmp_path: Path, data_copy: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "postgresql":
        return Cli(data_copy, request.getfixturevalue("pg_url"), home)
    return Cli(data_copy, tmp_path / "store.sqlite", home)


@pytest.fixture(scope="session", params=BACKENDS)
def landscape_cli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One loaded store of the test landscape per backend, shared by the read-only tests."""
    base = tmp_path_factory.mktemp("bundled")
    home = base / "home"
    home.mkdir()
    if request.param == "postgresql":
        server: pgserver.Server = request.getfixturevalue("postgres")
        return Cli(LANDSCAPE, server.create_database(f"landscape_{base.name}"), home)
    return Cli(LANDSCAPE, base / "store.sqlite", home)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that runs on a PostgreSQL server is marked `postgresql` (`make test-fast`
    leaves them to `make test`); the PostgreSQL run of a test marked `sqlite_only` is deselected
    (counted, never run)."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_server = "postgresql" in params.values() or "postgres" in getattr(
            item, "fixturenames", ()
        )
        if on_server:
            item.add_marker(pytest.mark.postgresql)
        (drop if on_server and item.get_closest_marker("sqlite_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def table_dump(db: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to compare a store before and after: an SQLite file, or the
    `atmptrack` schema of a PostgreSQL database."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db) as pg:
            # One snapshot for every table, as a read command takes: a load that commits
            # meanwhile (a killed client's COMMIT still in flight) is seen whole or not at all.
            pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            names = [
                r[0]
                for r in pg.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "'atmptrack' AND table_type = 'BASE TABLE' ORDER BY table_name"
                )
            ]
            return {
                n: sorted(pg.execute(f'SELECT * FROM atmptrack."{n}"').fetchall(), key=repr)
                for n in names
            }
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        conn.close()


def ids(rows: Sequence[dict[str, object]], key: str = "id") -> set[object]:
    return {row[key] for row in rows}


# The PostgreSQL half: one throwaway server per session (tests/pgserver.py), started by the first
# test that asks for it and stopped at the end, and a fresh database for each test.


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.Server]:
    bindir = pgserver.find_bindir()
    if bindir is None:
        # `make test` installs Debian's postgresql package where it can (root with apt); CI must.
        if os.environ.get("CI"):
            pytest.fail(f"{pgserver.NOT_FOUND} (CI is set: CI runs it)", pytrace=False)
        pytest.skip(pgserver.NOT_FOUND)
    server = pgserver.start(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: pgserver.Server) -> Iterator[str]:
    """`postgresql://atmptrack_test@/NAME?host=SOCKETDIR&port=PORT`: an empty database of its
    own, dropped after the test (with any connection the test left open)."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres.create_database(name)
    try:
        yield url
    finally:
        postgres.drop_database(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Reports the PostgreSQL half's skip at the fixture rather than at each test, so that
    pytest's summary (`-ra`) folds them into one line."""
    report = yield
    excinfo = call.excinfo
    if report.skipped and excinfo is not None and pgserver.NOT_FOUND in str(excinfo.value):
        here = Path(__file__)
        entry = next((e for e in reversed(excinfo.traceback) if Path(e.path) == here), None)
        if entry is not None and isinstance(report.longrepr, tuple):
            report.longrepr = (str(here), entry.lineno + 1, report.longrepr[2])
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line when the PostgreSQL half was skipped, above pytest's short summary."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if pgserver.NOT_FOUND in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL half skipped ({len(skipped)} tests): {pgserver.NOT_FOUND}", yellow=True
        )
