"""The generic ingest API: any integration can put a message on the stream.

POST /api/v1/messages with a Bearer token and a JSON InboundMessage. The answer
is 202 once the message is durable, 200 for a message already received; every
refusal names the problem.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.app.web.keys import RUNTIME
from bot.contract import safe_json
from bot.contract.domain import InboundMessage

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def authorized(request: web.Request) -> web.Response | None:
    """None when the Bearer token matches; otherwise the refusal to send."""
    token = request.app[RUNTIME].settings.api_token
    if not token:
        return problem(403, "the API is disabled: set INTAKE_API_TOKEN to enable it")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogates: encode them back, never raise.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.encode("utf-8", "surrogateescape"), token.encode()
    ):
        return problem(401, "missing or wrong Bearer token")
    return None


async def read_json_object(request: web.Request) -> dict[str, Any] | web.Response:
    limit = request.app[RUNTIME].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return problem(413, f"body larger than {limit} bytes")  # refuse before reading it
    try:
        body = await request.read()  # the app's client_max_size is this same limit
    except web.HTTPRequestEntityTooLarge:
        return problem(413, f"body larger than {limit} bytes")
    return json_object(body)


def json_object(body: bytes) -> dict[str, Any] | web.Response:
    """The body's JSON object, or the 4xx that says why there is none."""
    try:
        data = safe_json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return problem(400, f"body is not valid UTF-8 (byte {exc.start})")
    except safe_json.TooDeep as exc:
        return problem(400, f"body refused: {exc}")
    except json.JSONDecodeError as exc:
        return problem(400, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(data, dict):
        return problem(422, "the body must be a JSON object")
    return data


def validation_problems(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


@routes.post("/api/v1/messages")
async def post_message(request: web.Request) -> web.Response:
    refusal = authorized(request)
    if refusal is not None:
        return refusal
    data = await read_json_object(request)
    if isinstance(data, web.Response):
        return data
    runtime = request.app[RUNTIME]
    data.setdefault("received_at", runtime.clock.now().isoformat())
    try:
        message = InboundMessage.model_validate(data)
    except ValidationError as exc:
        return problem(422, "invalid message", problems=validation_problems(exc))
    try:
        accepted = await runtime.ingest.accept(message)
    except SQLAlchemyError:
        log.exception("ingest failed")
        return problem(503, "the message store is unavailable; retry later")
    status = 200 if accepted.duplicate else 202
    return web.json_response(
        {"id": accepted.message_id, "duplicate": accepted.duplicate}, status=status
    )
