"""One exception family, so callers catch one root and tell problems apart by type."""


class IntakeError(Exception):
    """Root of every error the bot raises on purpose."""


class InvalidMessage(IntakeError):
    """Inbound data that cannot become an InboundMessage; the text says which field and why."""


class UnknownChannel(InvalidMessage):
    """A channel name the bot does not know."""


class StoreUnavailable(IntakeError):
    """The database or Redis could not be reached; the caller must not claim durability."""


class ReplayError(IntakeError):
    """A replay event that cannot be applied; the replay reports it and goes on."""
