"""The agents' console pages: the tickets, one ticket whole, its status and notes.

A status change is two steps. The first shows, without saving anything, the reply the
customer would get in their language (TicketDesk.preview); the second sends the same
fields back with the state they were previewed on, and TicketDesk.change_status refuses
it if the ticket moved on meanwhile (a colleague's change would otherwise be answered
with words written for the old state). What the transition table refuses is shown on
the page (422) and changes nothing. Every form is CSRF-checked and audited under the
signed-in account. A ref that is unknown or malformed gets the same 404 page.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.app.web.staff_auth import SignedIn
from bot.contract.domain import TicketStatus
from bot.contract.errors import IntakeError
from bot.staff.accounts import Role
from bot.staff.desk import Preview, TicketChanged, parse_status
from bot.staff.ticket_list import CATEGORIES, CHANNELS, STATUSES, Filters, TicketList
from bot.tickets.ratings import TicketRatings

routes = web.RouteTableDef()
CLOCK_OPTIONS = (("", "any"), ("at_risk", "at risk"), ("overdue", "overdue"))
MAX_NOTE = 4000
DONE = {  # what the page says after a change, by the `done` of its address
    "status": "The status was changed: one reply is owed to the customer.",
    "note": "The note was added, for staff only.",
}


def _list(request: web.Request) -> TicketList:
    return TicketList(request.app[RUNTIME].sessions)


@routes.get("/console/tickets")
async def tickets_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.AGENT)
    query = dict(request.query)
    filters = Filters.parse(query)
    page = await _list(request).page(filters, cursor=query.get("after", "")[:80])
    kept = {k: v for k, v in vars(filters).items() if v}
    return request.app[CONSOLE].render(
        request,
        "tickets.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        tickets=page.tickets,
        filters=filters,
        statuses=STATUSES,
        channels=CHANNELS,
        categories=CATEGORIES,
        clocks=CLOCK_OPTIONS,
        next_url=f"?{urlencode({**kept, 'after': page.next_cursor})}" if page.next_cursor else "",
    )


@routes.get("/console/tickets/{ref}")
async def ticket_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.AGENT)
    done = DONE.get(request.query.get("done", ""), "")
    return await _show(request, signed_in, done=done)


@routes.post("/console/tickets/{ref}/status")
async def change_status(request: web.Request) -> web.StreamResponse:
    """`step=preview` shows the reply; `step=confirm`, with the previewed `version`, sends
    it. A ticket that is unknown (or a ref that is malformed) refuses either: 404."""
    signed_in, form = await request.app[STAFF].form(request, Role.AGENT)
    try:
        return await _preview_or_change(request, signed_in, form)
    except IntakeError as refused:
        return await _show(request, signed_in, form=form, problem=str(refused), status=422)


async def _preview_or_change(
    request: web.Request, signed_in: SignedIn, form: dict[str, str]
) -> web.StreamResponse:
    ref, desk = request.match_info["ref"], request.app[RUNTIME].desk
    status, note, resolve_date = _change(form)
    version = form.get("version", "")
    if form.get("step") != "confirm" or not version.isdigit() or len(version) > 19:
        preview = await desk.preview(ref, status, note=note, new_resolve_date=resolve_date)
        return await _show(request, signed_in, form=form, preview=preview)
    try:
        change = await desk.change_status(
            ref,
            status,
            note=note,
            actor=signed_in.staff.name,
            new_resolve_date=resolve_date,
            seen_version=int(version),
        )
    except TicketChanged as changed:
        preview = await desk.preview(ref, status, note=note, new_resolve_date=resolve_date)
        problem = str(changed)
        return await _show(
            request, signed_in, form=form, preview=preview, problem=problem, status=409
        )
    done = "note" if change.state_version == int(version) else "status"
    raise web.HTTPSeeOther(f"/console/tickets/{quote(change.ref)}?done={done}")


@routes.post("/console/tickets/{ref}/note")
async def add_note(request: web.Request) -> web.StreamResponse:
    """A note for staff only: never told to the customer."""
    signed_in, form = await request.app[STAFF].form(request, Role.AGENT)
    ref = request.match_info["ref"]
    try:
        noted = await request.app[RUNTIME].desk.add_note(
            ref, _note(form.get("internal_note", "")), signed_in.staff.name
        )
    except IntakeError as refused:
        return await _show(request, signed_in, note_form=form, problem=str(refused), status=422)
    raise web.HTTPSeeOther(f"/console/tickets/{quote(noted.ref)}?done=note")


def _change(form: dict[str, str]) -> tuple[TicketStatus, str, date | None]:
    """The status form's fields, read strictly: anything unreadable is refused by name."""
    status = parse_status(form.get("status", "")[:40])
    typed = form.get("resolve_date", "").strip()
    try:
        resolve_date = date.fromisoformat(typed) if typed else None
    except ValueError:
        raise IntakeError("the new resolve date is not a date (YYYY-MM-DD)") from None
    return status, _note(form.get("note", "")), resolve_date


def _note(note: str) -> str:
    if len(note) > MAX_NOTE:
        raise IntakeError(f"a note has at most {MAX_NOTE} characters")
    return note


async def _show(
    request: web.Request,
    signed_in: SignedIn,
    *,
    form: dict[str, str] | None = None,
    note_form: dict[str, str] | None = None,
    preview: Preview | None = None,
    problem: str = "",
    done: str = "",
    status: int = 200,
) -> web.Response:
    pages = request.app[CONSOLE]
    record = await _list(request).ticket(request.match_info["ref"])
    if record is None:
        return pages.render(
            request, "ticket_missing.html", staff=signed_in.staff, csrf=signed_in.csrf, status=404
        )
    form = form or {}
    runtime = request.app[RUNTIME]
    rating = await TicketRatings(runtime.sessions, runtime.clock).of_ticket(record.ref)
    return pages.render(
        request,
        "ticket.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        status=status,
        ticket=record,
        form={
            "status": form.get("status", record.status),
            "note": form.get("note", ""),
            "resolve_date": form.get("resolve_date", ""),
        },
        internal_note=(note_form or {}).get("internal_note", ""),
        preview=preview,
        problem=problem,
        done=done,
        max_note=MAX_NOTE,
        rating=rating,
    )
