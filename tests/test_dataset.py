"""Reading a data directory in one pass: the checks across files, files read again for the
positions of their problems, and suggestions that stay right and cheap among many ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from atmptrack import dataset
from atmptrack.dataset import LoadedFile, check_dataset, read_dataset
from atmptrack.errors import DataError, did_you_mean
from atmptrack.schema import DataFile, id_message
from atmptrack.yamlio import MAYBE_CONTROL, load_yaml, parse_yaml

SOURCES = """\
sources:
  - {id: src, title: A page, url: "https://example.org/page"}
"""


def organisations(count: int, *, skip: int | None = None) -> str:
    lines = ["organisations:"]
    for i in range(count):
        if i != skip:
            lines.append(
                f"  - {{id: org-{i:05d}, name: Org {i}, sector: university, sources: [src]}}"
            )
    return "\n".join(lines) + "\n"


def initiative(ident: str, members: list[str]) -> str:
    listed = "".join(
        f"      - {{organisation: {m}, role: partner, sources: [src]}}\n" for m in members
    )
    return (
        f"initiatives:\n  - id: {ident}\n    name: {ident}\n    kind: project\n"
        f"    sources: [src]\n    members:\n{listed}"
    )


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    """Organisations with numbered ids, one of them gone (renamed), named by two initiatives."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "sources.yaml").write_text(SOURCES)
    (root / "organisations.yaml").write_text(organisations(60, skip=12))
    (root / "a.yaml").write_text(initiative("a", [f"org-{i:05d}" for i in (3, 12, 40)]))
    (root / "b.yaml").write_text(initiative("b", [f"org-{i:05d}" for i in range(60)]))
    return root


def errors(root: Path) -> list[str]:
    with pytest.raises(DataError) as caught:
        check_dataset(root)
    return [d.format() for d in caught.value.diagnostics if d.severity == "error"]


def test_a_suggestion_only_when_one_choice_is_closest() -> None:
    ids = [f"org-{i:05d}" for i in range(1000)]
    # org-00012 was renamed: its neighbours are all as close, and naming one would be a guess.
    assert did_you_mean("org-00012", [i for i in ids if i != "org-00012"]) == ""
    assert did_you_mean("org-0012", ids) == ""  # org-00012, org-00112, org-00120...
    assert did_you_mean("org-00012-x", ids) == " (did you mean 'org-00012'?)"
    assert did_you_mean("genehh", ["geneh", "genet", "ctgct"]) == " (did you mean 'geneh'?)"
    assert did_you_mean("hospitl", ["hospital", "university"]) == " (did you mean 'hospital'?)"
    assert did_you_mean("zzz", ids) == ""


def test_a_renamed_id_is_reported_at_every_reference_without_a_wrong_suggestion(
    numbered: Path,
) -> None:
    found = errors(numbered)
    assert [line.split(":")[0] for line in found] == [
        f"{numbered}/a.yaml".removeprefix(f"{Path.cwd()}/"),
        f"{numbered}/b.yaml".removeprefix(f"{Path.cwd()}/"),
    ]
    assert all(
        line.endswith("unknown organisation 'org-00012' [unknown-reference]") for line in found
    )
    assert found[0].split(":")[1:3] == ["8", "24"] and found[1].split(":")[1:3] == ["19", "24"]


