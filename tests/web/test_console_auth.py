"""Signing in to the console: sessions, roles, lock-out, CSRF, over HTTP on both backends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.app.web.staff_auth import SESSION_COOKIE
from bot.contract.errors import IntakeError
from bot.staff.accounts import Accounts, Role
from bot.store.models import AuditEntry, StaffUser
from tests.helpers import staff_account

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(runtime))) as test_client:
        yield test_client


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


async def sign_in(client: Client, name: str, password: str = PASSWORD, nxt: str = "") -> int:
    form = await client.get(f"/console/login?next={nxt}" if nxt else "/console/login")
    token = _token(await form.text())
    answer = await client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": token, "next": nxt},
        allow_redirects=False,
    )
    return answer.status


async def test_pages_send_strangers_to_the_sign_in_and_back(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.MODERATOR, "anna", PASSWORD)
    away = await client.get("/console/moderation?order=worst", allow_redirects=False)
    assert away.status == 303
    assert away.headers["Location"] == "/console/login?next=/console/moderation?order=worst"

    form = await client.get("/console/login?next=/console/moderation")
    answer = await client.post(
        "/console/login",
        data={
            "name": name,
            "password": PASSWORD,
            "csrf": _token(await form.text()),
            "next": "/console/moderation",
        },
        allow_redirects=False,
    )

    assert (answer.status, answer.headers["Location"]) == (303, "/console/moderation")
    cookie = answer.headers["Set-Cookie"]
    assert SESSION_COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=43200" in cookie
    page = await client.get("/console/moderation")
    assert page.status == 200
    assert "anna" in await page.text()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test", "/\\evil.test", "/x"])
async def test_after_sign_in_only_console_paths_of_this_site(
    client: Client, runtime: Runtime, target: str
) -> None:
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    form = await client.get("/console/login")
    answer = await client.post(
        "/console/login",
        data={
            "name": name,
            "password": PASSWORD,
            "csrf": _token(await form.text()),
            "next": target,
        },
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/console"


async def test_wrong_passwords_unknown_names_and_disabled_accounts_read_the_same(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.ADMIN, password=PASSWORD)
    off, _ = await staff_account(runtime, Role.ADMIN, password=PASSWORD)
    await Accounts(runtime.sessions, runtime.clock).set_active(off, False, actor="test")
    answers = []
    for who, password in ((name, "wrong password!!"), ("nobody", PASSWORD), (off, PASSWORD)):
        form = await client.get("/console/login")
        reply = await client.post(
            "/console/login",
            data={"name": who, "password": password, "csrf": _token(await form.text())},
            allow_redirects=False,
        )
        body = re.sub(r'value="[^"]*"', "", await reply.text())
        answers.append((reply.status, body))
    assert {status for status, _ in answers} == {401}
    assert len({body for _, body in answers}) == 1


async def test_a_lower_role_gets_403_and_an_admin_may_moderate(
    client: Client, runtime: Runtime
) -> None:
    agent, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    assert await sign_in(client, agent) == 303
    refused = await client.get("/console/moderation")
    assert refused.status == 403
    assert "needs the moderator role" in await refused.text()
    client.session.cookie_jar.clear()
    admin, _ = await staff_account(runtime, Role.ADMIN, password=PASSWORD)
    assert await sign_in(client, admin) == 303
    assert (await client.get("/console/moderation")).status == 200


async def test_repeated_failures_lock_the_account_even_against_parallel_guesses(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.ADMIN, password=PASSWORD)
    limit = runtime.settings.staff_sign_in_failures_per_account
    form = await client.get("/console/login")
    token = _token(await form.text())

    async def guess(n: int) -> int:
        reply = await client.post(
            "/console/login",
            data={"name": name, "password": f"guess number {n:04}", "csrf": token},
            allow_redirects=False,
        )
        return reply.status

    statuses = await asyncio.gather(*(guess(n) for n in range(30)))

    # At most that many passwords were ever checked (the address's own limit, counted in
    # the same race, may refuse some of those first); every other guess was refused unread.
    assert 1 <= statuses.count(401) <= limit
    assert statuses.count(429) == 30 - statuses.count(401)
    assert await sign_in(client, name) == 429  # the right password too, until the window ends


async def test_a_good_sign_in_does_not_count_towards_the_lock_out(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.AGENT, password=PASSWORD)
    for _ in range(runtime.settings.staff_sign_in_failures_per_account + 3):
        assert await sign_in(client, name) == 303


async def test_forms_without_the_sessions_token_change_nothing(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.MODERATOR, password=PASSWORD)
    assert await sign_in(client, name) == 303
    for token in ("", "forged"):
        answer = await client.post(
            "/console/moderation/1/release", data={"csrf": token}, allow_redirects=False
        )
        assert answer.status == 403
    form = await client.get("/console/login")
    stale = await client.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf": "not-" + _token(await form.text())},
        allow_redirects=False,
    )
    assert stale.status == 403


async def test_sign_out_ends_the_session_and_a_disabled_account_is_out_at_once(
    client: Client, runtime: Runtime
) -> None:
    name, _ = await staff_account(runtime, Role.MODERATOR, password=PASSWORD)
    assert await sign_in(client, name) == 303
    page = await client.get("/console/moderation")
    stolen = {
        SESSION_COOKIE: client.session.cookie_jar.filter_cookies(client.make_url("/"))[
            SESSION_COOKIE
        ].value
    }
    out = await client.post(
        "/console/logout", data={"csrf": _token(await page.text())}, allow_redirects=False
    )
    assert out.status == 303
    replayed = await client.get("/console/moderation", cookies=stolen, allow_redirects=False)
    assert replayed.status == 303  # the old cookie opens nothing

    assert await sign_in(client, name) == 303
    await Accounts(runtime.sessions, runtime.clock).set_active(name, False, actor="admin")
    assert (await client.get("/console/moderation", allow_redirects=False)).status == 303


async def test_forged_session_cookies_open_nothing(client: Client, runtime: Runtime) -> None:
    for value in ("", "abc", "abc.def", "a" * 5000, "x.y.z"):
        answer = await client.get(
            "/console/moderation", cookies={SESSION_COOKIE: value}, allow_redirects=False
        )
        assert answer.status == 303


async def test_accounts_are_kept_as_argon2_hashes_and_audited(runtime: Runtime) -> None:
    accounts = Accounts(runtime.sessions, runtime.clock)
    generated = await accounts.add("bob", Role.AGENT, password=None, actor="root")
    assert len(generated) >= 20
    assert await accounts.verify("bob", generated) is not None
    assert await accounts.verify("bob", generated + "x") is None
    await accounts.set_role("bob", Role.ADMIN, actor="root")
    async with runtime.sessions() as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.username == "bob"))
        audit = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert generated not in user.password_hash
    assert user.role == "admin"
    assert audit == ["user.add", "user.role"]


@pytest.mark.parametrize(
    ("name", "password"),
    [("", PASSWORD), (" ", PASSWORD), ("a" * 101, PASSWORD), ("<b>", PASSWORD), ("ok", "short")],
)
async def test_bad_names_and_short_passwords_are_refused(
    runtime: Runtime, name: str, password: str
) -> None:
    with pytest.raises(IntakeError):
        await Accounts(runtime.sessions, runtime.clock).add(
            name, Role.AGENT, password=password, actor="test"
        )


@pytest.mark.parametrize(
    ("guess", "page"),
    [
        ("/admin", "/console/channels"),
        ("/moderation", "/console/moderation"),
        ("/dashboard", "/console"),
    ],
)
async def test_the_addresses_staff_guess_lead_to_the_console(
    client: Client, guess: str, page: str
) -> None:
    answer = await client.get(guess, allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (303, page)
