"""A channel that records replies instead of sending them: the replay's and tests' way out.

Given the clock, the Meta channels keep Meta's messaging windows as the real senders do
(channels.meta_send): a replay then shows what a customer on Messenger, Instagram or
WhatsApp would really get.
"""

from __future__ import annotations

from bot.contract.clock import Now
from bot.contract.domain import HUMAN_AGENT_CHANNELS, Channel, OutboundReply, SendResult
from channels.meta_send import human_agent_refusal, window_refusal

_META = frozenset({Channel.FACEBOOK, Channel.INSTAGRAM, Channel.WHATSAPP})


class CaptureSender:
    def __init__(self, channel: Channel, sink: dict[int, OutboundReply], now: Now | None) -> None:
        self.channel = channel
        self._sink = sink
        self._now = now

    async def send(self, reply: OutboundReply) -> SendResult:
        if self._now is not None and self.channel in _META:
            refusal = window_refusal(reply.last_inbound_at, self._now())
            if refusal is not None and reply.human_agent and self.channel in HUMAN_AGENT_CHANNELS:
                refusal = human_agent_refusal(self.channel, reply.last_inbound_at, self._now())
            if refusal is not None:
                return refusal
        self._sink[reply.outbox_id] = reply
        return SendResult(ok=True, provider_id=f"captured-{reply.outbox_id}")


def capture_senders(
    sink: dict[int, OutboundReply], now: Now | None = None
) -> dict[Channel, CaptureSender]:
    """One capturing sender per channel, all writing into `sink` by outbox id; with `now`,
    Meta's windows hold."""
    return {channel: CaptureSender(channel, sink, now) for channel in Channel}
