"""What the customer pages (the contact form, the status page) share: rendering.

Pages are server-rendered HTML without a line of JavaScript, so they work in any
browser and inside an iframe. Jinja2 autoescapes every value; the headers forbid
scripts outright (a second wall should escaping ever be forgotten) and allow
framing by the sites the operator names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from babel import Locale
from babel.dates import format_date, format_datetime

from channels import page_texts
from channels.client_address import client_ip

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = Path(__file__).resolve().parent / "static" / "pages.css"
STATIC_PREFIX = "/pages-static"
_TEMPLATE_NAMES = (
    "base.html",
    "form.html",
    "done.html",
    "status.html",
    "link_open.html",
    "problem.html",
    "unavailable.html",
)


def _environment() -> jinja2.Environment:
    """Templates compiled once at startup: no file reads on the event loop afterwards."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name in _TEMPLATE_NAMES:
        env.get_template(name)
    return env


def security_headers(frame_ancestors: str, cache: str = "no-store") -> dict[str, str]:
    policy = (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        f"img-src 'self' data:; style-src 'self'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        # Confirmation URLs carry a submission id: never hand it to another site.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache,
    }


class Pages:
    """Renders one page in one language with the headers every customer page carries."""

    def __init__(
        self, frame_ancestors: str = "*", timezone: str = "Europe/Rome", trusted_proxies: int = 0
    ) -> None:
        self.frame_ancestors = frame_ancestors
        self.timezone = timezone
        self.trusted_proxies = trusted_proxies  # see channels.client_address
        self._env = _environment()

    def client_ip(self, request: web.Request) -> str:
        return client_ip(request, self.trusted_proxies)

    def render(
        self,
        request: web.Request,
        template: str,
        lang: str,
        *,
        status: int = 200,
        cache: str = "no-store",
        **context: Any,
    ) -> web.Response:
        """`cache`: pages with personal data are never stored; the empty form may be, so
        that going back to it and sending it again reuses its token (one ticket, not two)."""
        html = self._env.get_template(template).render(
            t=page_texts.texts(lang),
            lang=lang,
            here=request.path,
            static=STATIC_PREFIX,
            languages=list(page_texts.NATIVE_NAMES.items()),
            **context,
        )
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=security_headers(self.frame_ancestors, cache),
        )

    def problem(
        self,
        request: web.Request,
        lang: str,
        status: int,
        heading: str,
        message: str,
        **context: Any,
    ) -> web.Response:
        """`detail`: a second sentence; `alternative`: offer the form and the status page."""
        return self.render(
            request,
            "problem.html",
            lang,
            status=status,
            heading=heading,
            message=message,
            **context,
        )

    def day(self, moment: datetime, lang: str) -> str:
        """A due date is a business day where the company works, not a UTC instant."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        return format_date(local.date(), format="long", locale=lang)

    def moment(self, moment: datetime, lang: str) -> str:
        """A date and time in the customer's locale with its zone ("3 dic 2026, 17:05 CET"):
        the company's clock, said so."""
        zone = ZoneInfo(self.timezone)
        locale = Locale.parse(lang)
        time_pattern = str(locale.time_formats["short"])
        short = format_datetime(moment, "z", tzinfo=zone, locale=locale)
        # A zone without a common abbreviation in this locale reads "GMT+01:00", not "+0100".
        zone_field = "z" if any(c.isalpha() for c in short) else "ZZZZ"
        return str(locale.datetime_formats["medium"]).format(
            format_datetime(moment, f"{time_pattern} {zone_field}", tzinfo=zone, locale=locale),
            format_date(moment.astimezone(zone).date(), format="medium", locale=locale),
        )


def stylesheet_route() -> web.RouteDef:
    """The pages' one stylesheet, read once at startup (the static folder holds other
    channels' assets too, so it is not mounted whole)."""
    css = STYLESHEET.read_bytes()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(
            body=css,
            content_type="text/css",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return web.get(f"{STATIC_PREFIX}/pages.css", serve)


def page_language(request: web.Request, default: str, chosen: str | None = None) -> str:
    return page_texts.negotiate(
        chosen or request.query.get("lang"), request.headers.get("Accept-Language"), default
    )


def translated(texts: Mapping[str, str], key: str, **values: object) -> str:
    """A text with our values filled in one pass (a customer's filename stays a value)."""
    return texts[key].format(**values)
