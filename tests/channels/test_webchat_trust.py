"""Issue 11 on the chat: limits per address and per session across sockets, a bounded
history, and no session id in a URL."""

from __future__ import annotations

import asyncio
import json

from bot.app.runtime import Runtime
from channels import chat_sessions
from channels.chat_sessions import SessionFull, SessionStore
from tests.channels.test_webchat import make_chat, open_panel, serve


async def test_twenty_sockets_on_one_session_share_the_sessions_limit(runtime: Runtime) -> None:
    """Issue 11, 9: 20 sockets on one session each had their own 5 messages a second."""
    chat = make_chat(runtime, messages_per_session_per_minute=6, messages_per_ip_per_minute=100)
    async with await serve(runtime, chat) as client:
        first, welcome = await open_panel(client)
        panels = [first] + [(await open_panel(client, welcome["session"]))[0] for _ in range(19)]
        for n, panel in enumerate(panels):
            await panel.ws.send_json({"type": "message", "text": f"hello {n}", "cid": f"c{n}"})
        answers = [await panel.next_of("ack", "error") for panel in panels]
        for panel in panels:
            await panel.ws.close()
    assert sum(a["type"] == "ack" for a in answers) == 6
    refused = [a for a in answers if a["type"] == "error"]
    assert {a["code"] for a in refused} == {"rate_limited"}
    history = await chat.store.history(welcome["session"])
    assert sum(e.sender == "customer" for e in history) == 6


async def test_one_address_is_limited_across_its_sessions(runtime: Runtime) -> None:
    chat = make_chat(runtime, messages_per_ip_per_minute=5, messages_per_session_per_minute=100)
    async with await serve(runtime, chat) as client:
        panels = [(await open_panel(client))[0] for _ in range(8)]
        answers = await asyncio.gather(
            *[panel.say_or_refused(f"hello {n}") for n, panel in enumerate(panels)]
        )
        for panel in panels:
            await panel.ws.close()
    assert sorted(a["type"] for a in answers) == ["ack"] * 5 + ["error"] * 3


async def test_a_sessions_history_is_bounded_in_bytes(runtime: Runtime) -> None:
    store = SessionStore(runtime.redis, runtime.keys.prefix, 3600)
    session = await store.create("en", {})
    text = "x" * 100_000
    stored = 0
    try:
        for _ in range(100):
            await store.append(session.id, "customer", text, runtime.clock.now())
            stored += 1
    except SessionFull:
        pass
    assert stored == chat_sessions.MAX_HISTORY_BYTES // (len(text) + 100)
    assert len(await store.history(session.id)) == stored


async def test_a_poll_names_its_session_in_the_body_never_in_the_url(runtime: Runtime) -> None:
    chat = make_chat(runtime)
    async with await serve(runtime, chat) as client:
        hello = await client.post("/chat/send", data=json.dumps({"type": "hello"}))
        [welcome] = (await hello.json())["frames"]
        by_url = await client.get("/chat/poll", params={"session": welcome["session"]})
        by_body = await client.post(
            "/chat/poll", data=json.dumps({"type": "poll", "session": welcome["session"]})
        )
        garbled = await client.post(
            "/chat/poll", data=b"\xff\xfe{", headers={"Content-Type": "text/plain; charset=utf-8"}
        )
        unknown_charset = await client.post(
            "/chat/send", data=b"{}", headers={"Content-Type": "text/plain; charset=x-nothing"}
        )
    assert by_url.status == 405
    assert by_body.status == 200
    assert garbled.status == 404  # no session named
    assert unknown_charset.status == 400


async def test_frames_over_http_from_one_address_share_one_limit(runtime: Runtime) -> None:
    """The polling transport's per-address rate lives in Redis with the other limits, so it
    holds across web processes (it was a dict in each process's memory)."""
    chat = make_chat(runtime, rate_per_s=0.1)  # six frames a minute
    async with await serve(runtime, chat) as client:
        hello = await client.post("/chat/send", data=json.dumps({"type": "hello"}))
        [welcome] = (await hello.json())["frames"]
        ping = json.dumps({"type": "ping", "session": welcome["session"]})
        statuses = [(await client.post("/chat/send", data=ping)).status for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2  # the hello was the first of six
