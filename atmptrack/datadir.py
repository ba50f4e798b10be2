"""Which data directory is in use, which files it holds, and a cheap fingerprint of them."""

from __future__ import annotations

import os
import re
from pathlib import Path

SUFFIXES = (".yaml", ".yml")
_OUR_KEYS = re.compile(rb"^(sources|organisations|initiatives)\s*:", re.MULTILINE)


def bundled_data() -> Path:
    """The dataset shipped in the wheel, or the checkout's `data/` when running from source."""
    package = Path(__file__).resolve().parent
    shipped = package / "_data"
    return shipped if shipped.is_dir() else package.parent / "data"


def resolve_data_dir(option: str | None) -> Path:
    """--data / ATMPTRACK_DATA, else ./data when it holds atmptrack files, else the bundled dataset."""
    if option:
        return Path(option).expanduser().resolve()
    local = Path("data")
    if local.is_dir() and _holds_our_files(local):
        return local.resolve()
    return bundled_data().resolve()


def _holds_our_files(root: Path) -> bool:
    for path in discover(root):
        try:
            if not path.is_file():  # a FIFO would block the read below
                continue
            with path.open("rb") as handle:
                if _OUR_KEYS.search(handle.read(65536)):
                    return True
        except OSError:
            continue
    return False


def discover(root: Path) -> list[Path]:
    """Every YAML file under root, recursively, in a stable order; hidden directories skipped."""
    return scan(root)[0]


def scan(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The YAML files under root, and each place that could not be looked at, with the reason.

    Nothing is skipped in silence: an unreadable directory or a file name that is not UTF-8
    would otherwise make its records vanish from the dataset.
    """
    if root.is_file():
        return [root], []
    found: list[Path] = []
    problems: list[tuple[str, str]] = []

    def unreadable(exc: OSError) -> None:
        where = shown(Path(exc.filename)) if exc.filename else shown(root)
        problems.append((where, f"cannot read the directory: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(SUFFIXES) or name.startswith("."):
                continue
            path = Path(dirpath, name)
            if _undecodable(str(path)):
                problems.append((shown(path), "the file name is not valid UTF-8; rename the file"))
            else:
                found.append(path)
    return found, problems


def _undecodable(text: str) -> bool:
    # Undecodable bytes in names reach Python as lone surrogates, which nothing can print or store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shown(path: Path) -> str:
    """A path as people can read it, even a name that is not UTF-8 (its bytes escaped)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def fingerprint(root: Path) -> str:
    """Changes whenever a YAML file is added, removed, renamed or rewritten; costs one stat per file.

    The listing itself is the fingerprint: exact, and cheaper than importing a hash function.
    The change time is in it because a rewrite that keeps size and modification time (`cp -p`,
    some editors and sync tools) still moves it.
    """
    lines = []
    for path in discover(root):
        try:
            info = path.stat()
        except OSError:
            continue
        rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
        lines.append(
            f"{rel}\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ctime_ns}\t{info.st_ino}"
        )
    return "\n".join(lines)


def content_fingerprint(root: Path) -> str:
    """Changes whenever a YAML file is added, removed, renamed or its bytes change: a digest of
    the names and contents, the same on every machine that has the same files."""
    import hashlib

    digest = hashlib.sha256()
    for path in discover(root):
        try:
            # Not a FIFO or a device: reading one could block forever. The load reports it.
            body = path.read_bytes() if path.is_file() else b""
        except OSError:
            continue
        rel = path.relative_to(root).as_posix() if root.is_dir() else path.name
        digest.update(f"{rel}\t{len(body)}\n".encode())
        digest.update(body)
    return f"sha256:{digest.hexdigest()}"
