"""Safe YAML reading: string scalars with positions; hostile input becomes diagnostics."""

from __future__ import annotations

import pathlib
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias

import yaml

from atmptrack.errors import DataError, Diagnostic

try:
    # The stubs do not re-export CParser from yaml.cyaml, though it is there at run time.
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    _PARSER: type[Any] = CParser
except ImportError:  # pragma: no cover - only when PyYAML was built without libyaml
    _PARSER = yaml.SafeLoader

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_SCALAR_CHARS = 64 * 1024

YamlPath: TypeAlias = tuple[str | int, ...]

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_EXPECTED = "expected a mapping with 'sources', 'organisations' or 'initiatives'"
# UTF-32 first: its little-endian BOM begins with the UTF-16 one.
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
# YAML's printable set minus U+FEFF; undecodable bytes arrive as lone surrogates and fail it too.
_BAD_CHAR = re.compile(
    r"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# What a value with a control character must come from, in a file the reader accepted: the
# reader refuses every other control character in the text, a raw CR or NEL is a line break,
# and a double-quoted value writes any character as an escape. The values of a file without
# these hold none, and need not be walked (`dataset._check_text`).
MAYBE_CONTROL = re.compile(r"[\\\r\x85\u202a-\u202e\u2066-\u2069]")
# Either of the two above: the printable set less the characters of MAYBE_CONTROL.
_BAD_OR_MAYBE_CONTROL = re.compile(
    r"[^\t\n\x20-\x5b\x5d-\x7e\xa0-\u2029\u202f-\u2065\u206a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    r"\U00010000-\U0010ffff]"
)
# The line breaks libyaml counts, so our positions agree with its marks.
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based position in a file."""

    line: int
    column: int


@dataclass(slots=True)
class Document:
    """A parsed file: its top-level mapping and the position of every key and value."""

    path: str
    data: dict[str, Any]
    values: dict[YamlPath, Mark]
    keys: dict[YamlPath, Mark]

    def mark(self, loc: Sequence[str | int], *, key: bool = False) -> Mark:
        """Best position for loc, falling back to the nearest known ancestor."""
        here: YamlPath = tuple(loc)
        if key and here in self.keys:
            return self.keys[here]
        while here not in self.values:
            if not here:
                return Mark(1, 1)
            here = here[:-1]
        return self.values[here]


def read_yaml(file: pathlib.Path, *, display_path: str | None = None) -> Document:
    """Read and parse one YAML file, refusing oversized files before reading them."""
    shown = str(file) if display_path is None else display_path
    return parse_yaml(read_bytes(file, display_path=shown), path=shown)


def read_bytes(file: pathlib.Path, *, display_path: str) -> bytes:
    """The bytes of one data file; a FIFO, a device or an oversized file is refused unread."""
    shown = display_path
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            # Opening a FIFO would wait for a writer forever; a device could be endless.
            message = "not a regular file (a FIFO, socket or device); data files must be files"
            raise DataError([_diag(shown, Mark(1, 1), "yaml-read", message)])
        if info.st_size > MAX_FILE_BYTES:
            raise DataError([_too_large(shown)])
        with file.open("rb") as handle:
            # One byte past the limit: stat sizes lie for pipes, /proc files and growing files.
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot read the file: {reason}"
        raise DataError([_diag(shown, Mark(1, 1), "yaml-read", message)]) from None
    return raw


def parse_yaml(raw: bytes, *, path: str) -> Document:
    """Parse YAML bytes into a Document; every problem is raised as a DataError."""
    return _Builder(path, _decode(raw, path)).run()


@dataclass(slots=True)
class Loaded:
    """A file's data, read without keeping positions, and the line of each top-level record.

    Keeping the position of every value costs more than reading the data, and only a file with
    something to report needs them: `document()` parses the text again, with positions, then.
    """

    path: str
    text: str
    data: dict[str, Any]
    lines: dict[str, list[int]]  # top-level list name -> the line of each of its items
    controls: bool  # whether the text holds what a control character in a value comes from
    positioned: Document | None = None

    def document(self) -> Document:
        """The same data with the position of every key and value, parsed on first use."""
        if self.positioned is None:
            self.positioned = _Builder(self.path, self.text).run()
        return self.positioned


def load_yaml(raw: bytes, *, path: str) -> Loaded:
    """Parse YAML bytes into data, as parse_yaml would; every problem is raised as a DataError.

    Anything out of the ordinary (a syntax error, a duplicate key, an anchor or tag, deep
    nesting, a long value) sends the file through parse_yaml, so diagnostics come from one place.
    """
    text, controls = _decode_noting_controls(raw, path)
    try:
        data, lines = _read_plain(text)
    except (_Unusual, yaml.YAMLError):
        document = _Builder(path, text).run()
        return Loaded(path, text, document.data, _top_lines(document), controls, document)
    return Loaded(path, text, data, lines, controls)


def _top_lines(document: Document) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = {}
    for key, value in document.data.items():
        if isinstance(value, list):
            lines[key] = [document.values[(key, i)].line for i in range(len(value))]
    return lines


_intern = sys.intern


class _Unusual(Exception):
    """Something _Builder reports on: it parses the file again and says what and where."""


def _read_plain(text: str) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The data of text, built from the C parser's events without positions.

    One loop with the containers on an explicit stack: this runs once per value of every file,
    so it calls nothing per event but the parser. It accepts only what _Builder accepts
    without a diagnostic, and builds the same data from it.
    """
    parser = _PARSER(text)
    get_event = parser.get_event
    root: dict[str, Any] | None = None
    stack: list[Any] = []  # the containers enclosing `here`
    here: Any = None  # the open container: a dict or a list
    in_mapping = False
    key: str | None = None  # a key of `here` waiting for its value
    top: list[Any] | None = None  # the top-level list being read, whose items' lines we keep
    top_lines: list[int] = []
    lines: dict[str, list[int]] = {}
    documents = 0
    try:
        while True:
            event = get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                if len(event.value) > MAX_SCALAR_CHARS:
                    raise _Unusual
                # Interned: an id is written wherever it is referred to, and the rows built
                # from a large directory then share one string per id instead of one per use.
                value: str | None = _intern(event.value)
                if not event.style and value in _NULLS:  # plain style: "" from libyaml
                    value = None
                if in_mapping:
                    if key is None:
                        if value is None or value in here:
                            raise _Unusual  # a null or duplicate key
                        key = value
                    else:
                        here[key] = value
                        key = None
                elif here is None:
                    raise _Unusual  # a scalar at the top level
                else:
                    if here is top:
                        top_lines.append(event.start_mark.line + 1)
                    here.append(value)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH:
                    raise _Unusual
                new: Any = {} if kind is yaml.MappingStartEvent else []
                if in_mapping:
                    if key is None:
                        raise _Unusual  # a collection as a key
                    here[key] = new
                    if here is root and kind is yaml.SequenceStartEvent:
                        top, top_lines = new, []
                        lines[key] = top_lines
                    key = None
                elif here is not None:
                    if here is top:
                        top_lines.append(event.start_mark.line + 1)
                    here.append(new)
                elif kind is yaml.MappingStartEvent and root is None:
                    root = new
                else:
                    raise _Unusual  # a list at the top level, or a second top-level value
                stack.append(here)
                here = new
                in_mapping = kind is yaml.MappingStartEvent
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                here = stack.pop()
                in_mapping = type(here) is dict
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Unusual
            elif kind is yaml.StreamEndEvent:
                break
            elif kind is not yaml.DocumentEndEvent and kind is not yaml.StreamStartEvent:
                raise _Unusual  # an alias
    finally:
        parser.dispose()
    if root is None:
        raise _Unusual  # an empty file
    return root, lines


