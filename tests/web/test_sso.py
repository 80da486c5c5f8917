"""Single sign-on over HTTP, on both backends: the test plays the browser between the
console and a local OpenID Connect provider (tests/fakes/oidc_provider.py), with one
cookie jar, the way a browser follows the redirects."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from yarl import URL

from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.app.web.app import make_app
from bot.app.web.sso import CALLBACK, SSO_COOKIE
from bot.app.web.staff_auth import SESSION_COOKIE
from bot.contract.clock import VirtualClock
from bot.staff.accounts import Accounts, Role
from bot.store.models import AuditEntry, StaffUser
from tests.fakes.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeOidcProvider,
    Misbehaviour,
    TokenCall,
    User,
    running_oidc_provider,
)
from tests.helpers import staff_account

Client = TestClient[Any, Any]
ACCEPTED = TokenCall(accepted=True, error="")


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    text: str
    set_cookies: dict[str, str]  # name -> the whole Set-Cookie header


@dataclass(frozen=True)
class Trip:
    """One sign-in by single sign-on, as the browser went: console, provider, console."""

    start: Answer
    callback: Answer
    callback_url: URL
    sso_cookie: str  # as the browser held it when it came back


@dataclass(frozen=True)
class Console:
    client: Client
    runtime: Runtime
    provider: FakeOidcProvider


@asynccontextmanager
async def sso(
    settings: Settings,
    clock: VirtualClock,
    *,
    auth_method: str = "client_secret_basic",
    **changes: str,
) -> AsyncIterator[Console]:
    """The provider on loopback and the console configured for it (role claim `roles`
    unless `changes` say otherwise), with the console's callback registered there."""
    fake = FakeOidcProvider(clock.now, auth_method=auth_method)
    async with running_oidc_provider(fake) as provider:
        configured = settings.model_copy(
            update={
                "oidc_issuer": provider.issuer,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                "oidc_role_claim": "roles",
                **changes,
            }
        )
        async with open_runtime(configured, clock=clock) as runtime:
            try:
                async with TestClient(TestServer(make_app(runtime))) as client:
                    provider.redirect_uris.add(str(client.make_url(CALLBACK)))
                    yield Console(client, runtime, provider)
            finally:
                async for key in runtime.redis.scan_iter(match=runtime.keys.pattern, count=500):
                    await runtime.redis.delete(key)


async def get(client: Client, url: URL, cookies: dict[str, str] | None = None) -> Answer:
    async with client.session.get(url, allow_redirects=False, cookies=cookies) as answer:
        return Answer(
            answer.status,
            answer.headers.get("Location", ""),
            await answer.text(),
            {name: morsel.OutputString() for name, morsel in answer.cookies.items()},
        )


def jar(client: Client) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client.session.cookie_jar}


async def sign_in(
    client: Client, next_path: str = "/console", tamper: dict[str, str] | None = None
) -> Trip:
    """GET /console/sso, follow to the provider's authorize URL (changed by `tamper`, as a
    man in the middle would), which redirects back with a code, then GET the callback."""
    start = await get(client, client.make_url("/console/sso").with_query(next=next_path))
    assert start.status == 303, start.text
    authorize = URL(start.location)
    if tamper:
        authorize = authorize.update_query(tamper)
    at_provider = await get(client, authorize)
    assert at_provider.status == 302, at_provider.text
    callback_url = URL(at_provider.location)
    kept = jar(client).get(SSO_COOKIE, "")
    return Trip(start, await get(client, callback_url), callback_url, kept)


async def assert_no_session(console: Console, answer: Answer) -> None:
    assert SESSION_COOKIE not in answer.set_cookies
    assert SESSION_COOKIE not in jar(console.client)
    away = await console.client.get("/console/moderation", allow_redirects=False)
    assert away.status == 303
    assert away.headers["Location"].startswith("/console/login")


async def accounts(runtime: Runtime) -> list[StaffUser]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(StaffUser).order_by(StaffUser.id)))


