"""The relational schema, built by the Alembic migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from bot.contract.domain import OPEN_STATUSES

# BIGINT ids on PostgreSQL, INTEGER (rowid alias, autoincrementing) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


When = UTCDateTime()

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_OPEN = "status IN (" + ", ".join(f"'{s}'" for s in sorted(OPEN_STATUSES)) + ")"
# The agents' list filters: open tickets the sweeper marked (bot.staff.ticket_list writes
# the same condition, literally, so both databases match it to these partial indexes).
AT_RISK = f"at_risk_at IS NOT NULL AND {_OPEN}"
OVERDUE = f"overdue_at IS NOT NULL AND {_OPEN}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's table, for plain statements the ORM's per-object bookkeeping would slow."""
    return cast(Table, model.__table__)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str | None] = mapped_column(String(16))
    blocked_until: Mapped[datetime | None] = mapped_column(When)
    created_at: Mapped[datetime] = mapped_column(When)
    # The customer this one's first message named (reference, email, phone): a claim, never
    # proof. Staff see it; the throttle counts this customer's messages with that one's.
    claims_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # When their personal data was erased (on request, or by the retention policy).
    erased_at: Mapped[datetime | None] = mapped_column(When)


class Identity(Base):
    """(channel, address) of a customer; verified only when the channel itself proved it."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_identities_channel_address"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(When)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # A customer's open tickets are one per problem (`topic`): two workers racing to open
        # the same one collide here.
        Index(
            "uq_tickets_open_topic",
            "customer_id",
            "topic",
            unique=True,
            sqlite_where=text(_OPEN),
            postgresql_where=text(_OPEN),
        ),
        # The sweeper's look-ups: open tickets whose clocks ran out.
        Index("ix_tickets_status_progress_due", "status", "progress_due"),
        Index("ix_tickets_status_resolve_due", "status", "resolve_due"),
        Index("uq_tickets_appeal_token", "appeal_token", unique=True),
        # The agents' list (bot.staff.ticket_list): newest change first, paged by keyset;
        # each filter walks one of these in order and stops after a page.
        Index("ix_tickets_activity", "updated_at", "id"),
        Index("ix_tickets_status_activity", "status", "updated_at", "id"),
        Index("ix_tickets_language_activity", "language", "updated_at", "id"),
        Index(
            "ix_tickets_at_risk_activity",
            "updated_at",
            "id",
            sqlite_where=text(AT_RISK),
            postgresql_where=text(AT_RISK),
        ),
        Index(
            "ix_tickets_overdue_activity",
            "updated_at",
            "id",
            sqlite_where=text(OVERDUE),
            postgresql_where=text(OVERDUE),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # Indexed for the list's channel filter: the few identities of a channel, then theirs.
    origin_identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    category: Mapped[str] = mapped_column(String(16), default="unknown")
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(String(32))
    state_version: Mapped[int] = mapped_column(Integer, default=1)
    language: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(When)
    updated_at: Mapped[datetime] = mapped_column(When)
    ack_due: Mapped[datetime] = mapped_column(When)
    progress_due: Mapped[datetime] = mapped_column(When)
    resolve_due: Mapped[datetime] = mapped_column(When)
    closed_at: Mapped[datetime | None] = mapped_column(When)
    # What tells this problem from the customer's other open ones ('' for the first; else
    # the detail that differed, 'order_number:123'; 'ref:C-...' for a reopened one).
    topic: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # For staff: when the resolve date came near (sla.at_risk_days), and when it first passed.
    at_risk_at: Mapped[datetime | None] = mapped_column(When)
    overdue_at: Mapped[datetime | None] = mapped_column(When)
    # The closed ticket this one appeals, when the appeal came after sla.appeal_days.
    appeal_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # The hash of the appeal link sent with the latest decision (resolved, rejected); the
    # link works once. Only the hash: a copy of the database holds no usable link.
    appeal_token: Mapped[str | None] = mapped_column(String(64))

    # Optimistic locking: an UPDATE that finds another worker changed the state first fails
    # with StaleDataError, and the pipeline retries the message on fresh state.
    __mapper_args__ = {"version_id_col": state_version, "version_id_generator": False}  # noqa: RUF012


class TicketEvent(Base):
    """The ticket's history: every status change with who made it and why."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(When)
    status: Mapped[str] = mapped_column(String(32))
    state_version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    # Whether the customer was told (a change of state), or the note is for staff only.
    told: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Set, never loaded: an event of a ticket not yet written gets its id when both are.
    ticket: Mapped[Ticket] = relationship(lazy="raise")


