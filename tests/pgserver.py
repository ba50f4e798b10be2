"""A throwaway PostgreSQL server for the test run: no docker, no system cluster.

`start()` runs `initdb` and `pg_ctl start` in a private temporary directory, with settings for
speed (no fsync) and a Unix socket in that directory as the only way in (no TCP). PostgreSQL
refuses to run as root, so when the tests run as root the server runs as the `postgres` user
that Debian's package creates (else `nobody`). `Server.stop()` stops it (`-m immediate`: the
data is thrown away) and removes the directory; so do an `atexit` handler and, if the test
process dies without either (SIGKILL, a CI timeout), a small watchdog process that waits for
the test process's end. PostgreSQL 13 or newer (`DROP DATABASE ... WITH (FORCE)`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from psycopg import sql

USER = "atmptrack_test"  # the database superuser initdb creates; trust authentication
NOT_FOUND = (
    "PostgreSQL server binaries not found; "
    "install Debian's postgresql package to run the PostgreSQL half"
)
# A bin directory to use instead of searching (`/usr/lib/postgresql/17/bin`); set but without
# `initdb` and `pg_ctl` in it, the binaries count as not found.
BINDIR_VARIABLE = "ATMPTRACK_TEST_PG_BINDIR"

# postgresql.conf's tail: nothing survives the test run, so nothing is synced.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
    "listen_addresses": "''",
}

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StartError(RuntimeError):
    """The server could not be set up or started; the message ends with its log's tail."""


def find_bindir() -> Path | None:
    """The directory with `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest of
    Debian's `/usr/lib/postgresql/*/bin`, else PATH. None if there is none."""
    if BINDIR_VARIABLE in os.environ:
        return _bindir(Path(os.environ[BINDIR_VARIABLE]))
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        # Debian's pg_config without a server package is libpq-dev's: its bindir has no initdb.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name[:1].isdigit()]
    candidates += sorted(debian, key=lambda p: _version(p.parent.name), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        found = _bindir(candidate)
        if found:
            return found
    return None


def _bindir(path: Path) -> Path | None:
    ok = all(os.access(path / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))
    return path if ok else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


@dataclass
class Server:
    """A running throwaway server. `url(dbname)` is what `--db` and SQLAlchemy take."""

    bindir: Path
    base: Path  # the temporary directory: data/, server.log and the socket
    port: int
    account: pwd.struct_passwd | None  # whom the server runs as; None: this process's user
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _owner: int = field(default_factory=os.getpid, repr=False)  # a forked child's exit: not ours

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.base

    @property
    def pid(self) -> int:
        """The postmaster's process id."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def url(self, dbname: str = "postgres") -> str:
        """`postgresql://atmptrack_test@/DBNAME?host=SOCKETDIR&port=PORT`: libpq, psycopg and
        SQLAlchemy (as `postgresql+psycopg://...`) all read it."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{USER}@/{dbname}?host={host}&port={self.port}"

    def create_database(self, name: str) -> str:
        """A new empty database (a copy of template0), and its URL."""
        from psycopg import sql

        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(_ident(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops it, closing the connections a test left open."""
        from psycopg import sql

        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(name)))

    def _admin(self, statement: sql.Composed) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        """Stops the server at once and removes its directory. Safe to call twice."""
        if self._stopped or os.getpid() != self._owner:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30"))
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            if self._watchdog is not None:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.close()  # it finds nothing left to do
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(timeout=30)

    def _pg_ctl(self, *args: str) -> list[str]:
        return [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=self.base,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            # As that user: setgroups, setgid and setuid in the child, as runuser does.
            user=None if self.account is None else self.account.pw_uid,
            group=None if self.account is None else self.account.pw_gid,
            extra_groups=None if self.account is None else [],
        )

    def _start(self, settings: dict[str, str]) -> None:
        initdb = [
            str(self.bindir / "initdb"),
            *("-D", str(self.data), f"--username={USER}", "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-sync"),
        ]
        done = self._run(initdb)
        if done.returncode != 0:
            raise StartError(
                f"initdb failed ({done.returncode}):\n{_tail(done.stdout + done.stderr)}"
            )
        conf = {
            **SETTINGS,
            "unix_socket_directories": _quoted(str(self.socket_dir)),
            "port": str(self.port),
            **settings,
        }
        with (self.data / "postgresql.conf").open("a") as f:  # root keeps the file's owner
            f.write("\n# atmptrack's tests (tests/pgserver.py)\n")
            f.writelines(f"{name} = {value}\n" for name, value in conf.items())
        started = self._run(self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log)))
        if started.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
            raise StartError(
                f"pg_ctl start failed ({started.returncode}): {_tail(started.stderr)}\n"
                f"server log {self.log}:\n{_tail(log)}"
            )


def start(bindir: Path | None = None, settings: dict[str, str] | None = None) -> Server:
    """Initialises and starts a server in a new temporary directory; `settings` adds to or
    overrides postgresql.conf's. Raises StartError (with the log's tail) when it cannot."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise StartError(NOT_FOUND)
    account = _account()
    base = Path(tempfile.mkdtemp(prefix="atmptrack-pg-", dir=_temp_root(account)))
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
    server = Server(bindir, base, _free_port(), account)
    atexit.register(server.stop)
    server._watchdog = _watchdog(server)
    try:
        server._start(settings or {})
    except BaseException:
        server.stop()
        raise
    return server


def _account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise StartError("running as root, and there is no postgres or nobody user to run PostgreSQL")


def _temp_root(account: pwd.struct_passwd | None) -> str:
    """The temporary directory's parent: the usual one if the server's user can get through it
    (a TMPDIR under /root cannot be), else /tmp. Short either way: a socket path has a limit."""
    root = tempfile.gettempdir()
    if account is None:
        return root
    path = Path(root).resolve()
    if all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents)):
        return root
    return "/tmp"


def _free_port() -> int:
    # The server listens on no TCP port; the number names the socket (.s.PGSQL.<port>). A free
    # one keeps it apart from a server on the default port all the same.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST and the like belong to whoever runs the tests, not to this server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# Waits until the test process closes its end of the pipe or dies (SIGKILL included), then
# stops the server and removes the directory, unless Server.stop() already did.
_WATCHDOG = """
import json, os, shutil, subprocess, sys
sys.stdin.buffer.read()
pg_ctl, data, base, account = json.loads(sys.argv[1])
if os.path.exists(os.path.join(data, "postmaster.pid")):
    extra = {} if account is None else {"user": account[0], "group": account[1], "extra_groups": []}
    subprocess.run([pg_ctl, "-D", data, "stop", "-m", "immediate", "-w"], cwd="/",
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, **extra)
shutil.rmtree(base, ignore_errors=True)
"""


def _watchdog(server: Server) -> subprocess.Popen[bytes]:
    account = None if server.account is None else [server.account.pw_uid, server.account.pw_gid]
    args = [str(server.bindir / "pg_ctl"), str(server.data), str(server.base), account]
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        start_new_session=True,  # Ctrl-C in the terminal does not stop it before it has cleaned up
    )


def _ident(name: str) -> sql.Identifier:
    from psycopg import sql

    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return sql.Identifier(name)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
