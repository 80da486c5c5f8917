"""Telegram: Bot API updates in (webhook or long polling), replies out through sendMessage.

Both ways in feed one path: an Update becomes an InboundMessage and goes to the sink;
`/start`, and `/status` from a chat without an open ticket, are answered at once and never
stored (they are not complaints); `/status` about an open ticket is a status question the
pipeline answers, once per state of the ticket.
python-telegram-bot does the Bot API work (its Update/Message types, its Bot and HTTPX
client); its `Application` is not used, because the webhook must answer Telegram only
after the message is durable, and with the same answer for a re-delivered update.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError
from redis.asyncio import Redis
from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.contract import safe_json, text_parts
from bot.contract.domain import (
    Attachment,
    Channel,
    InboundMessage,
    OutboundReply,
    SendResult,
)
from bot.contract.keys import Keys
from bot.contract.ports import (
    EveryProcess,
    Exclusive,
    MessageSink,
    Plug,
    StatusLabel,
    TicketLookup,
    plain_status_label,
)
from channels import telegram_texts

log = logging.getLogger(__name__)

# python-telegram-bot builds RetryAfter with a deprecation warning (int -> timedelta) unless
# this opt-in is set; the code below reads either form, so opt in and keep logs quiet.
os.environ.setdefault("PTB_TIMEDELTA", "true")

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- a header name
MAX_MESSAGE = 4096  # sendMessage's limit; counted in UTF-16 code units, as Telegram counts
ALLOWED_UPDATES = ("message", "edited_message")
_T = TypeVar("_T")


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""  # INTAKE_TELEGRAM_TOKEN
    webhook_secret: str = ""  # INTAKE_TELEGRAM_WEBHOOK_SECRET
    api_url: str = "https://api.telegram.org/bot"  # INTAKE_TELEGRAM_API_URL (+ token)
    polling: bool = False  # INTAKE_TELEGRAM_POLLING
    public_url: str = ""  # INTAKE_PUBLIC_URL: when set, setWebhook is called at start
    poll_timeout_s: int = 50  # getUpdates long-poll timeout
    retry_base_s: float = 1.0  # first pause after a failed poll or store; doubles to 60 s
    # The core's status names in a language (bot.text.i18n.status_label): channels cannot import it.
    status_label: StatusLabel = plain_status_label
    key_prefix: str = "intake"  # INTAKE_KEY_PREFIX: where the bot's Redis keys live


def _language(code: str | None) -> str | None:
    return code[:2].lower() if code else None


def _text_language(code: str | None) -> str:
    language = _language(code)
    return language if language in telegram_texts.GREETING else "en"


# --- message length ------------------------------------------------------------------------


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """sendMessage's parts (bot.contract.text_parts), counted in UTF-16 units as Telegram
    counts them."""
    return text_parts.split_text(text, limit, text_parts.utf16_units)


# --- Update -> InboundMessage ------------------------------------------------------------------


def _attachments(message: Message) -> list[Attachment]:
    """File metadata only: the bytes stay with Telegram, reachable through getFile(file_id)."""
    found: dict[str, Attachment] = {}
    if message.photo:
        biggest = message.photo[-1]  # Telegram lists the sizes smallest first
        found[biggest.file_unique_id] = Attachment(
            filename="photo.jpg",
            content_type="image/jpeg",
            size=biggest.file_size or 0,
            url=f"tg-file:{biggest.file_id}",
        )
    files = (
        message.document,
        message.audio,
        message.video,
        message.voice,
        message.video_note,
        message.animation,
    )
    for item in files:
        if item is None or item.file_unique_id in found:  # an animation is also a document
            continue
        found[item.file_unique_id] = Attachment(
            filename=(getattr(item, "file_name", None) or "")[:255],
            content_type=(getattr(item, "mime_type", None) or "application/octet-stream")[:255],
            size=max(item.file_size or 0, 0),
            url=f"tg-file:{item.file_id}",
        )
    return list(found.values())


def _display_name(message: Message) -> str:
    user = message.from_user
    if user is None:
        return ""
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return (name or user.username or "")[:200]


def refusal_of_sender(message: Message) -> str | None:
    """Why nobody waits for an answer to this message, or None for a customer's own chat."""
    user = message.from_user
    if user is None:
        return "no sender (a channel post or an anonymous group admin)"
    if user.is_bot:
        return "sent by a bot"
    if message.chat.type != ChatType.PRIVATE:
        return f"a {message.chat.type} chat, not a private one: tickets are not discussed there"
    return None


