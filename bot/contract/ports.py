"""The small interfaces through which the core reaches channels and classifiers."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from bot.contract.domain import (
    Accepted,
    Attachment,
    Channel,
    Decision,
    InboundMessage,
    OutboundReply,
    SendResult,
    TicketView,
)
from bot.contract.limits import Allowance

# The labels every toxicity backend scores (Detoxify's, so its models plug in as they are).
LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)


@dataclass(frozen=True)
class Scores:
    """Label -> score in [0, 1] for one text. `truncated`: only a bounded window was read."""

    values: dict[str, float] = field(default_factory=dict)
    truncated: bool = False


class Classifier(Protocol):
    """Scores a whole batch at once: the worker never calls it one text at a time.

    It must not block the event loop: a CPU-heavy backend runs in a thread or process pool.
    Thresholds are not its business: the core applies the runtime policy's.
    """

    name: str
    reason: str  # why this backend is the active one (shown at startup, /healthz, console)

    async def score(self, texts: Sequence[str]) -> list[Scores]: ...


@runtime_checkable
class Explains(Protocol):
    """A classifier that can say, per text, which of its rules counted (the lexicon): the
    pipeline stores that with a held message, so moderators see why it was held, as it
    was decided, even after the rules change."""

    def reasons(self, text: str) -> list[str]: ...


class NoClassifier:
    """Scores nothing: for deployments that turn moderation off on purpose."""

    name = "none"
    reason = "moderation disabled"

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        return [Scores() for _ in texts]


# A ticket's status name in a language: the core's (bot.text.i18n.status_label), handed to
# the channels that show one, since they cannot import it.
StatusLabel = Callable[[str, str], str]


def plain_status_label(status: str, language: str) -> str:
    """The StatusLabel when none is handed over: the status's own name, in any language."""
    return status.replace("_", " ")


@dataclass(frozen=True)
class Reading:
    """What one text tells, read by the core's extraction (bot.rules.details, intents):
    the same reading every channel's messages get, handed to channels that ask questions."""

    category: str = "unknown"  # "product", "service" or "unknown"
    details: Mapping[str, str] = field(default_factory=dict)  # by detail name (GIVEN_DETAILS)
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    status_question: bool = False  # it asks how a complaint stands


class TextReader(Protocol):
    """The core's reading of a customer's text (bot.rules.reading.CoreReader)."""

    def read(self, text: str) -> Reading: ...


class NoReader:
    """Reads nothing: a channel without the core's extraction asks for everything."""

    def read(self, text: str) -> Reading:
        return Reading()


class DecisionLookup(Protocol):
    """The pipeline's decision about a stored message, once the worker made it."""

    async def decision_of(self, channel: Channel, external_id: str) -> Decision | None: ...


class NoDecisions:
    """Never knows a decision: the channel waits for replies only."""

    async def decision_of(self, channel: Channel, external_id: str) -> Decision | None:
        return None


class ReplySender(Protocol):
    """A channel's way out."""

    channel: Channel

    async def send(self, reply: OutboundReply) -> SendResult: ...


class MessageSink(Protocol):
    """The stream's front door (bot.stages.ingest.Ingest): durable once this returns."""

    async def accept(self, msg: InboundMessage) -> Accepted: ...


class TicketLookup(Protocol):
    """What customer-facing channels may learn about tickets (bot.tickets.ticket_views)."""

    @property
    def can_mail(self) -> bool:
        """Whether a link can be mailed at all (email configured)."""
        ...

    async def request_link(self, ref: str, contact: str, ip: str) -> Allowance:
        """Counts the look-up, then mails a one-time link when `contact` is the ticket's
        own email address; the answer says only whether the limits allowed it."""
        ...

    async def redeem(self, token: str) -> TicketView | None:
        """The ticket a mailed link shows, once."""
        ...

    async def request_proof(
        self, channel: Channel, address: str, email: str, ip: str, language: str
    ) -> Allowance:
        """A chat session or form browser typed `email`: mail a one-time link there when a
        customer wrote from it; the answer says only whether the limits allowed it."""
        ...

    async def prove(self, token: str) -> bool:
        """Follow such a link: the chat or browser becomes that customer's, verified."""
        ...

    async def appeal(self, token: str) -> bool:
        """Follow the appeal link sent with a decision (once); False for an unknown token."""
        ...

    async def open_ticket_of(self, channel: Channel, address: str) -> TicketView | None:
        """The open ticket of the customer behind a *verified* (channel, address)."""
        ...

    async def show(self, token: str) -> ShownTicket | None:
        """Follow a mailed status link, once (as `redeem`): the ticket, the start of its
        description and a grant that lets this viewer add to it for a while."""
        ...

    async def add_to_ticket(self, grant: str, note: ViewerNote) -> ShownTicket | None:
        """A viewer's message and files into the stream, as from the ticket's first address
        and about that ticket; None (nothing stored) for an unknown or expired grant."""
        ...

    async def reshow(self, grant: str) -> ShownTicket | None:
        """The ticket a grant is for, again (a refused post's page); None once it expired."""
        ...


