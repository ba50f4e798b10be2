"""Start-up cost is kept by keeping heavy modules out of read commands: pinned here per command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import Cli

pytestmark = pytest.mark.slow  # real processes

HEAVY = (
    "sqlmodel",
    "sqlalchemy",
    "yaml",
    "pycountry",
    "rich",
    "atmptrack.schema",
    "atmptrack.writer",
)

PROBE = """
import json, sys
from atmptrack.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
finally:
    loaded = sorted(name for name in HEAVY_NAMES if name in sys.modules)
    sys.stderr.write("\\nMODULES " + json.dumps(loaded) + "\\n")
""".replace("HEAVY_NAMES", repr(HEAVY))


def loaded_modules(cli: Cli, *args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=cli.env(),
        cwd=cli.home,
        timeout=60,
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, proc.stderr
    return list(json.loads(marker[-1].removeprefix("MODULES ")))


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["list", "partners", "--country", "SI"], []),
        (["list", "milestones", "--year", "2025", "--format", "json"], []),
        (["report", "funding", "--format", "csv"], []),
        (["show", "geneh", "--format", "json"], []),
        (["list", "partners", "--format", "yaml"], ["yaml"]),
        (["list", "partners", "--format", "table"], ["rich"]),
        (
            ["list", "partners", "--country", "NL"],
            ["pycountry"],
        ),  # valid, but in no record: pycountry decides
        (["filter", "partners", "country in (PT, SI) and name ~ bio", "-f", "json"], []),
        (["report", "partners", "--format", "json"], []),
        (["report", "timeline", "--format", "tsv"], []),
        (["report", "coverage", "--format", "svg"], []),
        (["--help"], []),
    ],
)
def test_read_commands_on_a_fresh_store_import_no_heavy_module(
    cli: Cli, args: list[str], allowed: list[str]
) -> None:
    cli.ok("load", "-q")
    assert loaded_modules(cli, *args) == allowed


def test_a_stale_store_loads_through_the_write_side(cli: Cli) -> None:
    cli.ok("load", "-q")
    (cli.data / "sources.yaml").write_text(
        (cli.data / "sources.yaml").read_text() + "\n# touched\n"
    )
    loaded = loaded_modules(cli, "list", "partners")
    assert {"sqlmodel", "sqlalchemy", "yaml", "atmptrack.schema", "atmptrack.writer"} <= set(loaded)
    # ...and the next read is fast again.
    assert loaded_modules(cli, "list", "partners") == []
