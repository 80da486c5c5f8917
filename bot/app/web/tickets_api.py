"""Tickets as JSON under /api/v1/tickets, for an agent's (or higher) personal token.

The same queries as the console's ticket pages and the same TicketDesk calls: a status
change is checked against the transition table and owes exactly one reply; a note is for
staff. The audit log names the token's account. Every unknown or malformed reference is
the same 404.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from aiohttp import web

from bot.app.web.api import problem, read_json_object
from bot.app.web.keys import RUNTIME, STAFF
from bot.contract.errors import IntakeError
from bot.staff.accounts import Role, Staff
from bot.staff.desk import TicketChanged, parse_status
from bot.staff.ticket_list import REF, Filters, TicketList
from bot.tickets import lifecycle

routes = web.RouteTableDef()
_NOT_FOUND = "no such ticket"


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _tickets(request: web.Request) -> TicketList:
    return TicketList(request.app[RUNTIME].sessions)


async def _exists(request: web.Request, ref: str) -> bool:
    if not REF.fullmatch(ref.strip().upper()):
        return False  # never a query: a NUL byte, say, is an error in PostgreSQL
    async with request.app[RUNTIME].sessions() as session:
        return await lifecycle.by_ref(session, ref) is not None


@routes.get("/api/v1/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    if isinstance(staff := await request.app[STAFF].api(request, Role.AGENT), web.Response):
        return staff
    page = await _tickets(request).page(
        Filters.parse(request.query), cursor=request.query.get("after", "")[:100]
    )
    return web.json_response(
        {"tickets": _json(page.tickets), "next_after": page.next_cursor or None}
    )


@routes.get("/api/v1/tickets/{ref}")
async def get_ticket(request: web.Request) -> web.Response:
    if isinstance(staff := await request.app[STAFF].api(request, Role.AGENT), web.Response):
        return staff
    record = await _tickets(request).ticket(request.match_info["ref"][:40])
    if record is None:
        return problem(404, _NOT_FOUND)
    return web.json_response(_json(record))


async def _change_asked(request: web.Request) -> tuple[Staff, dict[str, Any], str] | web.Response:
    """Who asks (an agent's token or higher), the JSON body, and a ticket that exists;
    or the answer that says which of them is missing."""
    if isinstance(staff := await request.app[STAFF].api(request, Role.AGENT), web.Response):
        return staff
    body = await read_json_object(request)
    if isinstance(body, web.Response):
        return body
    ref = request.match_info["ref"][:40]
    if not await _exists(request, ref):
        return problem(404, _NOT_FOUND)
    return staff, body, ref


@routes.post("/api/v1/tickets/{ref}/status")
async def change_status(request: web.Request) -> web.Response:
    """Body: {"status": ..., "note": ..., "new_resolve_date": "YYYY-MM-DD" (optional),
    "state_version": N (optional: refused with 409 if the ticket moved on since)}."""
    asked = await _change_asked(request)
    if isinstance(asked, web.Response):
        return asked
    staff, body, ref = asked
    try:
        status, note = parse_status(str(body.get("status", ""))), body.get("note", "")
        if not isinstance(note, str):
            raise IntakeError("note must be a string")
        new_date = body.get("new_resolve_date")
        seen = body.get("state_version")
        if seen is not None and (not isinstance(seen, int) or isinstance(seen, bool)):
            raise IntakeError("state_version must be an integer")
        change = await request.app[RUNTIME].desk.change_status(
            ref,
            status,
            note=note,
            actor=staff.name,
            new_resolve_date=date.fromisoformat(new_date) if isinstance(new_date, str) else None,
            seen_version=seen,
        )
    except TicketChanged as exc:
        return problem(409, str(exc))
    except (IntakeError, ValueError) as exc:
        return problem(422, str(exc))
    return web.json_response(
        {
            "ticket": change.ref,
            "state_version": change.state_version,
            "reply_owed": change.outbox_id is not None,
        }
    )


@routes.post("/api/v1/tickets/{ref}/notes")
async def add_note(request: web.Request) -> web.Response:
    """Body: {"note": ...}: for staff only, never told to the customer."""
    asked = await _change_asked(request)
    if isinstance(asked, web.Response):
        return asked
    staff, body, ref = asked
    note = body.get("note", "")
    try:
        if not isinstance(note, str):
            raise IntakeError("note must be a string")
        await request.app[RUNTIME].desk.add_note(ref, note, staff.name)
    except IntakeError as exc:
        return problem(422, str(exc))
    return web.json_response({"ticket": ref, "noted": True})
