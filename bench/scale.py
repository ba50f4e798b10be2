"""Scale benchmark: atmptrack on generated data of 100, 1,000 and 10,000 initiatives.

For each size, bench/generate.py writes a data directory in the real format; then every command
below runs as a whole process, `--runs` times round-robin, and the table gives the median wall
time, the peak memory (maximum resident set) and the ratio to a baseline measured in the same
run, against the targets of the scale issue:

- cold `load` (fresh store) <= 1.0x the straightforward pipeline (a script that reads every
  file with yaml.CSafeLoader and inserts the records into a fresh stdlib sqlite3 database with
  executemany in one transaction), and <= 3x its peak memory;
- a read after editing one file <= 0.1x cold load; `diff` of two versions differing in one
  file <= 0.3x cold load; `validate` <= 0.8x cold load;
- a read with nothing changed <= 1.3x `atmptrack --version`; every list, filter, show and
  report <= 3x `atmptrack --version`.

A command that takes longer than `--timeout` seconds is killed, reported as "timeout" and not
run again. L takes many minutes: `python bench/scale.py --sizes S,M,L`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import generate  # bench/generate.py: this script's directory is first on sys.path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

ENTITIES = (
    "initiatives",
    "partners",
    "organisations",
    "members",
    "workgroups",
    "milestones",
    "people",
    "funding",
    "sources",
)
REPORTS = ("funding", "partners", "overlap", "timeline", "coverage")
PIPELINE_NAME = "pipeline (CSafeLoader + sqlite3)"
COLD_NAME = "load (cold)"
VERSION_NAME = "atmptrack --version"

PIPELINE = '''\
"""Baseline: the straightforward pipeline. Read every YAML file with yaml.CSafeLoader and
insert its records into a fresh stdlib sqlite3 database with executemany, in one transaction.
It checks nothing: it is the cost of reading and writing the data, and no more."""

import os
import sqlite3
import sys

import yaml

SCHEMA = """
CREATE TABLE source (id TEXT PRIMARY KEY, title TEXT, publisher TEXT, url TEXT, published TEXT);
CREATE TABLE organisation (id TEXT PRIMARY KEY, name TEXT, short_name TEXT, country TEXT,
    sector TEXT, helix TEXT, city TEXT, parent TEXT);
CREATE TABLE initiative (id TEXT PRIMARY KEY, acronym TEXT, name TEXT, kind TEXT, start TEXT,
    "end" TEXT, path TEXT);
CREATE TABLE membership (initiative TEXT, organisation TEXT, role TEXT,
    PRIMARY KEY (initiative, organisation));
