"""A new tracker in one command: a data directory that validates, the schema for editors, a
pre-commit hook, and a short README for the curators."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from atmptrack.errors import UsageError

_SCHEMA_LINE = "# yaml-language-server: $schema={}\n"

_SOURCES = """\
sources:
  - id: example-source
    title: Replace with the title of a public page that states the facts below
    publisher: Example publisher
    url: https://example.org/replace-me
    published: 2025-01
    note: an example to replace; every fact in the data cites a source like this one
"""

_ORGANISATIONS = """\
organisations:
  - id: example-university
    name: Example University
    sector: university
    sources: [example-source]
    inferred:
      sector: an example of a field no source states, with the reason it was filled in
    note: an example to replace
"""

_INITIATIVES = """\
initiatives:
  - id: example-network
    name: Example Network
    kind: network
    sources: [example-source]
    members:
      - {organisation: example-university, role: coordinator, sources: [example-source]}
    note: an example to replace
"""

_PRE_COMMIT = """\
# Validate the whole data directory before each commit: `pre-commit install` once.
# atmptrack must be installed where pre-commit runs (pip install atmptrack).
repos:
  - repo: local
    hooks:
      - id: atmptrack-validate
        name: atmptrack validate
        entry: atmptrack --data data validate
        language: system
        pass_filenames: false
        files: \\.ya?ml$
"""

_README = """\
# An atmptrack tracker

The facts live in `data/`, one YAML file or many: `sources`, `organisations` and
`initiatives`. Every fact cites a source that states it; a value no source states is listed
under `inferred` with the reason; unknown is left out, never guessed.

    atmptrack validate                  # check every file and the references between them
    atmptrack list initiatives          # read the data back
    atmptrack report coverage           # what is missing, what to look up next

Editors that use the YAML language server (VS Code, Neovim, JetBrains) read the first line of
each file and check it against `data.schema.json` as you type. `pre-commit install` runs
`atmptrack validate` before every commit.
"""


def files() -> dict[str, str]:
    """Each file of a new tracker, by its path inside the tracker."""
    import json

    from atmptrack.schema import json_schema

    schema = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    return {
        "README.md": _README,
        ".pre-commit-config.yaml": _PRE_COMMIT,
        "data.schema.json": schema,
        "data/sources.yaml": _SCHEMA_LINE.format("../data.schema.json") + _SOURCES,
        "data/organisations/example.yaml": _SCHEMA_LINE.format("../../data.schema.json")
        + _ORGANISATIONS,
        "data/initiatives/example.yaml": _SCHEMA_LINE.format("../../data.schema.json")
        + _INITIATIVES,
    }


def init(target: Path) -> list[Path]:
    """Create a tracker in target, which must not exist or be empty; never overwrite anything.

    The files are written into a temporary directory beside target and moved into place in
    one rename, so an interrupted init leaves nothing half-made.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} already exists and is not an empty directory; atmptrack init "
            "overwrites nothing: choose a new directory"
        )
    parent = target.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{parent} does not exist; create it first")
    contents = files()
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise UsageError(f"cannot create {target}: {exc.strerror or exc}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a tracker is not
        for name, text in contents.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty, checked above; rename needs the name free
        os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot create {target}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / name for name in contents]
