"""Time whole atmptrack CLI processes against baselines measured in the same run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

EAGER_APP = '''\
"""Baseline: a Typer app that imports sqlmodel eagerly at module level."""

import sqlite3
import sys

import typer
from sqlmodel import Field, Session, SQLModel, create_engine, select

app = typer.Typer(add_completion=False)


class Source(SQLModel, table=True):
    id: str = Field(primary_key=True)
    title: str


@app.callback()
def main() -> None:
    """Group callback, so that `rows` is a subcommand as in atmptrack."""


@app.command()
def rows(db: str = typer.Option(..., envvar="ATMPTRACK_DB")) -> None:
    """Print one row of the source table."""
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT id, title FROM source ORDER BY id LIMIT 1").fetchone()
    if row is None:
        sys.exit("source table is empty")
    typer.echo("\\t".join(str(value) for value in row))


if __name__ == "__main__":
    app()
'''

FLOOR_APP = '''\
"""Baseline: the floor of a Typer command line over SQLite: a group, one command, one option,
one row printed from stdlib sqlite3."""

import sqlite3
import sys

import typer

app = typer.Typer(add_completion=False)


@app.callback()
def main() -> None:
    """Group callback, so that `rows` is a subcommand as in atmptrack."""


@app.command()
def rows(db: str = typer.Option(..., envvar="ATMPTRACK_DB")) -> None:
    """Print one row of the source table."""
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT id, title FROM source ORDER BY id LIMIT 1").fetchone()
    if row is None:
        sys.exit("source table is empty")
    typer.echo("\\t".join(str(value) for value in row))


if __name__ == "__main__":
    app()
'''

MINIMAL_APP = '''\
"""Baseline: the smallest Typer app, one command with one option."""

import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Greet someone."""
    typer.echo(f"hello {name}")


if __name__ == "__main__":
    app()
