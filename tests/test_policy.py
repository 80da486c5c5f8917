"""Runtime policy: stored, audited, and in force on every process within a second."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import Channel
from bot.contract.errors import IntakeError, UnknownChannel
from bot.rules.policy import PolicyStore
from bot.store.models import AuditEntry


async def test_defaults_accept_all_but_whatsapp(runtime: Runtime) -> None:
    accepted = runtime.policy.current.accepted
    assert Channel.WHATSAPP not in accepted
    assert {
        Channel.EMAIL,
        Channel.WEBFORM,
        Channel.WEBCHAT,
        Channel.FACEBOOK,
        Channel.INSTAGRAM,
        Channel.TELEGRAM,
    } <= accepted


async def test_a_toggle_reaches_another_process_through_pubsub(
    runtime: Runtime, clock: VirtualClock
) -> None:
    other = PolicyStore(runtime.sessions, runtime.redis, runtime.keys, clock, refresh_s=30)
    await other.reload()
    follower = asyncio.create_task(other.follow())
    try:
        await asyncio.wait_for(other.subscribed.wait(), timeout=5)
        await runtime.policy.set_channel("whatsapp", True, actor="admin")
        await asyncio.wait_for(_accepts_whatsapp(other), timeout=1.0)  # within a second
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def _accepts_whatsapp(store: PolicyStore) -> None:
    while True:
        store.reloaded.clear()  # before the check, so a reload in between is not missed
        if Channel.WHATSAPP in store.current.accepted:
            return
        await store.reloaded.wait()


async def test_settings_are_validated_stored_and_audited(runtime: Runtime) -> None:
    await runtime.policy.set_value("throttle.flood_limit", 3, actor="admin")
    assert runtime.policy.current.throttle.flood_limit == 3
    with pytest.raises(IntakeError, match="unknown setting"):
        await runtime.policy.set_value("throttle.nonsense", 3, actor="admin")
    with pytest.raises(IntakeError, match="must not be negative"):
        await runtime.policy.set_value("throttle.flood_limit", -1, actor="admin")
    with pytest.raises(IntakeError, match="must be a int"):
        await runtime.policy.set_value("throttle.flood_limit", "lots", actor="admin")
    with pytest.raises(UnknownChannel, match="ebay"):
        await runtime.policy.set_channel("ebay", True, actor="admin")
    await runtime.policy.reload()
    assert runtime.policy.current.throttle.flood_limit == 3
    async with runtime.sessions() as session:
        audit = list(
            await session.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.target))
        )
    assert [tuple(a) for a in audit] == [("admin", "policy.set", "throttle.flood_limit")]
