"""Exit codes and the domain errors that carry them to the CLI's one error boundary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal


class ExitCode(IntEnum):
    """Process exit codes; documented in the README and stable across versions."""

    OK = 0
    DIFFERENCES = 1  # reserved for `diff --exit-code`, as git uses it
    USAGE = 2  # bad option, unknown value, unknown id: the command line is wrong
    DATA = 3  # the YAML data is invalid: nothing was written
    STORE = 4  # the store cannot be opened, read or written
    INTERNAL = 70  # a bug: an unexpected exception (EX_SOFTWARE), never a legitimate result
    OUTPUT = 74  # the output cannot be written: a full disk, a device error (EX_IOERR)
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem at one place in one file; line and column are 1-based."""

    path: str
    line: int
    column: int
    severity: Severity
    rule: str
    message: str
    field: str | None = None

    def format(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message} [{self.rule}]"
        )

    def row(self) -> dict[str, object]:
        """The diagnostic as one record of `validate --format json`; the keys are a stable contract."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "rule": self.rule,
            "message": self.message,
            "field": self.field,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.rule)


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` naming the closest of the choices, ignoring case; or nothing.

    The one suggestion every message about an unknown name or value gives. A choice is named
    only when it is closer than every other: among ids that differ only in their numbers
    (`org-01234`, `org-01243`, `org-11234`), the closest to a mistyped or renamed one is a
    guess, and naming it would point at another record.
    """
    import difflib

    lookup = {choice.lower(): choice for choice in choices}
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(value.strip().lower())
    # The closeness difflib.get_close_matches asks for at least; raised to the best found so
    # far, so that the cheap upper bounds rule out most of a long list of choices.
    best = 0.6
    closest: list[str] = []
    for choice in lookup:
        matcher.set_seq1(choice)
        if matcher.real_quick_ratio() >= best and matcher.quick_ratio() >= best:
            score = matcher.ratio()
            if score > best:
                best, closest = score, [choice]
            elif score == best:
                closest.append(choice)
    return f" (did you mean '{lookup[closest[0]]}'?)" if len(closest) == 1 else ""


class AtmptrackError(Exception):
    """Base of every error the CLI turns into a message and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(AtmptrackError):
    """The command line asks for something that does not exist or is malformed."""

    exit_code = ExitCode.USAGE


class StoreError(AtmptrackError):
    """The store cannot be opened, read or written."""

    exit_code = ExitCode.STORE


class OutputError(AtmptrackError):
    """The output (stdout or -o FILE) cannot be written."""

    exit_code = ExitCode.OUTPUT


class DataError(AtmptrackError):
    """The data is invalid; carries every diagnostic found, sorted by place."""

    exit_code = ExitCode.DATA

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        errors = sum(1 for d in self.diagnostics if d.severity == "error")
        super().__init__(f"{errors} error(s) in the data")


class OutputClosed(Exception):
    """The reader of stdout went away (`| head`): the command stops quietly with exit 0.

    Raised in place of BrokenPipeError, which Typer would turn into exit 1.
    """
