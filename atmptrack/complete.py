"""Shell completion of values: entities, columns, vocabularies, and ids read from the store.

Part of the command line (it imports Typer), used by `commands`.

Called only while the shell asks for completions. Values from the store come from a plain
read of the store as it is, without a refresh: a completion must answer at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

# Typer reads these functions' annotations at run time to know what to pass them.
from typer import Context


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    # Comma-separated flags complete their last item: `--country PT,S` offers `PT,SI`.
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + v for v in values if v.lower().startswith(last.lower())]


def entities(incomplete: str) -> list[str]:
    from atmptrack.query import ENTITIES

    return _matching(ENTITIES, incomplete)


def columns(ctx: Context, incomplete: str) -> list[str]:
    """The columns of the entity already typed (`list partners --columns na`)."""
    from atmptrack.query import ENTITIES

    # While completing, Typer may leave the typed entity among the unparsed arguments.
    typed = ctx.params.get("entity") or next(iter(ctx.args), "")
    entity = ENTITIES.get(str(typed))
    if entity is None:
        return []
    return _matching(entity.column_names, incomplete)


def vocabulary(name: str) -> Any:
    """A completer for a closed vocabulary of atmptrack.vocab (`Sector`, `Helix`, ...)."""

    def complete(incomplete: str) -> list[str]:
        from atmptrack import vocab

        return _matching(vocab.values(getattr(vocab, name)), incomplete)

    return complete


def _store_values(ctx: Context, sql: str) -> list[str]:
    from pathlib import Path

    from atmptrack.datadir import resolve_data_dir
    from atmptrack.store import resolve_store

    root = ctx.find_root().params
    try:
        data_dir = resolve_data_dir(root.get("data"))
        store = resolve_store(root.get("db"), data_dir)
        if not isinstance(store, Path):  # a server: one read snapshot, as the commands take
            from atmptrack.store import reading

            with reading(store) as reader:
                return [str(row[0]) for row in reader.execute(sql) if row[0] is not None]
        if not store.is_file():
            return []
        conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
        try:
            return [str(row[0]) for row in conn.execute(sql) if row[0] is not None]
        finally:
            conn.close()
    except Exception:
        return []


def countries(ctx: Context, incomplete: str) -> list[str]:
    """The countries present in the data."""
    sql = "SELECT DISTINCT country FROM organisation ORDER BY country"
    return _matching(_store_values(ctx, sql), incomplete)


def initiatives(ctx: Context, incomplete: str) -> list[str]:
    return _matching(_store_values(ctx, "SELECT id FROM initiative ORDER BY id"), incomplete)


def records(ctx: Context, incomplete: str) -> list[str]:
    """Ids of initiatives and organisations, for `show`."""
    sql = "SELECT id FROM initiative UNION ALL SELECT id FROM organisation ORDER BY 1"
    return _matching(_store_values(ctx, sql), incomplete)
