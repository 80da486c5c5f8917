"""Real servers and bot processes a test starts, kills and restarts on private ports.

A Redis server without persistence (a restart loses every key, as a Redis without AOF
does after a crash), a PostgreSQL cluster of its own (initdb in a temporary directory;
as the `postgres` user when the tests run as root, which PostgreSQL refuses), and the
console script run as `serve` or `worker` processes against them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEADLINE_S = 60.0  # a bound on every wait below, far above the seconds they take


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, seconds: float = DEADLINE_S) -> float:
    """Poll a real condition until it holds; the seconds it took. Fails naming it."""
    begun = time.monotonic()
    while not condition():
        if time.monotonic() - begun > seconds:
            raise TimeoutError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - begun


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


class RedisServer:
    """A real redis-server on a free loopback port, keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [  # noqa: S607 -- redis-server from PATH, as .ci/run uses it
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: accepts_connections(self.port), "redis-server to accept connections")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _postgres_bin() -> Path:
    """Debian keeps the server's programs out of PATH, by version."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    if found is None:
        raise RuntimeError("PostgreSQL's server programs are not installed")
    return Path(found).parent


class PostgresCluster:
    """A PostgreSQL cluster of its own: initdb, then a postmaster this object can kill."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="intake-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        # initdb and postgres refuse to run as root: then they run as `postgres`, still as
        # this process's own children (so a kill is reaped, and leaves no zombie behind).
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            self._as = {"user": "postgres", "group": "postgres", "extra_groups": []}
            shutil.chown(self.root, "postgres", "postgres")
        self._process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                str(self.bin / "initdb"),
                *("-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._as,
        )

    def start(self) -> None:
        with (self.root / "postgres.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    *("-D", str(self.data), "-p", str(self.port), "-k", str(self.root)),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
                **self._as,
            )
        wait_until(self.ready, "PostgreSQL to accept connections")

    def ready(self) -> bool:
        done = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return done.returncode == 0

    def kill(self) -> None:
        """As a crash: the postmaster and its backends, at once."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None
            # Its shared memory and pid file are left: the next start recovers from them.
            wait_until(lambda: not accepts_connections(self.port), "PostgreSQL to be gone")

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "intake-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.app.cli"]


class BotProcess:
    """One `intake-bot serve` or `worker`, leader of its own process group."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [*console_script(), *command],
                env=env,
                cwd=log_path.parent,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; its exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE_S)

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=DEADLINE_S)

    def freeze(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)