def _identity(update: Update, message: Message) -> tuple[str, str | None, datetime] | str:
    """(external_id, edit_of, when) of a new message or of one edit of it."""
    original = f"{message.chat.id}:{message.message_id}"
    if update.edited_message is None:
        return original, None, message.date
    if message.edit_date is None:
        return "an edited message without edit_date"
    return f"{original}:edit:{int(message.edit_date.timestamp())}", original, message.edit_date


def inbound_of(update: Update, raw: dict[str, Any]) -> InboundMessage | str:
    """The customer message in an update, or why there is none (the update is then ignored)."""
    message = update.message or update.edited_message
    if message is None:
        kinds = sorted(key for key in raw if key != "update_id")
        return f"unsupported update type: {', '.join(kinds) or 'none'}"
    refusal = refusal_of_sender(message)
    text = message.text or message.caption or ""
    attachments = _attachments(message)
    if refusal is None and not text.strip() and not attachments:
        refusal = "no text and no file (a sticker, location, contact or service message)"
    identity = _identity(update, message)
    if refusal is not None or isinstance(identity, str):
        return refusal or str(identity)
    external_id, edit_of, received_at = identity
    language = _language(message.from_user.language_code) if message.from_user else None
    return InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=external_id,
        sender=str(message.chat.id),
        display_name=_display_name(message),
        text=text,
        received_at=received_at.astimezone(UTC),
        language=language,
        attachments=attachments,
        raw=raw,
        edit_of=edit_of,
    )


def command_of(message: Message) -> str | None:
    """'/start', '/status' or '/help' (also as '/status@SomeBot'); other text is a message."""
    text = (message.text or "").strip()
    if not text.startswith("/"):
        return None
    command = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
    return command if command in ("/start", "/status", "/help") else None


# --- replies -----------------------------------------------------------------------------------


