"""The core's reading of a text, as the channels that ask questions get it (TextReader).

The site chat reads a customer's first message with the same extraction as every other
channel's (bot.rules.details) and the same status-question rules (bot.rules.intents), so
it asks only for what is still missing. Channels import only the contract: this is the
implementation that bot.app hands them.
"""

from __future__ import annotations

from bot.contract.ports import Reading
from bot.rules import details, intents


class CoreReader:
    """bot.rules.details and bot.rules.intents behind the TextReader port."""

    def read(self, text: str) -> Reading:
        found = details.extract(text)
        return Reading(
            category=details.category(text),
            details=dict(found.values),
            emails=found.emails,
            phones=found.phones,
            status_question=intents.is_status_question(text) or intents.is_reference_only(text),
        )
