"""Fixtures the channel tests share: the local servers that stand in for providers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.smtp_relay import SmtpRelay


@pytest.fixture
async def relay() -> AsyncIterator[SmtpRelay]:
    """An SMTP relay (aiosmtpd) on a loopback port that keeps what it is given."""
    server = await SmtpRelay().start()
    yield server
    await server.stop()
