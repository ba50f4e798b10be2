"""Tests for atmptrack.yamlio: positions, untyped scalars and refusal of hostile input."""

from __future__ import annotations

import pathlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atmptrack.errors import DataError, Diagnostic
from atmptrack.yamlio import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_SCALAR_CHARS,
    Document,
    Mark,
    load_yaml,
    parse_yaml,
    read_yaml,
)

NESTED = """\
# ATMP initiatives
sources:
  - id: src-1
    url: "https://example.org"
initiatives:
  - name: Alpha
    country: NO
    members:
      - org: org-a
        role: lead
      - org: org-b
        role: partner
"""


def write(tmp_path: pathlib.Path, content: bytes | str, name: str = "data.yaml") -> pathlib.Path:
    file = tmp_path / name
    file.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return file


def load(tmp_path: pathlib.Path, content: bytes | str) -> Document:
    return read_yaml(write(tmp_path, content), display_path="data.yaml")


def refuse(tmp_path: pathlib.Path, content: bytes | str) -> list[Diagnostic]:
    with pytest.raises(DataError) as caught:
        load(tmp_path, content)
    return caught.value.diagnostics


def only(tmp_path: pathlib.Path, content: bytes | str) -> tuple[str, int, int, str]:
    """The single diagnostic for content as (rule, line, column, message)."""
    [diag] = refuse(tmp_path, content)
    assert diag.path == "data.yaml"
    assert diag.severity == "error"
    return diag.rule, diag.line, diag.column, diag.message


# --- values and positions ---------------------------------------------------------------------


def test_nested_data_is_plain_dicts_lists_and_strings(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, NESTED)
    assert doc.path == "data.yaml"
    assert doc.data == {
        "sources": [{"id": "src-1", "url": "https://example.org"}],
        "initiatives": [
            {
                "name": "Alpha",
                "country": "NO",
                "members": [{"org": "org-a", "role": "lead"}, {"org": "org-b", "role": "partner"}],
            }
        ],
    }


def test_positions_of_values_and_keys(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, NESTED)
    assert doc.values[()] == Mark(2, 1)
    assert doc.values[("sources", 0, "url")] == Mark(4, 10)
    assert doc.values[("initiatives",)] == Mark(6, 3)
    assert doc.values[("initiatives", 0)] == Mark(6, 5)
    assert doc.values[("initiatives", 0, "country")] == Mark(7, 14)
    assert doc.values[("initiatives", 0, "members")] == Mark(9, 7)
    assert doc.values[("initiatives", 0, "members", 1)] == Mark(11, 9)
    assert doc.values[("initiatives", 0, "members", 1, "role")] == Mark(12, 15)
    assert doc.keys[("initiatives", 0, "members", 1, "role")] == Mark(12, 9)
    assert doc.keys[("initiatives",)] == Mark(5, 1)
    assert ("initiatives", 0) not in doc.keys


def test_mark_prefers_key_then_value_then_nearest_ancestor(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, NESTED)
    role = ("initiatives", 0, "members", 1, "role")
    assert doc.mark(role) == Mark(12, 15)
    assert doc.mark(role, key=True) == Mark(12, 9)
    assert doc.mark(["initiatives", 0], key=True) == Mark(6, 5)
    assert doc.mark(("initiatives", 0, "members", 1, "missing"), key=True) == Mark(11, 9)
    assert doc.mark(("initiatives", 0, "members", 7, "org")) == Mark(9, 7)
    assert doc.mark(("nope", 3)) == Mark(2, 1)
    assert doc.mark(()) == Mark(2, 1)
    assert Document("x", {}, {}, {}).mark(("a",)) == Mark(1, 1)


@pytest.mark.parametrize(
    "text",
    ["NO", "no", "on", "Off", "yes", "true", "0123", "12:30", "1.10", "1e3", ".nan", "0x1F",
     "-.inf", "2024-01-31", "1_000", "+1"],
)  # fmt: skip
def test_yaml_11_lookalikes_stay_strings(tmp_path: pathlib.Path, text: str) -> None:
    assert load(tmp_path, f"value: {text}\n").data == {"value": text}