CREATE TABLE citation (record TEXT, source TEXT);
"""
LISTS = ("partner_counts", "members", "workgroups", "milestones", "people", "funding", "relations")


def text(value):
    return None if value is None else str(value)


def files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                yield os.path.join(dirpath, name)


def cite(rows, record, item):
    for source in item.get("sources") or ():
        rows.append((record, source))


def main():
    root, db = sys.argv[1], sys.argv[2]
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(SCHEMA)
    con.execute("BEGIN")
    for path in files(root):
        with open(path, "rb") as handle:
            doc = yaml.load(handle, Loader=yaml.CSafeLoader) or {}
        citations, members = [], []
        sources = doc.get("sources") or []
        con.executemany(
            "INSERT INTO source VALUES (?, ?, ?, ?, ?)",
            [
                (s["id"], s.get("title"), s.get("publisher"), s.get("url"), text(s.get("published")))
                for s in sources
            ],
        )
        organisations = doc.get("organisations") or []
        for o in organisations:
            cite(citations, o["id"], o)
        con.executemany(
            "INSERT INTO organisation VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (o["id"], o["name"], o.get("short_name"), text(o.get("country")), o["sector"],
                 o.get("helix"), o.get("city"), o.get("parent"))
                for o in organisations
            ],
        )
        initiatives = doc.get("initiatives") or []
        for ini in initiatives:
            cite(citations, ini["id"], ini)
            for name in LISTS:
                for index, item in enumerate(ini.get(name) or ()):
                    key = f"{ini['id']}/{name}/{index}"
                    cite(citations, key, item)
                    for j, reported in enumerate(item.get("also_reported") or ()):
                        cite(citations, f"{key}/also_reported/{j}", reported)
            for m in ini.get("members") or ():
                members.append((ini["id"], m["organisation"], m["role"]))
        con.executemany(
            "INSERT INTO initiative VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i["id"], i.get("acronym"), i["name"], i["kind"], text(i.get("start")),
                 text(i.get("end")), path)
                for i in initiatives
            ],
        )
        con.executemany("INSERT INTO membership VALUES (?, ?, ?)", members)
        con.executemany("INSERT INTO citation VALUES (?, ?)", citations)
    con.execute("COMMIT")
    con.close()


if __name__ == "__main__":
    main()
'''


class BenchError(Exception):
    """The benchmark cannot go on for this size."""


@dataclass
class Run:
    """One process: wall time, peak resident memory, and how it ended."""

    seconds: float
    peak_mb: float
    failure: str | None
    stderr: str


@dataclass
class Command:
    """One command line to time, what it is compared with, and its measurements."""

    name: str
    argv: list[str]
    baseline: str | None = None  # the command whose median divides this one's
    target: float | None = None
    memory_target: float | None = None  # peak memory against the baseline's
    prepare: Callable[[], None] | None = None  # untimed, before every run
    needs: str | None = None  # the store it reads, loaded before the first round
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.failure else None

    @property
    def peak(self) -> float | None:
        return max(self.peaks) if self.peaks else None


def run_process(argv: list[str], env: dict[str, str], timeout: float) -> Run:
    """Run argv to the end or to the timeout; its own peak memory comes from os.wait4.

    wait4 returns the resource usage of exactly this child (summing RUSAGE_CHILDREN before and
    after cannot give a maximum), without a wrapper process such as /usr/bin/time in the timing.
    The child leads its own process group, so that a timeout also kills anything it started.
    """
    with tempfile.TemporaryFile() as err:
        killed = threading.Event()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,  # a file, not a pipe: nobody reads a pipe while we wait
                start_new_session=True,
            )
        except OSError as exc:
            return Run(0.0, 0.0, f"cannot run: {exc}", "")

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: leave nothing running behind us
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    failure = None
    if killed.is_set() and elapsed >= timeout:
        failure = "timeout"
    elif proc.returncode != 0:
        failure = f"exit {proc.returncode}"
    return Run(elapsed, peak_mb, failure, stderr)


def remove_store(path: Path) -> Callable[[], None]:
    """A prepare step: delete a store and its WAL files, so that the next load starts cold."""

    def remove() -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return remove


def rename_initiative(path: Path, name: str) -> None:
    """Give the initiative in path a new name: a one-line edit, written as editors do."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("    name: "):
            lines[i] = f"    name: {generate.q(name)}\n"
            break
    else:
        raise BenchError(f"{path} has no initiative name to edit")
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(lines), encoding="utf-8")
    os.replace(temporary, path)  # a new inode too: the freshness check must see the change


def editor(path: Path) -> Callable[[], None]:
    """A prepare step: rename the initiative in path, differently every time."""
    count = 0

    def edit() -> None:
        nonlocal count
        count += 1
        rename_initiative(path, f"Renamed initiative, edit {count}")

    return edit


def atmptrack_argv() -> list[str]:
    found = BIN / "atmptrack"
    return [str(found)] if found.is_file() else [sys.executable, "-m", "atmptrack"]


@dataclass
class Size:
    """One generated dataset and the commands measured on it."""

    label: str
    initiatives: int
    files: int = 0
    megabytes: float = 0.0
    memberships: int = 0
    generate_seconds: float = 0.0
    commands: list[Command] = field(default_factory=list)
    error: str | None = None
    code_changed: bool = False


def describe(data: Path, size: Size) -> None:
    """Count what was generated, for the table's heading."""
    paths = sorted(data.rglob("*.yaml"))
    size.files = len(paths)
    size.megabytes = sum(p.stat().st_size for p in paths) / 1e6
    size.memberships = sum(
        p.read_bytes().count(b"- {organisation: ") for p in paths if p.parent.name == "initiatives"
    )


