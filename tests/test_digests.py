"""Staff digests: moderators are told that held messages wait, agents that tickets are late.

Mail goes through the real email adapter to an SMTP relay on loopback (aiosmtpd), the
webhook to a local aiohttp server that records the JSON it is given; time moves on the
VirtualClock and each pass is `run_once`, called directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.app.runtime import Runtime, open_runtime, run_worker
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel, Decision, OutboundReply
from bot.contract.errors import IntakeError
from bot.contract.ports import ReplySender
from bot.staff.accounts import Accounts, Role
from bot.staff.digests import Digests, Sent
from bot.stages.outbox import Sender
from bot.stages.pipeline import Pipeline
from bot.stages.worker import Worker
from bot.store.models import Ticket
from channels.capture import capture_senders
from channels.email import EmailConfig, SmtpSender
from tests.conftest import START
from tests.fakes.dovecot import free_port
from tests.fakes.smtp_relay import SmtpRelay
from tests.helpers import KeywordClassifier, complaint

SECRET = "T0DIGEST/B0DIGEST/xoxs3cr3tW3bh00k"  # the part of a webhook URL that is its key
HELD = "You idiots, my Quokkaberry ZX-77 inverter died again"  # words no digest may carry
HELD_SENDER = "quokka.fan@example.org"
FULL = (
    "Il mio inverter si spegne ogni mattina con errore E-2032, ordine n. 778812. "
    "Vorrei la sostituzione."
)
MODERATORS = ["admin@staff.test", "mod@staff.test"]  # sorted
EVERYONE = ["admin@staff.test", "agent@staff.test", "mod@staff.test"]
ROME = ZoneInfo("Europe/Rome")  # the default sla.timezone


class Webhook:
    """A Slack/Teams-style incoming webhook on loopback: records the JSON bodies it takes,
    answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.url = ""
        self.posted = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        if request.match_info["key"] != SECRET:
            return web.Response(status=404)
        if self.status == 200:
            self.received.append(await request.json())
            self.posted.set()
        return web.Response(status=self.status, text="ok" if self.status == 200 else "no")

    async def start(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/services/{key:.+}", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/services/{SECRET}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def texts(self) -> list[str]:
        return [str(body["text"]) for body in self.received]


@pytest.fixture
async def relay() -> AsyncIterator[SmtpRelay]:
    server = await SmtpRelay().start()
    yield server
    await server.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    server = await Webhook().start()
    yield server
    await server.stop()


@pytest.fixture
async def staff(runtime: Runtime) -> None:
    """A moderator, an admin and an agent with emails; a disabled moderator and a moderator
    without an email, who must get nothing."""
    accounts = Accounts(runtime.sessions, runtime.clock)
    for name, role, email in (
        ("mod", Role.MODERATOR, "mod@staff.test"),
        ("admin", Role.ADMIN, "Admin@Staff.test"),
        ("agent", Role.AGENT, "agent@staff.test"),
        ("gone", Role.MODERATOR, "gone@staff.test"),
        ("nomail", Role.MODERATOR, ""),
    ):
        await accounts.add(name, role, password=None, actor="test", email=email)
    await accounts.set_active("gone", False, actor="test")


def digests(
    runtime: Runtime, relay: SmtpRelay | None, webhook_url: str = "", public_url: str = ""
) -> Digests:
    """Digests mailing through the real SMTP adapter to `relay` (None: email not configured)."""
    adapters: dict[Channel, ReplySender] = {}
    if relay is not None:
        config = EmailConfig(
            smtp_relay=f"127.0.0.1:{relay.port}",
            mail_from="Intake <support@intake.test>",
            now=runtime.clock.now,
            timeout_s=10,
        )
        adapters[Channel.EMAIL] = SmtpSender(config)
    mailer = Sender(runtime.sessions, adapters, runtime.clock)
    return Digests(
        runtime.sessions,
        runtime.redis,
        runtime.keys,
        runtime.policy,
        runtime.clock,
        mailer,
        webhook_url=webhook_url,
        public_url=public_url,
    )


def mailed_to(relay: SmtpRelay) -> list[str]:
    return sorted(to for mail in relay.received for to in mail.rcpt_tos)


def bodies(relay: SmtpRelay) -> list[str]:
    return [str(mail.message.get_content()).replace("\r\n", "\n") for mail in relay.received]


async def hold(runtime: Runtime, clock: VirtualClock) -> None:
    """Three messages held for a moderator (two by email, one on Telegram), received now."""
    pipeline = Pipeline(
        runtime.sessions, runtime.throttle, KeywordClassifier("idiots"), runtime.policy, clock
    )
    worker = Worker(
        runtime.stream, pipeline, consumer="mod", batch_size=10, block_ms=10, claim_idle_ms=0
    )
    for sender, channel in (
        (HELD_SENDER, Channel.EMAIL),
        ("other.fan@example.org", Channel.EMAIL),
        ("424242", Channel.TELEGRAM),
    ):
        await runtime.ingest.accept(complaint(sender, HELD, clock.now(), channel=channel))
    outcomes = await worker.drain()
    assert [o.decision for o in outcomes] == [Decision.FLAGGED] * 3


def later(clock: VirtualClock, minutes: float) -> None:
    clock.set(START + timedelta(minutes=minutes))


# --- moderators ------------------------------------------------------------------------------


@pytest.mark.usefixtures("staff")
async def test_held_messages_bring_moderators_one_digest_per_interval(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, webhook: Webhook
) -> None:
    await hold(runtime, clock)
    sending = digests(runtime, relay, webhook.url, public_url="https://intake.example/")

    later(clock, 10)  # not waited long enough
    assert (await sending.run_once()).moderation is None
    assert (relay.received, webhook.received) == ([], [])

    later(clock, 31)
    sent = (await sending.run_once()).moderation
    assert sent is not None
    assert sorted(sent.mailed) == MODERATORS == mailed_to(relay)  # not agents, the disabled
    assert sent.webhook is True
    assert webhook.texts == [sent.text]
    assert sent.text.splitlines() == [
        "3 held messages wait for a moderator; the oldest has waited 31 minutes.",
        "By label: insult 3",
        "By channel: email 2, telegram 1",
        "Review them: https://intake.example/console/moderation",
    ]
    assert [m.message["Subject"] for m in relay.received] == [sent.subject] * 2
    assert bodies(relay) == [sent.text + "\n"] * 2

    later(clock, 61)  # 30 minutes after the digest: within the interval
    assert (await sending.run_once()).moderation is None
    later(clock, 91)  # 60 minutes after it, the items still wait
    again = (await sending.run_once()).moderation
    assert again is not None
    assert again.text.startswith("3 held messages wait for a moderator; the oldest has waited 91")
    assert (len(relay.received), len(webhook.received)) == (4, 2)


@pytest.mark.usefixtures("staff")
async def test_a_digest_holds_no_customer_words_or_addresses(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, webhook: Webhook
) -> None:
    await hold(runtime, clock)
    later(clock, 45)
    sent = (await digests(runtime, relay, webhook.url).run_once()).moderation
    assert sent is not None
    everything = "\n".join([sent.subject, sent.text, *bodies(relay), *webhook.texts]).lower()
    assert webhook.texts  # something was looked at
    for word in ("quokkaberry", "zx-77", "idiots", "inverter", "quokka.fan", "424242"):
        assert word not in everything


@pytest.mark.usefixtures("staff")
async def test_two_processes_at_once_send_one_digest(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, webhook: Webhook
) -> None:
    await hold(runtime, clock)
    later(clock, 31)
    one, two = digests(runtime, relay, webhook.url), digests(runtime, relay, webhook.url)
    results = await asyncio.gather(one.run_once(), two.run_once())
    assert sum(r.moderation is not None for r in results) == 1
    assert mailed_to(relay) == MODERATORS
    assert len(webhook.received) == 1


@pytest.mark.usefixtures("staff")
async def test_a_webhook_answering_500_is_logged_and_the_mail_still_goes(
    runtime: Runtime,
    clock: VirtualClock,
    relay: SmtpRelay,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await hold(runtime, clock)
    webhook.status = 500
    later(clock, 31)
    with caplog.at_level(logging.INFO, logger="bot.staff.digests"):
        sent = (await digests(runtime, relay, webhook.url).run_once()).moderation
    assert sent is not None
    assert (sorted(sent.mailed), sent.webhook) == (MODERATORS, False)
    assert mailed_to(relay) == MODERATORS
    assert "moderation digest not posted to the webhook: HTTP 500" in caplog.messages
    assert_no_secret(caplog)
    later(clock, 40)  # the mail went: that was the interval's digest
    assert (await digests(runtime, relay, webhook.url).run_once()).moderation is None


@pytest.mark.usefixtures("staff")
async def test_an_unreachable_webhook_is_logged_and_the_mail_still_goes(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, caplog: pytest.LogCaptureFixture
) -> None:
    await hold(runtime, clock)
    nowhere = f"http://127.0.0.1:{free_port()}/services/{SECRET}"
    later(clock, 31)
    with caplog.at_level(logging.INFO, logger="bot.staff.digests"):
        sent = (await digests(runtime, relay, nowhere).run_once()).moderation
    assert sent is not None
    assert (sorted(sent.mailed), sent.webhook) == (MODERATORS, False)
    assert mailed_to(relay) == MODERATORS
    assert any(
        m.startswith("moderation digest not posted to the webhook: ") for m in caplog.messages
    )
    assert_no_secret(caplog)


@pytest.mark.usefixtures("staff")
async def test_without_email_the_webhook_alone_is_told_and_a_failure_is_tried_again(
    runtime: Runtime, clock: VirtualClock, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody reached: the interval's claim is given back, so the next pass tries again."""
    await hold(runtime, clock)
    webhook.status = 503
    sending = digests(runtime, None, webhook.url)
    later(clock, 31)
    with caplog.at_level(logging.INFO, logger="bot.staff.digests"):
        failed = (await sending.run_once()).moderation
    assert failed is not None
    assert (failed.mailed, failed.webhook, failed.reached) == ((), False, False)
    assert any("not mailed: email is not configured" in m for m in caplog.messages)
    webhook.status = 200
    later(clock, 32)
    sent = (await sending.run_once()).moderation
    assert sent is not None
    assert (sent.webhook, len(webhook.received)) == (True, 1)
    later(clock, 33)
    assert (await sending.run_once()).moderation is None


@pytest.mark.usefixtures("staff")
async def test_the_moderation_digest_follows_the_policy_as_changed(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay
) -> None:
    await runtime.policy.set_value("notify.moderation_after_minutes", 5, actor="admin")
    await runtime.policy.set_value("notify.moderation_every_minutes", 10, actor="admin")
    await hold(runtime, clock)
    sending = digests(runtime, relay)
    later(clock, 4)
    assert (await sending.run_once()).moderation is None
    later(clock, 6)
    assert (await sending.run_once()).moderation is not None
    later(clock, 15)
    assert (await sending.run_once()).moderation is None
    later(clock, 16)
    assert (await sending.run_once()).moderation is not None


async def test_notify_settings_are_validated(runtime: Runtime) -> None:
    for name, value, problem in (
        ("notify.moderation_after_minutes", 0, "at least 1 minute"),
        ("notify.moderation_every_minutes", 4, "at least 5 minutes"),
        ("notify.sla_digest_hour", 24, "an hour of the day, 0 to 23"),
        ("notify.sla_digest_hour", -1, "must not be negative"),
        ("notify.sla_digest_hour", "eight", "must be a int"),
    ):
        with pytest.raises(IntakeError, match=problem):
            await runtime.policy.set_value(name, value, actor="admin")
    await runtime.policy.set_value("notify.sla_digest_hour", 0, actor="admin")
    await runtime.policy.set_value("notify.moderation_every_minutes", 5, actor="admin")
    await runtime.policy.reload()
    notify = runtime.policy.current.notify
    assert (notify.moderation_after_minutes, notify.moderation_every_minutes) == (30, 5)
    assert notify.sla_digest_hour == 0


@pytest.mark.usefixtures("staff")
async def test_the_worker_runs_the_digests_with_the_configured_webhook(
    runtime: Runtime, clock: VirtualClock, webhook: Webhook
) -> None:
    """The wiring: INTAKE_NOTIFY_WEBHOOK_URL reaches `runtime.digests`, and `run_worker`
    runs them (under their lease) beside the stream's worker, until stopped."""
    await hold(runtime, clock)
    later(clock, 31)
    settings = runtime.settings.model_copy(
        update={"notify_webhook_url": webhook.url, "digest_interval_s": 0.05}
    )
    mails: dict[int, OutboundReply] = {}
    async with open_runtime(
        settings, clock=clock, senders=capture_senders(mails), redis=runtime.redis
    ) as process:
        assert SECRET not in repr(process.settings)
        stop = asyncio.Event()
        working = asyncio.create_task(run_worker(process, stop))
        try:
            await asyncio.wait_for(webhook.posted.wait(), timeout=60)
        finally:
            stop.set()
            await asyncio.wait_for(working, timeout=30)
    assert webhook.texts[0].startswith("3 held messages wait for a moderator")
    assert mails[0].to in MODERATORS  # one-time mails share outbox id 0: the last one is kept


# --- agents ----------------------------------------------------------------------------------


async def open_ticket(runtime: Runtime, clock: VirtualClock, sender: str) -> Ticket:
    await runtime.ingest.accept(complaint(sender, FULL, clock.now()))
    [outcome] = await runtime.worker.drain()
    assert outcome.decision is Decision.ANSWERED
    async with runtime.sessions() as session:
        return await session.get_one(Ticket, outcome.ticket_id)


async def reread(runtime: Runtime, ticket: Ticket) -> Ticket:
    async with runtime.sessions() as session:
        return await session.get_one(Ticket, ticket.id)


def local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day.astimezone(ROME).date(), time(hour, minute), tzinfo=ROME)


async def late_tickets(runtime: Runtime, clock: VirtualClock) -> tuple[Ticket, Ticket, Ticket]:
    """One ticket overdue, one at risk, one on time, as the sweeper marks them; the clock
    left just after midnight of the day after the first one's resolve date."""
    overdue = await open_ticket(runtime, clock, "first@example.it")
    clock.set(START + timedelta(days=1))
    at_risk = await open_ticket(runtime, clock, "second@example.it")
    clock.set(START + timedelta(days=10))
    on_time = await open_ticket(runtime, clock, "third@example.it")
    clock.set(overdue.resolve_due + timedelta(minutes=1))
    swept = await runtime.sweeper.sweep()
    assert (swept.overdue, swept.at_risk) == ([overdue.ref], [at_risk.ref])
    return await reread(runtime, overdue), await reread(runtime, at_risk), on_time


@pytest.mark.usefixtures("staff")
async def test_agents_get_one_sla_digest_a_day_from_the_hour(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, webhook: Webhook
) -> None:
    overdue, at_risk, on_time = await late_tickets(runtime, clock)
    sending = digests(runtime, relay, webhook.url, public_url="https://intake.example")
    day = clock.now()

    clock.set(local(day, 7))
    assert (await sending.run_once()).sla is None
    clock.set(local(day, 8, 5))
    sent = (await sending.run_once()).sla
    assert sent is not None
    assert sorted(sent.mailed) == EVERYONE == mailed_to(relay)  # every role, but only active
    assert webhook.texts == [sent.text]
    due = f"{overdue.resolve_due.astimezone(ROME):%Y-%m-%d}"
    since = f"{day.astimezone(ROME):%Y-%m-%d}"
    risk_due = f"{at_risk.resolve_due.astimezone(ROME):%Y-%m-%d}"
    assert sent.text.splitlines() == [
        f"Tickets {since}: 1 overdue, 1 at risk.",
        "",
        "Overdue:",
        f"- {overdue.ref} ({overdue.status}), resolve by {due}, overdue since {since}",
        "",
        "At risk:",
        f"- {at_risk.ref} ({at_risk.status}), resolve by {risk_due}",
        "",
        "Open them: https://intake.example/console/tickets",
    ]
    assert on_time.ref
    assert on_time.ref not in sent.text

    clock.set(local(day, 9))
    assert (await sending.run_once()).sla is None
    clock.set(local(day + timedelta(days=1), 8, 10))  # the next day, still late: again
    next_day = (await sending.run_once()).sla
    assert next_day is not None
    assert f"- {overdue.ref} " in next_day.text
    assert len(webhook.received) == 2


@pytest.mark.usefixtures("staff")
async def test_a_day_with_nothing_late_sends_no_sla_digest(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay, webhook: Webhook
) -> None:
    await open_ticket(runtime, clock, "first@example.it")
    sending = digests(runtime, relay, webhook.url)
    clock.set(local(START + timedelta(days=1), 8, 5))
    assert await sending.run_once() == Sent()
    assert (relay.received, webhook.received) == ([], [])


@pytest.mark.usefixtures("staff")
async def test_the_sla_digest_hour_is_policy(
    runtime: Runtime, clock: VirtualClock, relay: SmtpRelay
) -> None:
    await late_tickets(runtime, clock)
    await runtime.policy.set_value("notify.sla_digest_hour", 10, actor="admin")
    sending = digests(runtime, relay)
    day = clock.now()
    clock.set(local(day, 9, 59))
    assert (await sending.run_once()).sla is None
    clock.set(local(day, 10))
    assert (await sending.run_once()).sla is not None


def assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        shown = record.getMessage() + (str(record.exc_info) if record.exc_info else "")
        assert "s3cr3t" not in shown.lower()
        assert "/services/" not in shown
