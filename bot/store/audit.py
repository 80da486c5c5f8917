"""The audit log: who changed what and when, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEntry


def record(
    session: AsyncSession, *, at: datetime, actor: str, action: str, target: str, **details: Any
) -> None:
    session.add(AuditEntry(at=at, actor=actor, action=action, target=target, details=details))


@dataclass(frozen=True)
class Search:
    """What the console's audit page narrows to; empty means any."""

    actor: str = ""
    action: str = ""  # an action, or its family: "moderation" finds moderation.release too
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


async def search(
    session: AsyncSession, query: Search, before_id: int = 0, limit: int = 50
) -> list[AuditEntry]:
    """Newest first, paged by id (an index walk, no OFFSET)."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id > 0:
        statement = statement.where(AuditEntry.id < before_id)
    if query.actor:
        statement = statement.where(AuditEntry.actor == query.actor)
    if query.action:
        statement = statement.where(
            or_(AuditEntry.action == query.action, AuditEntry.action.startswith(query.action + "."))
        )
    if query.target:
        statement = statement.where(AuditEntry.target == query.target)
    if query.since is not None:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.at < query.until)
    return list(await session.scalars(statement))
