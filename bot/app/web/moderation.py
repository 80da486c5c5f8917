"""The moderators' queue as JSON under /api/v1/moderation/.

A moderator's (or admin's) personal token (`intake-bot users token NAME`) as the Bearer;
the shared ingest token gets 403. Who acted is the token's account, written to the audit
log with every action (an X-Intake-Actor header changes nothing).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.app.web.api import problem, read_json_object
from bot.app.web.keys import RUNTIME, STAFF
from bot.contract.errors import IntakeError
from bot.staff.accounts import Role
from bot.staff.moderation_queue import ModerationQueue, Resolution

routes = web.RouteTableDef()
_MAX_ID = 2**63 - 1  # BIGINT: a larger number reaching the database is an error there
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also takes "²" and "٣"


def _queue(request: web.Request) -> ModerationQueue:
    runtime = request.app[RUNTIME]
    return ModerationQueue(runtime.sessions, runtime.stream, runtime.clock)


def _in_range(value: str) -> bool:
    return _DIGITS.fullmatch(value) is not None and int(value) <= _MAX_ID


def _int(value: str, name: str) -> int:
    if not _in_range(value):
        raise IntakeError(f"{name} must be an integer from 0 to {_MAX_ID}, not {value[:40]!r}")
    return int(value)


def _message_id(request: web.Request) -> int:
    """The path's id: one that no message can have is not in the queue either (404)."""
    value = request.match_info["message_id"]
    if not _in_range(value):
        raise IntakeError(f"message {value[:40]!r} is not in the moderation queue")
    return int(value)


def _resolution(result: Resolution) -> web.Response:
    body: dict[str, Any] = asdict(result)
    if result.blocked_until is not None:
        body["blocked_until"] = result.blocked_until.isoformat()
    return web.json_response(body)


@routes.get("/api/v1/moderation/items")
async def list_items(request: web.Request) -> web.Response:
    if isinstance(staff := await request.app[STAFF].api(request, Role.MODERATOR), web.Response):
        return staff
    query = request.query
    try:
        items = await _queue(request).items(
            status=query.get("status", "pending"),
            limit=_int(query.get("limit", "50"), "limit"),
            after_id=_int(query.get("after", "0"), "after"),
        )
    except IntakeError as exc:
        return problem(400, str(exc))
    return web.json_response(
        {"items": items, "next_after": items[-1]["message_id"] if items else None}
    )


@routes.get("/api/v1/moderation/items/{message_id}")
async def get_item(request: web.Request) -> web.Response:
    if isinstance(staff := await request.app[STAFF].api(request, Role.MODERATOR), web.Response):
        return staff
    try:
        message_id = _message_id(request)
        return web.json_response(await _queue(request).item(message_id))
    except IntakeError as exc:
        return problem(404, str(exc))


def _error_status(exc: IntakeError) -> int:
    text = str(exc)
    return 409 if "already" in text else 404 if "not in the" in text else 400


async def _act(request: web.Request, action: str) -> web.Response:
    if isinstance(staff := await request.app[STAFF].api(request, Role.MODERATOR), web.Response):
        return staff
    try:
        message_id = _message_id(request)
        queue, actor = _queue(request), staff.name
        if action == "release":
            return _resolution(await queue.release(message_id, actor))
        if action == "confirm":
            return _resolution(await queue.confirm(message_id, actor))
        days = await _days(request)
        if isinstance(days, web.Response):
            return days
        return _resolution(await queue.block(message_id, days, actor))
    except IntakeError as exc:
        return problem(_error_status(exc), str(exc))


async def _days(request: web.Request) -> int | web.Response:
    body = await read_json_object(request)
    if isinstance(body, web.Response):
        return body
    days = body.get("days")
    if not isinstance(days, int) or isinstance(days, bool):
        return problem(422, "block needs an integer 'days'")
    return days


@routes.post("/api/v1/moderation/items/{message_id}/release")
async def release(request: web.Request) -> web.Response:
    return await _act(request, "release")


@routes.post("/api/v1/moderation/items/{message_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    return await _act(request, "confirm")


@routes.post("/api/v1/moderation/items/{message_id}/block")
async def block(request: web.Request) -> web.Response:
    """Body: {"days": N}. Confirms the message and blocks its sender for N days."""
    return await _act(request, "block")
