"""The site chat's protocol, transport-free: a frame in, frames out (and frames published).

The intake dialog (channels.chat_intake) is the chat's own flow; its answers are
submitted as ONE message when complete, and every later text as its own message, so
the stream's gate, classifier and throttle treat chat exactly like email.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from bot.contract.clock import Now, utc_now
from bot.contract.domain import (
    MAX_TEXT_CHARS,
    Attachment,
    Channel,
    Decision,
    InboundMessage,
    OutboundReply,
    TicketView,
)
from bot.contract.keys import Keys
from bot.contract.limits import Limiter
from bot.contract.ports import (
    DecisionLookup,
    MessageSink,
    NoReader,
    ReplySender,
    StatusLabel,
    TextReader,
    TicketLookup,
    plain_status_label,
)
from channels import chat_contacts, chat_intake, chat_texts
from channels.chat_hub import Frame, Hub
from channels.chat_sessions import Entry, Session, SessionFull, SessionStore
from channels.form_uploads import Posted, UploadRules

log = logging.getLogger(__name__)


def _rome() -> str:
    return "Europe/Rome"


@dataclass(frozen=True)
class WebchatConfig:
    """What a deployment tunes; the limits protect the store from one abusive page."""

    key_prefix: str
    max_chars: int = 4000
    default_language: str = "en"
    session_ttl_s: int = 30 * 86400
    sessions_per_ip_per_hour: int = 30
    # Across every socket and poller: one page opening 20 sockets gets no more than one.
    messages_per_ip_per_minute: int = 30
    messages_per_session_per_minute: int = 20
    rate_per_s: float = 5.0  # messages per second per connection (token bucket)
    burst: int = 10
    max_strikes: int = 20  # frames over the rate before the socket is closed (1008)
    max_bad_frames: int = 5  # non-JSON or malformed frames before the socket is closed
    poll_wait_s: float = 20.0
    max_concurrent: int = 32  # frames handled at once per process; more wait their turn
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For is believed
    # The SLA's time zone (runtime policy: sla.timezone): due dates are business days there.
    timezone: Callable[[], str] = field(default=_rome)
    now: Now = field(default=utc_now)  # the bot's clock (tests: virtual)
    # The core's status names in a language (bot.text.i18n.status_label): channels cannot import it.
    status_label: StatusLabel = field(default=plain_status_label)
    # The core's reading of a text (bot.rules.reading): the first message fills what it tells.
    reader: TextReader = field(default_factory=NoReader)
    # The pipeline's decisions (bot.tickets.decisions): a held message gets the neutral
    # notice, a message that changed nothing a short receipt. None: replies only.
    decisions: DecisionLookup | None = None
    decision_wait_s: float = 60.0
    # Where else customers reach us, by channel name (INTAKE_PUBLIC_*): the closed notice
    # lists those configured and accepted, as links. The web form is always ours.
    public_contacts: Mapping[str, str] = field(default_factory=dict)
    privacy_url: str = ""  # INTAKE_PRIVACY_URL: linked from the privacy notice
    # The outbound email path: a transcript goes to the address given in this chat.
    mailer: ReplySender | None = None
    # Files in the chat after the reference: the form's rules and private directory.
    uploads: UploadRules | None = None

    @property
    def max_frame_bytes(self) -> int:
        return self.max_chars * 4 + 4096  # UTF-8 worst case plus the JSON around it


class TokenBucket:
    """Per connection, in memory: a socket's flood is refused before it costs Redis."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class FollowUp(enum.Enum):
    """What a submitted message gets when the core sends no reply for it."""

    INTAKE = "intake"  # the intake's one message
    MORE = "more"  # a later message: one short receipt
    STATUS = "status"  # a status question: the ticket's status


def error_frame(code: str, text: str, **extra: Any) -> Frame:
    return {"type": "error", "code": code, "text": text, **extra}


@dataclass
class Conversation:
    """One client's link to a session: a socket, or an HTTP poller's requests."""

    ip: str
    bucket: TokenBucket
    out: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    session: str = ""
    language: str = "en"
    strikes: int = 0
    bad_frames: int = 0
    live: bool = True  # a socket follows its session; an HTTP request does not


