"""The site chat: an embeddable widget that talks to the bot over a WebSocket (or polling).

Routes: GET /widget.js and /widget.css (the widget, no build step), GET /chat/config
(accepted?, texts in the browser's language, where else to write when closed), GET
/chat/ws (the protocol below), POST /chat/send and POST /chat/poll (the same protocol
over plain HTTP, for networks that block WebSockets; a poll also answers the states of
entries it has seen), POST /chat/upload (a file for the complaint, multipart: the
session first, then the file, under the form's checks: channels.chat_uploads).

Protocol, JSON frames. Client: {"type": "hello", "session": id|null, "lang": [...]},
{"type": "message", "text": ..., "cid": client id}, {"type": "transcript"} (a copy by
email to the address given in this chat). Server: "welcome" (session id, history,
accepted), "entry" (a new message of the conversation; a bot question's `choices`
are offered as buttons too), "ack" (a client message became entry N), "state" (entry
N is now delivered: durable in the store), "typing", "status" (the ticket this chat
knows), "closed" (chat unavailable: the configured and accepted channels to use, as
links), "availability" (an admin closed or reopened the chat), "notice" (a line to
show, such as "the copy is on its way"), "error" (code and a text to show).

The intake dialog (channels.chat_intake) is the chat's own flow: the first message is
read by the core's extraction (WebchatConfig.reader) and only what is still missing is
asked; its answers are submitted as ONE message when complete, and every later text
as its own message, so the stream's gate, classifier and throttle treat chat exactly
like email. Replies come back through `WebchatSender`, which appends them to the
session and publishes them to every open panel of it, on any web process. A message
the core sends no reply for (held, or added without a change) is followed up once the
worker decided (WebchatConfig.decisions): the form's neutral notice for a held one,
one short receipt (or the status asked for) for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from redis.asyncio import Redis

from bot.contract import safe_json
from bot.contract.domain import Channel, OutboundReply, SendResult
from bot.contract.ports import MessageSink, Plug, TicketLookup
from channels import chat_texts
from channels.chat_hub import Frame, Hub
from channels.chat_protocol import (
    Chat,
    ChatLimits,
    Conversation,
    TokenBucket,
    WebchatConfig,
    error_frame,
)
from channels.chat_sessions import SessionFull, SessionStore
from channels.chat_uploads import SESSION_FIELD, ChatUploadReader, NoSession
from channels.client_address import client_ip
from channels.form_uploads import MIB, TooLarge

log = logging.getLogger(__name__)
__all__ = ["Chat", "WebchatConfig", "WebchatSender", "build", "plug", "plug_of"]
STATIC = Path(__file__).resolve().parent / "static"


class WebchatSender:
    """Replies go into the session's history and, live, to its open panels."""

    channel = Channel.WEBCHAT

    def __init__(self, chat: Chat) -> None:
        self._chat = chat

    async def send(self, reply: OutboundReply) -> SendResult:
        store = self._chat.store
        if not await store.exists(reply.to):
            return SendResult(
                ok=False, error="the chat session expired or never existed", permanent=True
            )
        try:
            entry = await self._chat.bot_entry(reply.to, reply.text, reply.ticket_ref)
        except SessionFull as exc:
            return SendResult(ok=False, error=str(exc), permanent=True)
        if reply.ticket_ref:
            await store.set_ref(reply.to, reply.ticket_ref)
        return SendResult(ok=True, provider_id=f"{reply.to}:{entry.id}")


# --- transports ----------------------------------------------------------------------------


def _parse(data: str) -> Frame | None:
    try:
        frame = safe_json.loads(data)  # a frame nested too deep is a bad frame, not a crash
    except ValueError:
        return None
    return frame if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None


