"""An SMTP relay on a loopback port (aiosmtpd) that records what it was given.

It speaks real SMTP, so the bot's sender is tested over the wire: refusals are
set per recipient (`refuse`) or for DATA (`data_reply`), and with `credentials`
it offers AUTH (over plain TCP, as only a loopback test may).
"""

from __future__ import annotations

import asyncio
import email
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Relayed:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, relay: SmtpRelay) -> None:
        self._relay = relay

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._relay.wants_login and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self._relay.refuse.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._relay.hold is not None:  # the whole mail is here; the answer waits
            self._relay.holding.set()
            await self._relay.hold.wait()
        if self._relay.data_reply:
            return self._relay.data_reply
        login = (
            session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else None
        )
        self._relay.received.append(
            Relayed(
                envelope.mail_from or "",
                tuple(envelope.rcpt_tos),
                envelope.original_content or b"",
                login,
            )
        )
        return "250 2.0.0 OK: queued"


class SmtpRelay:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.received: list[Relayed] = []
        self.refuse: dict[str, str] = {}  # lowercase recipient -> the reply to RCPT TO
        self.data_reply = ""  # when set, the reply to every DATA (nothing is recorded)
        # When set, DATA is answered only once `hold` is set; `holding` says one waits.
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()
        self.port = 0
        self._credentials = credentials
        self._server: asyncio.Server | None = None

    @property
    def wants_login(self) -> bool:
        return self._credentials is not None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self._credentials is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self._credentials
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _protocol(self) -> SMTP:
        extra: dict[str, Any] = {}
        if self._credentials:
            # auth_required would warn about plain TCP: handle_MAIL asks for it instead
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        return SMTP(
            _Handler(self),
            hostname="relay.test",
            ident="fake-relay",
            loop=asyncio.get_running_loop(),
            **extra,
        )

    async def start(self) -> SmtpRelay:
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
