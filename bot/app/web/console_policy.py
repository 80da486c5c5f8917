"""The admins' policy page: every runtime setting, its value, who changed it last.

A change is the same PolicyStore.set_value as `intake-bot policy NAME VALUE`: validated
by the policy's own sections (a calendar that exists, thresholds within range), written
with its audit entry under the signed-in admin, and followed by every process within a
second. A refused value is shown with the policy's reason and changes nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.contract.errors import IntakeError
from bot.rules.policy import Policy, tunable_names
from bot.staff.accounts import Role
from bot.store.models import PolicySetting

routes = web.RouteTableDef()
MAX_VALUE = 200


def _value(policy: Policy, name: str) -> Any:
    section, attr = name.split(".", 1)
    return getattr(getattr(policy, section), attr)


async def _page(
    request: web.Request, *, status: int = 200, problem: str = "", tried: str = ""
) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.ADMIN)
    runtime = request.app[RUNTIME]
    async with runtime.sessions() as session:
        changed = {row.key: row for row in await session.scalars(select(PolicySetting))}
    policy = runtime.policy.current
    rows = [
        {
            "name": name,
            "section": name.split(".", 1)[0],
            "value": _value(policy, name),
            "by": changed[name].updated_by if name in changed else "",
            "at": changed[name].updated_at if name in changed else None,
        }
        for name in tunable_names()
    ]
    return request.app[CONSOLE].render(
        request,
        "policy.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        rows=rows,
        status=status,
        problem=problem,
        tried=tried,
        done=request.query.get("done", "")[:80],
    )


@routes.get("/console/policy")
async def policy_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/console/policy")
async def set_value(request: web.Request) -> web.Response:
    signed_in, form = await request.app[STAFF].form(request, Role.ADMIN)
    name, value = form.get("name", "")[:80], form.get("value", "").strip()[:MAX_VALUE]
    try:
        if name not in tunable_names():
            raise IntakeError(f"unknown setting {name!r}")
        await request.app[RUNTIME].policy.set_value(name, value, actor=signed_in.staff.name)
    except IntakeError as exc:
        return await _page(request, status=422, problem=str(exc), tried=name)
    raise web.HTTPSeeOther(f"/console/policy?done={name}")
