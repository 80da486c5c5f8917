"""The small interfaces through which the core reaches channels and classifiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.domain import Channel, OutboundReply, SendResult


@dataclass(frozen=True)
class Scores:
    """Label -> score in [0, 1], and the labels over their threshold."""

    values: dict[str, float] = field(default_factory=dict)
    fired: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.fired)


class Classifier(Protocol):
    """Scores a whole batch at once: the worker never calls it one text at a time."""

    name: str

    async def score(self, texts: Sequence[str]) -> list[Scores]: ...


class NoClassifier:
    """Flags nothing: the core runs before a toxicity backend is configured."""

    name = "none"

    async def score(self, texts: Sequence[str]) -> list[Scores]:
        return [Scores() for _ in texts]


class ReplySender(Protocol):
    """A channel's way out."""

    channel: Channel

    async def send(self, reply: OutboundReply) -> SendResult: ...