async def audit(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.target).order_by(AuditEntry.id)
        )
        return [(action, actor, target) for action, actor, target in rows]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_a_role_claim_makes_a_moderator_account_that_opens_the_queue(
    settings: Settings, clock: VirtualClock, auth_method: str
) -> None:
    async with sso(settings, clock, auth_method=auth_method) as console:
        console.provider.user = User(
            "idp|1001", "Mia.Rossi@example.com", claims={"roles": ["agent", "moderator", "x"]}
        )
        trip = await sign_in(console.client, "/console/moderation")

        assert (trip.callback.status, trip.callback.location) == (303, "/console/moderation")
        assert "HttpOnly" in trip.callback.set_cookies[SESSION_COOKIE]
        pending = trip.start.set_cookies[SSO_COOKIE]
        assert "HttpOnly" in pending
        assert "SameSite=Lax" in pending
        assert "Path=/console/sso" in pending
        assert SSO_COOKIE not in jar(console.client)  # spent
        page = await console.client.get("/console/moderation")
        assert page.status == 200
        assert "mia.rossi@example.com" in await page.text()
        [user] = await accounts(console.runtime)
        assert (user.username, user.role, user.password_hash, user.email, user.oidc_subject) == (
            "mia.rossi@example.com",
            "moderator",
            "",
            "mia.rossi@example.com",
            "idp|1001",
        )
        assert await audit(console.runtime) == [("user.sso_create", "sso", "mia.rossi@example.com")]
        assert console.provider.token_calls == [ACCEPTED]
        # An account made by single sign-on has no password to guess.
        staff = Accounts(console.runtime.sessions, clock)
        assert await staff.verify("mia.rossi@example.com", "") is None