@pytest.mark.parametrize("text", ["", "~", "null", "Null", "NULL"])
def test_plain_nulls_become_none(tmp_path: pathlib.Path, text: str) -> None:
    assert load(tmp_path, f"value: {text}\n").data == {"value": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [('"null"', "null"), ("'~'", "~"), ('""', ""), ("nULL", "nULL"), ("'NO'", "NO")],
)
def test_quoted_nulls_stay_strings(tmp_path: pathlib.Path, text: str, expected: str) -> None:
    assert load(tmp_path, f"value: {text}\n").data == {"value": expected}


def test_block_scalars_are_strings(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, "a: |\n  line 1\n  NO\nb: >\n  folded\n  text\nc: |\nd: x\n")
    assert doc.data == {"a": "line 1\nNO\n", "b": "folded text\n", "c": "", "d": "x"}
    assert doc.values[("b",)] == Mark(4, 4)


def test_flow_collections_and_empty_mapping(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, "a: {x: [1, '2', null]}\nb: {}\nc: []\n")
    assert doc.data == {"a": {"x": ["1", "2", None]}, "b": {}, "c": []}
    assert doc.values[("a", "x", 2)] == Mark(1, 17)
    assert load(tmp_path, "{}\n").data == {}


def test_quoted_empty_key_is_allowed(tmp_path: pathlib.Path) -> None:
    assert load(tmp_path, '"": x\n').data == {"": "x"}


# --- keys -------------------------------------------------------------------------------------


def test_duplicate_keys_are_all_reported_at_the_second_occurrence(tmp_path: pathlib.Path) -> None:
    content = "initiatives:\n  - name: A\n    country: DE\n    country: FR\n    country: IT\nb: 1\n"
    diags = refuse(tmp_path, content)
    assert [(d.rule, d.line, d.column, d.message) for d in diags] == [
        ("yaml-duplicate-key", 4, 5, "duplicate key 'country' (first defined at line 3, column 5)"),
        ("yaml-duplicate-key", 5, 5, "duplicate key 'country' (first defined at line 3, column 5)"),
    ]


def test_duplicates_in_different_mappings_and_sibling_items(tmp_path: pathlib.Path) -> None:
    ok = "a: {x: 1}\nb: {x: 2}\nl:\n  - name: a\n  - name: b\n"
    assert load(tmp_path, ok).data["l"] == [{"name": "a"}, {"name": "b"}]
    diags = refuse(tmp_path, "a:\n  x: 1\nb: 2\na:\n  x: 3\n")
    assert [(d.rule, d.line, d.column) for d in diags] == [("yaml-duplicate-key", 4, 1)]


def test_duplicates_are_reported_with_a_later_syntax_error(tmp_path: pathlib.Path) -> None:
    diags = refuse(tmp_path, "a: 1\na: 2\nb: [\n")
    assert [(d.rule, d.line) for d in diags] == [("yaml-duplicate-key", 2), ("yaml-syntax", 4)]


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [("? [a]\n: 1\n", 1, 3), ("{[a]: 1}\n", 1, 2), ("? {a: b}\n: 1\n", 1, 3),
     ("~: 1\n", 1, 1), ("x: 1\nnull: 2\n", 2, 1)],
)  # fmt: skip
def test_keys_must_be_non_null_strings(
    tmp_path: pathlib.Path, content: str, line: int, column: int
) -> None:
    assert only(tmp_path, content)[:3] == ("yaml-key", line, column)


# --- hostile input ----------------------------------------------------------------------------


def test_python_object_tag_is_refused_and_nothing_runs(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "pwned"
    content = f'a: 1\nb: !!python/object/apply:os.system ["touch {marker}"]\n'
    assert only(tmp_path, content) == (
        "yaml-tag",
        2,
        4,
        "tags are not supported (found '!!python/object/apply:os.system')",
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "shown", "column"),
    [("a: !!str x\n", "!!str", 4), ("a: !custom x\n", "!custom", 4),
     ("a: !!map {}\n", "!!map", 4), ("!!map\nx: 1\n", "!!map", 1), ("a: ! x\n", "!", 4)],
)  # fmt: skip
def test_any_explicit_tag_is_refused(
    tmp_path: pathlib.Path, content: str, shown: str, column: int
) -> None:
    assert only(tmp_path, content) == (
        "yaml-tag",
        1,
        column,
        f"tags are not supported (found '{shown}')",
    )


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [("a: &x 1\nb: *x\n", 1, 4), ("a: *x\n", 1, 4), ("a: &x [1]\n", 1, 4),
     ("&root\nb: 1\n", 1, 1)],
)  # fmt: skip
def test_anchors_and_aliases_are_refused(
    tmp_path: pathlib.Path, content: str, line: int, column: int
) -> None:
    rule, got_line, got_column, message = only(tmp_path, content)
    assert (rule, got_line, got_column) == ("yaml-anchor", line, column)
    assert message.startswith("anchors and aliases are not supported")


