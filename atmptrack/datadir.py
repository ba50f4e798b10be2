"""Which data directory is in use, which files it holds, and a cheap fingerprint of them."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
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
    names, problems = _walk(root)
    return [Path(name) for name in names], problems


def _walk(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """`scan` in strings: a path object per file costs more than the stat of it, and every
    read command fingerprints every file."""
    found: list[str] = []
    problems: list[tuple[str, str]] = []

    def unreadable(exc: OSError) -> None:
        where = shown(Path(exc.filename)) if exc.filename else shown(root)
        problems.append((where, f"cannot read the directory: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = os.path.join(dirpath, "")  # with its separator: joined once, not per file
        for name in sorted(filenames):
            if not name.endswith(SUFFIXES) or name.startswith("."):
                continue
            path = here + name
            if _undecodable(path):
                problems.append(
                    (shown(Path(path)), "the file name is not valid UTF-8; rename the file")
                )
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

    The listing itself is the fingerprint: exact, cheaper than importing a hash function, and
    it tells which files changed since the last load (`changed_files`). The change time is in
    it because a rewrite that keeps size and modification time (`cp -p`, some editors and sync
    tools) still moves it.
    """
    found, problems = _walk(root) if root.is_dir() else ([str(root)], [])
    lines = _problem_lines(problems)
    relative = _namer(root)
    for path in found:
        try:
            info = os.lstat(path)
            link = stat.S_ISLNK(info.st_mode)
            if link:
                info = os.stat(path)
        except OSError:
            continue
        lines.append(
            f"{relative(path)}\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ctime_ns}"
            f"\t{info.st_ino}{_LINK if link else ''}"
        )
    return "\n".join(lines)


def content_fingerprint(root: Path) -> str:
    """Changes whenever a YAML file is added, removed, renamed or its bytes change: a digest of
    each file's contents, the same on every machine that has the same files."""
    import hashlib

    found, problems = scan(root)
    lines = _problem_lines(problems)
    relative = _namer(root)
    for path in found:
        try:
            # Not a FIFO or a device: reading one could block forever. The load reports it.
            body = path.read_bytes() if path.is_file() else b""
            link = path.is_symlink()
        except OSError:
            continue
        digest = hashlib.sha256(body).hexdigest()
        lines.append(f"{relative(path)}\t{len(body)}\t{digest}{_LINK if link else ''}")
    return "\n".join(lines)


def changed_files(before: str, now: str) -> tuple[list[str], list[str]] | None:
    """The files (relative paths) added or rewritten between two fingerprints of the same
    directory, and the files removed; None when the fingerprints cannot tell (a place that
    could not be read, a symbolic link among the changes, a fingerprint of another kind).

    A symbolic link's records are stored under its target's name, which its line does not
    give: the caller reads everything again.
    """
    old, new = _by_file(before), _by_file(now)
    if old is None or new is None:
        return None
    changed = [name for name, line in new.items() if old.get(name) != line]
    removed = [name for name in old if name not in new]
    if any(old.get(name, "").endswith(_LINK) or new[name].endswith(_LINK) for name in changed):
        return None
    if any(old[name].endswith(_LINK) for name in removed):
        return None
    return changed, removed


def file_count(listing: str) -> int:
    """How many files a fingerprint lists."""
    return listing.count("\n") + 1 if listing else 0


# Marks the line of a symbolic link. A relative path never starts with "/": that marks a line
# that names no file of a directory (a place that could not be read, whose appearance or end
# changes the fingerprint too; a dataset of one file; a name with a tab or a newline).
_LINK = "\tlink"
_PROBLEM = "/"


def _problem_lines(problems: list[tuple[str, str]]) -> list[str]:
    return [f"{_PROBLEM}{where}\t{why}" for where, why in problems]


def _namer(root: Path) -> Callable[[str | Path], str]:
    """How a listing names a file: relative to the directory. A dataset of one file is named
    as a place, not a file: its rows name it differently (see `changed_files`)."""
    if not root.is_dir():
        return lambda path: _PROBLEM + os.path.basename(path)
    prefix = len(os.path.join(str(root), ""))  # the directory and one separator

    def relative(path: str | Path) -> str:
        name = str(path)[prefix:].replace(os.sep, "/")
        # A tab or a newline in a name would make the listing ambiguous: such a line is
        # marked as a problem, which still changes with the file but never names it.
        return name if "\t" not in name and "\n" not in name else _PROBLEM + repr(name)

    return relative


def _by_file(listing: str) -> dict[str, str] | None:
    """Each file's line by its name, when the listing is of a directory's files alone."""
    files = {}
    for line in listing.split("\n") if listing else ():
        name, tab, _rest = line.partition("\t")
        if not tab or name.startswith(_PROBLEM) or name in files:
            return None
        files[name] = line
    return files
