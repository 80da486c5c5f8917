"""An outage answers 503 with Retry-After, never 500.

Redis or the database down, a connection refused or dropped (bot.store.outages): the
caller is told to come back, and a provider's retry is recognised by the ingest (a
message stored before its XADD failed is handed on again, and decided once). A 500 would
tell a webhook provider the request was bad, or hide an outage among bugs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.store.outages import transient

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def outages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Raised outages become 503s; a 503 a handler or channel chose itself (the store
    refused a webhook's message, a page saying "try again") gets Retry-After too."""
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if not transient(exc):
            raise
        log.warning(
            "outage while answering %s %s (%s); 503",
            request.method,
            request.path,
            type(exc).__name__,
        )
        headers = {"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"}
        if "text/html" in request.headers.get("Accept", ""):
            return web.Response(
                status=503,
                text="The service is briefly unavailable. Please try again in a few seconds.",
                headers=headers,
            )
        return web.json_response(
            {"error": "temporarily unavailable: try again shortly", "retry_after": RETRY_AFTER_S},
            status=503,
            headers=headers,
        )
    if response.status == 503 and not response.prepared:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    return response
