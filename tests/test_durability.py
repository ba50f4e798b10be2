"""Nothing lost: kill -9 and Ctrl-C during loads, and parallel loads and reads, with real processes."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BACKENDS, LANDSCAPE, table_dump

pytestmark = pytest.mark.slow  # real processes

BULK = 1500  # organisations added to dataset B, so that its write transaction takes a while


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMPTRACK_")}
    env["XDG_DATA_HOME"] = str(home)
    return env


def _start(data: Path, db: Path | str, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "atmptrack", "--data", str(data), "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(home),
    )


def _content(db: Path | str) -> dict[str, list[tuple[object, ...]]]:
    """Every data table's rows; `meta` is left out because it records the load time."""
    if isinstance(db, str):  # a PostgreSQL store
        return {n: rows for n, rows in table_dump(db).items() if n != "meta"}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta' ORDER BY name"
            )
        ]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}
    finally:
        conn.close()


Content = dict[str, list[tuple[object, ...]]]


@dataclass
class Datasets:
    """Two data directories (B much larger than A), their loaded contents and load times."""

    a: Path
    b: Path
    home: Path
    expected: dict[str, Content]
    timings: dict[str, float]

    def __getitem__(self, name: str) -> Path:
        return {"a": self.a, "b": self.b}[name]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Datasets:
    base = tmp_path_factory.mktemp("durability")
    a = base / "a"
    shutil.copytree(LANDSCAPE, a)
    b = base / "b"
    shutil.copytree(LANDSCAPE, b)
    orgs = "".join(
        f"  - {{id: bulk-{n}, name: Bulk {n}, country: PT, sector: company, sources: [ctgct-geneh-role]}}\n"
        for n in range(BULK)
    )
    members = "".join(
        f"      - {{organisation: bulk-{n}, role: member, sources: [ctgct-geneh-role]}}\n"
        for n in range(BULK)
    )
    (b / "bulk.yaml").write_text(
        f"organisations:\n{orgs}initiatives:\n  - id: bulk\n    name: Bulk\n    kind: network\n"
        f"    sources: [ctgct-geneh-role]\n    members:\n{members}"
    )
    home = base / "home"
    home.mkdir()
    expected = {}
    timings = {}
    for name, data in (("a", a), ("b", b)):
        db = base / f"{name}.sqlite"
        started = time.perf_counter()
        proc = _start(data, db, home, "load", "-q")
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        timings[name] = time.perf_counter() - started
        expected[name] = _content(db)
    return Datasets(a, b, home, expected, timings)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """An empty store of the test's own, on each backend."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        return url
    return tmp_path / "store.sqlite"


def _expected(datasets: Datasets, db: Path | str) -> dict[str, Content]:
    """What a store holds with each dataset loaded whole, as this backend gives it back."""
    if isinstance(db, Path):
        return datasets.expected
    expected = {}
    for name in ("b", "a"):  # A last: the tests start from it
        proc = _start(datasets[name], db, datasets.home, "load", "-q")
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        expected[name] = _content(db)
    return expected


def _which(db: Path | str, expected: dict[str, Content]) -> str:
    content = _content(db)
    matches = [name for name, rows in expected.items() if rows == content]
    assert len(matches) == 1, "the store holds neither dataset whole"
    return matches[0]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_loads_leave_the_previous_dataset(
    datasets: Datasets, store: Path | str, sig: int
) -> None:
    rng = random.Random(20261121 + sig)
    db = store
    home = datasets.home
    expected = _expected(datasets, db)
    proc = _start(datasets["a"], db, home, "load", "-q")
    assert proc.wait(timeout=120) == 0
    current = "a"
    duration = max(datasets.timings.values())
    # A fixed number of rounds, however busy the machine: each is a signal at another moment.
    for rounds in range(10):
        target = "b" if current == "a" else "a"
        proc = _start(datasets[target], db, home, "load", "-q")
        current = _interrupted(proc, sig, rng, duration, rounds, db, expected, current, target)


def _interrupted(
    proc: subprocess.Popen[str],
    sig: int,
    rng: random.Random,
    duration: float,
    rounds: int,
    db: Path | str,
    expected: dict[str, Content],
    current: str,
    target: str,
) -> str:
    """Signal a write on its way from `current` to `target`; what the store holds after it."""
    # Half the signals land anywhere, half late, when the transaction is likely open.
    time.sleep(rng.uniform(0, duration) if rounds % 2 else rng.uniform(0.5, 1.1) * duration)
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err, err
    if sig == signal.SIGINT:
        # 130 from our handler; -2 (the signal's default action, no output) when it lands
        # while the interpreter starts or shuts down, outside any atmptrack code.
        assert code in (0, 130, -signal.SIGINT), (code, err)
    # Whatever the moment, the store holds one dataset whole: the previous one, or the new
    # one when the signal came after the commit.
    found = _which(db, expected)
    if code == 0:
        assert found == target
    assert found in (current, target)
    return found


def test_parallel_loads_and_reads_never_fail_or_show_half_a_dataset(
    datasets: Datasets, store: Path | str
) -> None:
    db = store
    expected = _expected(datasets, db)
    home = datasets.home
    sizes = {name: len(rows["organisation"]) for name, rows in datasets.expected.items()}

    def reader(index: int) -> list[int]:
        counts = []
        for round_ in range(3):
            data = datasets["a" if (index + round_) % 2 else "b"]
            proc = _start(
                data, db, home, "list", "organisations", "--format", "json", "--columns", "id"
            )
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            assert "locked" not in err
            counts.append(len(json.loads(out)))
        return counts

    def loader(index: int) -> list[int]:
        for round_ in range(2):
            proc = _start(datasets["b" if (index + round_) % 2 else "a"], db, home, "load", "-q")
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
        return []

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(reader, i) for i in range(4)] + [
            pool.submit(loader, i) for i in range(2)
        ]
        results = [f.result() for f in futures]
    seen = {count for counts in results for count in counts}
    assert seen <= set(sizes.values()), (seen, sizes)
    assert _which(db, expected) in ("a", "b")


# Updates: a read after one file changed writes only that file's records. The file here is the
# bulk one, so that the update's transaction takes a while too; its two versions keep the ids
# and rename every organisation, so that half an update would show.
VERSIONS = ("x", "y")


def _write_bulk(data: Path, version: str) -> None:
    """The bulk file in one version, written as editors save: a new file renamed over it."""
    text = re.sub(
        r"name: Bulk (v\w )?(\d+)", rf"name: Bulk v{version} \2", (data / "bulk.yaml").read_text()
    )
    temporary = data / ".bulk.yaml.tmp"
    temporary.write_text(text)
    os.replace(temporary, data / "bulk.yaml")


def _files_read(db: Path | str) -> str:
    return {str(k): str(v) for k, v in table_dump(db)["meta"]}["files_read"]


def _updating(
    datasets: Datasets, db: Path | str, tmp_path: Path
) -> tuple[Path, dict[str, Content]]:
    """A data directory in version x, loaded, and what the store holds with each version."""
    data = tmp_path / "data"
    shutil.copytree(datasets["b"], data)
    backend = "sqlite" if isinstance(db, Path) else "postgresql"
    # The same in every test of a backend (rows name files relative to the data directory):
    # loaded once per backend, and each test loads only the version it starts from.
    expected = _VERSIONS_LOADED.setdefault(backend, {})
    for version in ("y", "x") if not expected else ("x",):  # x last: the tests start from it
        _write_bulk(data, version)
        proc = _start(data, db, datasets.home, "load", "-q")
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        content = _content(db)
        assert expected.setdefault(version, content) == content
    return data, expected


_VERSIONS_LOADED: dict[str, dict[str, Content]] = {}


def _read_process(data: Path, db: Path | str, home: Path) -> subprocess.Popen[str]:
    return _start(data, db, home, "list", "organisations", "--format", "json", "--columns", "name")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_updates_leave_the_previous_dataset(
    datasets: Datasets, store: Path | str, sig: int, tmp_path: Path
) -> None:
    rng = random.Random(20261122 + sig)
    db = store
    home = datasets.home
    data, expected = _updating(datasets, db, tmp_path)
    _write_bulk(data, "y")
    started = time.perf_counter()
    proc = _read_process(data, db, home)
    assert proc.wait(timeout=120) == 0
    duration = time.perf_counter() - started
    assert _files_read(db) == "1" and _which(db, expected) == "y"
    current = "y"
    for rounds in range(8):
        target = "y" if current == "x" else "x"
        _write_bulk(data, target)
        proc = _read_process(data, db, home)
        found = _interrupted(proc, sig, rng, duration, rounds, db, expected, current, target)
        if found != current:
            assert _files_read(db) == "1"  # an update, not a load
        current = found


def test_parallel_updates_and_reads_never_fail_or_show_half_a_dataset(
    datasets: Datasets, store: Path | str, tmp_path: Path
) -> None:
    db = store
    home = datasets.home
    data, expected = _updating(datasets, db, tmp_path)

    def versions_seen(out: str) -> set[str]:
        names = [row["name"] for row in json.loads(out)]
        return {name.split()[1] for name in names if name.startswith("Bulk v")}

    def reader(_index: int) -> list[set[str]]:
        seen = []
        for _round in range(3):
            out, err = _read_process(data, db, home).communicate(timeout=180)
            assert "Traceback" not in err and "locked" not in err, err
            seen.append(versions_seen(out))
        return seen

    def editor() -> list[set[str]]:
        seen = []
        for version in ("y", "x", "y", "x"):
            _write_bulk(data, version)
            proc = _read_process(data, db, home)
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            seen.append(versions_seen(out))
        return seen

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(reader, i) for i in range(3)] + [pool.submit(editor)]
        results = [f.result() for f in futures]
    # Every answer shows one version of the bulk file whole, never some of each.
    assert all(len(seen) == 1 for answers in results for seen in answers), results
    assert _which(db, expected) in VERSIONS
    assert _files_read(db) == "1"


def test_a_full_disk_fails_the_load_cleanly_and_keeps_the_store(
    datasets: Datasets, tmp_path: Path
) -> None:
    import resource

    home = datasets.home
    db = tmp_path / "store.sqlite"
    first = _start(datasets["a"], db, home, "load", "-q")
    assert first.wait(timeout=120) == 0
    before = _content(db)
    limit = db.stat().st_size + 64 * 1024  # room for a little, not for dataset B

    def small_disk() -> None:
        # Python ignores SIGXFSZ, so writes past the limit fail with EFBIG, as on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.Popen(
        [sys.executable, "-m", "atmptrack", "--data", str(datasets["b"]), "--db", str(db), "load"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(home),
        preexec_fn=small_disk,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    assert "cannot write the store" in err and "Traceback" not in err
    assert _content(db) == before
