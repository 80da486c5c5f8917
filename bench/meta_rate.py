"""Meta webhook: signed requests/s that one web process accepts (target 3,000/s).

Three figures, each printed:
  1. signature check + JSON + parse alone, in this process (the channel's own cost);
  2. HTTP POSTs to /webhooks/meta on one in-process web app whose sink drops the
     messages (HTTP + signature + parse: the webhook's ceiling);
  3. the same on the real embedded store (SQLite + embedded Valkey), and on
     PostgreSQL + Redis when they run locally: a 200 means the message is
     committed and on the stream, so these are bounded by the store's ingest.
The load client runs in a child process (`python -m bench.meta_rate --client ...`)
so it does not share the web process's event loop; both still share this
machine's cores, so the HTTP figures are lower bounds for a dedicated server.
The measurement is bench.webhook_load's; this module holds what is Meta's.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

import aiohttp

from bench.webhook_load import Figure, Webhook, main
from bot.contract.ports import MessageSink, Plug
from channels.meta import PATH, MetaConfig, parse, plug, signature_of, signature_problem

GRAPH = "http://127.0.0.1:9/v21.0"  # never called: the bench does not send replies


def body(n: int, run: str) -> bytes:
    """One Messenger message, shaped as Meta sends it, with a unique mid."""
    at = int(time.time() * 1000)
    event = {
        "sender": {"id": f"{6783451290450000 + n % 500}"},
        "recipient": {"id": "682498302938465"},
        "timestamp": at,
        "message": {
            "mid": f"m_{run}_{n:07d}",
            "text": "My inverter SUN-5K-G03 shows error F23 since Monday.",
        },
    }
    payload = {
        "object": "page",
        "entry": [{"id": "682498302938465", "time": at, "messaging": [event]}],
    }
    return json.dumps(payload).encode()


def headers(secret: str, raw: bytes) -> dict[str, str]:
    """Meta signs each body with the app secret (HMAC-SHA256)."""
    return {"X-Hub-Signature-256": signature_of(secret, raw)}


def parse_rate(secret: str, count: int = 20_000) -> Figure:
    bodies = [body(n, "parse") for n in range(count)]
    signed = [(b, signature_of(secret, b)) for b in bodies]
    begun = time.perf_counter()
    for raw, signature in signed:
        if signature_problem(secret, raw, signature) is None:
            parse(json.loads(raw), GRAPH, datetime.now(UTC))
    return Figure("signature + JSON + parse, in-process", count, time.perf_counter() - begun)


def meta_plug(secret: str, sink: MessageSink) -> AbstractAsyncContextManager[Plug]:
    """Meta's plug needs nothing running beside it, hence a context that only hands it over."""
    config = MetaConfig(app_secret=secret, verify_token=secret, graph_api_url=GRAPH)
    return contextlib.nullcontext(plug(config, sink))


async def answer(response: aiohttp.ClientResponse) -> str:
    """Meta's webhook answers with its status alone: a 200 is an accepted message."""
    await response.read()
    return str(response.status)


META = Webhook(
    title="Meta webhook: signed Messenger payloads, one message each",
    module="bench.meta_rate",
    path=PATH,
    name="meta",
    requests=20_000,
    name_width=42,
    new_secret=lambda: secrets.token_hex(16),
    body=body,
    headers=headers,
    plug=meta_plug,
    parse_figure=parse_rate,
    answer=answer,
    accepted="200",
)


if __name__ == "__main__":
    main(META)