def test_each_unknown_name_is_searched_once_and_few_are_searched(
    numbered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[str] = []

    def counting(value: str, choices: object) -> str:
        searched.append(value)
        return ""

    monkeypatch.setattr(dataset, "did_you_mean", counting)
    errors(numbered)
    assert searched == ["org-00012"]  # named twice, searched once

    many = [f"gone-{i}" for i in range(dataset._SEARCHES + 10)]
    (numbered / "c.yaml").write_text(initiative("c", many))
    searched.clear()
    assert len([e for e in errors(numbered) if "unknown organisation" in e]) == len(many) + 2
    assert len(searched) == dataset._SEARCHES


class Editing:
    """A sink that rewrites a file just after it was read, `times` times over."""

    def __init__(self, file: Path, replacements: list[str]) -> None:
        self.file = file
        self.replacements = replacements
        self.starts = 0

    def start(self) -> None:
        self.starts += 1

    def add(self, loaded: LoadedFile) -> None:
        if loaded.path.endswith(self.file.name) and self.replacements:
            self.file.write_text(self.replacements.pop(0))


def test_a_file_changed_after_it_was_read_is_checked_again(numbered: Path) -> None:
    # a.yaml names the missing organisation; rewritten (still wrong, elsewhere) once read.
    changed = initiative("a", ["org-00001", "org-00002", "org-00012"])
    sink = Editing(numbered / "a.yaml", [changed])
    with pytest.raises(DataError) as caught:
        check_dataset(numbered, sink=sink)
    assert sink.starts == 2  # read once more, whole
    places = {(d.path.rsplit("/", 1)[-1], d.line) for d in caught.value.diagnostics}
    assert ("a.yaml", 9) in places  # where the new file names it


def test_a_file_that_keeps_changing_is_an_error(numbered: Path) -> None:
    versions = [initiative("a", ["org-00012", f"org-{i:05d}"]) for i in range(1, 4)]
    sink = Editing(numbered / "a.yaml", versions)
    with pytest.raises(DataError) as caught:
        check_dataset(numbered, sink=sink)
    (problem,) = caught.value.diagnostics
    assert problem.rule == "data-changed" and problem.path.endswith("a.yaml")


def test_valid_files_are_handed_over_one_by_one_with_their_records(numbered: Path) -> None:
    (numbered / "organisations.yaml").write_text(organisations(60))
    dataset_read = read_dataset(numbered)
    assert [Path(f.path).name for f in dataset_read.files] == [
        "a.yaml",
        "b.yaml",
        "organisations.yaml",
        "sources.yaml",
    ]
    organisations_file = dataset_read.files[2]
    assert organisations_file.lines["organisations"][:2] == [2, 3]
    assert len(list(dataset_read.organisations)) == 60


# Characters that make values with control characters, or look as if they could.
TRICKY = st.text(
    alphabet=st.sampled_from(list("ab :-\"\\'\t\r\n\x85\u202e\u2028xu0e1[]{}|")), max_size=120
)


@settings(max_examples=400, deadline=None)
@given(TRICKY)
def test_a_file_skipped_by_the_control_character_walk_holds_none(text: str) -> None:
    try:
        loaded = load_yaml(f"a: {text}\n".encode(), path="f.yaml")
    except DataError:
        return
    assert loaded.controls == (MAYBE_CONTROL.search(loaded.text) is not None)
    if loaded.controls:  # its values are walked
        return
    stack: list[object] = [loaded.data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            assert dataset._CONTROL.search(value) is None, value


ID_ALPHABET = st.sampled_from(list("az09-A \n\t\u0660\uff11_.é"))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ID_ALPHABET, max_size=12))
def test_ids_are_what_the_pattern_says_and_get_their_own_message(text: str) -> None:
    """Ids are checked by Pydantic's regex engine: exactly lower-case ASCII letters and digits
    in groups joined by single hyphens, as Python's fullmatch reads the pattern."""
    expected = re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", text) is not None
    raw = f"sources:\n  - {{id: {json.dumps(text)}, title: T, url: 'https://e.org'}}\n"
    document = parse_yaml(raw.encode(), path="f.yaml")
    try:
        DataFile.model_validate(document.data)
    except ValidationError as exc:
        assert not expected, exc
        (problem,) = dataset._from_pydantic(document, exc)
        assert problem.message == f"sources[0].id: {id_message(text)}"
        assert (problem.rule, problem.line, problem.column) == ("schema-value", 2, 10)
    else:
        assert expected