def test_billion_laughs_is_refused_quickly(tmp_path: pathlib.Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    assert only(tmp_path, "\n".join(lines) + "\n")[:3] == ("yaml-anchor", 1, 4)
    assert time.perf_counter() - started < 1.0


def test_deep_flow_nesting_is_refused_without_recursion(tmp_path: pathlib.Path) -> None:
    started = time.perf_counter()
    # The root mapping is level 1, so the first bracket past the limit is the 64th.
    assert only(tmp_path, "a: " + "[" * 100_000 + "\n")[:3] == ("yaml-depth", 1, 3 + MAX_DEPTH)
    assert only(tmp_path, "[" * 100_000)[:3] == ("yaml-top-level", 1, 1)
    assert only(tmp_path, "a: " + "{a: " * 100_000)[0] == "yaml-depth"
    assert time.perf_counter() - started < 5.0


def test_nesting_up_to_the_limit_is_allowed(tmp_path: pathlib.Path) -> None:
    inner = MAX_DEPTH - 1
    doc = load(tmp_path, "a: " + "[" * inner + "]" * inner + "\n")
    assert doc.values[("a",) + (0,) * (inner - 1)] == Mark(1, 3 + inner)
    deeper = "a: " + "[" * (inner + 1) + "]" * (inner + 1) + "\n"
    assert only(tmp_path, deeper)[:3] == ("yaml-depth", 1, 4 + inner)


def test_block_nesting_depth(tmp_path: pathlib.Path) -> None:
    content = "".join(f"{'  ' * level}k{level}:\n" for level in range(MAX_DEPTH + 1))
    assert only(tmp_path, content + "  " * (MAX_DEPTH + 1) + "x: 1\n")[:3] == (
        "yaml-depth",
        MAX_DEPTH + 1,
        2 * MAX_DEPTH + 1,
    )


def test_scalar_length_limit(tmp_path: pathlib.Path) -> None:
    assert len(load(tmp_path, "a: " + "x" * MAX_SCALAR_CHARS + "\n").data["a"]) == MAX_SCALAR_CHARS
    diags = refuse(
        tmp_path, "a: 1\nb: " + "x" * (MAX_SCALAR_CHARS + 1) + "\nc: '" + "y" * 70_000 + "'\n"
    )
    assert [(d.rule, d.line, d.column) for d in diags] == [
        ("yaml-scalar-too-long", 2, 4),
        ("yaml-scalar-too-long", 3, 4),
    ]


def test_large_file_is_refused_before_reading(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "big.yaml"
    with file.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr(pathlib.Path, "open", no_open)
    monkeypatch.setattr(pathlib.Path, "read_bytes", no_open)
    with pytest.raises(DataError) as caught:
        read_yaml(file)
    [diag] = caught.value.diagnostics
    assert (diag.rule, diag.line, diag.column, diag.path) == ("yaml-too-large", 1, 1, str(file))


def test_parse_yaml_checks_length(tmp_path: pathlib.Path) -> None:
    raw = b"a: b\n" + b"#" * MAX_FILE_BYTES
    with pytest.raises(DataError) as caught:
        parse_yaml(raw, path="mem.yaml")
    assert [(d.rule, d.line, d.column) for d in caught.value.diagnostics] == [
        ("yaml-too-large", 1, 1)
    ]


def test_unreadable_file_is_a_data_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(DataError) as caught:
        read_yaml(tmp_path / "missing.yaml", display_path="missing.yaml")
    [diag] = caught.value.diagnostics
    assert (diag.rule, diag.path, diag.line, diag.column) == ("yaml-read", "missing.yaml", 1, 1)


# --- encodings --------------------------------------------------------------------------------


def test_utf8_bom_is_accepted(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, b"\xef\xbb\xbfname: caf\xc3\xa9\nx: 1\n")
    assert doc.data == {"name": "café", "x": "1"}
    assert doc.keys[("name",)] == Mark(1, 1)
    assert doc.values[("x",)] == Mark(2, 4)


def test_crlf_line_numbers(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, b"a: 1\r\n\r\nb:\r\n  - x\r\n  - 'y'\r\n")
    assert doc.data == {"a": "1", "b": ["x", "y"]}
    assert doc.values[("b", 1)] == Mark(5, 5)
    diags = refuse(tmp_path, b"a: 1\r\n\r\na: 2\r\n")
    assert [(d.line, d.column) for d in diags] == [(3, 1)]
    assert diags[0].message == "duplicate key 'a' (first defined at line 1, column 1)"


def test_columns_count_characters_not_bytes(tmp_path: pathlib.Path) -> None:
    doc = load(tmp_path, "ré: é\nb: [é, ü, x]\n")
    assert doc.values[("ré",)] == Mark(1, 5)
    assert doc.values[("b", 2)] == Mark(2, 11)


@pytest.mark.parametrize(
    ("content", "line", "column", "message"),
    [
        (b"a: caf\xe9\n", 1, 7, "invalid UTF-8 byte 0xe9; save the file as UTF-8"),
        (b"a: 1\r\nb: \xc3\xa9\xe9\n", 2, 5, "invalid UTF-8 byte 0xe9; save the file as UTF-8"),
        (b"a: \xc3", 1, 4, "invalid UTF-8 byte 0xc3; save the file as UTF-8"),
    ],
)
def test_invalid_utf8_is_located(
    tmp_path: pathlib.Path, content: bytes, line: int, column: int, message: str
) -> None:
    assert only(tmp_path, content) == ("yaml-encoding", line, column, message)


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32"), ("utf-32-be", "UTF-32")],
)
def test_utf16_and_utf32_boms_are_refused(tmp_path: pathlib.Path, encoding: str, name: str) -> None:
    content = ("\ufeff" if encoding.endswith("be") else "") + "a: 1\n"
    rule, line, column, message = only(tmp_path, content.encode(encoding))
    assert (rule, line, column) == ("yaml-encoding", 1, 1)
    assert message == f"file is {name}; save it as UTF-8"


def test_nul_byte_is_located(tmp_path: pathlib.Path) -> None:
    rule, line, column, message = only(tmp_path, b"a: 1\nb: x\x00y\n")
    assert (rule, line, column) == ("yaml-encoding", 2, 5)
    assert "NUL byte" in message
    # UTF-16 without a byte order mark shows up as NUL bytes.
    assert only(tmp_path, "a: 1\n".encode("utf-16-le"))[:3] == ("yaml-encoding", 1, 2)


def test_first_encoding_problem_wins(tmp_path: pathlib.Path) -> None:
    assert only(tmp_path, b"a: \x00\nb: \xe9\n")[:3] == ("yaml-encoding", 1, 4)
    assert only(tmp_path, b"a: \xe9\nb: \x00\n")[:3] == ("yaml-encoding", 1, 4)


def test_bom_inside_the_file_is_located(tmp_path: pathlib.Path) -> None:
    rule, line, column, message = only(tmp_path, "a: 1\nb: \ufeffx\n")
    assert (rule, line, column) == ("yaml-encoding", 2, 4)
    assert "U+FEFF" in message
    assert only(tmp_path, b"\xef\xbb\xbf\xef\xbb\xbfa: 1\n")[:3] == ("yaml-encoding", 1, 1)


def test_control_characters_are_located(tmp_path: pathlib.Path) -> None:
    rule, line, column, message = only(tmp_path, "a: 1\n\nb: x\x07\n")
    assert (rule, line, column) == ("yaml-encoding", 3, 5)
    assert "U+0007" in message


# --- documents --------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n\n# another\n", "   \n"])
def test_empty_file(tmp_path: pathlib.Path, content: str) -> None:
    rule, line, column, message = only(tmp_path, content)
    assert (rule, line, column) == ("yaml-empty", 1, 1)
    assert message.startswith("file is empty; expected a mapping with 'sources'")


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [("- a\n- b\n", 1, 1), ("# c\njust text\n", 2, 1), ("~\n", 1, 1),
     ("---\n", 2, 1), ("'quoted'\n", 1, 1), ("\n  [a, b]\n", 2, 3)],
)  # fmt: skip
def test_top_level_must_be_a_mapping(
    tmp_path: pathlib.Path, content: str, line: int, column: int
) -> None:
    assert only(tmp_path, content)[:3] == ("yaml-top-level", line, column)


