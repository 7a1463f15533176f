"""A throw-away PostgreSQL cluster for the tests: Debian's server binaries, a temp dir, loopback.

``LocalPostgres().start()`` runs ``initdb`` into a new temporary folder and starts the
server on a free port of 127.0.0.1 (and a unix socket in that folder), with durability
turned off since nothing in it outlives the run; ``stop()`` stops it and deletes the
folder. As root it runs the server as the ``postgres`` user (the server refuses root).

A cluster left behind by a run that was killed is found by its folder (``kefu-pg-*`` in
the temp dir) and the test run that owned it no longer being alive: it is stopped and
deleted on the next start. Clusters of runs still going are left alone, so two test runs
on one machine each get their own.

Run as a script to try it: ``python -m tests.postgres`` prints a URL and waits for Enter.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PREFIX: Final = "kefu-pg-"
#: Set it to the folder of ``initdb``/``pg_ctl`` to use another installation.
BINDIR_VARIABLE: Final = "KEFU_PG_BINDIR"
SERVER_USER: Final = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or the server would not start (the message says which)."""


def find_bindir() -> Path | None:
    """The folder of ``initdb``: $KEFU_PG_BINDIR, Debian's newest /usr/lib/postgresql/N/bin, or PATH."""
    if os.environ.get(BINDIR_VARIABLE):
        return Path(os.environ[BINDIR_VARIABLE])
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalPostgres:
    """One cluster in one temp folder, superuser ``postgres`` with trust auth on loopback."""

    bindir: Path | None = None
    root: Path | None = None
    port: int = 0
    _as_user: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        """The URL of the ``postgres`` database (for creating others)."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self, *, attempts: int = 5) -> LocalPostgres:
        self.bindir = self.bindir or find_bindir()
        if self.bindir is None or not (self.bindir / "initdb").is_file():
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (initdb): install Debian's `postgresql` package "
                f"(`make test` does, as root) or set {BINDIR_VARIABLE}"
            )
        sweep_stale()
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root and there is no {SERVER_USER!r} user to run the server as"
                ) from exc
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / "owner.pid").write_text(str(os.getpid()))
        data = self.root / "data"
        if self._as_user:
            shutil.chown(self.root, SERVER_USER)
        initdb = [str(self.bindir / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust"]
        self._run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"])
        for attempt in range(attempts):
            # A free port can be taken between choosing it and binding it: try another.
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            # -l: the server's output goes to a file, not to the pipe this process reads.
            pg_ctl = [str(self.bindir / "pg_ctl"), "start", "-D", str(data), "-w", "-t", "60"]
            try:
                self._run([*pg_ctl, "-l", str(self.root / "server.log"), "-o", options])
                return self
            except PostgresUnavailable:
                if attempt == attempts - 1:
                    log = (self.root / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise PostgresUnavailable(f"PostgreSQL would not start; its log ends:\n{log}") from None
        raise AssertionError("unreachable")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"kefu_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SERVER_USER, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (if running) and delete its folder. Safe to call twice."""
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists() and self.bindir is not None:
            with contextlib.suppress(PostgresUnavailable):
                self._run([str(self.bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"])
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(
            self._as_user + command, capture_output=True, text=True, cwd=self.root, check=False, timeout=120
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()}")


@dataclass
class ExternalPostgres:
    """A server someone else runs (``KEFU_TEST_POSTGRES_URL``): tests make databases in it."""

    admin_url: str

    def create_database(self, name: str | None = None) -> str:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        name = name or f"kefu_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        return


def _is_server_of(pid: int, root: Path) -> bool:
    # A pid from a stale file may belong to another process by now: check it is our server.
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "postgres" in command and str(root) in command


def sweep_stale(tmp: Path | None = None) -> list[Path]:
    """Stop and delete clusters whose test run is gone (killed before it could clean up)."""
    removed = []
    for root in Path(tmp or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        pidfile = root / "data" / "postmaster.pid"
        try:
            postmaster = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = 0
        if postmaster and _alive(postmaster) and _is_server_of(postmaster, root):
            # Our own server, orphaned: stop it the way pg_ctl's immediate mode does.
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, 3)  # SIGQUIT
            for _ in range(50):
                if not _alive(postmaster):
                    break
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


if __name__ == "__main__":
    cluster = LocalPostgres().start()
    try:
        print(cluster.admin_url, flush=True)
        input("PostgreSQL is running; press Enter to stop it. ")
    finally:
        cluster.stop()
