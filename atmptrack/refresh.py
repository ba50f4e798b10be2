"""Keeping the store current: reload it when a data file changed since the last load.

The write side is imported only when a load is due; this module sits above both `store` and
`writer`, so neither imports the other's caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atmptrack.datadir import fingerprint
from atmptrack.errors import UsageError
from atmptrack.store import check_owned, peek, schema_version

if TYPE_CHECKING:
    from pathlib import Path

    from atmptrack.dataset import Progress
    from atmptrack.writer import LoadResult


def ensure_fresh(
    data_dir: Path, store: Path, *, force: bool = False, progress: Progress | None = None
) -> LoadResult | None:
    """Load the data into the store when any YAML file changed since the last load.

    Returns None when the store was already up to date. Raises DataError, leaving the store
    as it was, when the data is invalid. A load tells `progress` how far it has gone.
    """
    if not data_dir.exists():
        raise UsageError(f"data directory {data_dir} does not exist")
    check_owned(store)
    current = fingerprint(data_dir)
    meta = peek(store)
    if (
        not force
        and meta.get("fingerprint") == current
        and meta.get("schema_version") == schema_version()
    ):
        return None
    from atmptrack.writer import StoreBusy, load

    if force or "fingerprint" not in meta:
        return load(data_dir, store, fingerprint=current, force=force, progress=progress)
    # A read with a dataset already in the store does not queue behind a long write: WAL lets
    # it read the last committed dataset while the writer works, and it says so.
    try:
        return load(
            data_dir,
            store,
            fingerprint=current,
            force=False,
            wait_ms=READER_WAIT_MS,
            progress=progress,
        )
    except StoreBusy:
        from atmptrack.render import write_messages

        write_messages(
            [
                "atmptrack: note: another process is writing the store; this answer is from "
                f"the dataset loaded at {meta.get('loaded_at', 'an earlier load')}, and the "
                "refresh waits for the next command"
            ]
        )
        return None


# How long a read waits for another process's write before it answers from the last dataset.
READER_WAIT_MS = 2_000