def test_explicit_single_document_is_fine(tmp_path: pathlib.Path) -> None:
    assert load(tmp_path, "%YAML 1.1\n---\na: 1\n...\n").data == {"a": "1"}


def test_two_documents_are_refused(tmp_path: pathlib.Path) -> None:
    assert only(tmp_path, "a: 1\n---\nb: 2\n") == (
        "yaml-multi-document",
        2,
        1,
        "several documents in one file are not supported; split them into separate files",
    )
    assert only(tmp_path, "---\na: 1\n...\n---\nb: 2\n")[:3] == ("yaml-multi-document", 4, 1)


@pytest.mark.parametrize(
    ("content", "line", "column", "fragment"),
    [
        ("a: b: c\n", 1, 5, "mapping values are not allowed"),
        ("a: [1, 2\n", 2, 1, "started at line 1, column 4"),
        ('a: "open\n', 2, 1, "quoted scalar"),
        ("a:\n  b: 1\n c: 2\n", 3, 2, "expected key"),
    ],
)
def test_syntax_errors_are_located(
    tmp_path: pathlib.Path, content: str, line: int, column: int, fragment: str
) -> None:
    rule, got_line, got_column, message = only(tmp_path, content)
    assert (rule, got_line, got_column) == ("yaml-syntax", line, column)
    assert fragment in message
    assert "\n" not in message


