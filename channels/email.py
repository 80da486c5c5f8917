"""Email: mail in by the bot's own SMTP server (and IMAP polling), replies out by an SMTP relay.

The inbound server is aiosmtpd's protocol served on the app's own event loop
(not its threaded Controller), so the DATA handler awaits the sink itself and
answers 250 only once the mail is durable; a store that fails gets 451 and the
sending MTA retries. Each mail is parsed in a worker process (mail_parse.MailReader),
so a hostile one never holds up the loop the web app answers on. Only recipients in
INTAKE_MAIL_DOMAINS are accepted: the bot is never an open relay.

Replies carry the ticket reference twice, in the subject (`[C-2026-000123] ...`)
and in the Message-ID (`<C-2026-000123.o17.ab12@domain>`), so a customer's reply
names its ticket through either; they are marked `Auto-Submitted: auto-replied`
so well-behaved auto-responders stay silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.contract.clock import Now, utc_now
from bot.contract.domain import Channel, OutboundReply, SendResult
from bot.contract.errors import InvalidMessage
from bot.contract.ports import EveryProcess, Exclusive, Loop, MessageSink, Plug
from channels.imap_poll import ImapPoller, ImapTarget
from channels.mail_auth import trusted_ids
from channels.mail_parse import Delivery, MailReader, msg_ids

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 100
MAX_REFERENCES = 20  # in an outbound References header: the root and the latest
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def host_port(value: str, default_port: int) -> tuple[str, int]:
    """ "host:port", "[v6]:port" or a bare host; ValueError names the bad value."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or "]" in port:
        host, port = value.strip(), str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port")
    return host, int(port)


@dataclass(frozen=True)
class EmailConfig:
    """Each field comes from the INTAKE_ setting of the same name (see the report)."""

    smtp_listen: str = "127.0.0.1:2525"  # INTAKE_SMTP_LISTEN; empty: no inbound server
    smtp_relay: str = ""  # INTAKE_SMTP_RELAY host:port (465: TLS; else STARTTLS if offered)
    smtp_username: str = ""  # INTAKE_SMTP_USERNAME
    smtp_password: str = field(default="", repr=False)  # INTAKE_SMTP_PASSWORD
    mail_from: str = ""  # INTAKE_MAIL_FROM: "Support <support@example.com>" or a bare address
    mail_domains: str = ""  # INTAKE_MAIL_DOMAINS, comma-separated
    max_mail_bytes: int = 10 * 1024 * 1024  # INTAKE_MAX_MAIL_BYTES
    imap_url: str = field(default="", repr=False)  # INTAKE_IMAP_URL (carries a password)
    imap_interval_s: float = 30.0  # INTAKE_IMAP_INTERVAL_S
    mail_trusted_authserv_ids: str = ""  # INTAKE_MAIL_TRUSTED_AUTHSERV_IDS, comma-separated
    now: Now = utc_now  # the runtime's clock
    timeout_s: float = 30.0

    @property
    def trusted_authserv(self) -> frozenset[str]:
        return trusted_ids(self.mail_trusted_authserv_ids)

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(
            d.strip().lower().rstrip(".") for d in self.mail_domains.split(",") if d.strip()
        )

    @property
    def from_address(self) -> str:
        return _split_from(self.mail_from)[1]

    @property
    def from_name(self) -> str:
        return _split_from(self.mail_from)[0]


_NAMED = re.compile(r"(.*)<([^<>\s]+@[^<>\s]+)>\s*")


def _split_from(value: str) -> tuple[str, str]:
    """("Name", "address") of "Name <address>" or a bare address; whatever the name holds
    (a colon, a CR/LF) stays in the name, which the header then quotes."""
    value = _CONTROL.sub(" ", value).strip()
    named = _NAMED.fullmatch(value)
    if named:
        return named.group(1).strip().strip('"').strip(), named.group(2).lower()
    return "", value.lower() if "@" in value and " " not in value else ""


# --- inbound SMTP ---------------------------------------------------------------------


