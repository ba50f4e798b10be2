"""Long loads and validations draw a progress bar on stderr when it is a terminal, and nothing
otherwise. Real processes: a pseudo-terminal is what makes stderr a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from conftest import Cli

pytestmark = pytest.mark.slow  # real processes


def on_a_terminal(cli: Cli, *args: str, **env: str) -> tuple[int, str, str]:
    """Run atmptrack with stderr on a pseudo-terminal; its exit code, stdout and the terminal's
    output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "atmptrack", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=cli.env(**{"TERM": "xterm", **env}),
        cwd=cli.home,
    )
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=10), out, seen.decode("utf-8", "replace")


def test_a_load_on_a_terminal_shows_progress_then_erases_it(cli: Cli) -> None:
    code, _out, terminal = on_a_terminal(cli, "load", ATMPTRACK_PROGRESS_AFTER="0")
    assert code == 0, terminal
    assert "checking files" in terminal and "writing the store" in terminal
    assert "━" in terminal  # the bar itself
    # Erased at the end: the summary follows on a clean line, and the cursor is back.
    assert terminal.rstrip().endswith("s")  # "... in 0.12 s"
    assert "\x1b[?25h" in terminal
    assert "atmptrack: loaded" in terminal.split("\x1b[2K")[-1]


def test_a_validation_on_a_terminal_shows_progress(cli: Cli) -> None:
    code, out, terminal = on_a_terminal(cli, "validate", ATMPTRACK_PROGRESS_AFTER="0")
    assert code == 0, terminal
    assert "checking files" in terminal and "━" in terminal
    assert "checking files" not in out


def test_quick_work_shows_no_progress(cli: Cli) -> None:
    # Work shorter than the threshold draws nothing. The threshold is raised here so that a
    # loaded machine (CI, PostgreSQL starting up) cannot push the landscape's load past it.
    code, _out, terminal = on_a_terminal(cli, "load", ATMPTRACK_PROGRESS_AFTER="60")
    assert code == 0, terminal
    assert "checking files" not in terminal and "━" not in terminal


@pytest.mark.parametrize("command", ["load", "validate"])
def test_no_progress_when_stderr_is_not_a_terminal(cli: Cli, command: str) -> None:
    result = cli.process(command, env=cli.env(ATMPTRACK_PROGRESS_AFTER="0", TERM="xterm"))
    assert result.code == 0, result.err
    assert "checking files" not in result.err and "\x1b" not in result.err


def test_no_progress_on_a_dumb_terminal(cli: Cli) -> None:
    code, _out, terminal = on_a_terminal(cli, "load", ATMPTRACK_PROGRESS_AFTER="0", TERM="dumb")
    assert code == 0, terminal
    assert "checking files" not in terminal and "\x1b" not in terminal