def commands_for(
    work: Path, data: Path, atmptrack: list[str]
) -> tuple[list[Command], dict[str, list[str]]]:
    """Every command of the benchmark, with its baseline and target, and the untimed loads
    that must run first (by the name of the store they fill)."""
    main_store = work / "store.sqlite"
    cold_store = work / "cold.sqlite"
    pipeline_db = work / "pipeline.sqlite"
    edit_dir = work / "edited"
    edit_store = work / "edited.sqlite"
    new_dir = work / "new"
    # A separate copy takes the edits, with its own store: a read killed by the timeout in the
    # middle of its reload would otherwise leave every later read of the main store reloading.
    shutil.copytree(data, edit_dir)
    shutil.copytree(data, new_dir)
    middle = sorted((data / "initiatives").glob("*.yaml"))
    edited = middle[len(middle) // 2].name
    rename_initiative(new_dir / "initiatives" / edited, "Renamed initiative for the diff")
    pipeline = work / "pipeline.py"
    pipeline.write_text(PIPELINE, encoding="utf-8")

    on_main = [*atmptrack, "--data", str(data), "--db", str(main_store)]

    def read(name: str, *words: str) -> Command:
        """A read of the main store: within 3 times the start-up of `--version`."""
        return Command(name, [*on_main, *words], baseline=VERSION_NAME, target=3.0, needs="main")

    commands = [
        Command(
            PIPELINE_NAME,
            [sys.executable, str(pipeline), str(data), str(pipeline_db)],
            prepare=remove_store(pipeline_db),
        ),
        Command(
            COLD_NAME,
            [*atmptrack, "--data", str(data), "--db", str(cold_store), "load", "-q"],
            baseline=PIPELINE_NAME,
            target=1.0,
            memory_target=3.0,
            prepare=remove_store(cold_store),
        ),
        Command(
            "read after one-file edit",
            [
                *atmptrack,
                "--data",
                str(edit_dir),
                "--db",
                str(edit_store),
                "list",
                "initiatives",
                "--limit",
                "1",
            ],
            baseline=COLD_NAME,
            target=0.1,
            prepare=editor(edit_dir / "initiatives" / edited),
            needs="edit",
        ),
        Command(
            "diff, one file differs",
            [*on_main, "diff", str(data), str(new_dir), "--format", "tsv"],
            baseline=COLD_NAME,
            target=0.3,
            needs="main",
        ),
        Command(
            "validate",
            [*atmptrack, "--data", str(data), "validate"],
            baseline=COLD_NAME,
            target=0.8,
        ),
        Command(VERSION_NAME, [*atmptrack, "--version"]),
        Command(
            "read, no change (list sources)",
            [*on_main, "list", "sources", "--limit", "1"],
            baseline=VERSION_NAME,
            target=1.3,
            needs="main",
        ),
    ]
    for entity in ENTITIES:
        for fmt in ("table", "json"):
            commands.append(
                read(
                    f"list {entity} --format {fmt}",
                    *("list", entity, "--limit", "20", "--format", fmt),
                )
            )
    commands.append(
        read(
            "filter members",
            *("filter", "members", "role = coordinator and country in (DE, FR, ES)"),
            *("--limit", "20"),
        )
    )
    commands.append(read("show one initiative", "show", generate.ini_id(0), "--format", "table"))
    for report in REPORTS:
        commands.append(
            read(f"report {report}", "report", report, "--format", "tsv", "--limit", "20")
        )
    setup = {
        "main": [*on_main, "load", "-q"],
        "edit": [*atmptrack, "--data", str(edit_dir), "--db", str(edit_store), "load", "-q"],
    }
    return commands, setup


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(size: Size, env: dict[str, str], runs: int, timeout: float) -> None:
    """Time every command round-robin, rotating the start each round, as bench.py does."""
    commands = size.commands
    for i in range(runs):
        shift = i % len(commands)
        for cmd in commands[shift:] + commands[:shift]:
            if cmd.failure:
                continue
            if cmd.prepare:
                cmd.prepare()
            run = run_process(cmd.argv, env, timeout)
            if run.failure:
                cmd.failure = run.failure
                tail = run.stderr.strip().splitlines()[-3:]
                log(f"{size.label}: {cmd.name}: {run.failure}" + "".join(f"\n  {t}" for t in tail))
                continue
            cmd.times.append(run.seconds)
            cmd.peaks.append(run.peak_mb)
            log(
                f"{size.label} run {i + 1}/{runs}: {cmd.name}: {run.seconds:.2f} s, "
                f"{run.peak_mb:.0f} MB"
            )


def code_state() -> list[tuple[str, int, int]]:
    """Every source file of the package with its size and modification time.

    A change of atmptrack during a run (a checkout, another person's edit) can change the
    store's layout, and then the next read reloads everything: the figures would mix versions.
    """
    package = ROOT / "atmptrack"
    return [
        (p.relative_to(package).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(package.rglob("*.py"))
    ]


def bench_size(
    label: str, initiatives: int, seed: int, work: Path, env: dict[str, str], args: Options
) -> Size:
    size = Size(label, initiatives)
    code = code_state()
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    log(f"{label}: generating {initiatives} initiatives in {data}")
    began = time.perf_counter()
    generate.generate(data, initiatives, seed)
    size.generate_seconds = time.perf_counter() - began
    describe(data, size)
    size.commands, setup = commands_for(work, data, atmptrack_argv())
    for store, argv in setup.items():
        log(f"{label}: loading the {store} store (untimed)")
        run = run_process(argv, env, args.timeout)
        if run.failure:
            for cmd in size.commands:
                if cmd.needs == store:
                    cmd.failure = f"set-up load: {run.failure}"
            log(f"{label}: set-up load of the {store} store: {run.failure}")
    measure(size, env, args.runs, args.timeout)
    size.code_changed = code_state() != code
    return size


# --- reporting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    ratio: float | None
    status: str


def verdict(
    value: float | None,
    failure: str | None,
    base: float | None,
    target: float | None,
) -> Verdict:
    if failure:
        return Verdict(None, "timeout" if "timeout" in failure else "failed")
    if value is None or base is None or base == 0:
        return Verdict(None, "unknown")  # the baseline failed
    ratio = value / base
    if target is None:
        return Verdict(ratio, "info")
    return Verdict(ratio, "ok" if ratio <= target else "over")


def figures(size: Size) -> list[dict[str, object]]:
    """Every command's figures and verdicts, as the table prints them and JSON holds them."""
    by_name = {cmd.name: cmd for cmd in size.commands}
    rows: list[dict[str, object]] = []
    for cmd in size.commands:
        row: dict[str, object] = {
            "name": cmd.name,
            "argv": cmd.argv,
            "runs": len(cmd.times),
            "median_s": None if cmd.median is None else round(cmd.median, 4),
            "min_s": round(min(cmd.times), 4) if cmd.times and not cmd.failure else None,
            "peak_mb": None if cmd.peak is None else round(cmd.peak, 1),
            "failure": cmd.failure,
            "baseline": cmd.baseline,
            "target": cmd.target,
        }
        if cmd.baseline is None:
            row["status"] = cmd.failure or "baseline"
            row["ratio"] = None
        else:
            base = by_name[cmd.baseline]
            v = verdict(cmd.median, cmd.failure, base.median, cmd.target)
            row["ratio"] = None if v.ratio is None else round(v.ratio, 3)
            row["status"] = v.status
            if cmd.memory_target is not None:
                m = verdict(
                    cmd.peak if cmd.median is not None else None,
                    cmd.failure,
                    base.peak if base.median is not None else None,
                    cmd.memory_target,
                )
                row["memory_ratio"] = None if m.ratio is None else round(m.ratio, 3)
                row["memory_target"] = cmd.memory_target
                row["memory_status"] = m.status
        rows.append(row)
    return rows


def size_json(size: Size) -> dict[str, object]:
    return {
        "size": size.label,
        "initiatives": size.initiatives,
        "files": size.files,
        "megabytes": round(size.megabytes, 1),
        "memberships": size.memberships,
        "generate_s": round(size.generate_seconds, 2),
        "error": size.error,
        "code_changed": size.code_changed,
        "commands": figures(size),
    }


SHORT_BASELINE = {PIPELINE_NAME: "pipeline", COLD_NAME: "cold load", VERSION_NAME: "--version"}


def print_size(size: Size, runs: int) -> None:
    print(
        f"{size.label}: {size.initiatives:,} initiatives, {size.files:,} files, "
        f"{size.megabytes:.1f} MB of YAML, {size.memberships:,} memberships; "
        f"generated in {size.generate_seconds:.1f} s; median of {runs} runs"
    )
    if size.error:
        print(f"  not measured: {size.error}")
        print()
        return
    rows = figures(size)
    width = max(len(str(r["name"])) for r in rows)
    print(
        f"{'command':<{width}}  {'median s':>9}  {'peak MB':>8}  {'ratio':>7}  "
        f"{'baseline':<9}  {'target':>8}  status"
    )
    for r in rows:
        median = r["median_s"]
        shown = f"{median:.3f}" if isinstance(median, float) else str(r["failure"] or "-")
        peak = r["peak_mb"]
        peak_text = f"{peak:.0f}" if isinstance(peak, float) else "-"
        ratio = r["ratio"]
        ratio_text = f"{ratio:.2f}x" if isinstance(ratio, float) else "-"
        baseline = SHORT_BASELINE.get(str(r["baseline"]), "-")
        target = r["target"]
        target_text = f"<= {target:.1f}x" if isinstance(target, float) else "-"
        print(
            f"{r['name']!s:<{width}}  {shown:>9}  {peak_text:>8}  {ratio_text:>7}  "
            f"{baseline:<9}  {target_text:>8}  {r['status']}"
        )
        if "memory_status" in r:
            m_ratio = r["memory_ratio"]
            m_text = f"{m_ratio:.2f}x" if isinstance(m_ratio, float) else "-"
            m_target = f"<= {r['memory_target']}x"
            print(
                f"{'  its peak memory':<{width}}  {'':>9}  {'':>8}  {m_text:>7}  "
                f"{'pipeline':<9}  {m_target:>8}  {r['memory_status']}"
            )
    if size.code_changed:
        print(
            "warning: atmptrack's source changed during this run; a layout change makes the "
            "next read of each store reload it, so these figures may mix versions"
        )
    print()


# --- command line ----------------------------------------------------------------------------


@dataclass
class Options:
    sizes: list[str]
    runs: int
    timeout: float
    seed: int
    json: bool
    workdir: Path | None


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="S,M", help="comma-separated: S, M, L (default S,M; L takes long)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a command is killed"
    )
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--workdir", type=Path, help="keep the generated data and stores here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    sizes = [s.strip().upper() for s in str(args.sizes).split(",") if s.strip()]
    unknown = [s for s in sizes if s not in generate.SIZES]
    if unknown or not sizes:
        parser.error(f"--sizes takes S, M and L; got {args.sizes!r}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return Options(sizes, args.runs, args.timeout, args.seed, args.json, args.workdir)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMPTRACK_")}
    env.update(NO_COLOR="1", COLUMNS="120")
    # As in bench.py: compiled bytecode, so that no run pays for compiling atmptrack.
    compile_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "atmptrack")],
        check=True,
        env=compile_env,
    )
    results: list[Size] = []
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="atmptrack-scale-")))
        else:
            base = args.workdir.resolve()
            base.mkdir(parents=True, exist_ok=True)
        # Default stores go to the user data directory: keep them inside the run's directory.
        env["XDG_DATA_HOME"] = str(base / "xdg")
        for label in args.sizes:
            work = base / label
            if work.exists():
                shutil.rmtree(work)
            try:
                size = bench_size(label, generate.SIZES[label], args.seed, work, env, args)
            except (BenchError, generate.GenerateError, OSError) as exc:
                size = Size(label, generate.SIZES[label], error=str(exc))
            results.append(size)
            if not args.json:
                print_size(size, args.runs)
                sys.stdout.flush()
    if args.json:
        print(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "runs": args.runs,
                    "timeout_s": args.timeout,
                    "seed": args.seed,
                    "sizes": [size_json(s) for s in results],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
