"""The JSON Schema of the data format: generated from the models, shipped current, and checked
by an independent validator against every bundled file and a typical mistake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from atmptrack.schema import json_schema

from conftest import BUNDLED, LANDSCAPE, ROOT, Cli

SHIPPED = ROOT / "atmptrack" / "data.schema.json"


class _Yaml12Loader(yaml.SafeLoader):
    """Reads YAML as editors' YAML 1.2 tools do: `2025-03-21` stays a string, not a date."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)


def _errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(json_schema())
    return [error.message for error in validator.iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_shipped_schema_is_current(landscape_cli: Cli) -> None:
    assert json.loads(SHIPPED.read_text(encoding="utf-8")) == json_schema()
    assert json.loads(landscape_cli.ok("schema")) == json_schema()


@pytest.mark.parametrize(
    "path",
    sorted([*BUNDLED.rglob("*.yaml"), *LANDSCAPE.rglob("*.yaml")]),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_bundled_file_satisfies_the_schema(path: Path) -> None:
    assert _errors(_load(path)) == []


@pytest.mark.parametrize(
    ("mistake", "words"),
    [
        ("sector: hospital", "'hospitl' is not one of"),
        ("name: Charité", "Additional properties are not allowed ('nmae'"),
        ("sources: [vhio-join4atmp]", "does not match"),
    ],
)
def test_a_typical_mistake_fails_the_schema(mistake: str, words: str) -> None:
    path = LANDSCAPE / "organisations" / "europe.yaml"
    text = path.read_text(encoding="utf-8")
    broken = {
        "sector: hospital": text.replace("sector: hospital", "sector: hospitl", 1),
        "name: Charité": text.replace("    name: Charité", "    nmae: Charité", 1),
        "sources: [vhio-join4atmp]": text.replace("vhio-join4atmp", "VHIO join4atmp", 1),
    }[mistake]
    assert broken != text
    errors = _errors(yaml.load(broken, Loader=_Yaml12Loader))
    assert any(words in e for e in errors), errors
