"""The entry point and its boundary: global options anywhere, exit codes, in-process runs."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import pytest

from atmptrack.cli import hoist_global_options, main

from conftest import Cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["load", "--db", "x.db"], ["--db", "x.db", "load"]),
        (
            ["list", "partners", "--data=d", "-c", "SI"],
            ["--data=d", "list", "partners", "-c", "SI"],
        ),
        (["--debug", "show", "geneh"], ["--debug", "show", "geneh"]),
        (["filter", "partners", "--", "--db"], ["filter", "partners", "--", "--db"]),
        (
            ["list", "partners", "--debug", "--db", "a", "--data", "b"],
            ["--debug", "--db", "a", "--data", "b", "list", "partners"],
        ),
    ],
)
def test_global_options_move_to_the_front_up_to_a_double_dash(
    argv: list[str], expected: list[str]
) -> None:
    assert hoist_global_options(argv) == expected


def test_global_options_after_the_command_are_the_same_as_before(cli: Cli) -> None:
    before = cli("--data", str(cli.data), "list", "sources", "-f", "json")
    after = cli("list", "sources", "-f", "json", "--data", str(cli.data))
    assert before.code == after.code == 0 and before.out == after.out


def test_main_runs_in_a_thread_without_touching_signal_handlers(cli: Cli) -> None:
    results: list[int] = []
    out = io.StringIO()

    def run() -> None:
        results.append(main(["--version"], env=cli.env(), stdout=out, stderr=io.StringIO()))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert results == [0] and out.getvalue().startswith("atmptrack ")


def test_usage_errors_read_like_atmptracks_own(cli: Cli) -> None:
    for argv, words in (
        (["lsit"], "no such command 'lsit' (did you mean 'list'?)"),
        (["list", "partners", "--bogus"], "no such option: --bogus"),
        (["list"], "missing argument 'ENTITY'"),
    ):
        result = cli(*argv)
        assert result.code == 2, argv
        assert result.err.startswith("atmptrack: error: ") and words in result.err, result.err
        assert "Traceback" not in result.err


def test_version_short_form_and_with_v_the_data_and_store_in_use(cli: Cli) -> None:
    from atmptrack import __version__

    assert cli.ok("-V") == f"atmptrack {__version__}\n"
    lines = cli.ok("--version", "-v").splitlines()
    assert lines == [f"atmptrack {__version__}", f"data  {cli.data}", f"store {cli.db}"]
    missing = cli("--debug")
    assert missing.code == 2 and "missing command" in missing.err


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run atmptrack with a pseudo-terminal as stdout; its exit code and what the screen got."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "atmptrack", *argv],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        screen += chunk
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, screen.decode("utf-8", "replace")


@pytest.mark.slow
def test_long_tables_on_a_terminal_go_through_the_pager_and_never_in_a_pipe(
    cli: Cli, tmp_path: Path
) -> None:
    import subprocess
    import sys

    cli.ok("load", "-q")
    paged = tmp_path / "paged.txt"
    env = cli.env(ATMPTRACK_PAGER=f"sh -c 'cat > \"$0\"' {paged}", COLUMNS="120")
    code, screen = _on_a_terminal(["list", "members"], env)
    assert code == 0
    assert "charite" in paged.read_text() and "charite" not in screen
    paged.unlink()
    code, screen = _on_a_terminal(["list", "members", "--no-pager"], env)
    assert code == 0 and "charite" in screen and not paged.exists()
    piped = subprocess.run(
        [sys.executable, "-m", "atmptrack", "list", "members", "-f", "table"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert piped.returncode == 0 and "charite" in piped.stdout and not paged.exists()
    # The default, less -FRX, prints output that fits one screen and returns at once.
    default = {k: v for k, v in env.items() if k not in ("ATMPTRACK_PAGER", "PAGER", "LESS")}
    code, screen = _on_a_terminal(["list", "sources", "--limit", "2", "--columns", "id"], default)
    assert code == 0 and "id" in screen


@pytest.mark.slow
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("atmptrack li", {"list"}),
        ("atmptrack report t", {"timeline"}),
        ("atmptrack list par", {"partners"}),
        ("atmptrack list partners --helix ind", {"industry"}),
        ("atmptrack list partners --sector univ", {"university"}),
        ("atmptrack list members --columns id,rol", {"id,role"}),
        ("atmptrack list partners --country S", {"SI"}),  # the countries in the data
        ("atmptrack show gene", {"geneh", "genet"}),
        ("atmptrack report funding -i join", {"join4atmp"}),
    ],
)
def test_bash_completes_commands_vocabularies_columns_and_ids_from_the_store(
    cli: Cli, words: str, expected: set[str]
) -> None:
    """The script `--show-completion bash` prints, sourced in a real bash, asked as bash asks."""
    import os
    import subprocess
    import sys

    cli.ok("load", "-q")
    env = cli.env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    script = cli.ok("--show-completion", "bash")
    cword = len(words.split()) - 1
    program = (
        f"{script}\n"
        f"COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT={len(words)}\n"
        "_atmptrack_completion atmptrack\n"  # bash passes the command name as $1
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == expected, done.stdout + done.stderr


def test_ctrl_c_cut_short_inside_a_library_callback_prints_no_traceback() -> None:
    # Ctrl-C inside a callback that cannot pass exceptions on (Pydantic's core running a Python
    # regex) reaches the unraisable hook: after our handler has spoken, it must stay silent;
    # any other unraisable exception still reaches the hook that was there before.
    import gc

    from atmptrack import cli as cli_module

    class Cut:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def __del__(self) -> None:
            raise self.exc

    reported: list[type[BaseException]] = []
    before = sys.unraisablehook
    sys.unraisablehook = lambda info: reported.append(info.exc_type)
    try:
        with cli_module._interrupts_not_reported_as_bugs():
            cli_module._INTERRUPTED.append(True)
            try:
                Cut(SystemExit(130))
                gc.collect()
                Cut(KeyboardInterrupt())
                gc.collect()
            finally:
                cli_module._INTERRUPTED.clear()
            Cut(SystemExit(1))  # not after a Ctrl-C: reported
            Cut(ValueError("a real bug"))
            gc.collect()
    finally:
        sys.unraisablehook = before
    assert reported == [SystemExit, ValueError]
