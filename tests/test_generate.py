"""The scale benchmark's data generator (bench/generate.py) writes valid data of a real shape.

The benchmark's figures mean something only if atmptrack accepts the data without a single
error or warning, and if the data has the traits that make real data costly: organisations in
many initiatives, networks far larger than consortia, sources cited by every record.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
SEED = 7
INITIATIVES = 12
# Every list of records inside an initiative (the data format's order).
LISTS = ("partner_counts", "members", "workgroups", "milestones", "people", "funding", "relations")


def _load_generator() -> ModuleType:
    # bench/ is not a package; load the file itself, as `python bench/generate.py` would run it.
    spec = importlib.util.spec_from_file_location("generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_generator()
generate: Callable[[Path, int, int], None] = GENERATOR.generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "data"
    generate(out, INITIATIVES, SEED)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _documents(root: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(root.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(doc, dict), path
        yield doc


def _cli(tmp_path: Path, data: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(data, tmp_path / "store.sqlite", home)


def test_validates_without_errors_or_warnings(generated: Path, tmp_path: Path) -> None:
    cli = _cli(tmp_path, generated)
    result = cli("--data", str(generated), "validate")
    assert result.code == 0, result.err
    assert "atmptrack: 0 error(s), 0 warning(s)" in result.err
    assert "Traceback" not in result.err


def test_loads_and_reads(generated: Path, tmp_path: Path) -> None:
    cli = _cli(tmp_path, generated)
    cli.ok("load")
    initiatives = json.loads(cli.ok("list", "initiatives", "--format", "json"))
    assert len(initiatives) == INITIATIVES
    members = json.loads(cli.ok("list", "members", "--format", "json"))
    assert len(members) >= INITIATIVES * 5


def test_same_seed_same_bytes(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, INITIATIVES, SEED)
    assert _files(again) == _files(generated)
    # Regenerating into a directory the generator made replaces it whole, byte for byte.
    generate(again, INITIATIVES, SEED)
    assert _files(again) == _files(generated)
    other = tmp_path / "other"
    generate(other, INITIATIVES, SEED + 1)
    assert _files(other) != _files(generated)


def test_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(GENERATOR.GenerateError):
        generate(tmp_path, INITIATIVES, SEED)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_layout_of_real_data(generated: Path) -> None:
    assert (generated / "sources.yaml").is_file()
    assert len(list((generated / "initiatives").glob("*.yaml"))) == INITIATIVES
    organisation_files = list((generated / "organisations").glob("*.yaml"))
    assert len(organisation_files) > 1  # spread over files by country


def test_shape(generated: Path) -> None:
    docs = list(_documents(generated))
    initiatives = [i for d in docs for i in d.get("initiatives", [])]
    organisations = [o for d in docs for o in d.get("organisations", [])]
    sources = [s for d in docs for s in d.get("sources", [])]
    assert len(initiatives) == INITIATIVES
    assert sources and organisations

    # Organisations are shared: some take part in several initiatives.
    taking_part = Counter(m["organisation"] for i in initiatives for m in i.get("members", []))
    assert max(taking_part.values()) >= 3
    # Networks are wider than any consortium can be.
    sizes: dict[str, list[int]] = {}
    for ini in initiatives:
        sizes.setdefault(ini["kind"], []).append(len(ini.get("members", [])))
    largest_consortium = max(sizes.get("consortium", [0]) + sizes.get("project", [0]))
    assert max(sizes["network"]) > largest_consortium

    # Every record cites at least one source, and every cited source exists.
    known = {s["id"] for s in sources}
    records: list[dict[str, Any]] = [*organisations, *initiatives]
    for ini in initiatives:
        for name in LISTS:
            for item in ini.get(name, []):
                records.append(item)
                records.extend(item.get("also_reported", []))
    for record in records:
        assert record.get("sources"), record
        assert set(record["sources"]) <= known, record

    # The rest of what real data has.
    milestone_dates = [str(m["date"]) for i in initiatives for m in i.get("milestones", [])]
    assert any(len(d) == 4 for d in milestone_dates)  # a year
    assert any(len(d) == 7 and not d.startswith("--") for d in milestone_dates)  # a month
    assert any(len(d) == 10 for d in milestone_dates)  # a day
    assert any(d.startswith("--") and len(d) == 7 for d in milestone_dates)  # --MM-DD
    funding = [f for i in initiatives for f in i.get("funding", [])]
    assert any("." in str(f.get("amount", "")) for f in funding) or any(
        "." in str(m.get("ec_contribution", "")) for i in initiatives for m in i["members"]
    )
    assert any(f.get("also_reported") for f in funding)
    assert any(i.get("relations") for i in initiatives)
    assert any(i.get("people") for i in initiatives)
    assert any(g.get("leads") for i in initiatives for g in i.get("workgroups", []))
    assert any(i.get("partner_counts") for i in initiatives)
