"""Meta's one webhook: Facebook Messenger, Instagram DMs and the WhatsApp Cloud API.

Meta signs every POST with ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body
with the app secret), so the body is read raw and checked, in constant time,
before anything is parsed or stored; a forged or missing signature stores nothing.

A signed payload is Meta's, so what it says is ingested message by message and
the 200 goes back only once every message in it is durable (a store failure
answers 503: Meta redelivers, and message ids make the redelivery a duplicate).
A signed payload of the wrong shape is answered 200 with nothing stored and a
log line, not an error: Meta redelivers a failed batch for hours and then
disables the app's webhook, so refusing one unreadable batch (which a retry
cannot fix) would end up losing every good message after it. Only a body that
is not JSON at all, or nests deeper than bot.contract.safe_json's cap (no Meta payload comes
near it; the cap is checked before json parses, so a bracket bomb costs no stack),
gets 400.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError

from bot.contract import safe_json
from bot.contract.clock import Now, utc_now
from bot.contract.domain import MAX_TEXT_CHARS, Attachment, Channel, InboundMessage
from bot.contract.ports import MessageSink, Plug, ReplySender
from channels.meta_send import GraphClient, MessengerSender, WhatsAppSender

log = logging.getLogger(__name__)

NAME = "meta"
PATH = "/webhooks/meta"
SIGNATURE_HEADER = "X-Hub-Signature-256"


@dataclass(frozen=True)
class MetaConfig:
    app_secret: str = ""  # INTAKE_META_APP_SECRET
    verify_token: str = ""  # INTAKE_META_VERIFY_TOKEN
    access_token: str = ""  # INTAKE_META_ACCESS_TOKEN
    whatsapp_phone_number_id: str = ""  # INTAKE_WHATSAPP_PHONE_NUMBER_ID
    graph_api_url: str = "https://graph.facebook.com/v21.0"  # INTAKE_GRAPH_API_URL
    max_body_bytes: int = 256 * 1024  # INTAKE_MAX_BODY_BYTES
    send_timeout_s: float = 15.0
    # The bot's clock (tests: virtual): the 24-hour window and undated events use it.
    now: Now = field(default=utc_now)


def plug(config: MetaConfig, sink: MessageSink) -> Plug:
    """The webhook, and senders for the channels the settings allow replying on."""
    now = config.now
    if not config.app_secret:
        return Plug(
            NAME,
            status="not configured: set INTAKE_META_APP_SECRET",
            routes=[web.route("*", PATH, _unconfigured)],
        )
    hook = Webhook(config, sink, now)
    routes = [web.get(PATH, hook.verify_subscription), web.post(PATH, hook.receive)]
    if not config.access_token:
        return Plug(
            NAME, status="receiving only: set INTAKE_META_ACCESS_TOKEN to reply", routes=routes
        )
    client = GraphClient(config.graph_api_url, config.access_token, config.send_timeout_s)
    senders: dict[Channel, ReplySender] = {
        channel: MessengerSender(channel, client, now)
        for channel in (Channel.FACEBOOK, Channel.INSTAGRAM)
    }
    if config.whatsapp_phone_number_id:
        senders[Channel.WHATSAPP] = WhatsAppSender(client, config.whatsapp_phone_number_id, now)

    async def close_client(stop: asyncio.Event) -> None:
        await stop.wait()
        await client.close()

    missing = [] if config.verify_token else ["INTAKE_META_VERIFY_TOKEN (subscription check)"]
    if not config.whatsapp_phone_number_id:
        missing.append("INTAKE_WHATSAPP_PHONE_NUMBER_ID (WhatsApp replies)")
    status = "configured" + (f"; not set: {', '.join(missing)}" if missing else "")
    return Plug(NAME, status=status, routes=routes, senders=senders, loops=(close_client,))


async def _unconfigured(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "error": "the Meta webhook is not configured: set "
            "INTAKE_META_APP_SECRET (and INTAKE_META_VERIFY_TOKEN)"
        },
        status=503,
    )


def signature_of(secret: str, body: bytes) -> str:
    """The header value Meta sends for `body` (tests and benchmarks sign with it too)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_problem(secret: str, body: bytes, header: str | None) -> tuple[int, str] | None:
    if not header:
        return 401, f"missing {SIGNATURE_HEADER}"
    expected = signature_of(secret, body)
    given = header.strip().lower().encode("utf-8", "surrogateescape")  # bytes not UTF-8 too
    if not hmac.compare_digest(given, expected.encode()):
        return 403, f"{SIGNATURE_HEADER} does not match the body"
    return None


