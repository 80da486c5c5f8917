"""The moderators' and admins' console pages over HTTP, on both backends: what each role may
do, that every action is the same call as the CLI's, and that the signed-in user is the
one the audit log names."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.app import make_app
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, OutboundReply
from bot.staff.accounts import Accounts, Role
from bot.store.models import AuditEntry, ModerationItem
from tests.helpers import complaint, staff_account

Client = TestClient[Any, Any]
PASSWORD = "a long enough password"
RUDE = "Il mio inverter è rotto di nuovo, idiots! Ordine 55120."


@pytest.fixture
async def client(moderated: Runtime) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(moderated))) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def signed_in_as(client: Client, runtime: Runtime, role: Role, name: str = "") -> str:
    """Sign in through the form as a new account of `role`; returns the session's CSRF token."""
    name, _ = await staff_account(runtime, role, name or None, PASSWORD)
    client.session.cookie_jar.clear()
    form = await client.get("/console/login")
    answer = await client.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf": csrf_of(await form.text())},
        allow_redirects=False,
    )
    assert answer.status == 303
    page = await client.get("/console/moderation" if role >= Role.MODERATOR else "/console/login")
    return csrf_of(await page.text()) if role >= Role.MODERATOR else ""


async def admin_csrf(client: Client) -> str:
    return csrf_of(await (await client.get("/console/channels")).text())


async def flag(runtime: Runtime, clock: VirtualClock, sender: str = "a@example.it") -> int:
    accepted = await runtime.ingest.accept(complaint(sender, RUDE, clock.now()))
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.FLAGGED
    return accepted.message_id