async def test_the_role_claim_is_written_each_time_and_an_agent_may_not_moderate(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|7", "sam@example.com", claims={"roles": "moderator"})
        assert (await sign_in(console.client)).callback.status == 303
        assert (await console.client.get("/console/moderation")).status == 200

        console.provider.user.claims["roles"] = "agent"
        assert (await sign_in(console.client)).callback.status == 303

        refused = await console.client.get("/console/moderation")
        assert refused.status == 403
        assert "your account is agent" in await refused.text()
        [user] = await accounts(console.runtime)
        assert user.role == "agent"
        assert [a for a, _, _ in await audit(console.runtime)] == ["user.sso_create", "user.role"]


async def test_an_existing_account_is_linked_by_its_verified_email(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock, oidc_role_claim="") as console:
        await staff_account(console.runtime, Role.MODERATOR, "anna")
        staff = Accounts(console.runtime.sessions, clock)
        await staff.set_email("anna", "anna@example.com", actor="admin")
        console.provider.user = User("idp|anna", "Anna@Example.com", claims={"roles": "admin"})

        trip = await sign_in(console.client, "/console/moderation")

        assert (trip.callback.status, trip.callback.location) == (303, "/console/moderation")
        page = await console.client.get("/console/moderation")
        assert page.status == 200  # the table's role: the unconfigured claim changes nothing
        assert "anna" in await page.text()
        [user] = await accounts(console.runtime)
        assert (user.oidc_subject, user.role) == ("idp|anna", "moderator")
        assert await audit(console.runtime) == [
            ("user.add", "test", "anna"),
            ("user.email", "admin", "anna"),
            ("user.sso_link", "sso", "anna"),
        ]
        # Linked, it is found by the provider's subject, whatever the email becomes.
        console.provider.user = User("idp|anna", "a.new@example.com")
        console.client.session.cookie_jar.clear()
        assert (await sign_in(console.client)).callback.status == 303
        assert len(await accounts(console.runtime)) == 1


async def test_a_verified_email_takes_over_no_account_linked_to_another_identity(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|old", "bo@example.com", claims={"roles": "admin"})
        assert (await sign_in(console.client)).callback.status == 303
        console.client.session.cookie_jar.clear()
        # Another identity at the provider, now holding the same (verified) address.
        console.provider.user = User("idp|new", "bo@example.com", claims={"roles": "admin"})

        trip = await sign_in(console.client)

        assert trip.callback.status == 403
        assert "belongs to another account" in trip.callback.text
        [bo] = await accounts(console.runtime)
        assert bo.oidc_subject == "idp|old"
        await assert_no_session(console, trip.callback)


@pytest.mark.parametrize("role_claim", ["", "roles"])
async def test_an_unverified_email_links_nothing(
    settings: Settings, clock: VirtualClock, role_claim: str
) -> None:
    async with sso(settings, clock, oidc_role_claim=role_claim) as console:
        await staff_account(console.runtime, Role.ADMIN, "anna@example.com")
        console.provider.user = User(
            "idp|eve", "anna@example.com", email_verified=False, claims={"roles": "agent"}
        )

        trip = await sign_in(console.client)

        anna, *made = await accounts(console.runtime)
        assert anna.oidc_subject is None
        if role_claim:  # the provider's agent, in an account of its own, with no email
            assert trip.callback.status == 303
            [eve] = made
            assert (eve.role, eve.email, eve.oidc_subject) == ("agent", "", "idp|eve")
            assert eve.username.startswith("sso-")
        else:
            assert trip.callback.status == 403
            assert "No console access" in trip.callback.text
            assert made == []
            await assert_no_session(console, trip.callback)


@pytest.mark.parametrize(
    ("role_claim", "claims"),
    [("roles", {"roles": ["janitor"]}), ("roles", {}), ("", {"roles": ["admin"]})],
    ids=["unknown-role", "no-role-claim", "roles-from-the-table"],
)
async def test_no_role_and_no_account_is_a_403_and_makes_nothing(
    settings: Settings, clock: VirtualClock, role_claim: str, claims: dict[str, Any]
) -> None:
    async with sso(settings, clock, oidc_role_claim=role_claim) as console:
        console.provider.user = User("idp|9", "nobody@example.com", claims=claims)

        trip = await sign_in(console.client)

        assert trip.callback.status == 403
        assert "No console access" in trip.callback.text
        assert await accounts(console.runtime) == []
        assert await audit(console.runtime) == []
        await assert_no_session(console, trip.callback)


async def test_a_disabled_account_is_refused(settings: Settings, clock: VirtualClock) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|5", "lee@example.com", claims={"roles": "admin"})
        assert (await sign_in(console.client)).callback.status == 303
        staff = Accounts(console.runtime.sessions, clock)
        await staff.set_active("lee@example.com", False, actor="admin")
        console.client.session.cookie_jar.clear()

        trip = await sign_in(console.client)

        assert trip.callback.status == 403
        assert "this account is disabled" in trip.callback.text
        await assert_no_session(console, trip.callback)


async def test_a_replayed_callback_is_refused_before_the_provider_is_asked(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|1", "kim@example.com", claims={"roles": "agent"})
        trip = await sign_in(console.client)
        assert trip.callback.status == 303
        console.client.session.cookie_jar.clear()

        # The same callback, with the state's cookie as it was: the state works once.
        replay = await get(console.client, trip.callback_url, cookies={SSO_COOKIE: trip.sso_cookie})

        assert replay.status == 400
        assert "used already or expired" in replay.text
        assert console.provider.token_calls == [ACCEPTED]
        await assert_no_session(console, replay)


async def test_a_callback_in_another_browser_is_refused(
    settings: Settings, clock: VirtualClock
) -> None:
    """Someone who starts a sign-in and sends the callback link to a colleague does not
    sign the colleague in as themselves: the state is bound to the browser that started."""
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|mallory", "m@example.com", claims={"roles": "admin"})
        start = await get(console.client, console.client.make_url("/console/sso"))
        at_provider = await get(console.client, URL(start.location))
        console.client.session.cookie_jar.clear()  # the colleague's browser

        callback = await get(console.client, URL(at_provider.location))

        assert callback.status == 400
        assert console.provider.token_calls == []
        assert await accounts(console.runtime) == []
        await assert_no_session(console, callback)


async def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    settings: Settings, clock: VirtualClock
) -> None:
    """A challenge swapped on the way (a code injected from another flow looks the same to
    the provider): our verifier does not match it, and the provider keeps its tokens."""
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|2", "jo@example.com", claims={"roles": "agent"})
        other = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B's

        trip = await sign_in(console.client, tamper={"code_challenge": other})

        assert trip.callback.status == 502
        assert "refused to finish the sign-in (invalid_grant)" in trip.callback.text
        assert console.provider.token_calls == [TokenCall(accepted=False, error="invalid_grant")]
        assert await accounts(console.runtime) == []
        await assert_no_session(console, trip.callback)


@pytest.mark.parametrize("misbehaviour", list(Misbehaviour), ids=lambda m: m.name.lower())
async def test_a_misbehaving_provider_opens_no_session(
    settings: Settings, clock: VirtualClock, misbehaviour: Misbehaviour
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|3", "pat@example.com", claims={"roles": "admin"})
        console.provider.misbehave = {misbehaviour}

        trip = await sign_in(console.client)

        if misbehaviour is Misbehaviour.TOKEN_ERROR:
            assert trip.callback.status == 502
        else:  # the provider handed over its tokens: the refusal is ours
            assert console.provider.token_calls == [ACCEPTED]
            assert trip.callback.status == 403
            assert "could not be verified" in trip.callback.text
        assert await accounts(console.runtime) == []
        await assert_no_session(console, trip.callback)

        console.provider.misbehave = set()  # the same provider, behaving: it works
        assert (await sign_in(console.client)).callback.status == 303


async def test_a_wrong_client_secret_is_refused(settings: Settings, clock: VirtualClock) -> None:
    async with sso(settings, clock, oidc_client_secret="not-the-secret") as console:
        console.provider.user = User("idp|4", "al@example.com", claims={"roles": "agent"})

        trip = await sign_in(console.client)

        assert trip.callback.status == 502
        assert console.provider.token_calls == [TokenCall(accepted=False, error="invalid_client")]
        await assert_no_session(console, trip.callback)


async def test_the_provider_declining_is_a_page(settings: Settings, clock: VirtualClock) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = None  # the person said no at the provider

        trip = await sign_in(console.client)

        assert trip.callback.status == 403
        assert "did not sign you in (access_denied)" in trip.callback.text
        assert console.provider.token_calls == []
        await assert_no_session(console, trip.callback)


async def test_a_provider_that_is_down_is_a_502_page(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock, oidc_issuer="http://127.0.0.1:9") as console:
        answer = await get(console.client, console.client.make_url("/console/sso"))

        assert answer.status == 502
        assert "could not be reached" in answer.text
        assert 'action="/console/login"' in answer.text  # the password form stays usable
        await assert_no_session(console, answer)


async def test_discovery_and_keys_are_fetched_once_for_many_sign_ins(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|6", "ro@example.com", claims={"roles": "agent"})
        for _ in range(3):
            console.client.session.cookie_jar.clear()
            assert (await sign_in(console.client)).callback.status == 303
        assert (console.provider.discovery_fetches, console.provider.jwks_fetches) == (1, 1)


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test", "/x"])
async def test_after_single_sign_on_only_console_paths_of_this_site(
    settings: Settings, clock: VirtualClock, target: str
) -> None:
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|8", "di@example.com", claims={"roles": "agent"})
        trip = await sign_in(console.client, target)
        assert (trip.callback.status, trip.callback.location) == (303, "/console")


async def test_single_sign_on_is_not_there_unless_configured(
    settings: Settings, clock: VirtualClock
) -> None:
    async with sso(settings, clock, oidc_issuer="") as console:
        answer = await get(console.client, console.client.make_url("/console/sso"))
        assert answer.status == 404
        login = await console.client.get("/console/login")
        assert "/console/sso" not in await login.text()


async def test_no_secret_reaches_our_logs(
    settings: Settings, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with sso(settings, clock) as console:
        console.provider.user = User("idp|10", "vi@example.com", claims={"roles": "agent"})
        good = await sign_in(console.client)
        console.provider.misbehave = {Misbehaviour.BAD_SIGNATURE}
        bad = await sign_in(console.client)

    assert (good.callback.status, bad.callback.status) == (303, 403)
    # The access log writes request lines, the callback's query included (see the report).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "ID token refused: BadSignatureError" in ours
    assert "signed in as agent" in ours
    secrets = [CLIENT_SECRET, *console.provider.issued, good.sso_cookie, bad.sso_cookie]
    secrets += [good.callback_url.query["state"], bad.callback_url.query["state"]]
    for secret in secrets:
        assert secret not in ours
