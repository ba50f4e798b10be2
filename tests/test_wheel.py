"""An installed wheel, without a checkout, still answers on the bundled dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # real processes

RUN = """
import sys
sys.path.insert(0, sys.argv[1])
import atmptrack
assert atmptrack.__file__.startswith(sys.argv[1]), atmptrack.__file__
from atmptrack.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_wheel_ships_the_dataset_and_reports_funding_from_it(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("atmptrack-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "atmptrack/_data/initiatives/geneh.yaml" in names
        assert "atmptrack/data.schema.json" in names  # for editors, beside the package
        site = tmp_path / "site"
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"  # no ./data here: the bundled dataset must be used
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMPTRACK_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(site), "report", "funding", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["initiative"] for r in rows if r["amount"] is not None} == {
        "geneh",
        "join4atmp",
        "ctgct",
        "genet",
        "restore",
        "ardat",
        "eatris",
    }
    stores = list((tmp_path / "xdg" / "atmptrack" / "stores").glob("_data-*.sqlite"))
    assert len(stores) == 1
