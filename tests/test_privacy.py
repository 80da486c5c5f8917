"""A customer's data on request: exported whole, or erased while the records stay."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Attachment, Decision, OutboundReply
from bot.contract.errors import IntakeError
from bot.staff import privacy
from bot.store.models import (
    AuditEntry,
    Customer,
    Identity,
    Message,
    OutboxReply,
    Ticket,
    TicketEvent,
)
from tests.helpers import complaint

BROKEN = (
    "My inverter, model SolarMax 3000, stopped working after two days, order number "
    "778812, serial number SN4411223. I want a replacement unit. Call me on +39 333 "
    "1234567."
)


async def populate(runtime: Runtime, clock: VirtualClock) -> tuple[str, Path]:
    """Ann: a ticket, a reply, an uploaded file and a held message; Bob: a ticket of his own."""
    uploads = runtime.settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    stored = uploads / (secrets.token_urlsafe(18) + ".pdf")
    stored.write_bytes(b"%PDF-1.4 receipt")
    first = complaint("Ann@Example.com", BROKEN, clock.now()).model_copy(
        update={
            "display_name": "Ann Rossi",
            "attachments": [
                Attachment(
                    filename="receipt.pdf",
                    content_type="application/pdf",
                    size=16,
                    url=f"/form/files/{stored.name}",
                )
            ],
        }
    )
    held = complaint(
        "ann@example.com", "Still broken, see my earlier mail.", clock.now()
    ).model_copy(update={"sender_unproven": "no DMARC pass"})
    for message in (first, held, complaint("bob@example.org", BROKEN, clock.now())):
        await runtime.ingest.accept(message)
    outcomes = await runtime.worker.drain()
    assert [o.decision for o in outcomes] == [
        Decision.ANSWERED,
        Decision.FLAGGED,
        Decision.ANSWERED,
    ]
    await runtime.sender.run_once()
    assert outcomes[0].ticket_ref is not None
    return outcomes[0].ticket_ref, stored


async def customer_of(runtime: Runtime, who: str) -> int:
    async with runtime.sessions() as session:
        return await privacy.find_customer(session, who)


async def test_an_export_holds_everything_about_the_customer_and_nothing_else(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    ref, _ = await populate(runtime, clock)
    ann = await customer_of(runtime, "ann@example.com")
    assert await customer_of(runtime, ref.lower()) == ann
    assert await customer_of(runtime, "email: ANN@example.com") == ann
    data = await privacy.export(runtime.sessions, ann)
    assert data["customer"]["display_name"] == "Ann Rossi"
    assert [i["address"] for i in data["identities"]] == ["ann@example.com"]
    assert [m["text"] for m in data["messages"]] == [BROKEN, "Still broken, see my earlier mail."]
    assert data["messages"][0]["attachments"][0]["filename"] == "receipt.pdf"
    [ticket] = data["tickets"]
    assert (ticket["ref"], ticket["details"]["serial_number"]) == (ref, "SN4411223")
    assert ticket["history"][0]["status"] == "new"
    assert [r["address"] for r in data["replies"]] == ["ann@example.com"]
    assert ref in data["replies"][0]["text"]
    assert "bob" not in json.dumps(data)


async def test_erasure_blanks_the_person_keeps_the_records_and_is_audited(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    ref, stored = await populate(runtime, clock)
    ann, bob = (
        await customer_of(runtime, "ann@example.com"),
        await customer_of(runtime, "bob@example.org"),
    )
    erased = await privacy.erase(
        runtime.sessions, runtime.throttle, ann, actor="dpo@company", now=clock.now()
    )
    assert erased.rows == {
        "customers": 1,
        "identities": 1,
        "messages": 2,
        "tickets": 1,
        "ticket_events": 1,
        "ratings": 0,
        "unsent_replies": 0,
        "outbox": 1,
        "moderation_items": 1,
    }
    assert erased.attachment_urls == [f"/form/files/{stored.name}"]
    async with runtime.sessions() as session:
        messages = list(
            await session.scalars(
                select(Message).where(Message.customer_id == ann).order_by(Message.id)
            )
        )
        assert {(m.text, m.display_name, m.subject, m.sender) for m in messages} == {
            ("", "", "", f"erased-{m.id}") for m in messages
        }
        assert [(m.raw, m.attachments, m.thread_refs) for m in messages] == [({}, [], [])] * 2
        assert [m.decision for m in messages] == ["answered", "flagged"]  # the record stays
        identity = await session.scalar(select(Identity).where(Identity.customer_id == ann))
        assert identity is not None
        assert (identity.address, identity.verified) == (f"erased-{identity.id}", False)
        customer = await session.get_one(Customer, ann)
        assert customer.display_name == ""
        ticket = await session.scalar(select(Ticket).where(Ticket.customer_id == ann))
        assert ticket is not None
        assert (ticket.ref, ticket.status, ticket.details) == (ref, "new", {})
        reply = await session.scalar(select(OutboxReply).where(OutboxReply.ticket_id == ticket.id))
        assert reply is not None
        assert (reply.address, reply.text, reply.status) == ("erased", "", "sent")
        assert (
            await session.scalar(select(TicketEvent.note).where(TicketEvent.ticket_id == ticket.id))
            == ""
        )
        [entry] = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.erase")
        )
        assert (entry.actor, entry.target) == ("dpo@company", f"customer:{ann}")
        assert entry.details["rows"] == erased.rows
        untouched = await session.scalar(select(Message).where(Message.customer_id == bob))
        assert untouched is not None
        assert (untouched.text, untouched.sender) == (BROKEN, "bob@example.org")
    assert stored.exists()  # the file is the channel's: the CLI deletes it (test below)
    with pytest.raises(IntakeError, match=re.escape("no customer known by 'ann@example.com'")):
        await customer_of(runtime, "ann@example.com")
    # Writing again, Ann is a new customer: nothing links her to the erased one.
    await runtime.ingest.accept(complaint("ann@example.com", BROKEN, clock.now()))
    [again] = await runtime.worker.drain()
    assert again.decision is Decision.ANSWERED
    assert again.ticket_ref != ref


async def test_a_reply_not_yet_sent_is_never_sent_after_the_erasure(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    await runtime.ingest.accept(complaint("ann@example.com", BROKEN, clock.now()))
    await runtime.worker.drain()  # a reply is owed, not sent yet
    erased = await privacy.erase(
        runtime.sessions,
        runtime.throttle,
        await customer_of(runtime, "ann@example.com"),
        actor="dpo",
        now=clock.now(),
    )
    assert erased.rows["unsent_replies"] == 1
    assert await runtime.sender.run_once() == 0
    assert captured == {}
    async with runtime.sessions() as session:
        reply = await session.scalar(select(OutboxReply))
    assert reply is not None
    assert (reply.status, reply.address, reply.last_error) == (
        "failed",
        "erased",
        "not sent: the customer's data was erased",
    )


@pytest.mark.parametrize(
    ("who", "problem"),
    [
        ("fax:12345", "unknown channel 'fax'"),
        ("nobody@example.com", "no customer known by 'nobody@example.com'"),
        ("C-2026-999999", "no customer known by 'C-2026-999999'"),
        ("telegram:", "no customer known by 'telegram:'"),
    ],
)
async def test_an_unknown_subject_is_a_clear_error(
    runtime: Runtime, who: str, problem: str
) -> None:
    with pytest.raises(IntakeError, match=re.escape(problem)):
        await customer_of(runtime, who)


async def test_the_cli_exports_and_erases_and_deletes_the_uploaded_file(
    runtime: Runtime, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> None:
    ref, stored = await populate(runtime, clock)
    settings = runtime.settings
    env = {
        **os.environ,
        "INTAKE_DATA_DIR": str(settings.data_dir),
        "INTAKE_KEY_PREFIX": settings.key_prefix,
        "INTAKE_REDIS_URL": settings.redis_url or "",
        "INTAKE_DATABASE_URL": settings.database_url or "",
    }
    env = {k: v for k, v in env.items() if v}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.app.cli", "privacy", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    exported = cli("export", "ann@example.com")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["tickets"][0]["ref"] == ref
    erased = cli("erase", ref, "--actor", "dpo@company")
    assert erased.returncode == 0, erased.stderr
    summary = json.loads(erased.stdout)
    assert (summary["rows"]["messages"], summary["files"]) == (2, 1)
    assert not stored.exists()
    missing = cli("export", "ann@example.com")
    assert missing.returncode == 2
    assert "no customer known by 'ann@example.com'" in missing.stderr
