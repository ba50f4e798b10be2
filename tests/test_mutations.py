"""Property: whatever happens to a valid data file, loading either succeeds or explains itself."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atmptrack.errors import DataError
from atmptrack.refresh import ensure_fresh

from conftest import LANDSCAPE

FILES = sorted(p.relative_to(LANDSCAPE).as_posix() for p in LANDSCAPE.rglob("*.yaml"))


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, bytes]:
    """A bundled file with a few lines deleted, duplicated, re-indented, swapped or bytes inserted."""
    name = draw(st.sampled_from(FILES))
    lines = (LANDSCAPE / name).read_bytes().split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "swap", "bytes"]))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = b" " * draw(st.integers(1, 3)) + lines[i]
        elif kind == "dedent":
            lines[i] = lines[i][draw(st.integers(1, 3)) :]
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            a, _, x = lines[i].partition(b": ")
            b, _, y = lines[j].partition(b": ")
            if x and y:
                lines[i], lines[j] = a + b": " + y, b + b": " + x
        else:
            at = draw(st.integers(0, len(lines[i])))
            junk = draw(st.binary(min_size=1, max_size=4))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
    return name, b"\n".join(lines)


@pytest.mark.slow  # 300 loads: a property run, kept out of the inner loop
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation())
def test_mutated_data_loads_cleanly_or_gives_positioned_diagnostics(
    case: tuple[str, bytes],
) -> None:
    name, content = case
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(LANDSCAPE, data)
        (data / name).write_bytes(content)
        store = Path(tmp) / "store.sqlite"
        try:
            result = ensure_fresh(data.resolve(), store)
        except DataError as exc:
            assert exc.diagnostics
            for d in exc.diagnostics:
                assert d.path and d.line >= 1 and d.column >= 1, d
                assert d.message and d.rule
            errors = [d for d in exc.diagnostics if d.severity == "error"]
            assert errors
            assert not store.exists() or _tables(store) == []
        else:
            assert result is not None and result.loaded
            conn = sqlite3.connect(store)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            finally:
                conn.close()


def _tables(store: Path) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    finally:
        conn.close()
