"""A real IMAP server for the poller's tests: Debian's dovecot on a loopback port.

The instance is unprivileged in all but name: its own config, run, state and
maildir directories in a temp dir, a passwd-file user with a plaintext password,
no TLS, and the internal/login processes running as the packaged `dovecot` and
`dovenull` users when the master runs as root (as on this machine), or all as the
current user when it does not (no chroot either way).
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = os.environ.get("INTAKE_TEST_DOVECOT", "/usr/sbin/dovecot")
USER = "intake"
PASSWORD = "imap-test-password"
_CONFIG = """\
instance_name = intake-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    user = {internal}
  }}
  unix_listener stats-writer {{
    user = {internal}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)  # polling a condition (the port answers), not standing in for one
    raise RuntimeError(f"dovecot did not listen on {port} in {timeout_s} s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


class Dovecot:
    """One dovecot instance; `start()` returns once its IMAP port answers."""

    def __init__(self, internal_user: str = "dovecot", login_user: str = "dovenull") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        self.port = free_port()
        if os.geteuid() == 0:
            self._internal = pwd.getpwnam(internal_user)
            self._login_user = login_user
        else:  # an unprivileged master runs everything as its own user
            self._internal = pwd.getpwuid(os.geteuid())
            self._login_user = self._internal.pw_name
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def url(self, mailbox: str = "INBOX") -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{mailbox}"

    def _write_config(self) -> None:
        self.root.chmod(0o755)  # the mail processes run as the dovecot user
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        if os.geteuid() == 0:
            os.chown(self.root / "mail", self._internal.pw_uid, self._internal.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                internal=self._internal.pw_name,
                group=grp.getgrgid(self._internal.pw_gid).gr_name,
                login=self._login_user,
                uid=self._internal.pw_uid,
                gid=self._internal.pw_gid,
            )
        )

    def start(self) -> Dovecot:
        if not Path(DOVECOT).exists():
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd")
        self._write_config()
        with (self.root / "stderr.log").open("wb") as stderr:  # the child keeps its own copy
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        _wait_for_port(self.port, self._process, self.root / "dovecot.log")
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> imaplib.IMAP4:
        """A logged-in stdlib client (blocking: call it from a thread in async tests)."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def create_mailbox(self, name: str) -> None:
        imap = self.client()
        try:
            typ, data = imap.create(name)
            if typ != "OK":
                raise RuntimeError(f"CREATE {name}: {data!r}")
        finally:
            imap.logout()

    def append(self, mailbox: str, message: bytes, flags: str = "") -> None:
        imap = self.client()
        try:
            typ, data = imap.append(mailbox, f"({flags})" if flags else None, None, message)
            if typ != "OK":
                raise RuntimeError(f"APPEND to {mailbox}: {data!r}")
        finally:
            imap.logout()

    def flags(self, mailbox: str) -> list[str]:
        """Each message's flags in the mailbox, in sequence order."""
        imap = self.client()
        try:
            imap.select(mailbox, readonly=True)
            typ, data = imap.fetch("1:*", "(FLAGS)")
            if typ != "OK":
                return []
            return [item.decode() for item in data if isinstance(item, bytes)]
        finally:
            imap.logout()
