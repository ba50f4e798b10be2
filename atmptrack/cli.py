"""The command line: parse, call one core function, render, exit; errors become one message at one boundary.

Importing this module is cheap: Typer is imported when `main` runs, and only the invoked
command's parameters are built (see `_LazyGroup`), because users run this tool hundreds of
times a day and each command's options cost Typer a validator to build.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from atmptrack.errors import AtmptrackError, DataError, ExitCode, OutputClosed

if TYPE_CHECKING:
    from pathlib import Path

    from atmptrack.store import Location


@dataclass(slots=True)
class Settings:
    """The global options, carried on the Typer context (`ctx.obj`) to every command."""

    data: str | None = None
    db: str | None = None
    debug: bool = False
    pager: bool = True

    def store(self) -> tuple[Path, Location]:
        """The data directory and its store, refreshed when the YAML changed."""
        from atmptrack.datadir import resolve_data_dir
        from atmptrack.refresh import ensure_fresh
        from atmptrack.render import progress_bar
        from atmptrack.store import resolve_store

        data_dir = resolve_data_dir(self.data)
        store = resolve_store(self.db, data_dir)
        with progress_bar() as progress:
            ensure_fresh(data_dir, store, progress=progress)
        return data_dir, store


# Global options users also type after the subcommand (`atmptrack load --db x.db`): moved to
# the front before parsing. The value says whether the option takes an argument.
_GLOBAL_OPTIONS = {"--data": True, "--db": True, "--debug": False, "--no-pager": False}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options found after the subcommand to the front, up to a `--`."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS:
            takes_value = _GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(argv[i : i + 1 + takes_value])
            i += 1 + takes_value
            continue
        rest.append(arg)
        i += 1
    return front + rest


# Set by the Ctrl-C handler: a library that catches the SystemExit it raises (Pydantic's core
# turns it into a SchemaError while it builds a validator) must not make Ctrl-C look like a bug.
_INTERRUPTED: list[bool] = []


def _interrupted(_signum: int, _frame: object) -> None:
    # Click would turn Ctrl-C into "Aborted!" and exit 1, and during imports Python would print
    # a traceback; shells expect 130. Unwinding with SystemExit rolls back an open transaction.
    _INTERRUPTED.append(True)
    sys.stderr.write(_line_start() + "atmptrack: error: interrupted\n")
    raise SystemExit(int(ExitCode.INTERRUPTED))


def _line_start() -> str:
    """What puts a message at the start of an empty line: on a terminal, a progress bar may be
    drawn on the current one (it is redrawn below, then erased, as the command unwinds)."""
    try:
        terminal = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        terminal = False
    return "\r\x1b[2K" if terminal else ""


def _interrupted_late(_signum: int, _frame: object) -> None:
    # After main returned nothing is left to roll back, and an exception raised while the
    # interpreter shuts down would be printed as "Exception ignored": leave at once.
    sys.stderr.write("atmptrack: error: interrupted\n")
    os._exit(int(ExitCode.INTERRUPTED))


@contextmanager
def _environment(
    env: Mapping[str, str] | None, stdout: TextIO | None, stderr: TextIO | None
) -> Iterator[None]:
    """Run with these variables and streams, and the Ctrl-C handler; restore everything after.

    Tests pass their own, so that the real CLI runs in-process; a console script passes none.
    """
    saved_env = dict(os.environ) if env is not None else None
    try:
        saved_handler = signal.signal(signal.SIGINT, _interrupted)
        in_main_thread = True
    except ValueError:  # handlers can only be set in the main thread (an embedding caller's)
        saved_handler, in_main_thread = None, False
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with (
            redirect_stdout(stdout or sys.stdout),
            redirect_stderr(stderr or sys.stderr),
        ):
            yield
    finally:
        if saved_env is not None:
            os.environ.clear()
            os.environ.update(saved_env)
        if in_main_thread:
            # A caller that passed its own streams (a test) gets its handler back; a process
            # that is about to exit keeps handling Ctrl-C quietly.
            embedded = env is not None or stdout is not None or stderr is not None
            signal.signal(signal.SIGINT, saved_handler if embedded else _interrupted_late)


def _message(line: str) -> None:
    from atmptrack.render import write_messages

    write_messages([line])


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Console-script entry point and the one error boundary; returns the exit code."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    settings = Settings()
    _INTERRUPTED.clear()
    with _environment(env, stdout, stderr), _interrupts_not_reported_as_bugs():
        try:
            from atmptrack.commands import run

            code = run(args, settings)
            sys.stdout.flush()  # here, not at exit, where a closed pipe would print a traceback
            return code
        except AtmptrackError as exc:
            if _INTERRUPTED:
                # What failed after Ctrl-C (a check whose callback the interrupt cut short)
                # is its echo: the handler has said "interrupted", and nothing else is true.
                return int(ExitCode.INTERRUPTED)
            if settings.debug:
                _traceback()
            if isinstance(exc, DataError):
                from atmptrack.render import write_messages

                write_messages([d.format() for d in exc.diagnostics])
                _message(f"atmptrack: error: {exc.message}; the store was not changed")
            else:
                _message(f"atmptrack: error: {exc.message}")
            return int(exc.exit_code)
        except (OutputClosed, BrokenPipeError):
            # The reader (head, less) has gone: stop quietly, as Unix filters do.
            _silence_stdout()
            return int(ExitCode.OK)
        except OSError as exc:
            if exc.errno not in _OUTPUT_ERRORS or exc.filename is not None:
                return _unexpected(exc, settings)
            # Writing the output failed (a full disk, a quota, a device error): say so once.
            _silence_stdout()
            _message(f"atmptrack: error: cannot write the output: {exc.strerror or exc}")
            return int(ExitCode.OUTPUT)
        except KeyboardInterrupt:
            _message("atmptrack: error: interrupted")
            return int(ExitCode.INTERRUPTED)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else int(ExitCode.INTERNAL)
        except Exception as exc:
            return _unexpected(exc, settings)


@contextmanager
def _interrupts_not_reported_as_bugs() -> Iterator[None]:
    """Ctrl-C inside a library's callback that cannot pass exceptions on (Pydantic's core
    running a Python regex) reaches Python's unraisable hook, which prints a traceback: not for
    the exit of our own handler, which has already said what happened."""
    previous = sys.unraisablehook

    def hook(info: sys.UnraisableHookArgs) -> None:
        if _INTERRUPTED and issubclass(info.exc_type, SystemExit | KeyboardInterrupt):
            return
        previous(info)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _unexpected(exc: Exception, settings: Settings) -> int:
    """A bug: one line and a hint, or the traceback with --debug; never a legitimate exit code."""
    if _INTERRUPTED:
        return int(ExitCode.INTERRUPTED)  # the handler has said so; what followed is its echo
    if settings.debug:
        _traceback()
    _message(
        f"atmptrack: error: unexpected {type(exc).__name__}: {exc}; "
        "rerun with --debug for the traceback"
    )
    return int(ExitCode.INTERNAL)


# errno values of a write to stdout that cannot go on; a closed pipe is handled on its own.
_OUTPUT_ERRORS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO})


def _traceback() -> None:
    import traceback

    traceback.print_exc(file=sys.stderr)


def _silence_stdout() -> None:
    # Later flushes (at exit) must not fail again on the closed pipe.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test's buffer): nothing will flush to a pipe
