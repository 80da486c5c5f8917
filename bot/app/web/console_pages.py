"""What every console page shares: rendering, headers, the static files, the navigation.

Server-rendered with Jinja2 (autoescape): customer text is always text. A strict
Content-Security-Policy allows scripts and styles from this origin only (the console's one
script adds keyboard shortcuts and the live counts; every page works without it), no
inline code, no framing, and no third-party requests.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.staff.accounts import Role

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/console/static"
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# (path, label, the role it needs): the navigation shows what the account may open.
NAVIGATION = (
    ("/console", "Dashboard", Role.AGENT),
    ("/console/tickets", "Tickets", Role.AGENT),
    ("/console/attention", "Needs attention", Role.AGENT),
    ("/console/moderation", "Moderation", Role.MODERATOR),
    ("/console/channels", "Channels", Role.ADMIN),
    ("/console/policy", "Policy", Role.ADMIN),
    ("/console/users", "Users", Role.ADMIN),
    ("/console/privacy", "Privacy", Role.ADMIN),
    ("/console/audit", "Audit log", Role.ADMIN),
)


def _environment(filters: dict[str, Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(filters)
    for template in TEMPLATES.glob("*.html"):
        env.get_template(template.name)  # compiled once, at startup
    return env


class ConsolePages:
    def __init__(self, timezone: str) -> None:
        self.timezone = ZoneInfo(timezone)
        self._env = _environment({"when": self.when})

    def when(self, moment: datetime | None) -> str:
        """A time where the company works, with its zone: staff compare it with clocks."""
        if moment is None:
            return ""
        return moment.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M %Z")

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        staff: Any = None,
        csrf: str = "",
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        role = staff.role if staff is not None else None
        nav = [
            (path, label, _current(path, request.path))
            for path, label, needed in NAVIGATION
            if role is not None and role >= needed
        ]
        html = self._env.get_template(template).render(
            staff=staff, csrf=csrf, nav=nav, static=STATIC_PREFIX, here=request.path, **context
        )
        return web.Response(
            text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )


def _current(item: str, path: str) -> bool:
    """The navigation item of this page: its own, or its parent's (a ticket is under
    Tickets); the dashboard is /console only, not the parent of every page."""
    return path == item or (item != "/console" and path.startswith(item + "/"))


def static_routes() -> list[web.RouteDef]:
    """The console's stylesheet and script, read once at startup."""
    files = {p.name: (p.read_bytes(), _STATIC_TYPES[p.suffix]) for p in STATIC.iterdir()}

    def answer(name: str) -> web.Response:
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(
            body=body,
            content_type=kind,
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def serve(request: web.Request) -> web.Response:
        return answer(request.match_info["name"])

    async def favicon(request: web.Request) -> web.Response:
        """The same icon for the customer pages (their base.html links it) and for the
        browsers that ask for /favicon.ico whatever a page says."""
        return answer("favicon.svg")

    return [web.get(STATIC_PREFIX + "/{name}", serve), web.get("/favicon.ico", favicon)]
