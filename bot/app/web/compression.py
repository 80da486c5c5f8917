"""Responses compressed for the clients that ask: gzip for text (pages, scripts, styles).

A middleware, so every route (the console's, the customer pages', the widget's) gets the
same rule without knowing it: a whole, uncompressed `web.Response` whose type is text
and whose body is worth it. Never compressed: streams (WebSockets, files sent as they
are read), bodies already encoded, and other types (a customer's upload is an image or
a PDF, compressed already). The client's Accept-Encoding decides, with its q-values
(`gzip;q=0` refuses it); `Vary: Accept-Encoding` tells caches the two answers apart.
Brotli would need a library the bot does not carry; gzip is what every browser takes.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_response import ContentCoding

MIN_BYTES = 1024  # below about a packet, the gzip header and the CPU are not worth it
# Only answers to reads: the answer to a post re-displays what was typed next to the
# form's token (an error page), and compressed, its size would tell an attacker who
# makes the browser post guesses how much of the token a guess repeats (BREACH).
_READS = frozenset({"GET", "HEAD"})
TEXT_TYPES = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    }
)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (by name or `*`), with a q above 0."""
    named: dict[str, float] = {}
    for item in header[:1000].lower().split(",")[:30]:
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        named[coding.strip()] = weight
    return named.get("gzip", named.get("x-gzip", named.get("*", 0.0))) > 0


def worth_compressing(response: web.StreamResponse) -> bool:
    if type(response) is not web.Response or hdrs.CONTENT_ENCODING in response.headers:
        return False
    body = response.body
    return (
        response.content_type in TEXT_TYPES
        and isinstance(body, bytes)
        and len(body) >= MIN_BYTES
        and response.status not in (204, 206, 304)
    )


@web.middleware
async def compressed(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method in _READS and worth_compressing(response):
        response.headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
        if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            response.enable_compression(ContentCoding.gzip)
    return response
