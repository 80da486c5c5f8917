"""How long a loop waits after failing, for every background loop of the bot."""

from __future__ import annotations

import random

MAX_BACKOFF_S = 10.0


def backoff(failures: int, cap_s: float = MAX_BACKOFF_S) -> float:
    """Seconds before trying again after `failures` failures in a row: doubling from a
    quarter second, capped, with jitter so that many processes do not hammer a recovering
    server together."""
    ceiling = min(cap_s, 0.25 * 2.0 ** min(failures, 8))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter, not a secret
