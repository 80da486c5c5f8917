"""The admins' channels page: one switch per channel, what it needs, what it got lately.

A switch is the same PolicyStore.set_channel as `intake-bot channels enable`: written with
its audit entry (the signed-in admin as actor) and announced, so every process follows
within a second.
"""

from __future__ import annotations

from aiohttp import web

from bot.app.web.keys import CONSOLE, PLUGS, RUNTIME, STAFF
from bot.contract.domain import Channel, Decision
from bot.staff import channel_stats
from bot.staff.accounts import Role

routes = web.RouteTableDef()

# Which channel family (bot/app/channel_setup.py) carries each channel: its configuration
# state is that family's (the /healthz `channel_families`).
FAMILY = {
    Channel.EMAIL: "email",
    Channel.WEBFORM: "webform",
    Channel.WEBCHAT: "webchat",
    Channel.TELEGRAM: "telegram",
    Channel.FACEBOOK: "meta",
    Channel.INSTAGRAM: "meta",
    Channel.WHATSAPP: "meta",
}
COLUMNS = ["pending", *(d.value for d in Decision)]


@routes.get("/console/channels")
async def channels_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.ADMIN)
    runtime = request.app[RUNTIME]
    families = {plug.name: plug.status for plug in request.app[PLUGS]}
    counts = await channel_stats.last_hour(runtime.sessions, runtime.clock.now())
    accepted = runtime.policy.current.accepted
    rows = [
        {
            "channel": channel.value,
            "accepted": channel in accepted,
            "family": FAMILY.get(channel, ""),
            "state": families.get(FAMILY.get(channel, ""), "not loaded in this process"),
            "counts": [counts.get(channel.value, {}).get(c, 0) for c in COLUMNS],
        }
        for channel in Channel
    ]
    return request.app[CONSOLE].render(
        request,
        "channels.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        rows=rows,
        columns=COLUMNS,
        done=request.query.get("done", "")[:40],
    )


@routes.post("/console/channels/{channel}")
async def switch(request: web.Request) -> web.Response:
    signed_in, form = await request.app[STAFF].form(request, Role.ADMIN)
    name = request.match_info["channel"]
    if name not in {c.value for c in Channel}:
        raise web.HTTPNotFound(text=f"no channel {name[:40]!r}")
    accepted = form.get("accepted") == "1"
    await request.app[RUNTIME].policy.set_channel(name, accepted, actor=signed_in.staff.name)
    state = "accepted" if accepted else "closed"
    raise web.HTTPSeeOther(f"/console/channels?done={name}+{state}")
