"""Whose request this is, for the per-address limits of the customer-facing pages and chat.

X-Forwarded-For is believed only as far as the operator says reverse proxies of their
own stand in front (anyone can send the header): behind N of them, the address the
outermost one saw is the N-th from the right.
"""

from __future__ import annotations

from aiohttp import web


def client_ip(request: web.Request, trusted_proxies: int = 0) -> str:
    forwarded = [
        a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()
    ]
    if trusted_proxies and len(forwarded) >= trusted_proxies:
        return forwarded[-trusted_proxies][:64]
    return request.remote or "unknown"