async def audit_of(runtime: Runtime, action_prefix: str) -> list[tuple[str, str, str]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
            .where(AuditEntry.action.startswith(action_prefix))
            .order_by(AuditEntry.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


# --- moderators ------------------------------------------------------------------------------


async def test_the_queue_shows_the_text_as_text_its_normalized_form_and_what_fired(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    hostile = "<script>alert(1)</script> i.d.i.o.t.s \u202e" + "x" * 3000
    await moderated.ingest.accept(complaint("b@example.it", hostile + " idiots", clock.now()))
    await moderated.worker.drain()
    await signed_in_as(client, moderated, Role.MODERATOR)

    body = await (await client.get("/console/moderation")).text()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "As the lexicon read it" in body
    assert 'class="tag bad">insult<' in body
    assert 'id="pending-count"' in body
    assert "verified by email" in body  # the identity as its channel proved it


async def test_release_from_the_console_answers_the_customer_once_and_names_the_moderator(
    client: Client, moderated: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    message_id = await flag(moderated, clock)
    csrf = await signed_in_as(client, moderated, Role.MODERATOR, "mod.luca")

    done = await client.post(
        f"/console/moderation/{message_id}/release",
        data={"csrf": csrf, "back": "/console/moderation?order=worst"},
        allow_redirects=False,
    )
    again = await client.post(
        f"/console/moderation/{message_id}/release", data={"csrf": csrf}, allow_redirects=False
    )

    assert done.status == 303
    assert done.headers["Location"].startswith("/console/moderation?order=worst&done=released")
    assert "error" in again.headers["Location"]  # already released: said, nothing done twice
    assert [o.decision for o in await moderated.worker.drain()] == [Decision.ANSWERED]
    while await moderated.sender.run_once():
        pass
    assert [r.to for r in captured.values()] == ["a@example.it"]
    assert await audit_of(moderated, "moderation.") == [
        ("mod.luca", "moderation.release", str(message_id))
    ]


async def test_block_and_confirm_from_the_console(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    first = await flag(moderated, clock, "x@example.it")
    second = await flag(moderated, clock, "y@example.it")
    csrf = await signed_in_as(client, moderated, Role.MODERATOR, "mod.eva")

    await client.post(f"/console/moderation/{first}/confirm", data={"csrf": csrf})
    await client.post(f"/console/moderation/{second}/block", data={"csrf": csrf, "days": "3"})
    bad = await client.post(
        f"/console/moderation/{second}/block",
        data={"csrf": csrf, "days": "x"},
        allow_redirects=False,
    )

    assert "error" in bad.headers["Location"]
    async with moderated.sessions() as session:
        statuses = list(
            await session.scalars(select(ModerationItem.status).order_by(ModerationItem.id))
        )
    assert statuses == ["confirmed", "confirmed"]
    assert [a[1] for a in await audit_of(moderated, "moderation.")] == [
        "moderation.confirm",
        "moderation.block",
    ]


async def test_an_item_a_colleague_has_open_is_marked(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    message_id = await flag(moderated, clock)
    csrf = await signed_in_as(client, moderated, Role.MODERATOR, "anna")
    mine = await client.post(
        f"/console/moderation/{message_id}/open", headers={"X-CSRF-Token": csrf}
    )
    assert (await mine.json())["open_by"] == "anna"
    forged = await client.post(f"/console/moderation/{message_id}/open")
    assert forged.status == 403

    csrf = await signed_in_as(client, moderated, Role.MODERATOR, "bruno")
    body = await (await client.get("/console/moderation")).text()
    theirs = await client.post(
        f"/console/moderation/{message_id}/open", headers={"X-CSRF-Token": csrf}
    )

    assert re.search(r'class="tag warn open-mark">open by <span class="open-by">anna<', body)
    assert (await theirs.json())["open_by"] == "anna"  # bruno does not take it over


async def test_the_pending_count_is_pushed_as_server_sent_events(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    await flag(moderated, clock)
    await flag(moderated, clock, "b@example.it")
    await signed_in_as(client, moderated, Role.MODERATOR)

    response = await client.get("/console/moderation/events")
    first = await response.content.readline()
    response.close()

    assert response.headers["Content-Type"] == "text/event-stream"
    assert first == b'data: {"pending": 2}\n'


async def test_filters_and_worst_first(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    mild = await flag(moderated, clock, "m@example.it")
    async with moderated.sessions.begin() as session:
        item = await session.scalar(select(ModerationItem).where(ModerationItem.message_id == mild))
        assert item is not None
        item.worst = 0.5  # a milder score than the other's 0.99
    worst = await flag(moderated, clock, "w@example.it")
    await signed_in_as(client, moderated, Role.MODERATOR)

    oldest = await (await client.get("/console/moderation")).text()
    by_worst = await (await client.get("/console/moderation?order=worst")).text()
    on_telegram = await (await client.get("/console/moderation?channel=telegram")).text()
    waited = await (await client.get("/console/moderation?waited=24")).text()

    ids = re.compile(r'id="item-(\d+)"')
    assert [int(i) for i in ids.findall(oldest)] == [mild, worst]
    assert [int(i) for i in ids.findall(by_worst)] == [worst, mild]
    assert ids.findall(on_telegram) == []
    assert ids.findall(waited) == []  # held just now


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (Role.AGENT, "/console/moderation", 403),
        (Role.MODERATOR, "/console/channels", 403),
        (Role.MODERATOR, "/console/policy", 403),
        (Role.MODERATOR, "/console/users", 403),
        (Role.MODERATOR, "/console/audit", 403),
        (Role.MODERATOR, "/console/privacy", 403),
        (Role.ADMIN, "/console/channels", 200),
        (Role.ADMIN, "/console/audit", 200),
    ],
)
async def test_each_page_checks_the_role(
    client: Client, moderated: Runtime, role: Role, path: str, status: int
) -> None:
    await signed_in_as(client, moderated, role)
    assert (await client.get(path)).status == status


async def test_a_moderator_cannot_switch_a_channel_even_with_a_valid_form(
    client: Client, moderated: Runtime
) -> None:
    csrf = await signed_in_as(client, moderated, Role.MODERATOR)
    answer = await client.post("/console/channels/whatsapp", data={"csrf": csrf, "accepted": "1"})
    assert answer.status == 403
    assert Channel.WHATSAPP not in moderated.policy.current.accepted


# --- admins ----------------------------------------------------------------------------------


async def test_switching_whatsapp_on_answers_its_next_message(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    await signed_in_as(client, moderated, Role.ADMIN, "root")
    page = await (await client.get("/console/channels")).text()
    assert re.search(r'id="channel-whatsapp">.*?closed', page, re.DOTALL)
    await moderated.ingest.accept(
        complaint(
            "+39 333 111 2222", "Inverter rotto, ordine 551.", clock.now(), channel=Channel.WHATSAPP
        )
    )
    assert [o.decision for o in await moderated.worker.drain()] == [Decision.CHANNEL_CLOSED]

    switched = await client.post(
        "/console/channels/whatsapp",
        data={"csrf": csrf_of(page), "accepted": "1"},
        allow_redirects=False,
    )
    await moderated.ingest.accept(
        complaint(
            "+39 333 111 2223", "Inverter rotto, ordine 552.", clock.now(), channel=Channel.WHATSAPP
        )
    )

    assert switched.status == 303
    assert [o.decision for o in await moderated.worker.drain()] == [Decision.ANSWERED]
    assert await audit_of(moderated, "channel.") == [("root", "channel.set", "whatsapp")]
    unknown = await client.post(
        "/console/channels/fax", data={"csrf": csrf_of(page), "accepted": "1"}
    )
    assert unknown.status == 404


async def test_a_policy_value_is_checked_saved_and_shown_with_who_changed_it(
    client: Client, moderated: Runtime
) -> None:
    await signed_in_as(client, moderated, Role.ADMIN, "root")
    csrf = await admin_csrf(client)

    saved = await client.post(
        "/console/policy", data={"csrf": csrf, "name": "throttle.flood_limit", "value": "7"}
    )
    refused = await client.post(
        "/console/policy", data={"csrf": csrf, "name": "sla.country", "value": "Atlantis"}
    )
    unknown = await client.post(
        "/console/policy", data={"csrf": csrf, "name": "nope.nothing", "value": "1"}
    )

    assert saved.status == 200
    assert re.search(
        r'id="setting-throttle.flood_limit">.*?value="7".*?root', await saved.text(), re.DOTALL
    )
    assert moderated.policy.current.throttle.flood_limit == 7
    assert refused.status == 422
    assert "sla.country" in await refused.text()
    assert moderated.policy.current.sla.country != "Atlantis"
    assert unknown.status == 422
    assert await audit_of(moderated, "policy.") == [("root", "policy.set", "throttle.flood_limit")]


async def test_accounts_are_made_and_changed_from_the_users_page(
    client: Client, moderated: Runtime
) -> None:
    await signed_in_as(client, moderated, Role.ADMIN, "root")
    csrf = await admin_csrf(client)

    made = await client.post(
        "/console/users/add", data={"csrf": csrf, "name": "lia", "role": "agent", "email": ""}
    )
    shown = re.search(r'<code id="shown">([^<]+)</code>', await made.text())
    assert shown is not None
    accounts = Accounts(moderated.sessions, moderated.clock)
    assert await accounts.verify("lia", shown.group(1)) is not None
    again = await (await client.get("/console/users")).text()
    assert shown.group(1) not in again  # shown once

    await client.post(
        "/console/users/role", data={"csrf": csrf, "name": "lia", "role": "moderator"}
    )
    token_page = await client.post(
        "/console/users/token", data={"csrf": csrf, "name": "lia", "label": "ci"}
    )
    token = re.search(r'<code id="shown">(itk_[^<]+)</code>', await token_page.text())
    assert token is not None
    api = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await client.get("/api/v1/moderation/items", headers=api)).status == 200
    [issued] = await accounts.tokens("lia")
    await client.post("/console/users/revoke", data={"csrf": csrf, "token_id": str(issued.id)})
    assert (await client.get("/api/v1/moderation/items", headers=api)).status == 401

    self_off = await client.post(
        "/console/users/active", data={"csrf": csrf, "name": "root", "active": "0"}
    )
    assert self_off.status == 422
    assert [(s.name, a) for s, a in await accounts.listing() if s.name == "root"] == [
        ("root", True)
    ]
    assert [a[1] for a in await audit_of(moderated, "user.") if a[0] == "root"] == [
        "user.add",
        "user.role",
    ]


async def test_the_audit_log_is_searchable(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    message_id = await flag(moderated, clock)
    csrf = await signed_in_as(client, moderated, Role.MODERATOR, "mod.x")
    await client.post(f"/console/moderation/{message_id}/confirm", data={"csrf": csrf})
    await signed_in_as(client, moderated, Role.ADMIN, "root")
    csrf = await admin_csrf(client)
    await client.post("/console/channels/telegram", data={"csrf": csrf, "accepted": "0"})

    def table(html: str) -> str:
        return html[html.find('<table id="entries">') :]

    by_actor = table(await (await client.get("/console/audit?actor=mod.x")).text())
    by_family = table(await (await client.get("/console/audit?action=channel")).text())
    by_day = await (await client.get("/console/audit?since=2030-01-01")).text()

    assert "moderation.confirm" in by_actor
    assert "channel.set" not in by_actor
    assert "channel.set" in by_family
    assert "moderation.confirm" not in by_family
    assert 'id="empty"' in by_day


async def test_an_admin_exports_and_erases_a_customer_and_the_log_names_them(
    client: Client, moderated: Runtime, clock: VirtualClock
) -> None:
    await moderated.ingest.accept(
        complaint("erase.me@example.it", "Inverter rotto, ordine 6611, Via Roma 1.", clock.now())
    )
    [outcome] = await moderated.worker.drain()
    await signed_in_as(client, moderated, Role.ADMIN, "dpo")
    csrf = await admin_csrf(client)

    exported = await client.post(
        "/console/privacy", data={"csrf": csrf, "action": "export", "who": outcome.ticket_ref}
    )
    unconfirmed = await client.post(
        "/console/privacy",
        data={"csrf": csrf, "action": "erase", "who": "erase.me@example.it", "confirm": "yes"},
    )
    erased = await client.post(
        "/console/privacy",
        data={"csrf": csrf, "action": "erase", "who": "erase.me@example.it", "confirm": "ERASE"},
    )
    nobody = await client.post(
        "/console/privacy", data={"csrf": csrf, "action": "export", "who": "no.one@example.it"}
    )

    assert exported.status == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    assert "Via Roma 1" in await exported.text()
    assert unconfirmed.status == 422
    assert erased.status == 200
    assert 'id="done"' in await erased.text()
    assert nobody.status == 422
    after = await client.post(
        "/console/privacy", data={"csrf": csrf, "action": "export", "who": outcome.ticket_ref}
    )
    assert "Via Roma 1" not in await after.text()
    assert [a[:2] for a in await audit_of(moderated, "privacy.")] == [
        ("dpo", "privacy.export"),
        ("dpo", "privacy.erase"),
        ("dpo", "privacy.export"),
    ]


async def test_the_navigation_marks_the_page_and_its_parent_only(
    client: Client, moderated: Runtime
) -> None:
    await signed_in_as(client, moderated, Role.ADMIN)
    queue = await (await client.get("/console/moderation")).text()
    deeper = await (await client.get("/console/tickets/C-2026-999999")).text()

    current = re.compile(r'<a href="([^"]+)" aria-current="page">')
    assert current.findall(queue) == ["/console/moderation"]
    assert current.findall(deeper) == ["/console/tickets"]
