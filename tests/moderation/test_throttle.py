"""The throttle's Lua decisions, on fakeredis, the embedded Valkey and a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import fakeredis
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from bot.contract.domain import Decision
from bot.contract.keys import Keys
from moderation.throttle import Ask, Fresh, Throttle, ThrottleLimits
from tests.conftest import REDIS_URL, need

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LIMITS = ThrottleLimits(flood_limit=10, window_s=3600)


@pytest.fixture(params=["fakeredis", "valkey", "redis"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    if request.param == "fakeredis":
        client: Redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    elif request.param == "valkey":
        client = Redis.from_url(request.getfixturevalue("valkey"))
    else:
        need(REDIS_URL, 6379, "Redis")
        client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def keys() -> Keys:
    return Keys(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def throttle(redis: Redis, keys: Keys) -> Throttle:
    return Throttle(redis, keys)


def _unrelated(n: int) -> str:
    """A text of its own for message n: random words, far from every other n's."""
    return " ".join(hashlib.sha256(f"{n}:{i}".encode()).hexdigest()[:8] for i in range(4))


async def _decide(
    throttle: Throttle,
    n: int,
    *,
    text: str | None = None,
    ticket: int = 7,
    version: int = 1,
    at: datetime = T0,
    customer: int = 1,
    limits: ThrottleLimits = LIMITS,
) -> Decision:
    verdict = await throttle.decide(
        customer_id=customer,
        message_id=f"m{n}",
        ticket_id=ticket,
        state_version=version,
        text=text if text is not None else _unrelated(n),
        now=at,
        limits=limits,
    )
    return verdict.decision


async def test_first_message_of_a_state_is_answered_and_the_second_collapses(
    throttle: Throttle,
) -> None:
    assert await _decide(throttle, 1, text="my inverter broke") is Decision.ANSWERED
    assert await _decide(throttle, 2, text="hello, any news on the repair?") is Decision.COLLAPSED


async def test_a_new_state_version_is_answered_again(throttle: Throttle) -> None:
    await _decide(throttle, 1, text="my inverter broke")
    assert await _decide(throttle, 2, text="order 12345", version=2) is Decision.ANSWERED
    assert await _decide(throttle, 3, text="any news?", version=2) is Decision.COLLAPSED


async def test_eleventh_message_in_an_hour_is_throttled(throttle: Throttle) -> None:
    decisions = [
        await _decide(throttle, n, version=n, at=T0 + timedelta(minutes=n)) for n in range(1, 12)
    ]
    assert decisions[:10] == [Decision.ANSWERED] * 10
    assert decisions[10] is Decision.THROTTLED


async def test_window_slides_so_old_messages_stop_counting(throttle: Throttle) -> None:
    for n in range(1, 11):
        await _decide(throttle, n, version=n, at=T0 + timedelta(minutes=n))
    later = T0 + timedelta(minutes=1, hours=1, seconds=1)  # message 1 has left the window
    assert await _decide(throttle, 11, version=11, at=later) is Decision.ANSWERED
    assert await _decide(throttle, 12, version=12, at=later) is Decision.THROTTLED


async def test_limits_are_taken_from_each_call(throttle: Throttle) -> None:
    tight = ThrottleLimits(flood_limit=2, window_s=60)
    results = [await _decide(throttle, n, version=n, limits=tight) for n in range(1, 4)]
    assert results == [Decision.ANSWERED, Decision.ANSWERED, Decision.THROTTLED]


async def test_near_duplicate_text_is_a_repeat_even_with_a_new_state(throttle: Throttle) -> None:
    await _decide(throttle, 1, text="Where is my refund for the broken inverter???")
    verdict = await throttle.decide(
        customer_id=1,
        message_id="m2",
        ticket_id=7,
        state_version=2,
        text="where is my refund for the broken inverter!!! 😡",
        now=T0 + timedelta(minutes=5),
        limits=LIMITS,
    )
    assert verdict.decision is Decision.COLLAPSED
    assert verdict.repeat_of == "m1"


async def test_different_customers_do_not_share_windows(throttle: Throttle) -> None:
    same = "Where is my refund for the broken inverter???"
    assert await _decide(throttle, 1, text=same, customer=1) is Decision.ANSWERED
    assert await _decide(throttle, 2, text=same, customer=2, ticket=8) is Decision.ANSWERED


async def test_a_retried_message_gets_its_first_decision(throttle: Throttle) -> None:
    first = await _decide(throttle, 1, text="my inverter broke")
    again = await _decide(throttle, 1, text="my inverter broke")
    assert first is again is Decision.ANSWERED


async def test_concurrent_calls_answer_one_state_once(throttle: Throttle) -> None:
    texts = [f"question number {n}: " + "abcdefghij"[n % 10] * (n + 5) for n in range(8)]
    decisions = await asyncio.gather(*[_decide(throttle, n, text=texts[n]) for n in range(8)])
    assert decisions.count(Decision.ANSWERED) == 1
    assert decisions.count(Decision.COLLAPSED) == 7