class Webhook:
    def __init__(self, config: MetaConfig, sink: MessageSink, now: Now) -> None:
        self._config = config
        self._sink = sink
        self._now = now

    async def verify_subscription(self, request: web.Request) -> web.Response:
        """Meta's GET handshake: echo hub.challenge when hub.verify_token is ours."""
        query = request.query
        if query.get("hub.mode") != "subscribe":
            return web.json_response({"error": "expected hub.mode=subscribe"}, status=400)
        token = self._config.verify_token
        if not token:
            return web.json_response(
                {
                    "error": "set INTAKE_META_VERIFY_TOKEN to the token "
                    "entered in Meta's webhook settings"
                },
                status=403,
            )
        given = query.get("hub.verify_token", "")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
            return web.json_response({"error": "wrong hub.verify_token"}, status=403)
        return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        body = await _read_body(request, self._config.max_body_bytes)
        if isinstance(body, web.Response):
            return body
        refusal = signature_problem(
            self._config.app_secret, body, request.headers.get(SIGNATURE_HEADER)
        )
        if refusal is not None:
            log.warning("meta webhook refused", extra={"reason": refusal[1]})
            return web.json_response({"error": refusal[1]}, status=refusal[0])
        batch = self._batch(body)
        if isinstance(batch, web.Response):
            return batch
        for problem in batch.problems:
            log.warning(
                "meta webhook: skipped part of a signed payload", extra={"problem": problem}
            )
        return await self._ingest(batch)

    def _batch(self, body: bytes) -> Batch | web.Response:
        try:
            payload = safe_json.loads(body)
        except safe_json.TooDeep as exc:
            return web.json_response({"error": f"body refused: {exc}"}, status=400)
        except ValueError as exc:
            return web.json_response({"error": f"body is not JSON: {exc}"[:300]}, status=400)
        return parse(payload, self._config.graph_api_url, self._now())

    async def _ingest(self, batch: Batch) -> web.Response:
        duplicates = 0
        for message in batch.messages:
            try:
                accepted = await self._sink.accept(message)
            except Exception:  # whatever the store raised, the message is not durable
                log.exception("meta webhook: store failed", extra={"mid": message.external_id})
                return web.json_response(
                    {"error": "the message store is unavailable; Meta will redeliver"}, status=503
                )
            duplicates += accepted.duplicate
        return web.json_response(
            {
                "stored": len(batch.messages) - duplicates,
                "duplicates": duplicates,
                "ignored": batch.ignored,
                "problems": batch.problems,
            }
        )


async def _read_body(request: web.Request, limit: int) -> bytes | web.Response:
    too_large = web.json_response({"error": f"body larger than {limit} bytes"}, status=413)
    if request.content_length is not None and request.content_length > limit:
        return too_large
    try:
        body = await request.read()  # the app's client_max_size is the same setting
    except web.HTTPRequestEntityTooLarge:
        return too_large
    return too_large if len(body) > limit else body


# --- parsing: payload -> InboundMessages -------------------------------------------------------


class Malformed(ValueError):
    """One part of a signed payload that cannot become a message; says which and why."""


@dataclass
class Batch:
    messages: list[InboundMessage]
    ignored: int  # echoes, receipts, reactions: events that are not a customer writing
    problems: list[str]


_CHANNELS = {"page": Channel.FACEBOOK, "instagram": Channel.INSTAGRAM}
_ID = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII: no spaces, controls or CR/LF
_DIGITS = re.compile(r"\d{5,20}", re.ASCII)
_UNSAFE = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f]")  # bidi overrides spoof names