def _seconds(exc: RetryAfter) -> float:
    """retry_after in seconds, whichever type this python-telegram-bot version hands back."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # int -> timedelta migration
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def failure_of(exc: TelegramError) -> SendResult:
    """What the outbox should do about a Bot API error (order matters: BadRequest is a
    NetworkError in python-telegram-bot's hierarchy)."""
    if isinstance(exc, RetryAfter):
        return SendResult(ok=False, retry_after=_seconds(exc), error=f"rate limited: {exc}")
    if isinstance(exc, Forbidden):
        return SendResult(
            ok=False,
            permanent=True,
            error=(
                f"Telegram refuses this chat (the user blocked the bot or never started it): {exc}"
            ),
        )
    if isinstance(exc, ChatMigrated):
        return SendResult(
            ok=False, permanent=True, error=f"the chat moved to {exc.new_chat_id}: {exc}"
        )
    if isinstance(exc, BadRequest):
        return SendResult(ok=False, permanent=True, error=f"refused by Telegram: {exc}")
    if isinstance(exc, InvalidToken):
        return SendResult(
            ok=False,
            error="the bot token was rejected: check "
            "INTAKE_TELEGRAM_TOKEN and INTAKE_TELEGRAM_API_URL",
        )
    return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")


class Recall:
    """What the bot already did that a retry must not do again: answer a re-delivered
    command, or resend the parts of a split reply that went out before a 429.

    With Redis (the bot's), every web process sees it; without, only this one does.
    """

    def __init__(
        self,
        redis: Redis | None = None,
        prefix: str = "intake",
        remember: int = 10_000,
        ttl_s: int = 86_400,
    ) -> None:
        self._redis = redis
        self._keys = Keys(prefix).telegram
        self._ttl_s = ttl_s
        self._remember = remember
        self._local: OrderedDict[str, int] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        """True for the first caller with this key (within the time it is remembered)."""
        if self._redis is not None:
            return bool(await self._redis.set(self._keys.done(key), 1, nx=True, ex=self._ttl_s))
        if key in self._local:
            return False
        self._keep(key, 1)
        return True

    async def parts_sent(self, outbox_id: int) -> int:
        """How many parts of this reply went out before it failed (forgotten once read)."""
        if self._redis is not None:
            value = await self._redis.getdel(self._keys.parts_sent(outbox_id))
            return int(value or 0)
        return self._local.pop(f"parts:{outbox_id}", 0)

    async def note_parts(self, outbox_id: int, count: int) -> None:
        if self._redis is not None:
            await self._redis.set(self._keys.parts_sent(outbox_id), count, ex=self._ttl_s)
        else:
            self._keep(f"parts:{outbox_id}", count)

    def _keep(self, key: str, value: int) -> None:
        self._local[key] = value
        while len(self._local) > self._remember:
            self._local.popitem(last=False)


class TelegramSender:
    """Delivers a reply as one or more sendMessage calls (4096 units each).

    When a later part fails (a 429), the parts already delivered are recalled by outbox
    id, so the outbox's retry goes on from the failed part instead of repeating them.
    """

    channel = Channel.TELEGRAM

    def __init__(self, bot: Bot, recall: Recall | None = None) -> None:
        self._bot = bot
        self._recall = recall or Recall()

    async def send(self, reply: OutboundReply) -> SendResult:
        parts = split_text(reply.text)
        if not parts:
            return SendResult(ok=False, permanent=True, error="empty reply: nothing to send")
        first = await self._recall.parts_sent(reply.outbox_id)
        ids: list[str] = []
        for index in range(first, len(parts)):
            try:
                sent = await self._bot.send_message(chat_id=reply.to, text=parts[index])
            except TelegramError as exc:
                result = failure_of(exc)
                if index and not result.permanent:
                    await self._recall.note_parts(reply.outbox_id, index)
                return result
            ids.append(str(sent.message_id))
        return SendResult(ok=True, provider_id=f"{reply.to}:{','.join(ids)}"[:255])


# --- the channel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    """What became of one update: stored, duplicate, answered (a command) or ignored."""

    outcome: str
    detail: str = ""
    message_id: int | None = None


class Commands:
    """/start and /status, answered at once through the Bot API.

    A re-delivered command (Telegram retries a webhook it got no 2xx for) is answered once:
    the ids of answered commands are recalled.
    """

    def __init__(
        self,
        bot: Bot,
        lookup: TicketLookup,
        accepted: Callable[[], frozenset[Channel]],
        status_label: StatusLabel,
        recall: Recall | None = None,
    ) -> None:
        self._bot = bot
        self.lookup = lookup
        self.accepted = accepted
        self._label = status_label
        self._recall = recall or Recall()

    async def answer(self, command: str, message: Message) -> Handled:
        if Channel.TELEGRAM not in self.accepted():
            return Handled("ignored", f"{command} unanswered: the telegram channel is closed")
        text = await self._text(command, message)  # may fail (store down): then not remembered
        if not await self._recall.first_time(f"{message.chat.id}:{message.message_id}"):
            return Handled("duplicate", f"{command} already answered")
        try:
            await self._bot.send_message(chat_id=message.chat.id, text=text)
        except TelegramError as exc:
            log.warning("command answer not sent", extra={"command": command, "error": str(exc)})
            return Handled("ignored", f"{command} answer not sent: {exc}")
        return Handled("answered", command)

    async def _text(self, command: str, message: Message) -> str:
        language = _text_language(message.from_user.language_code if message.from_user else None)
        if command != "/status":
            return telegram_texts.GREETING[language]
        view = await self.lookup.open_ticket_of(Channel.TELEGRAM, str(message.chat.id))
        if view is None:
            return telegram_texts.NO_TICKET[language]
        language = view.language if view.language in telegram_texts.STATUS else language
        label = self._label(view.status.value, language)
        return telegram_texts.STATUS[language].format(ref=view.ref, status=label)


def _answer(status: int = 200, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


async def _until_stopped(stop: asyncio.Event, call: Coroutine[Any, Any, _T]) -> _T | None:
    """The call's result, or None as soon as `stop` is set (the call is then cancelled)."""
    work = asyncio.ensure_future(call)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, TelegramError):
        await work
    return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class TelegramChannel:
    """One bot: the webhook route, the polling loop and the shared handling of an update."""

    def __init__(
        self,
        config: TelegramConfig,
        sink: MessageSink,
        lookup: TicketLookup,
        accepted: Callable[[], frozenset[Channel]],
        recall: Recall | None = None,
        exclusive: Exclusive | None = None,
    ) -> None:
        self.config = config
        self._exclusive = exclusive or EveryProcess()
        self.state = "not started"  # how its loop goes (/readyz)
        self._requests = (HTTPXRequest(connection_pool_size=1), HTTPXRequest())
        self.bot = Bot(
            config.token,
            base_url=config.api_url,
            get_updates_request=self._requests[0],
            request=self._requests[1],
        )
        recall = recall or Recall()
        self.sender = TelegramSender(self.bot, recall)
        self.commands = Commands(self.bot, lookup, accepted, config.status_label, recall)
        self._sink = sink

    async def handle(self, update: Update, raw: dict[str, Any]) -> Handled:
        """Ingest or answer one update; raises only when the sink could not store it."""
        message = update.message or update.edited_message
        if message is not None and refusal_of_sender(message) is None:
            command = command_of(message)
            if command is not None and update.message is None:
                return Handled("ignored", f"an edited {command}: commands are not complaints")
            if command is not None and not await self._asks_about_a_ticket(command, message):
                return await self.commands.answer(command, message)
        try:
            parsed = inbound_of(update, raw)
        except ValidationError as exc:  # only a forged update can break the domain's limits
            parsed = f"invalid message: {exc.errors(include_url=False)[0]['msg']}"
        if isinstance(parsed, str):
            log.info(
                "telegram update ignored", extra={"update_id": update.update_id, "reason": parsed}
            )
            return Handled("ignored", parsed)
        accepted = await self._sink.accept(parsed)
        return Handled(
            "duplicate" if accepted.duplicate else "stored", parsed.external_id, accepted.message_id
        )

    async def _asks_about_a_ticket(self, command: str, message: Message) -> bool:
        """/status from a chat with an open ticket is a status question like any other: stored,
        and answered by the pipeline with the status and next date, once per state. Without
        one, and for the other commands, the bot answers at once (nothing is stored)."""
        if command != "/status" or Channel.TELEGRAM not in self.commands.accepted():
            return False
        return (
            await self.commands.lookup.open_ticket_of(Channel.TELEGRAM, str(message.chat.id))
            is not None
        )

    # -- webhook --

    def _verify(self, request: web.Request) -> web.Response | None:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _answer(401, error=f"missing {SECRET_HEADER} header")
        given_bytes = given.encode("utf-8", "surrogateescape")  # bytes not UTF-8 stay bytes
        if not hmac.compare_digest(given_bytes, self.config.webhook_secret.encode()):
            return _answer(403, error=f"wrong {SECRET_HEADER}")
        return None

    async def webhook(self, request: web.Request) -> web.Response:
        """Non-2xx makes Telegram re-deliver the update again and again, so an update we will
        never use is answered 200 (and logged); only a store failure asks for a retry."""
        refusal = self._verify(request)
        if refusal is not None:
            return refusal
        try:
            data = safe_json.loads(await request.read())
        except safe_json.TooDeep as exc:  # no update nests this deep: a stack-exhaustion try
            return _answer(400, error=f"the body is refused: {exc}")
        except ValueError as exc:  # not UTF-8 or not JSON: Telegram never sends that
            return _answer(400, error=f"the body is not JSON: {exc}")
        update = self._parse(data)
        if isinstance(update, str):
            log.warning("telegram update ignored", extra={"reason": update})
            return _answer(ok=True, outcome="ignored", detail=update)
        try:
            handled = await self.handle(update, data)
        except Exception:  # not durable: a non-2xx makes Telegram deliver it again later
            log.exception("telegram update not stored", extra={"update_id": update.update_id})
            return _answer(503, error="the message store is unavailable; retry later")
        return _answer(
            ok=True, outcome=handled.outcome, detail=handled.detail, id=handled.message_id
        )

    def _parse(self, data: object) -> Update | str:
        if not isinstance(data, dict):
            return f"the update is a JSON {type(data).__name__}, not an object"
        kind = next((k for k in ALLOWED_UPDATES if isinstance(data.get(k), dict)), None)
        if kind is None:
            kinds = sorted(str(key) for key in data if key != "update_id")
            return f"unsupported update type: {', '.join(kinds) or 'none'}"
        try:
            return Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return f"malformed {kind}: {type(exc).__name__}: {exc}"

    # -- lifecycle and polling --

    async def run(self, stop: asyncio.Event) -> None:
        """The bot's HTTP clients live as long as this loop; in polling mode it also polls."""
        try:
            await self._start()
            if self.config.polling:  # Telegram refuses a second getUpdates poller: one process
                self.state = "not polling in this process"
                await self._exclusive.run_exclusively("telegram-polling", stop, self._poll)
            else:
                self.state = "webhook"
                await stop.wait()
        finally:
            self.state = "stopped"
            await asyncio.gather(*(request.shutdown() for request in self._requests))

    async def _start(self) -> None:
        await self._try(
            "getMe (check INTAKE_TELEGRAM_TOKEN and INTAKE_TELEGRAM_API_URL)", self.bot.initialize
        )
        if self.config.polling:
            await self._try(
                "deleteWebhook (getUpdates fails while a webhook is set)", self.bot.delete_webhook
            )
        elif self.config.public_url and self.config.webhook_secret:
            url = self.config.public_url.rstrip("/") + PATH

            async def register() -> object:
                return await self.bot.set_webhook(
                    url=url,
                    secret_token=self.config.webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )

            await self._try(f"setWebhook to {url}", register)

    @staticmethod
    async def _try(what: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except TelegramError as exc:  # the token itself is never logged
            log.error("telegram %s failed: %s", what, type(exc).__name__)

    async def _poll(self, stop: asyncio.Event) -> None:
        offset: int | None = None
        failures = 0
        while not stop.is_set():
            if failures:
                await _pause(stop, min(60.0, self.config.retry_base_s * 2 ** (failures - 1)))
            try:
                updates = await _until_stopped(
                    stop,
                    self.bot.get_updates(
                        offset=offset,
                        timeout=self.config.poll_timeout_s,
                        allowed_updates=list(ALLOWED_UPDATES),
                        read_timeout=self.config.poll_timeout_s + 10,
                    ),
                )
            except RetryAfter as exc:
                await _pause(stop, _seconds(exc))
                continue
            except TimedOut:
                continue
            except TelegramError as exc:
                failures += 1
                self.state = f"failing ({type(exc).__name__}), retrying"
                log.warning("getUpdates failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                continue
            offset, stored_all = await self._feed(updates or (), offset)
            failures = 0 if stored_all else failures + 1
            self.state = "polling" if stored_all else "failing (storing updates), retrying"

    async def _feed(
        self, updates: tuple[Update, ...], offset: int | None
    ) -> tuple[int | None, bool]:
        """Handle updates in order; the offset moves past one only once it is durable."""
        for update in updates:
            try:
                await self.handle(update, update.to_dict())
            except Exception:  # the store failed: ask for the same updates again after a pause
                log.exception("telegram update not stored", extra={"update_id": update.update_id})
                return offset, False
            offset = update.update_id + 1
        return offset, True


def _not_configured(message: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def refuse(request: web.Request) -> web.Response:
        return _answer(503, error=message)

    return refuse


def plug(
    config: TelegramConfig,
    sink: MessageSink,
    lookup: TicketLookup,
    accepted: Callable[[], frozenset[Channel]],
    redis: Redis | None = None,
    exclusive: Exclusive | None = None,
) -> Plug:
    """The Telegram family: webhook route (or polling loop), sender, and the bot's lifecycle.

    `redis` (the bot's) lets every web process recall what the others answered and sent;
    `exclusive` keeps polling to one process of the deployment at a time.
    """
    if not config.token:
        message = "not configured: set INTAKE_TELEGRAM_TOKEN"
        return Plug(
            "telegram",
            status=message,
            routes=[web.post(PATH, _not_configured(f"the Telegram channel is {message}"))],
        )
    channel = TelegramChannel(
        config,
        sink,
        lookup,
        accepted,
        Recall(redis, config.key_prefix) if redis is not None else None,
        exclusive,
    )
    senders = {Channel.TELEGRAM: channel.sender}
    if config.polling:
        return Plug(
            "telegram",
            status="configured (polling)",
            senders=senders,
            loops=[channel.run],
            states={"telegram": lambda: channel.state},
        )
    if not config.webhook_secret:
        message = (
            "webhook refused until INTAKE_TELEGRAM_WEBHOOK_SECRET is set (or set "
            "INTAKE_TELEGRAM_POLLING=true); replies still go out"
        )
        return Plug(
            "telegram",
            status=message,
            senders=senders,
            loops=[channel.run],
            routes=[web.post(PATH, _not_configured(message))],
            states={"telegram": lambda: channel.state},
        )
    return Plug(
        "telegram",
        status="configured (webhook)",
        senders=senders,
        loops=[channel.run],
        routes=[web.post(PATH, channel.webhook)],
        states={"telegram": lambda: channel.state},
    )