'''


class BenchError(Exception):
    """A command could not be run or exited non-zero."""


@dataclass
class Command:
    """One command line to time, with its timings in seconds."""

    name: str
    argv: list[str]
    times: list[float] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # added to the run's environment

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.times) * 1000


@dataclass(frozen=True)
class Ratio:
    """A measured command divided by a baseline, with an optional target."""

    name: str
    numerator: str
    denominator: str
    target: float | None


RATIOS = [
    # sqlite-utils is argparse-free Click: Typer 0.29's own floor is above it (see below).
    Ratio("list partners / sqlite-utils rows", "list partners", "sqlite-utils rows", None),
    Ratio("report funding / sqlite-utils rows", "report funding", "sqlite-utils rows", None),
    Ratio(
        "typer sqlite floor / sqlite-utils rows", "typer sqlite floor", "sqlite-utils rows", None
    ),
    # The goal: within 1.1 times the floor of any Typer command that reads one row from SQLite.
    Ratio("list partners / typer sqlite floor", "list partners", "typer sqlite floor", 1.10),
    Ratio("report funding / typer sqlite floor", "report funding", "typer sqlite floor", 1.10),
    Ratio("list partners / eager typer+sqlmodel", "list partners", "eager typer+sqlmodel", None),
    Ratio("--help / minimal typer --help", "atmptrack --help", "minimal typer --help", 1.30),
    # Completion answers in about the time of an ordinary command.
    Ratio("completion / list partners", "completion", "list partners", 1.20),
    # The floor of any Typer 0.29 command that parses options: shows how much is atmptrack's own.
    Ratio("list partners / minimal typer command", "list partners", "minimal typer command", None),
    # The same commands with the store on a PostgreSQL server (a throwaway local one), beside SQLite.
    Ratio("load on postgresql / on sqlite", "load (postgresql)", "load (sqlite)", None),
    Ratio(
        "list partners on postgresql / on sqlite",
        "list partners (postgresql)",
        "list partners",
        None,
    ),
    Ratio(
        "report funding on postgresql / on sqlite",
        "report funding (postgresql)",
        "report funding",
        None,
    ),
]


def start_postgres() -> Any:
    """A throwaway PostgreSQL server (the tests' own set-up, tests/pgserver.py), or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import pgserver

    bindir = pgserver.find_bindir()
    if bindir is None:
        print(f"bench: {pgserver.NOT_FOUND}; no PostgreSQL figures", file=sys.stderr)
        return None
    return pgserver.start(bindir)


def script(name: str) -> Path | None:
    """The console script `name` installed next to the running interpreter, if any."""
    for candidate in (BIN / name, BIN / f"{name}.exe"):
        if candidate.is_file():
            return candidate
    return None


def atmptrack_argv() -> list[str]:
    """How to start atmptrack: the console script, else `python -m atmptrack`."""
    found = script("atmptrack")
    return [str(found)] if found else [sys.executable, "-m", "atmptrack"]


def run_once(cmd: Command, env: dict[str, str]) -> float:
    """Run `cmd` once and return its wall time in seconds; raise BenchError if it fails."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd.argv,
            cwd=ROOT,
            env={**env, **cmd.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
    except OSError as exc:
        raise BenchError(f"{cmd.name}: cannot run {cmd.argv[0]}: {exc}") from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").rstrip()
        raise BenchError(
            f"{cmd.name}: exit code {proc.returncode}\n  command: {' '.join(cmd.argv)}\n{stderr}"
        )
    return elapsed


def measure(commands: list[Command], env: dict[str, str], runs: int, warmup: int) -> None:
    """Warm up, then time every command round-robin, rotating the start each round."""
    for _ in range(warmup):
        for cmd in commands:
            run_once(cmd, env)
    for i in range(runs):
        shift = i % len(commands)
        for cmd in commands[shift:] + commands[:shift]:
            cmd.times.append(run_once(cmd, env))


def make_store(tmp: Path, atmptrack: list[str], env: dict[str, str]) -> Path:
    """Load the repository's data/ into a fresh store in `tmp`."""
    store = tmp / "store.db"
    run_once(Command("load", [*atmptrack, "--db", str(store), "load", "-q"]), env)
    if not store.is_file():
        raise BenchError(f"load: exited 0 but did not create {store}")
    return store


def status(value: float, target: float | None) -> str:
    """ "ok" or "over" against the target; "info" when there is none."""
    if target is None:
        return "info"
    return "ok" if value <= target else "over"


def measured_ratios(by_name: dict[str, Command]) -> list[Ratio]:
    """The ratios whose two commands ran (no PostgreSQL figures without a server)."""
    return [r for r in RATIOS if r.numerator in by_name and r.denominator in by_name]


def ratio_value(by_name: dict[str, Command], r: Ratio) -> float:
    """The ratio of the two commands' median wall times."""
    return by_name[r.numerator].median_ms / by_name[r.denominator].median_ms


def results(commands: list[Command], runs: int, warmup: int) -> dict[str, object]:
    """All figures as one JSON-ready object; the text report prints the same figures."""
    by_name = {cmd.name: cmd for cmd in commands}
    ratios: list[dict[str, object]] = []
    for r in measured_ratios(by_name):
        value = ratio_value(by_name, r)
        ratios.append(
            {
                "name": r.name,
                "ratio": round(value, 3),
                "target": r.target,
                "status": status(value, r.target),
            }
        )
    return {
        "python": platform.python_version(),
        "runs": runs,
        "warmup": warmup,
        "commands": [
            {
                "name": cmd.name,
                "argv": cmd.argv,
                "median_ms": round(cmd.median_ms, 1),
                "min_ms": round(cmd.min_ms, 1),
                "runs": len(cmd.times),
            }
            for cmd in commands
        ],
        "ratios": ratios,
    }


def print_text(commands: list[Command], runs: int, warmup: int) -> None:
    """Print the figures as a plain-text table followed by the ratio lines."""
    by_name = {cmd.name: cmd for cmd in commands}
    print(f"Python {platform.python_version()}")
    print(f"{runs} timed runs per command, round-robin, after {warmup} warm-up runs each")
    print()
    width = max(len(cmd.name) for cmd in commands)
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>8}  {'runs':>4}")
    for cmd in commands:
        print(
            f"{cmd.name:<{width}}  {cmd.median_ms:>9.1f}  {cmd.min_ms:>8.1f}  {len(cmd.times):>4}"
        )
    print()
    width = max(len(r.name) for r in RATIOS)
    print(f"{'ratio of medians':<{width}}  {'value':>5}  {'target':>7}  status")
    for r in measured_ratios(by_name):
        value = ratio_value(by_name, r)
        target = "-" if r.target is None else f"<= {r.target:.2f}"
        print(f"{r.name:<{width}}  {value:>5.2f}  {target:>7}  {status(value, r.target)}")


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse options, set up a store and baselines, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=positive, default=15, help="timed runs per command")
    parser.add_argument("--warmup", type=non_negative, default=2, help="untimed runs first")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-import", action="store_true", help="skip the CORDIS import benchmark")
    parser.add_argument(
        "--import-all", action="store_true", help="also import every project of the export, once"
    )
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the figures on a PostgreSQL server"
    )
    args = parser.parse_args(argv)

    sqlite_utils = script("sqlite-utils")
    if sqlite_utils is None:
        print(
            f"bench: sqlite-utils not found in {BIN}; install the bench extra, "
            f"e.g. {sys.executable} -m pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2

    atmptrack = atmptrack_argv()
    server = None if args.no_postgres else start_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="atmptrack-bench-") as tmpdir:
            tmp = Path(tmpdir)
            env = dict(os.environ)
            env["NO_COLOR"] = "1"
            # An installed wheel has compiled bytecode; a checkout under PYTHONDONTWRITEBYTECODE
            # would recompile atmptrack in every run and skew its figures.
            compile_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
            package = str(Path(__file__).resolve().parent.parent / "atmptrack")
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", package], check=True, env=compile_env
            )
            store = make_store(tmp, atmptrack, env)
            env["ATMPTRACK_DB"] = str(store)
            eager = tmp / "eager_app.py"
            eager.write_text(EAGER_APP, encoding="utf-8")
            floor = tmp / "floor_app.py"
            floor.write_text(FLOOR_APP, encoding="utf-8")
            minimal = tmp / "minimal_app.py"
            minimal.write_text(MINIMAL_APP, encoding="utf-8")
            commands = [
                Command("sqlite-utils rows", [str(sqlite_utils), "rows", str(store), "source"]),
                Command("eager typer+sqlmodel", [sys.executable, str(eager), "rows"]),
                Command("typer sqlite floor", [sys.executable, str(floor), "rows"]),
                Command("minimal typer --help", [sys.executable, str(minimal), "--help"]),
                Command("minimal typer command", [sys.executable, str(minimal), "--name", "x"]),
                Command("list partners", [*atmptrack, "list", "partners", "--country", "SI"]),
                Command("report funding", [*atmptrack, "report", "funding"]),
                Command("atmptrack --help", [*atmptrack, "--help"]),
                Command(
                    "completion",
                    atmptrack,
                    env={
                        "_ATMPTRACK_COMPLETE": "complete_bash",
                        "COMP_WORDS": "atmptrack list partners --country ",
                        "COMP_CWORD": "3",
                    },
                ),
            ]
            if server is not None:
                url = server.create_database("bench")
                commands += [
                    Command(
                        "load (sqlite)", [*atmptrack, "--db", str(tmp / "load.sqlite"), "load"]
                    ),
                    Command("load (postgresql)", [*atmptrack, "--db", url, "load"]),
                    Command(
                        "list partners (postgresql)",
                        [*atmptrack, "--db", url, "list", "partners", "--country", "SI"],
                    ),
                    Command(
                        "report funding (postgresql)",
                        [*atmptrack, "--db", url, "report", "funding"],
                    ),
                ]
            measure(commands, env, args.runs, args.warmup)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()

    figures = None
    if not args.no_import:
        import import_bench  # bench/import_bench.py, beside this script

        figures = import_bench.measure(
            atmptrack, {**os.environ, "NO_COLOR": "1"}, 3, args.import_all
        )
    if args.json:
        print(
            json.dumps({**results(commands, args.runs, args.warmup), "import": figures}, indent=2)
        )
    else:
        print_text(commands, args.runs, args.warmup)
        if figures is not None:
            print()
            import_bench.print_text(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
