"""A new tracker as curators meet it: `atmptrack init`, the schema line, the pre-commit hook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from atmptrack.schema import json_schema

from conftest import LANDSCAPE, ROOT, Cli

GIT = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "commit.gpgsign=false"]


def test_init_makes_a_tracker_that_validates_and_overwrites_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "tracker"
    result = cli("init", str(target))
    assert result.code == 0, result.err
    assert cli("--data", str(target / "data"), "validate").code == 0
    for path in (target / "data").rglob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        schema_file = (path.parent / first.split("=", 1)[1]).resolve()
        assert schema_file == (target / "data.schema.json").resolve()
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document)) == []
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    again = cli("init", str(target))
    assert again.code == 2 and "overwrites nothing" in again.err
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    (tmp_path / "empty").mkdir()
    assert cli("init", str(tmp_path / "empty")).code == 0


def _path_with_atmptrack() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATMPTRACK_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_the_trackers_pre_commit_hook_stops_a_broken_commit(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "tracker"
    cli.ok("init", str(target))
    env = {
        **_path_with_atmptrack(),
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    ok = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    example = target / "data" / "initiatives" / "example.yaml"
    example.write_text(example.read_text().replace("example-university", "example-univ"))
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    broken = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode != 0
    assert "unknown organisation 'example-univ'" in broken.stdout


@pytest.mark.slow
def test_the_repositorys_hook_validates_the_whole_directory(tmp_path: Path) -> None:
    """`pre-commit try-repo` installs the hook from this repository, as a data repo would."""
    repo = tmp_path / "landscape"
    shutil.copytree(LANDSCAPE, repo / "data")
    env = {
        **_path_with_atmptrack(),
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    source = tmp_path / "atmptrack"  # the working tree as committed, with the hook file
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*.pyc", ".*_cache")
    )
    subprocess.run([*GIT, "init", "-q"], cwd=source, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=source, check=True)
    subprocess.run([*GIT, "commit", "-qm", "hook"], cwd=source, check=True)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(source),
            "atmptrack-validate",
            "--all-files",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "atmptrack validate" in run.stdout and "Passed" in run.stdout
