"""What a reply says, in the ticket's language, as of one state of the ticket.

Who gets it, and the promise to send it (an outbox row), are the outbox's business
(bot.stages.outbox). No reply names a date in the past: the next date is the nearest of
the ticket's clocks still ahead (`next_due`), and none when both ran out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.store.models import Ticket
from bot.text import i18n
from bot.tickets.lifecycle import next_missing

Content = tuple[str, str, str]  # kind, subject, text
# A reply as of one state of its ticket, rendered when it is owed: a ticket opened in the
# worker's current batch gets its reference only once the batch's new tickets are written.
Draft = Callable[[], Content]
STATUS_TOPIC = "status"  # the outbox's topic of an answer to a status question
NEUTRAL_TOPIC = "neutral"  # the throttle's topic of the answer that names no ticket


def next_due(ticket: Ticket, now: datetime) -> datetime | None:
    """When the customer hears from us next: the nearest clock still ahead, if open."""
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        return None
    ahead = [due for due in (ticket.progress_due, ticket.resolve_due) if due > now]
    return min(ahead, default=None)


def acknowledgment(ticket: Ticket) -> Draft:
    language, ack_due, resolve_due = ticket.language, ticket.ack_due, ticket.resolve_due
    next_detail = next_missing(ticket)

    def render() -> Content:
        subject, text = i18n.acknowledgment(
            ticket.ref or "",
            language,
            ack_due=ack_due,
            resolve_due=resolve_due,
            next_detail=next_detail,
        )
        return "acknowledgment", subject, text

    return render


def detail_received(ticket: Ticket, received: list[str]) -> Draft:
    language, resolve_due, next_detail = ticket.language, ticket.resolve_due, next_missing(ticket)

    def render() -> Content:
        subject, text = i18n.detail_received(
            ticket.ref or "",
            language,
            received=received,
            next_detail=next_detail,
            resolve_due=resolve_due,
        )
        return "detail_received", subject, text

    return render


def status_changed(
    ticket: Ticket,
    note: str,
    now: datetime,
    *,
    new_resolve_due: datetime | None = None,
    appeal_days: int = 0,
    appeal_link: str = "",
    rating_link: str = "",
) -> Content:
    """`rating_link`: the satisfaction question, said with a resolution only."""
    return _status_changed(
        ticket,
        note,
        now,
        new_resolve_due=new_resolve_due,
        appeal_days=appeal_days,
        appeal_link=appeal_link,
        rating_link=rating_link,
    )()


def _status_changed(
    ticket: Ticket,
    note: str,
    now: datetime,
    *,
    new_resolve_due: datetime | None = None,
    appeal_days: int = 0,
    appeal_link: str = "",
    rating_link: str = "",
) -> Draft:
    status = TicketStatus(ticket.status)
    due, language = next_due(ticket, now), ticket.language
    if due is not None and due == new_resolve_due:
        due = None  # the new date is said once
    appealable = status in (TicketStatus.RESOLVED, TicketStatus.REJECTED) and appeal_days > 0
    appeal_until = now + timedelta(days=appeal_days) if appealable else None

    def render() -> Content:
        subject, text = i18n.status_changed(
            ticket.ref or "",
            language,
            status=status.value,
            note=note,
            next_due=due,
            new_resolve_due=new_resolve_due,
            appeal_until=appeal_until,
            appeal_link=appeal_link if appealable else "",
            rating_link=rating_link if status is TicketStatus.RESOLVED else "",
        )
        return "status_changed", subject, text

    return render


def progress_update(ticket: Ticket, now: datetime) -> Content:
    subject, text = i18n.progress_update(
        ticket.ref or "", ticket.language, status=ticket.status, next_due=next_due(ticket, now)
    )
    return "progress_update", subject, text


def target_missed(ticket: Ticket, missed_due: datetime, note: str) -> Content:
    subject, text = i18n.target_missed(
        ticket.ref or "",
        ticket.language,
        missed_due=missed_due,
        note=note,
        new_due=ticket.resolve_due,
    )
    return "target_missed", subject, text


def status_answer(ticket: Ticket, now: datetime) -> Draft:
    status, due, language = ticket.status, next_due(ticket, now), ticket.language

    def render() -> Content:
        subject, text = i18n.status_answer(ticket.ref or "", language, status=status, next_due=due)
        return "status_answer", subject, text

    return render


def status_unverified(language: str) -> Draft:
    def render() -> Content:
        subject, text = i18n.status_unverified(language)
        return "status_unverified", subject, text

    return render


def answer_received(ticket: Ticket, now: datetime) -> Draft:
    status, due, language = ticket.status, next_due(ticket, now), ticket.language

    def render() -> Content:
        subject, text = i18n.answer_received(
            ticket.ref or "", language, status=status, next_due=due
        )
        return "answer_received", subject, text

    return render


def appeal_reopened(ticket: Ticket, now: datetime) -> Draft:
    due, language = next_due(ticket, now), ticket.language

    def render() -> Content:
        subject, text = i18n.appeal_reopened(ticket.ref or "", language, next_due=due)
        return "appeal_reopened", subject, text

    return render


def current_state(ticket: Ticket, now: datetime) -> Draft:
    """The reply for a state nobody answered yet (its message was throttled, say)."""
    if ticket.state_version == 1:
        return acknowledgment(ticket)
    return _status_changed(ticket, "", now)
