"""Keeping the store current: reload it when a data file changed since the last load.

The write side is imported only when a load is due; this module sits above both `store` and
`writer`, so neither imports the other's caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atmptrack.errors import UsageError
from atmptrack.store import check_owned, fingerprint_for, peek, schema_version

if TYPE_CHECKING:
    from pathlib import Path

    from atmptrack.dataset import Progress
    from atmptrack.store import Location
    from atmptrack.writer import LoadResult


def ensure_fresh(
    data_dir: Path, store: Location, *, force: bool = False, progress: Progress | None = None
) -> LoadResult | None:
    """Bring the store up to date when any YAML file changed since the last load: by reading
    only the files that changed where an update can vouch for the result, else every file.

    Returns None when the store was already up to date. Raises DataError, leaving the store
    as it was, when the data is invalid. A load tells `progress` how far it has gone.
    """
    if not data_dir.exists():
        raise UsageError(f"data directory {data_dir} does not exist")
    check_owned(store)
    current = fingerprint_for(store, data_dir)
    meta = peek(store)
    if (
        not force
        and meta.get("fingerprint") == current
        and meta.get("schema_version") == schema_version()
    ):
        return None
    from atmptrack.writer import StoreBusy, StoreReadOnly, load, update

    if force or "fingerprint" not in meta:
        return load(data_dir, store, fingerprint=current, force=force, progress=progress)
    # A read with a dataset already in the store does not queue behind a long write: WAL lets
    # it read the last committed dataset while the writer works, and it says so.
    try:
        # Only the files that changed are read, when the store holds the files as they were.
        if meta.get("schema_version") == schema_version():
            done = update(
                data_dir,
                store,
                base=meta["fingerprint"],
                fingerprint=current,
                wait_ms=READER_WAIT_MS,
            )
            if done is not None:
                return done
        return load(
            data_dir,
            store,
            fingerprint=current,
            force=False,
            wait_ms=READER_WAIT_MS,
            progress=progress,
        )
    except (StoreBusy, StoreReadOnly) as exc:
        from atmptrack.render import write_messages

        loaded = meta.get("loaded_at", "an earlier load")
        write_messages(
            [
                "atmptrack: note: another process is writing the store; this answer is from "
                f"the dataset loaded at {loaded}, and the refresh waits for the next command"
                if isinstance(exc, StoreBusy)
                # A reader's role on a shared server: the store is what the team loaded.
                else f"atmptrack: note: the store differs from the files in {data_dir}, and "
                f"this role may not load them; this answer is from the dataset loaded at {loaded}"
            ]
        )
        return None


# How long a read waits for another process's write before it answers from the last dataset.
READER_WAIT_MS = 2_000
