"""The admins' privacy page: a customer's data exported, or erased, on request.

The same calls as `intake-bot privacy export|erase`, found by a ticket reference, a
`channel:address` or an email address. Erasure asks for the word ERASE typed out (it
cannot be undone) and runs every channel family's own forgetting, as the CLI does; both
are written to the audit log under the signed-in admin (an export too: who read a
customer's data is worth knowing).
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.app import channel_setup
from bot.app.web.keys import CONSOLE, PLUGS, RUNTIME, STAFF
from bot.app.web.staff_auth import SignedIn
from bot.contract.errors import IntakeError
from bot.staff import privacy
from bot.staff.accounts import Role
from bot.store import audit

routes = web.RouteTableDef()


def _page(
    request: web.Request, signed_in: SignedIn, *, status: int = 200, **context: object
) -> web.Response:
    defaults: dict[str, object] = {"problem": "", "erased": None, "who": ""}
    return request.app[CONSOLE].render(
        request,
        "privacy.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        status=status,
        **{**defaults, **context},
    )


@routes.get("/console/privacy")
async def privacy_page(request: web.Request) -> web.Response:
    return _page(request, await request.app[STAFF].page(request, Role.ADMIN))


@routes.post("/console/privacy")
async def privacy_action(request: web.Request) -> web.Response:
    signed_in, form = await request.app[STAFF].form(request, Role.ADMIN)
    runtime, who = request.app[RUNTIME], form.get("who", "").strip()[:400]
    actor = signed_in.staff.name
    try:
        async with runtime.sessions() as session:
            customer_id = await privacy.find_customer(session, who)
        if form.get("action") == "export":
            data = await privacy.export(runtime.sessions, customer_id)
            async with runtime.sessions.begin() as session:
                audit.record(
                    session,
                    at=runtime.clock.now(),
                    actor=actor,
                    action="privacy.export",
                    target=str(customer_id),
                )
            return web.Response(
                text=json.dumps(data, ensure_ascii=False, indent=2, default=str),
                content_type="application/json",
                headers={
                    "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
                    "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff",
                },
            )
        if form.get("confirm", "") != "ERASE":
            raise IntakeError("type ERASE to confirm: an erasure cannot be undone")
        erased = await channel_setup.erase_customer(
            runtime, customer_id, actor=actor, running=request.app[PLUGS]
        )
    except IntakeError as exc:
        return _page(request, signed_in, status=422, problem=str(exc), who=who)
    return _page(request, signed_in, erased=erased, who=who)