class ChatLimits:
    """The chat's limits in Redis, counted before they decide (bot.contract.limits)."""

    def __init__(self, redis: Redis, config: WebchatConfig) -> None:
        keys = Keys(config.key_prefix)
        self.new_sessions = Limiter(
            redis, keys, "chat-sessions-ip", config.sessions_per_ip_per_hour, 3600
        )
        self.per_ip = Limiter(
            redis, keys, "chat-messages-ip", config.messages_per_ip_per_minute, 60
        )
        self.per_session = Limiter(
            redis, keys, "chat-messages-session", config.messages_per_session_per_minute, 60
        )
        self.transcripts = Limiter(redis, keys, "chat-transcripts", 3, 3600)
        # Every frame over HTTP (hello, message, ping) from one address: a socket's rate.
        self.http_frames = Limiter(
            redis, keys, "chat-http-ip", max(1, int(config.rate_per_s * 60)), 60
        )

    async def message(self, ip: str, session: str, now: datetime) -> bool:
        by_ip = await self.per_ip.hit(ip, now)
        return by_ip.allowed and (await self.per_session.hit(session, now)).allowed


class Chat:
    """The protocol, transport-free: a frame in, frames out (and frames published)."""

    def __init__(
        self,
        config: WebchatConfig,
        sink: MessageSink,
        lookup: TicketLookup,
        store: SessionStore,
        hub: Hub,
        accepted: Callable[[], frozenset[Channel]],
        limits: ChatLimits,
    ) -> None:
        self.config, self._sink, self._lookup = config, sink, lookup
        self.store, self.hub, self._accepted = store, hub, accepted
        self.limits = limits
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._follow_ups: set[asyncio.Task[None]] = set()
        self._following: set[tuple[str, int]] = set()  # (session, entry) followed up here

    # --- what the widget is told before anything else --------------------------------

    def is_open(self) -> bool:
        return Channel.WEBCHAT in self._accepted()

    def closed_frame(self, language: str) -> Frame:
        """Which configured and accepted channels to use instead, each with its link."""
        others = {c.value for c in self._accepted() - {Channel.WEBCHAT}}
        links = chat_contacts.listed(others, self.config.public_contacts, language)
        names = ", ".join(link["name"] for link in links)
        return {
            "type": "closed",
            "channels": [link["channel"] for link in links],
            "links": links,
            "text": chat_texts.say("unavailable", language, channels=names)
            if links
            else chat_texts.say("unavailable_none", language),
        }

    async def watch(self, stop: asyncio.Event) -> None:
        """Open panels learn within a second when an admin closes or reopens the chat (the
        policy follower updates `accepted` in every process)."""
        was = self.is_open()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if (now := self.is_open()) != was:
                was = now
                self.hub.broadcast({"type": "availability", "accepted": now})

    async def settled(self) -> None:
        """Until every message waiting for its decision was followed up (tests, shutdown)."""
        while self._follow_ups:
            await asyncio.gather(*self._follow_ups, return_exceptions=True)

    async def stop_follow_ups(self) -> None:
        for task in list(self._follow_ups):
            task.cancel()
        await asyncio.gather(*self._follow_ups, return_exceptions=True)

    def config_body(self, languages: list[str]) -> Frame:
        language = chat_texts.pick(languages, self.config.default_language)
        body: Frame = {
            "accepted": self.is_open(),
            "language": language,
            "max_chars": self.config.max_chars,
            "texts": chat_texts.widget_texts(language),
            "transcript": self.config.mailer is not None,
            "uploads": self.config.uploads is not None,
            "privacy_url": self.config.privacy_url,
        }
        if not body["accepted"]:
            closed = self.closed_frame(language)
            body |= {
                "channels": closed["channels"],
                "links": closed["links"],
                "unavailable": closed["text"],
            }
        return body

    # --- frames ----------------------------------------------------------------------

    async def handle(self, conv: Conversation, frame: Frame) -> list[Frame]:
        kind = frame.get("type")
        if kind == "hello":
            return await self.hello(conv, frame)
        if kind == "message":
            return await self.message(conv, frame)
        if kind == "ping":
            return [{"type": "pong"}]
        if kind == "transcript":
            return await self.transcript(conv, frame)
        return [error_frame("bad_frame", f"unknown frame type {str(kind)[:40]!r}")]

    async def hello(self, conv: Conversation, frame: Frame) -> list[Frame]:
        languages = frame.get("lang")
        wanted = (
            [str(x) for x in languages] if isinstance(languages, list) else [str(languages or "")]
        )
        conv.language = chat_texts.pick(wanted[:20], self.config.default_language)
        session = await self.store.load(str(frame.get("session") or ""))
        if session is None and not self.is_open():
            return [self.closed_frame(conv.language)]
        if session is None:
            if not (await self.limits.new_sessions.hit(conv.ip, self.config.now())).allowed:
                return [
                    error_frame("too_many_sessions", chat_texts.say("rate_limited", conv.language))
                ]
            session = await self._new_session(conv.language)
        conv.language = session.language
        self._follow(conv, session.id)
        await self._resume_follow_ups(session.id)
        frames: list[Frame] = [
            {
                "type": "welcome",
                "session": session.id,
                "language": session.language,
                "accepted": self.is_open(),
                "max_chars": self.config.max_chars,
                "history": [e.frame()["entry"] for e in await self.store.history(session.id)],
            }
        ]
        if not self.is_open():
            frames.append(self.closed_frame(session.language))
        status = await self._status(session)
        if status is not None:
            frames.append(status)
        return frames

    def _follow(self, conv: Conversation, sid: str) -> None:
        if conv.session and conv.live:
            self.hub.unlisten(conv.session, conv.out)
        conv.session = sid
        if conv.live:
            self.hub.listen(sid, conv.out)

    async def _new_session(self, language: str) -> Session:
        turn = chat_intake.start()
        session = await self.store.create(language, turn.dialog.to_json())
        await self._say(session, turn.prompts[:1])
        await self.bot_entry(session.id, self._privacy(language), kind="privacy")
        await self._say(session, turn.prompts[1:])
        return session

    def _privacy(self, language: str) -> str:
        """The privacy notice at the start of every chat, with the policy's address if set."""
        return chat_texts.say("privacy", language)  # the widget links the policy (config)

    async def _status(self, session: Session) -> Frame | None:
        """A returning customer with a ticket is told where it stands (not a new intake):
        the session is the chat's proof of who it is, so only its own ticket is shown."""
        if not session.ticket_ref:
            return None
        view = await self._lookup.open_ticket_of(Channel.WEBCHAT, session.id)
        return None if view is None else self._status_frame(view, session.language)

    def _status_frame(self, view: TicketView, language: str) -> Frame:
        label = self.config.status_label(view.status.value, language)
        text = chat_texts.status_text(
            view.ref, label, view.next_due, language, self.config.timezone()
        )
        return {"type": "status", "ref": view.ref, "status": view.status.value, "text": text}

    async def _say(
        self, session: Session, prompts: tuple[chat_intake.Prompt, ...], ref: str = ""
    ) -> None:
        for prompt in prompts:
            choices = tuple(chat_texts.choice(c, session.language) for c in prompt.choices)
            await self.bot_entry(session.id, prompt.render(session.language), ref, choices=choices)

    async def bot_entry(
        self, sid: str, text: str, ref: str = "", *, choices: tuple[str, ...] = (), kind: str = ""
    ) -> Entry:
        entry = await self.store.append(
            sid, "bot", text, self.config.now(), ref=ref, choices=choices, kind=kind
        )
        await self.store.said(sid, text)
        await self.hub.publish(sid, entry.frame())
        return entry

    async def message(self, conv: Conversation, frame: Frame) -> list[Frame]:
        text, cid = frame.get("text"), str(frame.get("cid") or "")[:64]
        if not conv.session:
            return [error_frame("no_session", "say hello first")]
        if not isinstance(text, str) or not text.strip():
            return [error_frame("empty", "a message needs some text", cid=cid)]
        if len(text) > self.config.max_chars:
            return [
                error_frame(
                    "too_long",
                    chat_texts.say("too_long", conv.language, limit=str(self.config.max_chars)),
                    cid=cid,
                    limit=self.config.max_chars,
                )
            ]
        if not self.is_open():
            return [{**self.closed_frame(conv.language), "cid": cid}]
        if not await self.limits.message(conv.ip, conv.session, self.config.now()):
            return [
                error_frame("rate_limited", chat_texts.say("rate_limited", conv.language), cid=cid)
            ]
        lock = self._locks.setdefault(conv.session, asyncio.Lock())
        async with lock:
            return await self._message(conv, text, cid)

    async def _message(self, conv: Conversation, text: str, cid: str) -> list[Frame]:
        sid = conv.session
        if cid and (known := await self.store.known_client_id(sid, cid)) is not None:
            return [{"type": "ack", "cid": cid, "id": known}]  # a resend after a reconnect
        session = await self.store.load(sid)
        if session is None:
            return [error_frame("no_session", "this chat session has expired; reload the page")]
        try:
            entry = await self.store.append(sid, "customer", text, self.config.now(), "sent")
        except SessionFull as exc:
            return [error_frame("session_full", str(exc), cid=cid)]
        if cid:
            await self.store.remember_client_id(sid, cid, entry.id)
        conv.out.put_nowait({"type": "ack", "cid": cid, "id": entry.id})  # before the echo
        await self.hub.publish(sid, entry.frame())
        frames: list[Frame] = []
        dialog = chat_intake.Dialog.from_json(session.dialog)
        if dialog.step == chat_intake.DONE:
            return frames + await self._submit_free(session, dialog, entry)
        return frames + await self._advance(session, dialog, entry, conv.ip)

    async def _advance(
        self, session: Session, dialog: chat_intake.Dialog, entry: Entry, ip: str
    ) -> list[Frame]:
        """One step of the intake, and the submission when the turn completes it."""
        reading = self.config.reader.read(entry.text) if dialog.step == chat_intake.KIND else None
        turn = chat_intake.answer(dialog, entry.text, session.language, reading)
        prompts = list(turn.prompts)
        frames: list[Frame] = []
        email = turn.dialog.get("contact")
        if (
            "@" in email
            and email != dialog.get("contact")
            and await self._offer_proof(session, email, ip)
        ):
            prompts.insert(0, chat_intake.Prompt("proof_sent", (("email", email),)))
        if isinstance(turn.action, chat_intake.Submit):
            submitted = await self._submit_intake(session, turn.action, entry)
            if submitted is not None:
                return frames + submitted  # not saved: the answer can be sent again
        session.dialog = turn.dialog.to_json()
        await self.store.save(session)
        await self._say(session, tuple(prompts))
        if isinstance(turn.action, chat_intake.Submit):
            await self._delivered(session.id, list(range(entry.id + 1)), customer_only=True)
            await self.hub.publish(session.id, {"type": "typing", "on": True})
            self._follow_up(session.id, entry.id, FollowUp.INTAKE)
        return frames

    async def _offer_proof(self, session: Session, email: str, ip: str) -> bool:
        """An email typed here: if a customer wrote from it, a link there lets this session
        prove it is theirs (bot.tickets.claims); the chat says the same whether or not one went."""
        if not self._lookup.can_mail:
            return False
        allowance = await self._lookup.request_proof(
            Channel.WEBCHAT, session.id, email, ip, session.language
        )
        return allowance.allowed

    async def _submit_intake(
        self, session: Session, submit: chat_intake.Submit, entry: Entry
    ) -> list[Frame] | None:
        """The whole intake as one message; None when stored, else the error to show."""
        message = self._inbound(
            session,
            entry,
            chat_intake.compose(submit),
            submit.name,
            details=chat_intake.given_details(submit),
        )
        return await self._accept(session, message)

    async def _submit_free(
        self, session: Session, dialog: chat_intake.Dialog, entry: Entry
    ) -> list[Frame]:
        error = await self._accept(
            session, self._inbound(session, entry, entry.text, dialog.get("name"))
        )
        if error is not None:
            return error
        await self._delivered(session.id, [entry.id])
        asks = self.config.reader.read(entry.text).status_question
        self._follow_up(session.id, entry.id, FollowUp.STATUS if asks else FollowUp.MORE)
        return []

    def _inbound(
        self,
        session: Session,
        entry: Entry,
        text: str,
        name: str,
        details: dict[str, str] | None = None,
        attachments: list[Attachment] | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            channel=Channel.WEBCHAT,
            external_id=f"{session.id}:{entry.id}",
            sender=session.id,
            display_name=name[:200],
            text=text[:MAX_TEXT_CHARS],
            received_at=self.config.now(),
            language=session.language,
            raw={"entry": entry.id},
            details=details or {},
            attachments=attachments or [],
        )

    async def _accept(self, session: Session, message: InboundMessage) -> list[Frame] | None:
        try:
            await self._sink.accept(message)
        except Exception:
            log.exception("chat message not stored", extra={"session": session.id})
            entry_id = int(message.raw["entry"])
            await self.store.set_state(session.id, [entry_id], "failed")
            await self.hub.publish(session.id, {"type": "state", "id": entry_id, "state": "failed"})
            return [
                error_frame(
                    "store_unavailable", chat_texts.say("store_unavailable", session.language)
                )
            ]
        return None

    async def _delivered(self, sid: str, ids: list[int], customer_only: bool = False) -> None:
        if customer_only:
            ids = [
                e.id
                for e in await self.store.history(sid)
                if e.sender == "customer" and e.id in set(ids)
            ]
        await self.store.set_state(sid, ids, "delivered")
        for entry_id in ids:
            await self.hub.publish(sid, {"type": "state", "id": entry_id, "state": "delivered"})

    # --- after the worker decided ------------------------------------------------------

    def _follow_up(self, sid: str, entry_id: int, kind: FollowUp, *, again: bool = False) -> None:
        """Wait for the decision in the background: the panel is answered meanwhile."""
        if self.config.decisions is None or (sid, entry_id) in self._following:
            return
        self._following.add((sid, entry_id))
        task = asyncio.create_task(self._after_decision(sid, entry_id, kind, again))
        self._follow_ups.add(task)
        task.add_done_callback(self._follow_ups.discard)

    async def _resume_follow_ups(self, sid: str) -> None:
        """Messages still waiting for their follow-up (this process restarted, or the worker
        was slow): a panel's hello takes them up again."""
        if self.config.decisions is None:
            return
        for entry_id, kind in (await self.store.awaiting(sid)).items():
            with contextlib.suppress(ValueError):
                self._follow_up(sid, entry_id, FollowUp(kind), again=True)

    async def _after_decision(self, sid: str, entry_id: int, kind: FollowUp, again: bool) -> None:
        try:
            if not again:
                await self.store.await_decision(sid, entry_id, kind.value)
            decision = await self._decision(f"{sid}:{entry_id}")
            session = await self.store.load(sid)
            if session is not None and decision is not None:
                await self._tell(session, decision, kind)
                await self.store.decision_told(sid, entry_id)
        except Exception:
            log.exception("chat follow-up failed", extra={"session": sid})
        finally:
            self._following.discard((sid, entry_id))
            with contextlib.suppress(Exception):
                await self.hub.publish(sid, {"type": "typing", "on": False})

    async def _decision(self, external_id: str) -> Decision | None:
        decisions = self.config.decisions
        assert decisions is not None
        deadline, pause = time.monotonic() + self.config.decision_wait_s, 0.05
        while True:
            decision = await decisions.decision_of(Channel.WEBCHAT, external_id)
            if decision is not None or time.monotonic() > deadline:
                return decision
            await asyncio.sleep(pause)  # a database has no event to await
            pause = min(pause * 2, 1.0)

    async def _tell(self, session: Session, decision: Decision, kind: FollowUp) -> None:
        """Held: the form's neutral notice, nothing about its content. Added without a reply
        (collapsed, throttled): one short receipt, or the status that was asked for."""
        language = session.language
        if decision is Decision.FLAGGED:
            await self._once(session.id, chat_texts.say("held", language), kind="held")
        elif decision in (Decision.COLLAPSED, Decision.THROTTLED):
            status = await self._status(session) if kind is FollowUp.STATUS else None
            if status is not None:
                await self.bot_entry(session.id, str(status["text"]), str(status["ref"]))
            else:
                await self._once(session.id, chat_texts.say("receipt", language))

    async def _once(self, sid: str, text: str, kind: str = "") -> None:
        """Not the same words twice in a row from the bot: a burst of messages gets one
        receipt (or one notice), until the bot has said something else."""
        if await self.store.say_once(sid, text):
            await self.bot_entry(sid, text, kind=kind)

    # --- a copy by email ----------------------------------------------------------------

    async def transcript(self, conv: Conversation, frame: Frame) -> list[Frame]:
        """The conversation, mailed to the address given in this chat (never another)."""
        session = await self.store.load(conv.session) if conv.session else None
        if session is None:
            return [error_frame("no_session", "say hello first")]
        mailer, language = self.config.mailer, session.language
        email = chat_intake.Dialog.from_json(session.dialog).get("contact")
        if mailer is None:
            return [error_frame("no_mail", chat_texts.say("transcript_unavailable", language))]
        if "@" not in email:
            return [error_frame("no_email", chat_texts.say("transcript_no_email", language))]
        if not (await self.limits.transcripts.hit(session.id, self.config.now())).allowed:
            return [error_frame("rate_limited", chat_texts.say("rate_limited", language))]
        history = await self.store.history(session.id)
        reply = OutboundReply(
            outbox_id=0,
            channel=Channel.EMAIL,
            to=email,
            text=chat_texts.transcript(history, language),
            language=language,
            ticket_ref=session.ticket_ref,
            subject=chat_texts.say("transcript_subject", language),
        )
        result = await mailer.send(reply)
        key = "transcript_sent" if result.ok else "transcript_failed"
        return [{"type": "notice", "text": chat_texts.say(key, language, email=email)}]

    # --- files ------------------------------------------------------------------------

    async def attach(self, conv: Conversation, posted: Posted) -> list[Frame]:
        """A file added to the complaint after its reference, as one message of the chat."""
        session = await self.store.load(conv.session)
        refusal = self._attach_refusal(session, posted)
        if refusal is not None or session is None:
            await posted.discard_files()
            return [refusal or error_frame("no_session", "unknown or expired session")]
        if not await self.limits.message(conv.ip, session.id, self.config.now()):
            await posted.discard_files()
            return [error_frame("rate_limited", chat_texts.say("rate_limited", conv.language))]
        async with self._locks.setdefault(session.id, asyncio.Lock()):
            return await self._attach(conv, session, posted)

    def _attach_refusal(self, session: Session | None, posted: Posted) -> Frame | None:
        if session is None:
            return error_frame("no_session", "unknown or expired session")
        language = session.language
        if not self.is_open():
            return self.closed_frame(language)
        if chat_intake.Dialog.from_json(session.dialog).step != chat_intake.DONE:
            return error_frame("attach_after", chat_texts.say("attach_after", language))
        if posted.file_errors or not posted.files:
            problem = (posted.file_errors or [chat_texts.say("attach_type", language)])[0]
            return error_frame("attach_refused", problem)
        return None

    async def _attach(self, conv: Conversation, session: Session, posted: Posted) -> list[Frame]:
        names = ", ".join(saved.attachment.filename for saved in posted.files)
        text = chat_texts.say("attach_added", session.language, name=names)
        entry = await self.store.append(session.id, "customer", text, self.config.now(), "sent")
        await self.hub.publish(session.id, entry.frame())
        dialog = chat_intake.Dialog.from_json(session.dialog)
        message = self._inbound(
            session,
            entry,
            text,
            dialog.get("name"),
            attachments=[saved.attachment for saved in posted.files],
        )
        error = await self._accept(session, message)
        if error is not None:
            await posted.discard_files()
            return error
        await self._delivered(session.id, [entry.id])
        self._follow_up(session.id, entry.id, FollowUp.MORE)
        return [{"type": "ack", "cid": str(posted.fields.get("cid", ""))[:64], "id": entry.id}]
