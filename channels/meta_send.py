"""Replies through Meta: the Send API (Messenger, Instagram) and the WhatsApp Cloud API.

Meta lets a business answer freely only within 24 hours of the customer's last
message; after that the API refuses, so the sender does not call it and says
so (permanent and `window_closed`: the outbox may route the reply to another of the
customer's channels, or note it on the ticket for staff). A reply the outbox marks
`human_agent` goes out with Meta's HUMAN_AGENT tag on Messenger and Instagram up to 7
days after the customer's last message (Send API: ``"messaging_type": "MESSAGE_TAG",
"tag": "HUMAN_AGENT"``); WhatsApp has no such tag, only approved templates, which we do
not send, so its window stays 24 hours. Graph errors are
mapped from their JSON (``error.code``, ``error.error_subcode``): rate limits come
back with a delay, server trouble is retried, the rest is permanent. A request
that may have reached Meta but got no answer is not retried either: the outbox
prefers a reply a human can see was missed to a customer who gets it twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.contract.clock import Now
from bot.contract.domain import (
    HUMAN_AGENT_CHANNELS,
    HUMAN_AGENT_WINDOW,
    Channel,
    OutboundReply,
    SendResult,
)
from bot.contract.text_parts import Size, utf8_bytes
from bot.contract.text_parts import split_text as split_text  # noqa: PLC0414 -- re-exported

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
# The Send API fields of a reply inside the 24-hour window, and of one with the HUMAN_AGENT tag.
_RESPONSE = {"messaging_type": "RESPONSE"}
_HUMAN_AGENT_TAG = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
# (code, subcode) Meta uses for "outside the allowed window"; None: any subcode.
_WINDOW_ERRORS = {(10, 2018278), (10, 2534022), (131047, None)}
_RATE_LIMITS = {4, 17, 32, 613, 80006, 80007, 130429, 131048, 131056}
_TRANSIENT = {1, 2}  # "unknown error", "service temporarily unavailable"
DEFAULT_RATE_DELAY_S = 60.0


class Unreached(Exception):
    """The Graph API could not be reached: nothing was sent, so a retry is safe."""


class GraphClient:
    """One HTTP session for every Meta sender, opened on first use (inside the running loop)."""

    def __init__(self, base_url: str, access_token: str, timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._token = access_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any, Mapping[str, str]]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        # The token goes in a header, never in the URL, so it stays out of access logs.
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._session.post(
                f"{self._base}/{path}", json=body, headers=headers
            ) as response:
                raw = await response.read()
                return response.status, _json(raw), response.headers
        except aiohttp.ClientConnectorError as exc:
            raise Unreached(str(exc)) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {}


def window_refusal(last_inbound_at: datetime | None, now: datetime) -> SendResult | None:
    """The refusal to send when the customer's 24-hour window is closed, else None."""
    if last_inbound_at is not None and now - last_inbound_at <= WINDOW:
        return None
    return SendResult(
        ok=False,
        permanent=True,
        window_closed=True,
        error=f"outside the 24-hour messaging window ({_since(last_inbound_at, now)}); not sent",
    )