def _cors(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = "*"  # no cookies: the session is data
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class Transports:
    """The aiohttp handlers around one Chat."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        # Frames handled at once: each holds a few Redis connections, and the pool is finite.
        self._busy = asyncio.Semaphore(chat.config.max_concurrent)
        self._assets = {
            name: (STATIC / name).read_text(encoding="utf-8")
            for name in ("widget.js", "widget.css")
        }

    def _bucket(self) -> TokenBucket:
        return TokenBucket(self.chat.config.rate_per_s, self.chat.config.burst)

    def _client_ip(self, request: web.Request) -> str:
        return client_ip(request, self.chat.config.trusted_proxies)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/widget.js", self.widget_js),
            web.get("/widget.css", self.widget_css),
            web.get("/chat/config", self.config),
            web.get("/chat/ws", self.websocket),
            web.post("/chat/send", self.send),
            web.post("/chat/poll", self.poll),
            web.post("/chat/upload", self.upload),
        ]

    async def widget_js(self, request: web.Request) -> web.StreamResponse:
        return self._asset("widget.js", "application/javascript")

    async def widget_css(self, request: web.Request) -> web.StreamResponse:
        return self._asset("widget.css", "text/css")

    def _asset(self, name: str, content_type: str) -> web.StreamResponse:
        response = web.Response(
            text=self._assets[name],
            content_type=content_type,
            headers={"Cache-Control": "public, max-age=300"},
        )
        return _cors(response)

    async def config(self, request: web.Request) -> web.StreamResponse:
        languages = request.query.get("lang", "") or request.headers.get("Accept-Language", "")
        return _cors(web.json_response(self.chat.config_body(languages.split(",")[:20])))

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        config = self.chat.config
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=config.max_frame_bytes)
        await ws.prepare(request)
        conv = Conversation(ip=self._client_ip(request), bucket=self._bucket())
        self.chat.hub.sockets.add(ws)
        self.chat.hub.panels.add(conv.out)
        writer = asyncio.create_task(_write(ws, conv.out))
        try:
            async for msg in ws:
                if not await self._on_frame(ws, conv, msg):
                    break
        finally:
            self.chat.hub.panels.discard(conv.out)
            if conv.session:
                self.chat.hub.unlisten(conv.session, conv.out)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, conv: Conversation, msg: Any) -> bool:
        """False when the socket must close: persistent abuse gets 1008."""
        config = self.chat.config
        frame = _parse(msg.data) if msg.type == WSMsgType.TEXT else None
        if frame is None:
            conv.bad_frames += 1
            conv.out.put_nowait(error_frame("bad_frame", "frames are JSON objects with a type"))
            if conv.bad_frames > config.max_bad_frames:
                return await _close(ws, conv, "too many malformed frames")
            return True
        if not conv.bucket.take():
            conv.strikes += 1
            conv.out.put_nowait(
                error_frame(
                    "rate_limited",
                    chat_texts.say("rate_limited", conv.language),
                    cid=str(frame.get("cid") or "")[:64],
                )
            )
            if conv.strikes > config.max_strikes:
                return await _close(ws, conv, "too many messages")
            return True
        for reply in await self._handle(conv, frame):
            conv.out.put_nowait(reply)
        return True

    async def _handle(self, conv: Conversation, frame: Frame) -> list[Frame]:
        """A store that is down or saturated is a retry for the client, not a crash."""
        try:
            async with self._busy:
                return await self.chat.handle(conv, frame)
        except Exception:
            log.exception("chat frame failed", extra={"frame_type": frame.get("type")})
            return [
                error_frame(
                    "unavailable",
                    chat_texts.say("store_unavailable", conv.language),
                    cid=str(frame.get("cid") or "")[:64],
                    retry=frame["type"],
                )
            ]

    async def send(self, request: web.Request) -> web.StreamResponse:
        """One frame over HTTP (text/plain JSON, so the browser sends no preflight)."""
        ip = self._client_ip(request)
        if not (await self.chat.limits.http_frames.hit(ip, self.chat.config.now())).allowed:
            return _cors(
                web.json_response(
                    {"frames": [error_frame("rate_limited", chat_texts.say("rate_limited", "en"))]},
                    status=429,
                )
            )
        if (
            request.content_length is not None
            and request.content_length > self.chat.config.max_frame_bytes
        ):
            return _cors(
                web.json_response(
                    {
                        "frames": [
                            error_frame(
                                "too_long",
                                f"body larger than {self.chat.config.max_frame_bytes} bytes",
                            )
                        ]
                    },
                    status=413,
                )
            )
        try:
            frame = _parse(await request.text())
        except (UnicodeDecodeError, LookupError):  # not UTF-8, or an unknown charset
            frame = None
        if frame is None:
            return _cors(
                web.json_response(
                    {"frames": [error_frame("bad_frame", "the body is a JSON object with a type")]},
                    status=400,
                )
            )
        conv = Conversation(ip=ip, bucket=self._bucket(), live=False)
        if frame["type"] != "hello":
            session = await self.chat.store.load(str(frame.get("session") or ""))
            if session is None:
                return _cors(
                    web.json_response(
                        {"frames": [error_frame("no_session", "unknown or expired session")]},
                        status=404,
                    )
                )
            conv.session, conv.language = session.id, session.language
        frames = await self._handle(conv, frame)
        direct = [conv.out.get_nowait() for _ in range(conv.out.qsize())]
        return _cors(web.json_response({"frames": direct + frames}))

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """A file for the complaint (multipart: the session, then the file); JSON frames back."""
        ip = self._client_ip(request)
        if not (await self.chat.limits.http_frames.hit(ip, self.chat.config.now())).allowed:
            frame = error_frame("rate_limited", chat_texts.say("rate_limited", "en"))
            return _cors(web.json_response({"frames": [frame]}, status=429))
        conv = Conversation(ip=ip, bucket=self._bucket(), live=False)
        conv.language = chat_texts.pick([request.query.get("lang", "")], "en")
        async with self._busy:
            frames = await _upload(self.chat, request, conv)
        status = 200 if all(f["type"] != "error" for f in frames) else 400
        return _cors(web.json_response({"frames": frames}, status=status))

    async def poll(self, request: web.Request) -> web.StreamResponse:
        """Entries after `after`; waits up to `wait` seconds for one if there are none.

        A POST of a {"type": "poll", "session": ...} frame (text/plain, so no preflight):
        the session id is the chat's secret and never belongs in a URL or an access log."""
        try:
            body = _parse(await request.text()) if (request.content_length or 0) <= 4096 else None
        except (UnicodeDecodeError, LookupError):
            body = None
        body = body or {}
        store, sid = self.chat.store, str(body.get("session") or "")[:64]
        try:
            after = int(body.get("after", -1))
            wait = min(max(float(body.get("wait", 0)), 0.0), self.chat.config.poll_wait_s)
        except (TypeError, ValueError):
            return _cors(web.json_response({"error": "after and wait are numbers"}, status=400))
        if not await store.exists(sid):
            return _cors(web.json_response({"error": "unknown or expired session"}, status=404))
        queue: asyncio.Queue[Frame] = asyncio.Queue()
        self.chat.hub.listen(sid, queue)
        try:
            entries = await store.history(sid, after)
            if not entries and wait > 0:
                await _wait_for_news(request, queue, wait)
                entries = await store.history(sid, after)
        finally:
            self.chat.hub.unlisten(sid, queue)
        # Entries the poller has seen change state too: "delivered" reaches it this way.
        states = await store.states(sid)
        return _cors(
            web.json_response(
                {
                    "frames": [e.frame() for e in entries],
                    "states": states,
                    "accepted": self.chat.is_open(),
                }
            )
        )


async def _upload(chat: Chat, request: web.Request, conv: Conversation) -> list[Frame]:
    """Read the post under the form's rules; the session must be named before the file."""
    rules = chat.config.uploads
    if rules is None:
        return [error_frame("no_uploads", "files are not accepted here")]
    if request.content_type != "multipart/form-data":
        return [error_frame("bad_frame", "a file comes as multipart/form-data")]
    if request.content_length is None or request.content_length > rules.max_post_bytes:
        limit = str(max(1, rules.max_file_bytes // MIB))
        return [error_frame("too_large", chat_texts.say("attach_size", conv.language, mb=limit))]
    reader = ChatUploadReader(rules, conv.language, chat.store.exists)
    try:
        posted = await reader.read(request)
    except NoSession:
        await reader.posted.discard_files()
        return [error_frame("no_session", "unknown or expired session")]
    except (TooLarge, ValueError):  # over the budget, or not a well-formed multipart post
        await reader.posted.discard_files()
        limit = str(max(1, rules.max_file_bytes // MIB))
        return [error_frame("too_large", chat_texts.say("attach_size", conv.language, mb=limit))]
    conv.session = posted.fields.get(SESSION_FIELD, "")
    return await chat.attach(conv, posted)


async def _wait_for_news(request: web.Request, queue: asyncio.Queue[Frame], wait: float) -> None:
    """Until a frame comes, `wait` runs out, or the poller hangs up (checked each second)."""
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), min(left, 1.0))
            return


async def _write(ws: web.WebSocketResponse, out: asyncio.Queue[Frame]) -> None:
    """The socket's one writer: replies and published frames in the order they came."""
    while True:
        frame = await out.get()
        try:
            await ws.send_json(frame)
        except (ConnectionError, RuntimeError):
            return
        finally:
            out.task_done()


async def _close(ws: web.WebSocketResponse, conv: Conversation, why: str) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(conv.out.join(), 2.0)  # the error frames go out first
    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=why.encode())
    return False


def build(
    config: WebchatConfig,
    sink: MessageSink,
    lookup: TicketLookup,
    redis: Redis,
    accepted: Callable[[], frozenset[Channel]],
) -> Chat:
    store = SessionStore(redis, config.key_prefix, config.session_ttl_s)
    return Chat(config, sink, lookup, store, Hub(redis, store), accepted, ChatLimits(redis, config))


def plug_of(chat: Chat) -> Plug:
    """The chat needs no credentials: it is always configured."""
    return Plug(
        name="webchat",
        routes=Transports(chat).routes(),
        senders={Channel.WEBCHAT: WebchatSender(chat)},
        loops=[chat.hub.run, chat.watch],
        shutdown=[chat.stop_follow_ups, chat.hub.close_all],
        forget=[chat.store.forget],
        states={"chat_hub": lambda: chat.hub.state},
    )


def plug(
    config: WebchatConfig,
    sink: MessageSink,
    lookup: TicketLookup,
    redis: Redis,
    accepted: Callable[[], frozenset[Channel]],
) -> Plug:
    return plug_of(build(config, sink, lookup, redis, accepted))