class _Smtp(SMTP):
    """aiosmtpd's protocol, remembering its open connections so a shutdown can close them."""

    line_length_limit = 64 * 1024  # RFC 5321 says 1000; real mailers send longer HTML lines

    def __init__(self, handler: InboundHandler, connections: set[_Smtp], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(error)


class InboundHandler:
    """aiosmtpd's handler hooks: which recipients, and what to do with a mail's bytes."""

    def __init__(self, sink: MessageSink, config: EmailConfig) -> None:
        self._sink = sink
        self._config = config
        self._domains = config.domains
        self._own = frozenset({config.from_address} - {""})
        self._reader = MailReader()  # its process parses one mail at a time; others queue

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self._domains:
            return f"550 5.7.1 <{address}>: not a domain this service receives mail for"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        delivery = Delivery(
            via="smtp",
            mail_from=envelope.mail_from or "",
            rcpt_to=tuple(envelope.rcpt_tos),
            helo=session.host_name or "",
            peer=str(peer),
        )
        try:  # off the loop and its GIL, so the web app answers meanwhile
            message = await self._reader.parse(
                content,
                now=self._config.now(),
                delivery=delivery,
                own_addresses=self._own,
                trusted_authserv=self._config.trusted_authserv,
            )
        except Exception:  # parse_mail is built not to raise; if it does, the sender hears
            log.exception("unreadable mail refused", extra={"peer": peer})
            return "554 5.6.0 the message could not be read"
        try:
            accepted = await self._sink.accept(message)
        except InvalidMessage as exc:  # retrying would not help: the sender gets a bounce
            log.warning(
                "mail refused by the store",
                extra={"external_id": message.external_id, "error": str(exc)},
            )
            return f"554 5.6.0 the message was refused: {_one_line(str(exc))[:200]}"
        except Exception:  # StoreUnavailable, or anything else: never claim durability
            log.exception(
                "mail not stored: asking the sender to retry",
                extra={"external_id": message.external_id},
            )
            return "451 4.3.0 the message could not be stored now; try again later"
        if accepted.duplicate:
            return "250 2.0.0 OK: already received"
        return f"250 2.0.0 OK: queued as {accepted.message_id}"

    async def close(self) -> None:
        await self._reader.close()


class SmtpInbound:
    """The listening SMTP server, as a plug loop: serves until `stop`, then closes all."""

    def __init__(self, sink: MessageSink, config: EmailConfig) -> None:
        self.host, self.port = host_port(config.smtp_listen, 25)
        self.state = "not started"  # (/readyz)
        self._handler = InboundHandler(sink, config)
        self._config = config
        self._hostname = config.from_address.rpartition("@")[2] or min(
            config.domains, default="localhost"
        )

    def _protocol(self, connections: set[_Smtp]) -> _Smtp:
        return _Smtp(
            self._handler,
            connections,
            data_size_limit=self._config.max_mail_bytes,
            enable_SMTPUTF8=True,
            hostname=self._hostname,
            ident="intake-bot",
            timeout=300,
            loop=asyncio.get_running_loop(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        connections: set[_Smtp] = set()
        try:
            server = await loop.create_server(
                lambda: self._protocol(connections), self.host, self.port
            )
        except OSError as exc:
            self.state = f"not listening ({exc})"
            log.error(
                "inbound SMTP server not started",
                extra={"listen": f"{self.host}:{self.port}", "error": str(exc)},
            )
            return
        log.info("inbound SMTP listening", extra={"listen": f"{self.host}:{self.port}"})
        self.state = "listening"
        try:
            await stop.wait()
        finally:
            self.state = "stopped"
            server.close()
            for connection in list(connections):
                if connection.transport is not None:
                    connection.transport.close()
            await server.wait_closed()
            await self._handler.close()


# --- outbound SMTP --------------------------------------------------------------------


def _one_line(value: str) -> str:
    """CR/LF in a subject must not start a header of its own: they become spaces."""
    return _CONTROL.sub(" ", value).strip()


def _subject(reply: OutboundReply) -> str:
    subject = _one_line(reply.subject)
    ref = _one_line(reply.ticket_ref)
    if ref and f"[{ref}]" not in subject:
        subject = f"[{ref}] {subject}".strip()
    return subject[:900]


def _threading(reply: OutboundReply) -> tuple[str | None, list[str]]:
    """In-Reply-To and References, from msg-ids only (a hashed external id is not one)."""
    parent = next(iter(msg_ids(reply.in_reply_to or "")), None)
    refs = [ref for value in reply.references for ref in msg_ids(value)[:1] if ref != parent]
    refs = list(dict.fromkeys(refs))
    if len(refs) > MAX_REFERENCES - 1:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 2) :]]
    return parent, [*refs, parent] if parent else refs


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpSender:
    """Replies out through the relay; 4xx and network trouble retry, 5xx gives up."""

    channel = Channel.EMAIL

    def __init__(self, config: EmailConfig) -> None:
        self.host, self.port = host_port(config.smtp_relay, 25)
        self._config = config
        self._domain = config.from_address.rpartition("@")[2] or "localhost"

    def message_id(self, reply: OutboundReply) -> str:
        ref = re.sub(r"[^A-Za-z0-9-]", "", reply.ticket_ref)
        left = f"{ref}.o{reply.outbox_id}" if ref else f"o{reply.outbox_id}"
        return f"<{left}.{secrets.token_hex(6)}@{self._domain}>"

    def build(self, reply: OutboundReply) -> EmailMessage:
        """The reply as a mail; ValueError when the recipient is not one address."""
        if _CONTROL.search(reply.to) or "," in reply.to:
            raise ValueError(f"recipient {reply.to!r} is not a single address")
        msg = EmailMessage()
        msg["From"] = Address(
            display_name=self._config.from_name, addr_spec=self._config.from_address
        )
        msg["To"] = Address(addr_spec=reply.to)
        msg["Subject"] = _subject(reply)
        msg["Date"] = format_datetime(self._config.now().astimezone(UTC))
        msg["Message-ID"] = self.message_id(reply)
        parent, references = _threading(reply)
        if parent:
            msg["In-Reply-To"] = parent
            msg["References"] = " ".join(references)
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office back to us
        msg.set_content(reply.text, subtype="plain", charset="utf-8")
        if _LANGUAGE_TAG.match(reply.language):  # after set_content, which drops Content-*
            msg["Content-Language"] = reply.language
        return msg

    async def send(self, reply: OutboundReply) -> SendResult:
        try:
            msg = self.build(reply)
        except (ValueError, TypeError, IndexError) as exc:
            return SendResult(ok=False, permanent=True, error=f"mail not built: {exc}")
        problem = await self._deliver(msg, reply.to)
        if problem is not None:
            return problem
        return SendResult(ok=True, provider_id=str(msg["Message-ID"]))

    async def _deliver(self, msg: EmailMessage, to: str) -> SendResult | None:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self._config.timeout_s,
            use_tls=self.port == 465,
            start_tls=None if self.port != 465 else False,
        )
        try:
            await client.connect()
            if self._config.smtp_username:
                await client.login(self._config.smtp_username, self._config.smtp_password)
            await client.send_message(msg, sender=self._config.from_address, recipients=[to])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code = min((r.code for r in exc.recipients), default=450)
            return _refused(code, "; ".join(f"{r.code} {r.message}" for r in exc.recipients))
        except aiosmtplib.SMTPAuthenticationError as exc:  # the relay's settings, not the reply
            return SendResult(ok=False, error=f"relay login refused: {exc.code} {exc.message}")
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc.code, f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(ok=False, error=f"relay unreachable: {type(exc).__name__}: {exc}")
        finally:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()  # the mail is accepted: a failed QUIT changes nothing
        return None


