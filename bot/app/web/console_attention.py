"""Staff's list of what the bot could not finish: undecidable messages, replies that did
not reach their customer (bot.staff.attention)."""

from __future__ import annotations

from aiohttp import web

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.staff import attention
from bot.staff.accounts import Role

routes = web.RouteTableDef()


@routes.get("/console/attention")
async def attention_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.AGENT)
    async with request.app[RUNTIME].sessions() as session:
        found = await attention.gather(session)
    return request.app[CONSOLE].render(
        request,
        "attention.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        found=found,
    )
