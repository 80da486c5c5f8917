"""The console's door: sign-in, sign-out, and the 403 page of a role that may not.

GET /console/login shows the form (with a CSRF token of its own, in a cookie); POST checks
it: the account name and the client address are each counted before the password is
(StaffAuth.attempt), and a locked-out attempt is told when to try again without the
password being looked at. A successful sign-in goes back to the page that asked for it,
on this site only.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from bot.app.web.keys import CONSOLE, STAFF
from bot.app.web.staff_auth import Forbidden

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def safe_next(value: str) -> str:
    """Where to go after signing in: a console path of this site, never elsewhere."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in value:
        return "/console"
    return value[:500]


def login_page(
    request: web.Request, *, next_path: str, name: str = "", problem: str = "", status: int = 200
) -> web.Response:
    auth, pages = request.app[STAFF], request.app[CONSOLE]
    response = web.Response()  # collects the form cookie
    token = auth.form_token(request, response)
    page = pages.render(
        request,
        "login.html",
        status=status,
        form_token=token,
        next=next_path,
        name=name,
        problem=problem,
        sso=bool(request.app[STAFF].runtime.settings.oidc_issuer),
    )
    for cookie in response.cookies.values():
        page.cookies[cookie.key] = cookie
    return page


@routes.get("/console/login")
async def login_form(request: web.Request) -> web.Response:
    return login_page(request, next_path=safe_next(request.query.get("next", "/console")))


@routes.post("/console/login")
async def login(request: web.Request) -> web.StreamResponse:
    auth = request.app[STAFF]
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    next_path, name = safe_next(form.get("next", "/console")), form.get("name", "")[:100]
    if not auth.form_token_ok(request, form.get("csrf", "")):
        return login_page(
            request,
            next_path=next_path,
            name=name,
            problem="The form had expired: please sign in again.",
            status=403,
        )
    attempt = await auth.attempt(name, form.get("password", ""), auth.client_ip(request))
    if attempt.locked is not None:
        minutes = math.ceil(attempt.locked.retry_after_s / 60)
        response = login_page(
            request,
            next_path=next_path,
            name=name,
            problem=f"Too many failed sign-ins. Try again in {minutes} minutes.",
            status=429,
        )
        response.headers["Retry-After"] = str(attempt.locked.retry_after_s)
        return response
    if attempt.staff is None:
        return login_page(
            request,
            next_path=next_path,
            name=name,
            problem="Wrong user name or password.",
            status=401,
        )
    response = web.HTTPSeeOther(next_path)
    await auth.start(attempt.staff, response)
    raise response


@routes.post("/console/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    auth = request.app[STAFF]
    signed_in = await auth.current(request)
    posted = await request.post()
    sent = posted.get("csrf", "")
    if signed_in is not None and isinstance(sent, str) and sent == signed_in.csrf:
        response = web.HTTPSeeOther("/console/login")
        await auth.end(request, response)
        raise response
    raise web.HTTPSeeOther("/console/login")


# The addresses a new member of staff tries first lead to the console, not to a 404.
_GUESSES = {
    "/admin": "/console/channels",
    "/moderation": "/console/moderation",
    "/dashboard": "/console",
}


@routes.get("/admin")
@routes.get("/moderation")
@routes.get("/dashboard")
async def guessed(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(_GUESSES[request.path])


@web.middleware
async def forbidden_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A signed-in account whose role may not: the 403 page, with its navigation."""
    try:
        return await handler(request)
    except Forbidden as refused:
        staff = refused.signed_in.staff
        return request.app[CONSOLE].render(
            request,
            "forbidden.html",
            staff=staff,
            csrf=refused.signed_in.csrf,
            status=403,
            needed=refused.needed.label,
        )
