"""Every broken or hostile file gets its diagnostic at its place, exit code 3, and the store is untouched."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from conftest import Cli, table_dump

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))


def test_the_manifest_covers_every_corpus_file() -> None:
    assert sorted(row["file"] for row in MANIFEST) == sorted(
        p.name for p in (CORPUS / "broken").iterdir()
    )


@pytest.mark.parametrize("case", MANIFEST, ids=[row["file"] for row in MANIFEST])
def test_broken_file_is_diagnosed_and_the_store_kept(tmp_path: Path, case: dict[str, str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(CORPUS / "base", data)
    cli = Cli(data, tmp_path / "store.sqlite", tmp_path)
    cli.ok("load", "-q")
    before = table_dump(cli.db)

    shutil.copy(CORPUS / "broken" / case["file"], data / case["file"])
    result = cli("load")
    assert result.code == 3, result.err
    assert "Traceback" not in result.err
    expected = f"{case['file']}:{case['line']}:{case['column']}: error: "
    lines = [line for line in result.err.splitlines() if expected in line]
    assert lines and lines[0].endswith(f"[{case['rule']}]"), result.err
    assert table_dump(cli.db) == before

    report = json.loads(cli("validate", "--format", "json").out)
    assert any(
        d["rule"] == case["rule"]
        and (d["line"], d["column"]) == (int(case["line"]), int(case["column"]))
        for d in report
    )
    assert not Path("/tmp/atmptrack-pwned").exists()


def test_a_python_tag_constructs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(
        f'sources: !!python/object/apply:os.system ["touch {marker}"]\n'
    )
    result = Cli(tmp_path, tmp_path / "store.sqlite", tmp_path)("validate")
    assert result.code == 3 and "yaml-tag" in result.out
    assert not marker.exists()