# --- properties -------------------------------------------------------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("ab1:-? \n\r\t[]{},&*!|>'\"#~%.\ufeff\x85é")))


def check_outcome(raw: bytes) -> None:
    try:
        doc = parse_yaml(raw, path="fuzz.yaml")
    except DataError as exc:
        assert exc.diagnostics
        for diag in exc.diagnostics:
            assert diag.line >= 1
            assert diag.column >= 1
            assert diag.path == "fuzz.yaml"
            assert diag.rule.startswith("yaml-")
    else:
        assert isinstance(doc.data, dict)
        assert () in doc.values
        assert all(
            m.line >= 1 and m.column >= 1 for m in [*doc.values.values(), *doc.keys.values()]
        )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_escape(raw: bytes) -> None:
    check_outcome(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_escapes(text: str) -> None:
    check_outcome(text.encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_yaml_like_text_never_escapes(text: str) -> None:
    check_outcome(text.encode("utf-8"))


def same_as_positioned(raw: bytes) -> None:
    """load_yaml gives parse_yaml's data and the lines of its top-level items, or its errors."""
    try:
        expected = parse_yaml(raw, path="f.yaml")
    except DataError as exc:
        with pytest.raises(DataError) as caught:
            load_yaml(raw, path="f.yaml")
        assert caught.value.diagnostics == exc.diagnostics
        return
    loaded = load_yaml(raw, path="f.yaml")
    assert loaded.data == expected.data
    assert loaded.lines == {
        key: [expected.values[(key, i)].line for i in range(len(items))]
        for key, items in expected.data.items()
        if isinstance(items, list)
    }
    assert loaded.document().values == expected.values


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_the_fast_reader_builds_what_the_positioned_one_builds(text: str) -> None:
    same_as_positioned(text.encode("utf-8"))


@pytest.mark.parametrize(
    "content",
    [
        NESTED,
        "sources:\n  - {id: a}\n  -\n    id: b\n  - c\n",
        "a: 1\na: 2\n",  # a duplicate key: the positioned reader reports it
        "a: &x 1\nb: *x\n",
        "sources: !!str x\n",
        "- a\n",
        "",
        "a: [" * 70 + "]" * 70 + "\n",
        "a: " + "x" * (MAX_SCALAR_CHARS + 1) + "\n",
        "a: 1\n---\nb: 2\n",
        "{a: 1}\n",
        "a:\r\n  - b\r\n  - c\r\n",
        "? [a]\n: b\n",
        "~: 1\n",
    ],
)
def test_the_fast_reader_on_what_the_positioned_one_reports(content: str) -> None:
    same_as_positioned(content.encode("utf-8"))