def _refused(code: int, detail: str) -> SendResult:
    return SendResult(ok=False, permanent=_permanent(code), error=f"relay refused: {detail}")


# --- the plug -------------------------------------------------------------------------


def plug(config: EmailConfig, sink: MessageSink, exclusive: Exclusive | None = None) -> Plug:
    """The email family: inbound SMTP and IMAP loops, the SMTP sender; each as configured.

    `exclusive` keeps the IMAP poller to one process of the deployment at a time.
    """
    try:
        return _plug(config, sink, exclusive or EveryProcess())
    except ValueError as exc:
        return Plug("email", status=f"not configured: {exc}")


def _plug(config: EmailConfig, sink: MessageSink, exclusive: Exclusive) -> Plug:
    loops: list[Loop] = []
    states: dict[str, Callable[[], str]] = {}
    have, missing = [], []
    if config.smtp_listen and config.domains:
        inbound = SmtpInbound(sink, config)
        loops.append(inbound.run)
        states["smtp"] = lambda: inbound.state
        have.append(f"inbound SMTP on {inbound.host}:{inbound.port}")
    elif config.smtp_listen:
        missing.append("INTAKE_MAIL_DOMAINS (inbound SMTP)")
    if config.imap_url:
        poller = ImapPoller(
            ImapTarget.from_url(config.imap_url),
            sink,
            interval_s=config.imap_interval_s,
            max_bytes=config.max_mail_bytes,
            now=config.now,
            own_addresses=frozenset({config.from_address} - {""}),
            trusted_authserv=config.trusted_authserv,
            timeout_s=config.timeout_s,
        )
        imap = poller.run

        async def poll_in_one_process(stop: asyncio.Event) -> None:
            await exclusive.run_exclusively("imap", stop, imap)

        loops.append(poll_in_one_process)
        states["imap"] = lambda: poller.state
        have.append(f"IMAP polling of {poller.target.host}")
    senders: dict[Channel, SmtpSender] = {}
    if config.smtp_relay and config.from_address:
        senders[Channel.EMAIL] = SmtpSender(config)
        have.append(f"outbound via {config.smtp_relay}")
    else:
        missing.append("INTAKE_SMTP_RELAY and INTAKE_MAIL_FROM (outbound)")
    if not have:
        return Plug("email", status="not configured: set " + ", ".join(missing))
    if config.trusted_authserv and loops:
        have.append("senders proven by " + ", ".join(sorted(config.trusted_authserv)))
    status = "configured: " + ", ".join(have)
    if missing:
        status += "; not configured: " + ", ".join(missing)
    return Plug("email", status=status, senders=senders, loops=loops, states=states)
