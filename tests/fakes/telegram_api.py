"""A local aiohttp server that answers like the Telegram Bot API (core.telegram.org/bots/api).

Every call is `POST /bot<token>/<method>` with its parameters as JSON, a form or a query
string, and every answer is the Bot API envelope: {"ok": true, "result": ...} or
{"ok": false, "error_code": ..., "description": ..., "parameters": {...}}. What the real
API does that our bot must cope with is reproduced: 429 with parameters.retry_after,
400 "message is too long" above 4096 units, 403 for a user who blocked the bot, 409 for
getUpdates while a webhook is set, long polling that honours offset and timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

MAX_TEXT = 4096  # counted in UTF-16 code units, like Telegram's entity offsets
Params = dict[str, Any]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# Parameters that are not strings: in a form or a query they arrive JSON-encoded.
_TYPED = frozenset(
    {
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "drop_pending_updates",
        "max_connections",
        "reply_to_message_id",
        "disable_notification",
    }
)


def _value(key: str, raw: str) -> Any:
    if key not in _TYPED:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class FakeBotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.base_url = ""  # http://127.0.0.1:<port>/bot, set once it listens
        self.calls: list[tuple[str, Params]] = []
        self.webhook: Params | None = None
        self.pending: list[dict[str, Any]] = []  # updates not yet confirmed by an offset
        self.offsets: list[int | None] = []  # offset of every getUpdates call
        self.polling = 0  # getUpdates calls waiting right now
        self.most_polling = 0  # the most that ever waited at once (Telegram allows one)
        self.closing = False
        self._delivered: list[Params] = []
        self._limits: deque[int | None] = deque()  # per coming sendMessage: None = let it go
        self.limited = 0  # sendMessage calls answered 429 so far
        self._blocked: set[str] = set()
        self._message_ids = iter(range(1, 1 << 30))
        self._changed = asyncio.Condition()
        self.me = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Intake",
            "username": "intake_test_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # -- what a test sets up and reads --

    @property
    def sent(self) -> list[Params]:
        """The sendMessage calls that delivered a message (not those answered with an error)."""
        return self._delivered

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def rate_limit(self, retry_after: int, times: int = 1, after: int = 0) -> None:
        """After `after` more sendMessage calls go through, `times` answer 429."""
        self._limits.extend([None] * after + [retry_after] * times)

    def block(self, chat_id: int | str) -> None:
        self._blocked.add(str(chat_id))

    async def queue(self, *updates: dict[str, Any]) -> None:
        async with self._changed:
            self.pending.extend(updates)
            self._changed.notify_all()

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 10.0) -> None:
        """Until `condition` holds after some call (a test's synchronisation, bounded)."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(condition)

    # -- the server --

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        handler = self._methods().get(method.lower())
        if handler is None:
            return _error(404, "Not Found")
        params = await _params(request)
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        answer: web.Response = await handler(params)
        return answer

    def _methods(self) -> dict[str, Callable[[Params], Any]]:
        return {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
        }

    async def _get_me(self, params: Params) -> web.Response:
        return _ok(self.me)

    async def _send_message(self, params: Params) -> web.Response:
        chat_id, text = str(params.get("chat_id", "")), str(params.get("text", ""))
        if not chat_id:
            return _error(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if _utf16_len(text) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        wait = self._limits.popleft() if self._limits else None
        if wait is not None:
            self.limited += 1
            return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        if chat_id in self._blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        self._delivered.append(params)
        return _ok(
            {
                "message_id": next(self._message_ids),
                "from": self.me,
                "chat": {"id": int(chat_id), "type": "private"},
                "date": int(time.time()),
                "text": text,
            }
        )

    async def _get_updates(self, params: Params) -> web.Response:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        self.offsets.append(offset)
        limit = int(params.get("limit") or 100)
        async with self._changed:
            if offset is not None:  # confirms every update before it
                self.pending = [u for u in self.pending if u["update_id"] >= int(offset)]
            self.polling += 1
            self.most_polling = max(self.most_polling, self.polling)
            self._changed.notify_all()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(float(params.get("timeout") or 0)):
                    await self._changed.wait_for(lambda: bool(self.pending) or self.closing)
            self.polling -= 1
            return _ok(self.pending[:limit])

    async def _set_webhook(self, params: Params) -> web.Response:
        if not str(params.get("url", "")).startswith("https://"):
            return _error(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        self.webhook = params
        return _ok(True, description="Webhook was set")

    async def _delete_webhook(self, params: Params) -> web.Response:
        if params.get("drop_pending_updates") is True:
            self.pending.clear()
        self.webhook = None
        return _ok(True, description="Webhook was deleted")


async def _params(request: web.Request) -> Params:
    params: Params = {key: _value(key, value) for key, value in request.query.items()}
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        params.update(
            {key: _value(key, value) for key, value in form.items() if isinstance(value, str)}
        )
    if "chat_id" in params:
        params["chat_id"] = str(params["chat_id"])
    return params


def _ok(result: Any, **extra: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result, **extra})


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


@contextlib.asynccontextmanager
async def running(token: str) -> AsyncIterator[FakeBotApi]:
    """The fake listening on a free loopback port, for as long as the block runs."""
    fake = FakeBotApi(token)
    runner = web.AppRunner(fake.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}/bot"
    try:
        yield fake
    finally:
        async with fake._changed:  # wake long polls so the server can close at once
            fake.closing = True
            fake._changed.notify_all()
        await runner.cleanup()