def human_agent_allowed(channel: Channel, last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether Meta takes a HUMAN_AGENT-tagged reply on this channel now (7 days, not WhatsApp)."""
    return (
        channel in HUMAN_AGENT_CHANNELS
        and last_inbound_at is not None
        and now - last_inbound_at <= HUMAN_AGENT_WINDOW
    )


def human_agent_refusal(
    channel: Channel, last_inbound_at: datetime | None, now: datetime
) -> SendResult | None:
    """The refusal of a HUMAN_AGENT reply past its 7 days (or on WhatsApp), else None."""
    if human_agent_allowed(channel, last_inbound_at, now):
        return None
    return SendResult(
        ok=False,
        permanent=True,
        window_closed=True,
        error=(
            "outside the 24-hour messaging window, and the 7-day human-agent window is closed "
            f"too ({_since(last_inbound_at, now)}); not sent"
        ),
    )


def _since(last_inbound_at: datetime | None, now: datetime) -> str:
    if last_inbound_at is None:
        return "no message from this customer on record"
    hours = (now - last_inbound_at).total_seconds() / 3600
    return f"the customer last wrote {hours:.0f} hours ago"


def graph_result(
    status: int, data: Any, headers: Mapping[str, str], provider_id: str | None
) -> SendResult:
    """A SendResult from one Graph answer, judged by the error JSON Meta documents."""
    if 200 <= status < 300:
        return SendResult(ok=True, provider_id=provider_id)
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code, sub = _int(error.get("code")), _int(error.get("error_subcode"))
    said = f"Graph API HTTP {status}, error {code}/{sub}: {error.get('message') or 'no message'}"
    if (code, sub) in _WINDOW_ERRORS or (code, None) in _WINDOW_ERRORS:
        return SendResult(
            ok=False,
            permanent=True,
            window_closed=True,
            error=f"outside the 24-hour messaging window ({said}); not sent",
        )
    if status == 429 or code in _RATE_LIMITS:
        return SendResult(
            ok=False, error=f"rate limited ({said})", retry_after=_rate_delay(headers)
        )
    if status >= 500 or code in _TRANSIENT or error.get("is_transient") is True:
        return SendResult(ok=False, error=said)
    return SendResult(ok=False, permanent=True, error=said)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rate_delay(headers: Mapping[str, str]) -> float:
    """Retry-After, else Meta's estimated_time_to_regain_access (minutes), else a minute."""
    try:
        return max(1.0, float(headers.get("Retry-After", "")))
    except ValueError:
        pass
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage", "{}"))
        minutes = max(
            (
                float(u.get("estimated_time_to_regain_access", 0))
                for uses in usage.values()
                for u in uses
            ),
            default=0.0,
        )
    except (ValueError, TypeError, AttributeError):
        minutes = 0.0
    return minutes * 60 if minutes > 0 else DEFAULT_RATE_DELAY_S


class _GraphSender:
    channel: Channel
    _path: str

    def __init__(self, client: GraphClient, now: Now) -> None:
        self._client = client
        self._now = now

    def _bodies(self, reply: OutboundReply, *, tagged: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    @staticmethod
    def _provider_id(data: Any) -> str | None:
        raise NotImplementedError

    async def send(self, reply: OutboundReply) -> SendResult:
        now = self._now()
        refusal = window_refusal(reply.last_inbound_at, now)
        # Inside 24 hours every reply is a plain RESPONSE; the tag is for after, where allowed.
        tagged = refusal is not None and reply.human_agent and self.channel in HUMAN_AGENT_CHANNELS
        if tagged:
            refusal = human_agent_refusal(self.channel, reply.last_inbound_at, now)
        if refusal is not None:
            return refusal
        bodies = self._bodies(reply, tagged=tagged)
        if not bodies:
            return SendResult(ok=False, permanent=True, error="empty reply: nothing to send")
        ids: list[str] = []
        for n, body in enumerate(bodies):
            result = await self._post(body)
            if not result.ok:
                return (
                    result
                    if n == 0
                    else SendResult(
                        ok=False,
                        permanent=True,
                        error=(
                            f"part {n + 1} of {len(bodies)} not sent ({result.error}); "
                            "parts before it were, so it is not retried (they would be "
                            "repeated)"
                        ),
                    )
                )
            ids.append(result.provider_id or "")
        return SendResult(ok=True, provider_id=ids[0] or None)

    async def _post(self, body: dict[str, Any]) -> SendResult:
        try:
            status, data, headers = await self._client.post(self._path, body)
        except Unreached as exc:
            return SendResult(ok=False, error=f"cannot reach the Graph API: {exc}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(
                ok=False,
                permanent=True,
                error=(
                    f"no answer from the Graph API ({type(exc).__name__}: {exc}); the reply may "
                    "have arrived, so it is not retried"
                ),
            )
        return graph_result(status, data, headers, self._provider_id(data))


class MessengerSender(_GraphSender):
    """Facebook Messenger and Instagram: the Send API with the Page access token."""

    _path = "me/messages"

    def __init__(self, channel: Channel, client: GraphClient, now: Now) -> None:
        super().__init__(client, now)
        self.channel = channel
        # Messenger takes 2,000 characters of text; Instagram 1,000 bytes of UTF-8.
        self._split: tuple[int, Size] = (
            (1000, utf8_bytes) if channel is Channel.INSTAGRAM else (2000, len)
        )

    def _bodies(self, reply: OutboundReply, *, tagged: bool) -> list[dict[str, Any]]:
        kind = _HUMAN_AGENT_TAG if tagged else _RESPONSE
        return [
            {"recipient": {"id": reply.to}, **kind, "message": {"text": part}}
            for part in split_text(reply.text, *self._split)
        ]

    @staticmethod
    def _provider_id(data: Any) -> str | None:
        mid = data.get("message_id") if isinstance(data, dict) else None
        return mid if isinstance(mid, str) else None


class WhatsAppSender(_GraphSender):
    """WhatsApp Cloud API text messages from the business phone number."""

    channel = Channel.WHATSAPP

    def __init__(self, client: GraphClient, phone_number_id: str, now: Now) -> None:
        super().__init__(client, now)
        self._path = f"{phone_number_id}/messages"

    def _bodies(self, reply: OutboundReply, *, tagged: bool) -> list[dict[str, Any]]:
        # Never tagged: WhatsApp is not a HUMAN_AGENT channel (it has templates instead).
        return [
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": reply.to,
                "type": "text",
                "text": {"preview_url": False, "body": part},
            }
            for part in split_text(reply.text, 4096)
        ]

    @staticmethod
    def _provider_id(data: Any) -> str | None:
        messages = data.get("messages") if isinstance(data, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        return wamid if isinstance(wamid, str) else None
