"""`intake-bot classify`: score texts one per line, the way the worker would.

Moderators tune thresholds with it: each line gets the scores, the labels over
their threshold, whether the message would be held, and the backend that scored it.
No database or Redis is needed, so it works on a fresh install.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TextIO

from bot.contract.errors import IntakeError
from bot.contract.ports import Classifier
from bot.rules.policy import Thresholds

BATCH = 32


def parse_thresholds(pairs: Iterable[str]) -> Thresholds:
    """`label=value` overrides of the default thresholds, as the policy would hold them."""
    thresholds = Thresholds()
    for pair in pairs:
        label, sep, value = pair.partition("=")
        if not sep or not hasattr(thresholds, label.strip()):
            raise IntakeError(f"threshold {pair!r} must be LABEL=VALUE with a known label")
        try:
            number = float(value)
        except ValueError:
            raise IntakeError(f"threshold {pair!r}: {value!r} is not a number") from None
        if not 0.0 <= number <= 1.0:
            raise IntakeError(f"threshold {pair!r} must be between 0 and 1")
        thresholds = replace(thresholds, **{label.strip(): number})
    return thresholds


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def classify(
    classifier: Classifier, thresholds: Thresholds, source: TextIO, out: TextIO
) -> int:
    count = 0
    for batch in _batches(source):
        for text, scores in zip(batch, await classifier.score(batch), strict=True):
            fired = thresholds.fired(scores)
            out.write(
                json.dumps(
                    {
                        "text": text,
                        "scores": {k: round(v, 4) for k, v in scores.values.items()},
                        "labels": list(fired),
                        "flagged": bool(fired),
                        "truncated": scores.truncated,
                        "backend": classifier.name,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            count += 1
    return count
