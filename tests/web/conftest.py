"""What the staff-facing web tests share: a bot whose classifier holds one word."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app.config import Settings
from bot.app.runtime import Runtime, open_runtime
from bot.contract.clock import VirtualClock
from bot.contract.domain import OutboundReply
from channels.capture import capture_senders
from tests.helpers import KeywordClassifier


@pytest.fixture
async def moderated(
    settings: Settings, clock: VirtualClock, captured: dict[int, OutboundReply]
) -> AsyncIterator[Runtime]:
    """The bot with a classifier that holds what says 'idiots' (and nothing else): a
    moderation queue without depending on the lexicon's lists."""
    async with open_runtime(
        settings,
        clock=clock,
        classifier=KeywordClassifier("idiots"),
        senders=capture_senders(captured, now=clock.now),
    ) as runtime:
        yield runtime
        async for key in runtime.redis.scan_iter(match=runtime.keys.pattern, count=500):
            await runtime.redis.delete(key)