class Message(Base):
    """Every inbound message, whatever its decision: nothing a customer wrote is lost."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
        Index("ix_messages_pending", "decision", "created_at"),
        Index("ix_messages_identity_received", "identity_id", "received_at"),
        # The dashboard (bot.staff.dashboard_stats): a window of received_at, counted by
        # channel, decision and sender from the index alone, without reading the rows.
        Index("ix_messages_dashboard", "received_at", "channel", "decision", "identity_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    thread_refs: Mapped[list[str]] = mapped_column(Json, default=list)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    received_at: Mapped[datetime] = mapped_column(When)
    created_at: Mapped[datetime] = mapped_column(When)
    language: Mapped[str | None] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    decision: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    scores: Mapped[dict[str, float]] = mapped_column(Json, default=dict)
    processed_at: Mapped[datetime | None] = mapped_column(When)
    automated: Mapped[str] = mapped_column(String(200), default="", server_default="")
    sender_unproven: Mapped[str] = mapped_column(String(200), default="", server_default="")
    edit_of: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, str] | None] = mapped_column(Json)


class OutboxReply(Base):
    """A reply owed; (ticket, state_version, topic) is unique, so one change yields one reply
    (and one answer to a status question per state: topic 'status'). Without a ticket: the
    neutral answer to an unverified sender's status question (topic 'neutral'), which
    names no ticket."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint(
            "ticket_id", "state_version", "topic", name="uq_outbox_ticket_version_topic"
        ),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_delivered_sent", "delivered_to", "sent_at"),  # the daily cap
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    state_version: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(16), default="", server_default="")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(When)
    lease_until: Mapped[datetime | None] = mapped_column(When)
    last_error: Mapped[str] = mapped_column(Text, default="")
    provider_id: Mapped[str | None] = mapped_column(String(255))
    delivered_to: Mapped[str | None] = mapped_column(String(320))  # the inbox it reached
    # Outside Meta's 24-hour window with no other channel: sent with the HUMAN_AGENT tag.
    human_agent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(When)
    sent_at: Mapped[datetime | None] = mapped_column(When)


class ModerationItem(Base):
    __tablename__ = "moderation_items"
    # The console's queue: oldest first, or worst first, paged by keyset.
    __table_args__ = (
        Index("ix_moderation_items_status_message", "status", "message_id"),
        Index("ix_moderation_items_status_worst", "status", "worst", "message_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    scores: Mapped[dict[str, float]] = mapped_column(Json, default=dict)
    labels: Mapped[list[str]] = mapped_column(Json, default=list)
    # The highest score among the labels that held it, and the labels as ",a,b," (a filter
    # by label that SQLite and PostgreSQL read alike).
    worst: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    label_keys: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Why it was held, as the classifier said when it decided (the lexicon's rules that
    # counted); empty for a model, whose scores say it.
    reasons: Mapped[list[str]] = mapped_column(Json, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(When)
    decided_at: Mapped[datetime | None] = mapped_column(When)
    decided_by: Mapped[str | None] = mapped_column(String(200))


class ChannelSetting(Base):
    __tablename__ = "channel_settings"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(When)
    updated_by: Mapped[str] = mapped_column(String(200))


class PolicySetting(Base):
    """Runtime limits admins tune without a restart (flood limit, window, ...)."""

    __tablename__ = "policy_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(When)
    updated_by: Mapped[str] = mapped_column(String(200))


class StaffUser(Base):
    """A console account (bot.staff.accounts): agent, moderator or admin."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id; '' for single sign-on
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(When)
    email: Mapped[str] = mapped_column(String(320), default="", server_default="")  # digests
    # The single sign-on provider's `sub` for this account, once it signed in that way.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(When)


class StaffToken(Base):
    """A personal API token: only its hash is kept; revoked, it stops at once."""

    __tablename__ = "staff_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(When)
    last_used_at: Mapped[datetime | None] = mapped_column(When)
    revoked_at: Mapped[datetime | None] = mapped_column(When)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # The console's search: by actor or action, newest first.
    __table_args__ = (
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(When, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class RatingLink(Base):
    """The satisfaction question sent with a resolution (bot.tickets.ratings): a link whose
    token only the customer got; only its hash is kept, until `expires_at`."""

    __tablename__ = "rating_links"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime] = mapped_column(When)


class Rating(Base):
    """The customer's answer, 1-5 and an optional comment: one per ticket (two submissions
    racing each other meet at the unique ticket_id, and the second is refused)."""

    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(16))
    rated_at: Mapped[datetime] = mapped_column(When)
