"""The admins' audit log: who did what, searchable by actor, action, target and date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.staff.accounts import Role
from bot.store import audit

routes = web.RouteTableDef()
PAGE = 50


def _day(value: str, tz: ZoneInfo) -> datetime | None:
    """A YYYY-MM-DD typed in the form, as the start of that day where the company works."""
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(), tzinfo=tz)
    except ValueError:
        return None


@routes.get("/console/audit")
async def audit_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.ADMIN)
    runtime, query = request.app[RUNTIME], request.query
    tz = ZoneInfo(runtime.policy.current.sla.timezone)
    until = _day(query.get("until", ""), tz)
    search = audit.Search(
        actor=query.get("actor", "").strip()[:200],
        action=query.get("action", "").strip()[:64],
        target=query.get("target", "").strip()[:200],
        since=_day(query.get("since", ""), tz),
        until=until + timedelta(days=1) if until else None,  # the whole day named
    )
    before = query.get("before", "")
    async with runtime.sessions() as session:
        entries = await audit.search(
            session, search, int(before) if before.isdigit() and len(before) < 19 else 0, PAGE
        )
    kept = {k: query.get(k, "") for k in ("actor", "action", "target", "since", "until")}
    more = len(entries) == PAGE
    return request.app[CONSOLE].render(
        request,
        "audit.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        entries=entries,
        form=kept,
        next_url=f"?{urlencode({**kept, 'before': entries[-1].id})}" if more else "",
    )
