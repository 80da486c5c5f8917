"""The moderators' console page: the held messages, and release, confirm or block.

Each item shows the text as text, its evasion-normalized form beside it (what the lexicon
read), the scores as bars, the labels and the lexicon entries that fired, who sent it
(the identity as its channel proved it, or a claim), and the sender's other messages and
tickets. A moderator viewing an item marks it open for 60 s (renewed while it stays
selected), so colleagues see it is taken. The pending count is pushed as server-sent
events. Every action is the same ModerationQueue call as the API's, audited under the
signed-in account.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from aiohttp import web

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.contract.domain import Channel
from bot.contract.errors import IntakeError
from bot.contract.ports import LABELS as SCORED
from bot.staff.accounts import Role
from bot.staff.moderation_queue import ORDERS, Filters, ModerationQueue
from bot.stages.pipeline import UNPROVEN_SENDER
from moderation.lexicon import LexiconClassifier, default_lexicon
from moderation.normalize import normalize

routes = web.RouteTableDef()
OPEN_TTL_S = 60
EVENTS_EVERY_S = 2.0
LABELS = (*SCORED, UNPROVEN_SENDER)  # what can hold a message
WAITED = (("", "any time"), ("1", "over 1 hour"), ("24", "over 24 hours"), ("168", "over 7 days"))
_BLOCK_DAYS = 7


def _queue(request: web.Request) -> ModerationQueue:
    runtime = request.app[RUNTIME]
    return ModerationQueue(runtime.sessions, runtime.stream, runtime.clock)


def _filters(query: dict[str, str]) -> Filters:
    channel = query.get("channel", "")
    label = query.get("label", "")
    waited = query.get("waited", "")
    return Filters(
        channel=channel if channel in {c.value for c in Channel} else "",
        label=label if label in LABELS else "",
        language=query.get("language", "")[:16],
        waited_hours=int(waited) if waited in {w for w, _ in WAITED if w} else 0,
        order=query.get("order", "oldest") if query.get("order") in ORDERS else "oldest",
    )


async def warm_up(app: web.Application) -> None:
    """Compile the lexicon at startup (about a second), not in a moderator's first request."""
    await asyncio.to_thread(default_lexicon)


def _explained(text: str) -> tuple[str, list[str]]:
    """What the lexicon read (the normalized text) and which of its entries fired."""
    hits = LexiconClassifier().explain(text)
    fired = [f"{h.entry.lang}: {h.entry.source} ({h.effect})" for h in hits if h.effect != "inert"]
    return normalize(text).text, sorted(set(fired))


@routes.get("/console/moderation")
async def queue_page(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.MODERATOR)
    query = dict(request.query)
    filters = _filters(query)
    queue = _queue(request)
    page = await queue.page(filters, cursor=query.get("after", "")[:80])
    explained = await asyncio.to_thread(lambda: [_explained(i["text"]) for i in page.items])
    open_by = await _open_marks(request, [i["message_id"] for i in page.items])
    for item, (normalized, fired) in zip(page.items, explained, strict=True):
        # Why it was held when it was decided; what today's lexicon says, for older items.
        item["normalized"], item["fired"] = normalized, item["reasons"] or fired
        item["open_by"] = open_by.get(item["message_id"], "")
        item["context"] = await queue.context(item["customer_id"], item["message_id"])
        item["bars"] = sorted(
            ((k, float(v)) for k, v in item["scores"].items()), key=lambda kv: -kv[1]
        )
    kept = {
        k: v for k, v in query.items() if k in ("channel", "label", "language", "waited", "order")
    }
    return request.app[CONSOLE].render(
        request,
        "moderation.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        items=page.items,
        pending=await queue.pending_count(),
        filters=filters,
        channels=[c.value for c in Channel],
        labels=LABELS,
        waited=WAITED,
        orders=ORDERS,
        next_url=f"?{urlencode({**kept, 'after': page.next_cursor})}" if page.next_cursor else "",
        back=request.path_qs,
        done=query.get("done", "")[:80],
        block_days=_BLOCK_DAYS,
        me=signed_in.staff.name,
    )


async def _open_marks(request: web.Request, message_ids: list[int]) -> dict[int, str]:
    if not message_ids:
        return {}
    runtime = request.app[RUNTIME]
    names = await runtime.redis.mget([runtime.keys.moderation_open(i) for i in message_ids])
    return {
        i: (n.decode() if isinstance(n, bytes) else str(n))
        for i, n in zip(message_ids, names, strict=True)
        if n is not None
    }


@routes.post("/console/moderation/{message_id:[0-9]{1,19}}/{action:release|confirm|block}")
async def act(request: web.Request) -> web.Response:
    signed_in, form = await request.app[STAFF].form(request, Role.MODERATOR)
    message_id, action = int(request.match_info["message_id"]), request.match_info["action"]
    queue, actor = _queue(request), signed_in.staff.name
    try:
        if action == "release":
            await queue.release(message_id, actor)
        elif action == "confirm":
            await queue.confirm(message_id, actor)
        else:
            days = form.get("days", str(_BLOCK_DAYS)).strip()
            if not days.isdigit():
                raise IntakeError("days must be a whole number")
            await queue.block(message_id, int(days), actor)
        done = f"{action}d:{message_id}" if action != "block" else f"blocked:{message_id}"
    except IntakeError as exc:
        done = f"error:{str(exc)[:60]}"
    back = form.get("back", "/console/moderation")
    if not back.startswith("/console/moderation") or "\\" in back:
        back = "/console/moderation"
    runtime = request.app[RUNTIME]
    await runtime.redis.delete(runtime.keys.moderation_open(message_id))
    separator = "&" if "?" in back else "?"
    raise web.HTTPSeeOther(f"{back}{separator}{urlencode({'done': done})}")


@routes.post("/console/moderation/{message_id:[0-9]{1,19}}/open")
async def mark_open(request: web.Request) -> web.Response:
    """The moderator's script says an item is in front of them (renewed while it is)."""
    signed_in = await request.app[STAFF].page(request, Role.MODERATOR)
    if request.headers.get("X-CSRF-Token", "") != signed_in.csrf:
        raise web.HTTPForbidden(text="stale console page")
    runtime = request.app[RUNTIME]
    key = runtime.keys.moderation_open(int(request.match_info["message_id"]))
    holder = await runtime.redis.get(key)
    if (
        holder is None
        or (holder.decode() if isinstance(holder, bytes) else holder) == signed_in.staff.name
    ):
        await runtime.redis.set(key, signed_in.staff.name, ex=OPEN_TTL_S)
        return web.json_response({"open_by": signed_in.staff.name})
    return web.json_response({"open_by": holder.decode() if isinstance(holder, bytes) else holder})


@routes.get("/console/moderation/events")
async def events(request: web.Request) -> web.StreamResponse:
    """The pending count as server-sent events, every few seconds while the page is open."""
    await request.app[STAFF].page(request, Role.MODERATOR)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue, last = _queue(request), -1
    try:
        while True:
            pending = await queue.pending_count()
            if pending != last:
                await response.write(f"data: {json.dumps({'pending': pending})}\n\n".encode())
                last = pending
            else:
                await response.write(b": still here\n\n")
            await asyncio.sleep(EVENTS_EVERY_S)
    except ConnectionResetError:  # the page was closed: not an outage
        return response