def _diag(path: str, mark: Mark, rule: str, message: str) -> Diagnostic:
    return Diagnostic(path, mark.line, mark.column, "error", rule, message)


def _too_large(path: str) -> Diagnostic:
    limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MiB"
    message = f"file is larger than {limit}; split it into smaller files"
    return _diag(path, Mark(1, 1), "yaml-too-large", message)


def _position(text: str, index: int) -> Mark:
    line, start = 1, 0
    for found in _BREAK.finditer(text, 0, index):
        line, start = line + 1, found.end()
    return Mark(line, index - start + 1)


def _decode(raw: bytes, path: str) -> str:
    return _decode_noting_controls(raw, path)[0]


def _decode_noting_controls(raw: bytes, path: str) -> tuple[str, bool]:
    """The text of the bytes, and whether it holds what a control character in a value comes
    from (`MAYBE_CONTROL`); both found in one scan of the text, as a clean file has neither."""
    if len(raw) > MAX_FILE_BYTES:
        raise DataError([_too_large(path)])
    for bom, name in _FOREIGN_BOMS:
        if raw.startswith(bom):
            message = f"file is {name}; save it as UTF-8"
            raise DataError([_diag(path, Mark(1, 1), "yaml-encoding", message)])
    # surrogateescape turns bad bytes into lone surrogates, so one scan finds the first problem.
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")
    first = _BAD_OR_MAYBE_CONTROL.search(text)
    if first is None:
        return text, False
    controls = MAYBE_CONTROL.match(first.group()) is not None
    bad = _BAD_CHAR.search(text, first.start()) if controls else first
    if bad is None:
        return text, controls
    char = ord(bad.group())
    if 0xDC80 <= char <= 0xDCFF:
        message = f"invalid UTF-8 byte 0x{char - 0xDC00:02x}; save the file as UTF-8"
    elif char == 0:
        message = "NUL byte: the file is binary or UTF-16/UTF-32; save it as UTF-8 text"
    elif char == 0xFEFF:
        message = "byte order mark (U+FEFF) inside the file; delete it"
    else:
        message = f"control character U+{char:04X} is not allowed in YAML; delete it"
    raise DataError([_diag(path, _position(text, bad.start()), "yaml-encoding", message)])


