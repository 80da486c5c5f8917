"""The normalized records every channel produces and consumes.

Channels and moderation import only this module (and bot.contract.errors) from the core,
so the layers point one way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


class Channel(enum.StrEnum):
    WEBFORM = "webform"
    WEBCHAT = "webchat"
    EMAIL = "email"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"


DEFAULT_ACCEPTED = frozenset(set(Channel) - {Channel.WHATSAPP})

# Meta's HUMAN_AGENT message tag: on these channels a reply may go out up to this long after
# the customer's last message (the free window is 24 hours). WhatsApp has no such tag.
HUMAN_AGENT_CHANNELS = frozenset({Channel.FACEBOOK, Channel.INSTAGRAM})
HUMAN_AGENT_WINDOW = timedelta(days=7)


class Decision(enum.StrEnum):
    """What the pipeline did with a message, in precedence order (first wins)."""

    DUPLICATE = "duplicate"
    CHANNEL_CLOSED = "channel_closed"
    FLAGGED = "flagged"
    THROTTLED = "throttled"
    COLLAPSED = "collapsed"
    ANSWERED = "answered"
    ERROR = "error"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    AWAITING_DETAILS = "awaiting_details"
    INVESTIGATING = "investigating"
    WAITING_CUSTOMER = "waiting_customer"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(
    set(TicketStatus) - {TicketStatus.RESOLVED, TicketStatus.REJECTED, TicketStatus.CLOSED}
)

MAX_TEXT_CHARS = 64_000

# The details a complaint needs, as the ticket stores them, plus the contact and category.
GIVEN_DETAILS = frozenset(
    {
        "category",
        "name",
        "email",
        "phone",
        "order_number",
        "product_model",
        "serial_number",
        "description",
        "desired_solution",
    }
)

# A detail the customer said they do not have (a chat question skipped): given as this
# value, so it is not asked again, and staff see that it was asked.
DECLINED = "\u2014"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. +01:00 or Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Attachment(BaseModel):
    """Metadata only: the bytes stay with the provider or the channel's own store."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size: int = Field(default=0, ge=0)
    url: str = Field(default="", max_length=2048)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):  # PostgreSQL refuses NUL in text and JSON: keep a visible mark
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


class InboundMessage(BaseModel):
    """One customer message, whatever channel it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    external_id: str = Field(min_length=1, max_length=255)
    sender: str = Field(min_length=1, max_length=320)
    display_name: str = Field(default="", max_length=200)
    subject: str = Field(default="", max_length=998)
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    thread_refs: list[str] = Field(default_factory=list, max_length=100)
    received_at: AwareDatetime
    language: str | None = Field(default=None, max_length=16)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    raw: dict[str, Any] = Field(default_factory=dict)
    # Set by a channel that knows nobody waits for an answer (an out-of-office, a bounce, a
    # mailing list): the message is stored and attached, never answered. Says why.
    automated: str = Field(default="", max_length=200)
    # Set by a channel that could not prove the sender owns the address (a mail whose
    # receiving server reports no DMARC, DKIM or SPF pass for its From domain): a reply
    # could go to someone who never wrote. Held for a moderator. Says why.
    sender_unproven: str = Field(default="", max_length=200)
    # The external id of the message this one edits (a Telegram edit): stored as an edit.
    edit_of: str | None = Field(default=None, max_length=255)
    # What the customer filled in field by field (the form, the chat's questions), by
    # detail name (GIVEN_DETAILS): taken as given, where the text's reading could miss it.
    details: dict[str, str] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _known_details(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - GIVEN_DETAILS)
        if unknown:
            raise ValueError(f"unknown detail names {unknown}; known: {sorted(GIVEN_DETAILS)}")
        given = {name: text.strip()[:2000] for name, text in value.items() if text.strip()}
        if given.get("category", "product") not in ("product", "service"):
            raise ValueError("category must be 'product' or 'service'")
        return given

    @field_validator("sender")
    @classmethod
    def _normalize_sender(cls, value: str) -> str:
        return value.strip()

    @field_validator("external_id", "sender")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        """An identifier is refused rather than changed: a changed one would match no other."""
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator(
        "text", "subject", "display_name", "thread_refs", "raw", "details", mode="before"
    )
    @classmethod
    def _no_lone_surrogates(cls, value: Any) -> Any:
        """Lone surrogates and NUL cannot be stored: replace them rather than lose the text."""
        return _without_surrogates(value)


class OutboundReply(BaseModel):
    """One reply the outbox owes a customer for one change of one ticket's state."""

    model_config = ConfigDict(frozen=True)

    outbox_id: int
    channel: Channel
    to: str
    text: str
    language: str
    ticket_ref: str
    subject: str = ""
    # The provider id of the customer's latest message on this address (an email's
    # Message-ID), and that message's thread, for channels that thread replies.
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    # When the customer last wrote from this address: Meta's 24-hour messaging window.
    last_inbound_at: datetime | None = None
    # Send with Meta's HUMAN_AGENT tag (HUMAN_AGENT_CHANNELS, within HUMAN_AGENT_WINDOW of the
    # customer's last message), when the outbox found no other way to reach the customer.
    # Meta's policy allows the tag only for a reply a person at the business handles.
    human_agent: bool = False


class SendResult(BaseModel):
    ok: bool
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    # Retrying cannot help (outside a messaging window, a blocked bot): the outbox gives up at
    # once and notes the reason on the ticket for staff.
    permanent: bool = False
    # Where it went when that is not the reply's own `to` (the form mails the address typed
    # into it): the daily cap counts replies per inbox, whatever the channel.
    delivered_to: str | None = None
    # The channel refused because the customer's messaging window is closed (set with
    # `permanent`): the outbox may route the reply to another of the customer's channels.
    window_closed: bool = False


@dataclass(frozen=True)
class Accepted:
    """The ingest's answer: the stored message's id, and whether it was seen before."""

    message_id: int
    duplicate: bool


@dataclass(frozen=True)
class TicketChange:
    at: datetime
    status: TicketStatus
    note: str


@dataclass(frozen=True)
class TicketView:
    """What a customer may see of their ticket (status page, chat): no internal notes."""

    ref: str
    status: TicketStatus
    category: str
    language: str
    opened_at: datetime
    updated_at: datetime
    next_due: datetime | None
    missing: tuple[str, ...]  # details the ticket still waits for, in asking order
    history: tuple[TicketChange, ...]
