"""A local Graph API: the Send API and the WhatsApp Cloud API messages endpoint, on loopback.

It checks requests the way Graph does (access token, required fields, text
limits) and answers with Graph's JSON, success or error, so the bot's senders
are tested against the protocol rather than against our own expectations of it.
Every call is recorded with the token it carried; `fail_next` queues Graph errors.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

VERSION = "v21.0"
TOKEN = "EAAG-test-page-token"
PHONE_NUMBER_ID = "106540352242922"


@dataclass(frozen=True)
class GraphCall:
    node: str  # "me", a page id, or a phone number id
    token: str  # from `Authorization: Bearer` or the `access_token` query parameter
    body: dict[str, Any]
    accepted: bool  # False: answered with a Graph error


@dataclass(frozen=True)
class Failure:
    status: int
    error: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeGraphApi:
    def __init__(self, token: str = TOKEN, phone_number_id: str = PHONE_NUMBER_ID) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.calls: list[GraphCall] = []  # accepted and refused alike, in arrival order
        self._plan: deque[Failure | None] = deque()  # None: answer that call normally
        self._ids = itertools.count(1)
        self.app = web.Application()
        self.app.router.add_post(f"/{VERSION}/{{node}}/messages", self._messages)

    def fail_next(
        self,
        status: int,
        code: int,
        message: str,
        subcode: int | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` planned calls are answered with this Graph error instead."""
        for _ in range(times):
            self._plan.append(Failure(status, graph_error(code, message, subcode), headers or {}))

    def pass_next(self, times: int = 1) -> None:
        """The next `times` planned calls are answered normally (before a planned failure)."""
        self._plan.extend([None] * times)

    @property
    def sent(self) -> list[GraphCall]:
        """Calls that Graph accepted."""
        return [c for c in self.calls if c.accepted]

    async def _messages(self, request: web.Request) -> web.Response:
        token = _token_of(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        node = request.match_info["node"]
        refusal = self._refusal(node, token, body)
        self.calls.append(
            GraphCall(node, token, body if isinstance(body, dict) else {}, accepted=refusal is None)
        )
        if refusal is not None:
            return refusal
        if node == self.phone_number_id:
            to = body["to"]
            return web.json_response(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.HBgLFAKE{next(self._ids):06d}"}],
                }
            )
        return web.json_response(
            {"recipient_id": body["recipient"]["id"], "message_id": f"m_FAKE{next(self._ids):06d}"}
        )

    def _refusal(self, node: str, token: str, body: Any) -> web.Response | None:
        if not token:
            return _error(
                400,
                graph_error(
                    2500,
                    "An active access token must be used to "
                    "query information about the current user.",
                ),
            )
        if token != self.token:
            return _error(
                401, graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            )
        failure = self._plan.popleft() if self._plan else None
        if failure is not None:
            return _error(failure.status, failure.error, failure.headers)
        if not isinstance(body, dict):
            return _error(400, graph_error(100, "(#100) Invalid JSON body"))
        problem = (
            _whatsapp_problem(body) if node == self.phone_number_id else _send_api_problem(body)
        )
        if problem is not None:
            return _error(400, graph_error(100, f"(#100) {problem}"))
        return None


def _token_of(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value:
        return value
    return request.query.get("access_token", "")


def _error(
    status: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error, status=status, headers=headers)


def _send_api_problem(body: dict[str, Any]) -> str | None:
    recipient, message = body.get("recipient"), body.get("message")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return "The parameter recipient is required"
    if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        return "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return "The parameter message[text] is required"
    if not message["text"] or len(message["text"]) > 2000:
        return "Param message[text] must be a UTF-8 encoded string of 1 to 2000 characters"
    return None


def _whatsapp_problem(body: dict[str, Any]) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required."
    if not isinstance(body.get("to"), str) or not body["to"].isdigit():
        return "Invalid parameter: to"
    text = body.get("text")
    if body.get("type") != "text" or not isinstance(text, dict):
        return "Param type must be text with a text object"
    if not isinstance(text.get("body"), str) or not 1 <= len(text["body"]) <= 4096:
        return "Param text['body'] must be 1 to 4096 characters"
    return None


@asynccontextmanager
async def running_graph_api(
    fake: FakeGraphApi | None = None,
) -> AsyncIterator[tuple[FakeGraphApi, str]]:
    """The fake on a loopback port; yields it and its base URL (like graph_api_url)."""
    fake = fake or FakeGraphApi()
    server = TestServer(fake.app)
    await server.start_server()
    try:
        yield fake, str(server.make_url(f"/{VERSION}"))
    finally:
        await server.close()
