"""The small interfaces through which the core reaches channels and classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain import Channel, OutboundReply, SendResult

# The labels every toxicity backend scores (Detoxify's, so its models plug in as they are).
LABELS: tuple[str, ...] = ("toxicity", "severe_toxicity", "obscene", "threat", "insult",
                           "identity_attack")


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


class NoClassifier:
    """Scores nothing: for deployments that turn moderation off on purpose."""

    name = "none"
    reason = "moderation disabled"

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        return [Scores() for _ in texts]


class ReplySender(Protocol):
    """A channel's way out."""

    channel: Channel

    async def send(self, reply: OutboundReply) -> SendResult: ...
