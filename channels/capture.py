"""A channel that records replies instead of sending them: the replay's and tests' way out."""

from __future__ import annotations

from bot.contract.domain import Channel, OutboundReply, SendResult


class CaptureSender:
    def __init__(self, channel: Channel, sink: dict[int, OutboundReply]) -> None:
        self.channel = channel
        self._sink = sink

    async def send(self, reply: OutboundReply) -> SendResult:
        self._sink[reply.outbox_id] = reply
        return SendResult(ok=True, provider_id=f"captured-{reply.outbox_id}")


def capture_senders(sink: dict[int, OutboundReply]) -> dict[Channel, CaptureSender]:
    """One capturing sender per channel, all writing into `sink` by outbox id."""
    return {channel: CaptureSender(channel, sink) for channel in Channel}