def parse(payload: Any, graph_api_url: str, now: datetime) -> Batch:
    """Every customer message of one webhook POST; what cannot be read is named in problems."""
    batch = Batch([], 0, [])
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        batch.problems.append("payload is not an object with an `entry` list")
        return batch
    kind = payload.get("object")
    for n, entry in enumerate(payload["entry"]):
        try:
            if kind == "whatsapp_business_account":
                events = list(_whatsapp_entry(entry, graph_api_url, now))
            elif kind in _CHANNELS:
                events = list(_messaging_entry(_CHANNELS[kind], entry, now))
            else:
                raise Malformed(f"unknown object {str(kind)[:40]!r}")
        except (Malformed, ValidationError, RecursionError) as exc:
            batch.problems.append(f"entry {n}: {_short(exc)}")
            continue
        for event in events:
            if isinstance(event, InboundMessage):
                batch.messages.append(event)
            elif event is None:
                batch.ignored += 1
            else:
                batch.problems.append(f"entry {n}: {event}")
    return batch


Parsed = InboundMessage | str | None  # a message, a problem, or an event that is not one


def _short(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to store"
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
    return str(exc)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a list")
    return value


def _id(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Malformed(f"{what} is missing or not an id")
    return value


def _time(value: Any, scale: float, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(float(value) / scale, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def safe_name(value: Any) -> str:
    """A display name without control or bidi-override characters, on one line, capped."""
    if not isinstance(value, str):
        return ""
    kept = "".join(" " if unicodedata.category(c) == "Cc" else c for c in value)
    return " ".join(_UNSAFE.sub("", kept).split())[:200]


def _entry_events(channel: Channel, entry: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    for event in _list(entry.get("messaging"), "messaging"):
        yield event, ""
    # Another app (a human inbox) controls the conversation: keep the message, never answer.
    for event in _list(entry.get("standby"), "standby"):
        yield event, f"{channel.value} standby: another app controls the conversation"


def _messaging_entry(channel: Channel, entry: Any, now: datetime) -> Iterator[Parsed]:
    entry = _dict(entry, "entry")
    if "messaging" not in entry and "standby" not in entry:
        if isinstance(entry.get("changes"), list):  # feed, comments, mentions: not DMs
            yield from (None for _ in entry["changes"])
            return
        raise Malformed("entry has neither `messaging` nor `standby`")
    for event, automated in _entry_events(channel, entry):
        try:
            yield _messaging_event(channel, _dict(event, "messaging event"), now, automated)
        except (Malformed, ValidationError, RecursionError) as exc:
            yield f"{channel.value} event: {_short(exc)}"


def _messaging_event(
    channel: Channel, event: dict[str, Any], now: datetime, automated: str
) -> InboundMessage | None:
    if "message_edit" in event:
        return _edit(channel, event, now)
    message = event.get("message")
    if message is None:  # delivery, read, reaction, postback, referral, optin ...
        return None
    message = _dict(message, "message")
    if message.get("is_echo") or message.get("is_deleted"):
        return None  # our own replies echoed back; a message the customer unsent
    sender = _id(_dict(event.get("sender"), "sender").get("id"), "sender.id")
    return InboundMessage(
        channel=channel,
        external_id=_id(message.get("mid"), "message.mid"),
        sender=sender,
        text=_text(message.get("text")),
        attachments=_attachments(message.get("attachments")),
        received_at=_time(event.get("timestamp"), 1000, now),
        raw=event,
        automated=automated,
    )


def _edit(channel: Channel, event: dict[str, Any], now: datetime) -> InboundMessage:
    edit = _dict(event["message_edit"], "message_edit")
    mid = _id(edit.get("mid"), "message_edit.mid")
    number = edit.get("num_edit") if isinstance(edit.get("num_edit"), int) else 1
    return InboundMessage(
        channel=channel,
        external_id=f"{mid}#edit{number}"[:255],
        sender=_id(_dict(event.get("sender"), "sender").get("id"), "sender.id"),
        text=_text(edit.get("text")),
        received_at=_time(event.get("timestamp"), 1000, now),
        raw=event,
        edit_of=mid,
    )


def _text(value: Any) -> str:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""


_KIND_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*"}


def _attachments(value: Any) -> list[Attachment]:
    found = []
    for item in _list(value, "message.attachments")[:50]:
        attachment = _dict(item, "attachment")
        url = _part(attachment, "payload", "url")
        url = url if len(url) <= 2048 else ""  # a longer one is kept in raw only
        kind = str(attachment.get("type", "file"))
        found.append(
            Attachment(
                filename=urlsplit(url).path.rsplit("/", 1)[-1][:255],
                content_type=_KIND_TYPES.get(kind, f"application/x-meta-{kind}"[:255]),
                url=url,
            )
        )
    return found


# --- WhatsApp Cloud API -------------------------------------------------------------------------


def _whatsapp_entry(entry: Any, graph_api_url: str, now: datetime) -> Iterator[Parsed]:
    changes = _list(_dict(entry, "entry").get("changes"), "changes")
    if not changes:
        raise Malformed("entry has no `changes`")
    for item in changes:
        change = _dict(item, "change")
        if change.get("field", "messages") != "messages":
            yield None  # account and template updates are not customer messages
            continue
        value = _dict(change.get("value"), "change.value")
        names = {
            str(c.get("wa_id")): c
            for c in _list(value.get("contacts"), "contacts")
            if isinstance(c, dict)
        }
        for _ in _list(value.get("statuses"), "statuses"):
            yield None  # sent / delivered / read receipts of our replies
        for message in _list(value.get("messages"), "messages"):
            try:
                yield _whatsapp_message(_dict(message, "message"), names, value, graph_api_url, now)
            except (Malformed, ValidationError, RecursionError) as exc:
                yield f"whatsapp message: {_short(exc)}"


_MEDIA = ("image", "video", "audio", "document", "sticker")


def _whatsapp_message(
    message: dict[str, Any],
    contacts: dict[str, Any],
    value: dict[str, Any],
    graph_api_url: str,
    now: datetime,
) -> InboundMessage | None:
    kind = message.get("type")
    if kind in ("reaction", "system"):
        return None
    sender = re.sub(r"\D", "", str(message.get("from", "")))
    if not _DIGITS.fullmatch(sender):
        raise Malformed("message.from is not a phone number")
    contact = contacts.get(str(message.get("from")), contacts.get(sender, {}))
    profile = _object(contact.get("profile"))
    return InboundMessage(
        channel=Channel.WHATSAPP,
        external_id=_id(message.get("id"), "message.id"),
        sender=sender,
        display_name=safe_name(profile.get("name")),
        text=_whatsapp_text(message),
        attachments=_whatsapp_media(message, graph_api_url),
        received_at=_time(message.get("timestamp"), 1, now),
        raw={"message": message, "contact": contact, "metadata": value.get("metadata")},
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _part(message: dict[str, Any], *path: str) -> str:
    value: Any = message
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _whatsapp_text(message: dict[str, Any]) -> str:
    kind = str(message.get("type"))
    if kind == "location":
        where = _object(message.get("location"))
        parts = [
            _part(where, "name"),
            _part(where, "address"),
            f"{where.get('latitude', '')}, {where.get('longitude', '')}",
        ]
        return " - ".join(p for p in parts if p.strip(", "))
    candidates = (
        _part(message, "text", "body"),
        _part(message, kind, "caption"),
        _part(message, "button", "text"),
        _part(message, "interactive", "button_reply", "title"),
        _part(message, "interactive", "list_reply", "title"),
    )
    return next((c for c in candidates if c), "")[:MAX_TEXT_CHARS]


def _whatsapp_media(message: dict[str, Any], graph_api_url: str) -> list[Attachment]:
    kind = message.get("type")
    media = message.get(kind) if kind in _MEDIA else None
    if not isinstance(media, dict) or not isinstance(media.get("id"), str | int):
        return []
    media_id = _id(media["id"], f"{kind}.id")
    return [
        Attachment(
            filename=_part(media, "filename")[:255],
            content_type=(_part(media, "mime_type") or "application/octet-stream")[:255],
            url=f"{graph_api_url.rstrip('/')}/{media_id}",
        )
    ]
