"""The audit log: who changed what and when, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEntry


def record(
    session: AsyncSession, *, at: datetime, actor: str, action: str, target: str, **details: Any
) -> None:
    session.add(AuditEntry(at=at, actor=actor, action=action, target=target, details=details))
