"""Time `atmptrack import cordis` on a generated export of real size (bench/cordis_bundle.py:
100,000 organisation rows), with peak memory, against reading the same CSV files with the
`csv` module alone, measured in the same run.

Run by bench/bench.py (`make bench`); alone: python bench/import_bench.py [--runs 3] [--all]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cordis_bundle  # bench/cordis_bundle.py: this script's directory is first on sys.path

ROOT = Path(__file__).resolve().parent.parent
ROWS = 100_000
SEED = 7
CSV_ONLY = """\
import csv, sys
rows = 0
for name in sys.argv[1:]:
    with open(name, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter=";"):
            rows += 1
print(rows)
"""


@dataclass
class Measure:
    name: str
    argv: list[str]
    prepare: Callable[[], None] = lambda: None
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def peak(self) -> float:
        return max(self.peaks)


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time in seconds and peak memory in MB of one process (its own, from os.wait4)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(
                f"{' '.join(argv)}: exit {proc.returncode}\n{err.read().decode(errors='replace')}"
            )
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return elapsed, usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def measure(atmptrack: list[str], env: dict[str, str], runs: int, every: bool) -> dict[str, object]:
    """Generate the bundle, time each command `runs` times round-robin, return the figures."""
    with tempfile.TemporaryDirectory(prefix="atmptrack-import-bench-") as tmpdir:
        tmp = Path(tmpdir)
        bundle = tmp / "bundle"
        counts = cordis_bundle.write(bundle, rows=ROWS, seed=SEED)
        data = tmp / "data"
        shutil.copytree(ROOT / "data", data)
        into = data / "cordis"

        def fresh() -> None:
            shutil.rmtree(into, ignore_errors=True)

        script = tmp / "csv_only.py"
        script.write_text(CSV_ONLY, encoding="utf-8")
        files = [str(bundle / name) for name in ("project.csv", "organization.csv", "topics.csv")]
        command = [*atmptrack, "--data", str(data), "import", "cordis", str(bundle)]
        measures = [
            Measure("csv module alone", [sys.executable, str(script), *files]),
            Measure("import --atmp", [*command, "--atmp"], fresh),
            Measure("import --atmp, again", [*command, "--atmp"]),
        ]
        for _ in range(runs):
            for item in measures:
                item.prepare()
                elapsed, peak = run(item.argv, env)
                item.times.append(elapsed)
                item.peaks.append(peak)
        if every:
            # Every project: 12,500 project files and 30,000 organisation files. Once.
            for name in ("import, every project", "import, every project, again"):
                item = Measure(name, command, fresh if "again" not in name else lambda: None)
                item.prepare()
                elapsed, peak = run(item.argv, env)
                item.times.append(elapsed)
                item.peaks.append(peak)
                measures.append(item)
        baseline = measures[0].median
        return {
            "bundle": counts,
            "bytes": sum(Path(f).stat().st_size for f in files),
            "runs": runs,
            "commands": [
                {
                    "name": m.name,
                    "median_s": round(m.median, 3),
                    "peak_mb": round(m.peak, 1),
                    "runs": len(m.times),
                    "ratio_to_csv": round(m.median / baseline, 2),
                }
                for m in measures
            ],
        }


def print_text(figures: dict[str, object]) -> None:
    bundle = figures["bundle"]
    assert isinstance(bundle, dict)
    size = int(str(figures["bytes"])) / 1e6
    print(
        f"CORDIS import: a generated export of {bundle['organisation rows']:,} organisation rows, "
        f"{bundle['projects']:,} projects ({bundle['atmp projects']} advanced-therapy), "
        f"{size:.0f} MB of CSV; median of {figures['runs']} runs, peak memory of each process"
    )
    print()
    commands = figures["commands"]
    assert isinstance(commands, list)
    width = max(len(c["name"]) for c in commands)
    print(f"{'command':<{width}}  {'median s':>8}  {'peak MB':>7}  {'runs':>4}  ratio to csv")
    for c in commands:
        print(
            f"{c['name']:<{width}}  {c['median_s']:>8.2f}  {c['peak_mb']:>7.0f}  {c['runs']:>4}"
            f"  {c['ratio_to_csv']:>11.1f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command")
    parser.add_argument("--all", action="store_true", help="also import every project, once")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    script = Path(sys.executable).parent / "atmptrack"
    atmptrack = [str(script)] if script.is_file() else [sys.executable, "-m", "atmptrack"]
    env = {**os.environ, "NO_COLOR": "1"}
    figures = measure(atmptrack, env, args.runs, args.all)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_text(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