@dataclass(frozen=True)
class ShownTicket:
    """A ticket shown to whoever followed its mailed link (the status page)."""

    view: TicketView
    excerpt: str  # the start of the complaint's description
    grant: str  # lets the viewer add a message or files (TicketLookup.add_to_ticket)
    duplicate: bool = False  # add_to_ticket: the same post came before (its files are kept)


@dataclass(frozen=True)
class ViewerNote:
    """What a verified viewer adds to their ticket from the status page."""

    message_id: str  # the page's own id for this post: a second post of it is a duplicate
    text: str
    attachments: Sequence[Attachment] = ()
    language: str | None = None


class RatingOutcome(enum.StrEnum):
    """What became of a satisfaction rating sent from its link."""

    STORED = "stored"
    ALREADY = "already"  # the ticket's one rating was recorded before, and is kept as it was
    INVALID = "invalid"  # unknown, expired or another ticket's link: nothing tells which


@dataclass(frozen=True)
class RatingInvite:
    """What the rating page may show to whoever holds a valid link: the ticket's reference
    (the customer's own, sent with the link), its language, and whether it was rated."""

    ref: str
    language: str
    rated: bool


class RatingBook(Protocol):
    """The satisfaction question sent with a resolution (bot.tickets.ratings)."""

    async def invitation(self, ref: str, token: str) -> RatingInvite | None:
        """The ticket a rating link is for; None for any link that is not valid for `ref`."""
        ...

    async def rate(
        self, ref: str, token: str, score: int, comment: str, language: str
    ) -> RatingOutcome:
        """Store the ticket's one rating (1-5, a comment of at most MAX_RATING_COMMENT)."""
        ...


MAX_RATING_COMMENT = 2000
RATING_SCORES = range(1, 6)


Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]  # runs until the event is set


class Exclusive(Protocol):
    """Runs a loop in one process of the deployment at a time (bot.store.leases.Leases)."""

    async def run_exclusively(self, name: str, stop: asyncio.Event, loop: Loop) -> None: ...


class EveryProcess:
    """No coordination: for a single process (tests, or loops that may run everywhere)."""

    async def run_exclusively(self, name: str, stop: asyncio.Event, loop: Loop) -> None:
        await loop(stop)


@dataclass(frozen=True)
class Traces:
    """What an erasure (bot.staff.privacy) hands each channel family about one customer, by
    channel: the addresses of their identities and messages, their messages' external ids,
    and their attachments' URLs, as they were before the database rows were blanked."""

    addresses: Mapping[Channel, frozenset[str]] = field(default_factory=dict)
    external_ids: Mapping[Channel, frozenset[str]] = field(default_factory=dict)
    attachment_urls: frozenset[str] = frozenset()


# Deletes what a channel family keeps outside the database about a customer (Redis keys,
# stored files); answers how many of each kind, e.g. {"redis_keys": 3, "files": 1}.
Forget = Callable[[Traces], Coroutine[Any, Any, Mapping[str, int]]]


@dataclass
class Plug:
    """What one channel family adds to a running bot: routes, senders, background loops.

    `status` says whether it is configured, and if not, which settings it misses; an
    unconfigured channel family has no senders (at most a route that says what is missing)
    and never stops the bot from starting.
    """

    name: str
    status: str = "configured"
    routes: Sequence[web.AbstractRouteDef] = ()
    senders: Mapping[Channel, ReplySender] = field(default_factory=dict)
    loops: Sequence[Loop] = ()  # started by the web process (SMTP server, IMAP, polling)
    # Run when the web app begins to shut down, before it waits for open requests: close
    # long-lived connections (chat WebSockets) that would otherwise hold the shutdown.
    shutdown: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    # Run by an erasure: what this family keeps about the customer (see Traces) goes too.
    forget: Sequence[Forget] = ()
    # How each of its loops goes now ("running", "reconnecting (ConnectionError)"), by
    # name: /readyz shows them beside the bot's own loops.
    states: Mapping[str, Callable[[], str]] = field(default_factory=dict)
