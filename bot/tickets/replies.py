"""What a reply says, in the ticket's language, as of one state of the ticket.

Who gets it, and the promise to send it (an outbox row), are the outbox's business
(bot.stages.outbox).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.contract.domain import OPEN_STATUSES, TicketStatus
from bot.store.models import Ticket
from bot.text import i18n
from bot.tickets.lifecycle import next_missing

Content = tuple[str, str, str]  # kind, subject, text
# A reply as of one state of its ticket, rendered when it is owed: a ticket opened in the
# worker's current batch gets its reference only once the batch's new tickets are written.
Draft = Callable[[], Content]


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


def status_changed(ticket: Ticket, note: str) -> Content:
    return _status_changed(ticket, note)()


def _status_changed(ticket: Ticket, note: str) -> Draft:
    status = TicketStatus(ticket.status)
    next_due = ticket.resolve_due if status in OPEN_STATUSES else None
    language = ticket.language

    def render() -> Content:
        subject, text = i18n.status_changed(
            ticket.ref or "", language, status=status.value, note=note, next_due=next_due
        )
        return "status_changed", subject, text

    return render


def current_state(ticket: Ticket) -> Draft:
    """The reply for a state nobody answered yet (its message was throttled, say)."""
    return acknowledgment(ticket) if ticket.state_version == 1 else _status_changed(ticket, "")