async def test_staff_answer_makes_repeats_of_that_state_collapse(throttle: Throttle) -> None:
    await _decide(throttle, 1, text="my inverter broke")
    await throttle.mark_answered(customer_id=1, ticket_id=7, state_version=2, limits=LIMITS)
    assert await _decide(throttle, 2, text="thanks, and now?", version=2) is Decision.COLLAPSED
    await throttle.mark_answered(customer_id=1, ticket_id=7, state_version=1, limits=LIMITS)
    assert await _decide(throttle, 3, text="a new detail", version=3) is Decision.ANSWERED


def test_all_keys_of_one_call_share_a_cluster_slot(keys: Keys) -> None:
    slots = {key_slot(k.encode()) for k in keys.throttle(42)}
    assert len(slots) == 1


async def _claim(
    throttle: Throttle, n: int, *, text: str | None = None, at: datetime = T0
) -> Decision:
    """Message n of customer 2, who claims to be customer 1 (each a new state of its own
    ticket, so only the flood window or a repeat can hold it)."""
    verdict = await throttle.decide(
        customer_id=2,
        message_id=f"c{n}",
        ticket_id=70,
        state_version=n + 1,
        text=text if text is not None else _unrelated(1000 + n),
        now=at,
        limits=LIMITS,
        claims=1,
    )
    return verdict.decision


async def test_a_claimant_is_throttled_with_the_customer_it_names_but_never_throttles_it(
    throttle: Throttle,
) -> None:
    for n in range(5):  # the named customer's own messages
        await _decide(throttle, n, at=T0 + timedelta(seconds=n), version=n + 1)
    claims = [await _claim(throttle, n, at=T0 + timedelta(minutes=1, seconds=n)) for n in range(8)]
    assert claims[:5] == [Decision.ANSWERED] * 5
    assert claims[5:] == [Decision.THROTTLED] * 3  # 5 of theirs + 6 of its own > 10
    own = await _decide(throttle, 99, at=T0 + timedelta(minutes=2), version=99)
    assert own is Decision.ANSWERED  # the claimant's eight never counted against it


async def test_a_claimant_repeating_the_customer_collapses_but_not_the_other_way(
    throttle: Throttle,
) -> None:
    text = "My inverter SUN-5K shows error F23 every single morning since Monday"
    assert await _decide(throttle, 1, text=text) is Decision.ANSWERED
    assert (
        await _claim(throttle, 1, text=text + "!", at=T0 + timedelta(minutes=1))
        is Decision.COLLAPSED
    )
    other = "Nobody answered my mail about the refund of order 778812 for two weeks now"
    assert await _claim(throttle, 2, text=other, at=T0 + timedelta(minutes=2)) is Decision.ANSWERED
    assert (
        await _decide(throttle, 2, text=other + ".", version=2, at=T0 + timedelta(minutes=3))
        is Decision.ANSWERED
    )


def test_a_claimants_keys_share_the_named_customers_slot(keys: Keys) -> None:
    slots = {key_slot(k.encode()) for k in keys.throttle(2, claims=1)}
    assert slots == {key_slot(keys.flood(1).encode())}


def _ask(n: int, ticket: int = 7, customer: int = 1) -> Ask:
    return Ask(customer, f"m{n}", ticket, 1, _unrelated(n), T0)


async def test_a_ticket_new_to_the_batch_forgets_what_a_rolled_back_attempt_left(
    throttle: Throttle,
) -> None:
    """Ticket 7 was opened, answered, then rolled back; SQLite gives id 7 to the next one."""
    assert await _decide(throttle, 1) is Decision.ANSWERED  # the attempt that never was
    stale = await throttle.decide_many([_ask(2)], LIMITS)
    fresh = Fresh(1, None, ticket_id=7, message_ids=("m1", "m3"))
    [retried, opener] = await throttle.decide_many([_ask(1), _ask(3)], LIMITS, [fresh])

    assert stale[0].decision is Decision.COLLAPSED  # what the new ticket's opener got before
    assert retried.decision is Decision.ANSWERED  # decided again, about the ticket that is
    assert opener.decision is Decision.COLLAPSED  # one answer per state, as ever


async def test_a_customer_new_to_the_batch_starts_with_nothing_of_the_id_before(
    throttle: Throttle,
) -> None:
    for n in range(LIMITS.flood_limit + 1):  # a flood, rolled back with its customer
        await _decide(throttle, n)
    [verdict] = await throttle.decide_many([_ask(100)], LIMITS, [Fresh(1, None)])

    assert verdict.decision is Decision.ANSWERED
    assert verdict.messages_in_window == 1
