"""Mail in by IMAP: for sites whose mail lives on a server the bot does not run.

Each pass logs in, takes the unseen mails in UID order and marks one \\Seen only
after the sink has made it durable, so a crash in between loses nothing: the
mail is fetched again and its Message-ID makes it a duplicate. The stdlib
client is blocking, so every IMAP round trip runs in a worker thread; the mails
of a pass are parsed in a worker process (mail_parse.MailReader).

A mail over the size limit is not skipped: only its first `max_bytes` are
fetched (a partial BODY.PEEK), and it is stored with the text it has and a note
saying it was cut, so staff see that it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bot.contract.clock import Now
from bot.contract.domain import InboundMessage
from bot.contract.errors import InvalidMessage
from bot.contract.ports import MessageSink
from channels.mail_parse import Delivery, MailReader

log = logging.getLogger(__name__)
BATCH = 50  # mails per pass; the next pass starts at once when there were more
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")


@dataclass(frozen=True)
class ImapTarget:
    """Where the mail is: parsed from imap(s)://user:password@host:port/MAILBOX."""

    tls: bool
    host: str
    port: int
    user: str
    password: str
    mailbox: str

    @classmethod
    def from_url(cls, url: str) -> ImapTarget:
        parts = urlsplit(url)
        if parts.scheme not in {"imap", "imaps"}:
            raise ValueError("INTAKE_IMAP_URL must start with imap:// or imaps://")
        if not parts.hostname or parts.username is None or parts.password is None:
            raise ValueError("INTAKE_IMAP_URL needs user:password@host")
        tls = parts.scheme == "imaps"
        return cls(
            tls=tls,
            host=parts.hostname,
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username),
            password=unquote(parts.password),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def __repr__(self) -> str:  # never the password in a log line
        return f"ImapTarget({self.user}@{self.host}:{self.port}/{self.mailbox})"


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(result: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what}: {data!r}")
    return data


class _Session:
    """One logged-in connection; every method blocks (called through asyncio.to_thread)."""

    def __init__(self, target: ImapTarget, timeout_s: float) -> None:
        if target.tls:
            self._imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                target.host,
                target.port,
                ssl_context=ssl.create_default_context(),
                timeout=timeout_s,
            )
        else:
            self._imap = imaplib.IMAP4(target.host, target.port, timeout=timeout_s)
            if "STARTTLS" in self._imap.capabilities:
                self._imap.starttls(ssl.create_default_context())
        try:
            self._imap.login(target.user, target.password)
            _check(self._imap.select(_quoted(target.mailbox)), f"SELECT {target.mailbox}")
        except BaseException:
            self.close()
            raise

    def unseen(self) -> list[bytes]:
        data = _check(self._imap.uid("SEARCH", "UNSEEN"), "UID SEARCH UNSEEN")
        first = data[0] if data else b""
        return first.split() if isinstance(first, bytes) else []

    def fetch(self, uid: bytes, max_bytes: int) -> tuple[bytes, int] | None:
        """The mail's first `max_bytes` bytes and its full size; None if it has gone."""
        data = _check(
            self._imap.uid("FETCH", uid.decode(), f"(RFC822.SIZE BODY.PEEK[]<0.{max_bytes}>)"),
            "UID FETCH",
        )
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and _UID.search(item[0]):
                size = _SIZE.search(item[0])
                return item[1], int(size.group(1)) if size else len(item[1])
        return None

    def mark_seen(self, uid: bytes) -> None:
        _check(self._imap.uid("STORE", uid.decode(), "+FLAGS", "(\\Seen)"), "UID STORE")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._imap.logout()


class ImapPoller:
    def __init__(
        self,
        target: ImapTarget,
        sink: MessageSink,
        *,
        interval_s: float,
        max_bytes: int,
        now: Now,
        own_addresses: frozenset[str] = frozenset(),
        trusted_authserv: frozenset[str] = frozenset(),
        timeout_s: float = 30.0,
    ) -> None:
        self.target = target
        self._sink = sink
        self._interval_s = interval_s
        self._max_bytes = max_bytes
        self._now = now
        self._own = own_addresses
        self._trusted = trusted_authserv
        self._timeout_s = timeout_s
        # How its loop goes (/readyz); it runs in one process of the deployment at a time.
        self.state = "not running in this process"

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop`; a failed pass (server down, wrong password) is logged and retried."""
        while not stop.is_set():
            more = False
            try:
                more = await self.poll_once() >= BATCH
                self.state = "polling"
            except Exception as exc:
                self.state = f"failing ({type(exc).__name__}), retrying"
                log.warning(
                    "IMAP pass failed",
                    extra={"target": repr(self.target), "error": f"{type(exc).__name__}: {exc}"},
                )
            if more:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)
        self.state = "stopped"

    async def poll_once(self) -> int:
        """Fetch, store and mark the unseen mails (up to BATCH); returns how many were taken."""
        session = await asyncio.to_thread(_Session, self.target, self._timeout_s)
        reader = MailReader()  # a parsing process for this pass, if it has mail
        try:
            uids = await asyncio.to_thread(session.unseen)
            for uid in uids[:BATCH]:
                await self._take(session, uid, reader)
            return min(len(uids), BATCH)
        finally:
            await asyncio.to_thread(session.close)
            await reader.close()

    async def _take(self, session: _Session, uid: bytes, reader: MailReader) -> None:
        """Store one mail, then mark it seen; a store failure leaves it unseen for the next pass."""
        fetched = await asyncio.to_thread(session.fetch, uid, self._max_bytes)
        if fetched is not None:
            message = await self._message(reader, *fetched)
            try:
                await self._sink.accept(message)
            except InvalidMessage as exc:  # never storable: left (seen) in the mailbox for staff
                log.error(
                    "IMAP mail refused by the store; left in the mailbox",
                    extra={"external_id": message.external_id, "error": str(exc)},
                )
        await asyncio.to_thread(session.mark_seen, uid)  # only once it is durable

    async def _message(self, reader: MailReader, data: bytes, size: int) -> InboundMessage:
        over = size if size > len(data) else None
        if over is not None:
            log.warning(
                "IMAP mail over the size limit: storing its beginning",
                extra={"size": size, "limit": self._max_bytes},
            )
        return await reader.parse(
            data,
            now=self._now(),
            own_addresses=self._own,
            trusted_authserv=self._trusted,
            delivery=Delivery(via="imap", truncated_from=over),
        )