def _shown_tag(tag: str) -> str:
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag.removeprefix(prefix) if tag.startswith(prefix) else tag


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _event_mark(event: yaml.Event) -> Mark:
    start = event.start_mark
    return Mark(1, 1) if start is None else Mark(start.line + 1, start.column + 1)


@dataclass(slots=True)
class _Frame:
    path: YamlPath
    items: dict[str, Any] | list[Any]
    key: str | None = None  # a mapping's key still waiting for its value
    seen: dict[str, Mark] = field(default_factory=dict)

    def add(self, value: Any) -> None:
        if isinstance(self.items, list):
            self.items.append(value)
        elif self.key is not None:
            self.items[self.key] = value
            self.key = None


class _Builder:
    """Builds the tree from parser events with an explicit stack, so depth never recurses."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.found: list[Diagnostic] = []
        self.values: dict[YamlPath, Mark] = {}
        self.keys: dict[YamlPath, Mark] = {}
        self.stack: list[_Frame] = []
        self.root: dict[str, Any] | None = None
        self.documents = 0

    def fail(self, mark: Mark, rule: str, message: str) -> NoReturn:
        raise DataError([*self.found, _diag(self.path, mark, rule, message)])

    def run(self) -> Document:
        try:
            for event in yaml.parse(self.text, Loader=_PARSER):
                self.event(event)
        except yaml.MarkedYAMLError as exc:
            self.syntax_error(exc)
        except yaml.YAMLError as exc:
            # Reader errors should be caught by _decode first; this is a last line of defence.
            position = getattr(exc, "position", None)
            mark = Mark(1, 1)
            if isinstance(position, int) and 0 <= position <= len(self.text):
                mark = _position(self.text, position)
            reason = getattr(exc, "reason", None) or str(exc)
            rule = "yaml-encoding" if isinstance(exc, yaml.reader.ReaderError) else "yaml-syntax"
            self.fail(mark, rule, _one_line(str(reason)))
        if self.root is None:
            self.fail(Mark(1, 1), "yaml-empty", f"file is empty; {_EXPECTED}")
        if self.found:
            raise DataError(self.found)
        return Document(self.path, self.root, self.values, self.keys)

    def syntax_error(self, exc: yaml.MarkedYAMLError) -> NoReturn:
        where = exc.problem_mark or exc.context_mark
        mark = Mark(1, 1) if where is None else Mark(where.line + 1, where.column + 1)
        message = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            message += f" {exc.context}"
            start = exc.context_mark
            if start is not None and (start.line + 1, start.column + 1) != (mark.line, mark.column):
                message += f" (started at line {start.line + 1}, column {start.column + 1})"
        self.fail(mark, "yaml-syntax", _one_line(message))

    def event(self, event: yaml.Event) -> None:
        mark = _event_mark(event)
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                message = (
                    "several documents in one file are not supported; "
                    "split them into separate files"
                )
                self.fail(mark, "yaml-multi-document", message)
        elif isinstance(event, yaml.AliasEvent):
            message = f"anchors and aliases are not supported (found alias '*{event.anchor}')"
            self.fail(mark, "yaml-anchor", message)
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            self.node(event, mark)

    def node(self, event: yaml.ScalarEvent | yaml.CollectionStartEvent, mark: Mark) -> None:
        if event.anchor is not None:
            message = f"anchors and aliases are not supported (found anchor '&{event.anchor}')"
            self.fail(mark, "yaml-anchor", message)
        if event.tag is not None:
            self.fail(mark, "yaml-tag", f"tags are not supported (found '{_shown_tag(event.tag)}')")
        top = self.stack[-1] if self.stack else None
        loc: YamlPath
        if top is None:
            loc = ()
            if not isinstance(event, yaml.MappingStartEvent):
                self.fail(mark, "yaml-top-level", f"the top level is {_kind(event)}; {_EXPECTED}")
        elif isinstance(top.items, list):
            loc = (*top.path, len(top.items))
        elif top.key is None:
            self.key(top, event, mark)
            return
        else:
            loc = (*top.path, top.key)
        self.values[loc] = mark
        if isinstance(event, yaml.ScalarEvent):
            value: Any = self.scalar(event, mark)
        elif len(self.stack) >= MAX_DEPTH:
            self.fail(mark, "yaml-depth", f"data is nested more than {MAX_DEPTH} levels deep")
        else:
            value = {} if isinstance(event, yaml.MappingStartEvent) else []
            self.stack.append(_Frame(loc, value))
        if top is None:
            self.root = value
        else:
            top.add(value)

    def key(
        self, frame: _Frame, event: yaml.ScalarEvent | yaml.CollectionStartEvent, mark: Mark
    ) -> None:
        if not isinstance(event, yaml.ScalarEvent):
            self.fail(mark, "yaml-key", f"a mapping key must be a string, not {_kind(event)}")
        key = self.scalar(event, mark)
        if key is None:
            self.fail(mark, "yaml-key", "a mapping key must be a string, not empty or null")
        first = frame.seen.get(key)
        if first is None:
            frame.seen[key] = mark
            self.keys[(*frame.path, key)] = mark
        else:
            message = (
                f"duplicate key {key!r} (first defined at line {first.line}, column {first.column})"
            )
            self.found.append(_diag(self.path, mark, "yaml-duplicate-key", message))
        frame.key = key

    def scalar(self, event: yaml.ScalarEvent, mark: Mark) -> str | None:
        if len(event.value) > MAX_SCALAR_CHARS:
            message = f"value is longer than {MAX_SCALAR_CHARS} characters"
            self.found.append(_diag(self.path, mark, "yaml-scalar-too-long", message))
        # libyaml reports plain style as "", the pure-Python parser as None.
        if event.style in (None, "") and event.value in _NULLS:
            return None
        return event.value


def _kind(event: yaml.ScalarEvent | yaml.CollectionStartEvent) -> str:
    if isinstance(event, yaml.MappingStartEvent):
        return "a mapping"
    if not isinstance(event, yaml.ScalarEvent):
        return "a list"
    if event.style in (None, "") and event.value in _NULLS:
        return "empty (null)"
    return "a single value"
