"""A ticket look-up that knows no tickets: for channels tested without a store behind them."""

from __future__ import annotations

from bot.contract.domain import Channel, TicketView
from bot.contract.limits import Allowance
from bot.contract.ports import ShownTicket, ViewerNote


class NoTickets:
    can_mail = False

    async def request_link(self, ref: str, contact: str, ip: str) -> Allowance:
        return Allowance(True, 1, 3600)

    async def redeem(self, token: str) -> TicketView | None:
        return None

    async def request_proof(
        self, channel: Channel, address: str, email: str, ip: str, language: str
    ) -> Allowance:
        return Allowance(True, 1, 3600)

    async def prove(self, token: str) -> bool:
        return False

    async def appeal(self, token: str) -> bool:
        return False

    async def open_ticket_of(self, channel: Channel, address: str) -> TicketView | None:
        return None

    async def show(self, token: str) -> ShownTicket | None:
        return None

    async def add_to_ticket(self, grant: str, note: ViewerNote) -> ShownTicket | None:
        return None

    async def reshow(self, grant: str) -> ShownTicket | None:
        return None
