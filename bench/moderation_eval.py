"""How much abuse each toxicity backend holds, and how many civil customers it wrongly holds.

Runs every backend available here over the labelled sets in tests/data/moderation (eval.tsv,
then blind.tsv, the one no rule writer has seen: its README), judged by the default
policy's thresholds (what the worker applies), and prints recall and false-positive rate per
language and per category, plus texts/s. Printed, never asserted: the lexicon's floors are
held by tests/moderation/test_eval_set.py. `--errors` lists what each backend got wrong, for
whoever tunes the word lists.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from bot.contract.ports import Classifier, Scores
from bot.rules.policy import Thresholds
from moderation.evaluation import Report, evaluate, format_report, read_rows
from moderation.lexicon import LexiconClassifier

SETS = Path(__file__).resolve().parent.parent / "tests" / "data" / "moderation"
EVAL_SETS = (SETS / "eval.tsv", SETS / "blind.tsv")
BATCH = 32


async def detoxify() -> Classifier | None:
    """The real multilingual model, or None with the reason printed: never the tiny test
    model, whose random weights would print meaningless recall."""
    try:
        from moderation.detoxify_backend import DetoxifyClassifier  # noqa: PLC0415
    except ImportError as exc:
        print(f"detoxify: skipped ({exc})")
        return None
    ok, why = DetoxifyClassifier.available()
    if not ok:
        print(f"detoxify: skipped ({why})")
        return None
    classifier = DetoxifyClassifier(reason=why)
    await classifier.load()
    return classifier


async def score_all(classifier: Classifier, texts: Sequence[str]) -> tuple[list[Scores], float]:
    """Scores in the worker's batch size, and texts/s over the whole set."""
    scores: list[Scores] = []
    start = time.perf_counter()
    for first in range(0, len(texts), BATCH):
        scores.extend(await classifier.score(texts[first : first + BATCH]))
    return scores, len(texts) / (time.perf_counter() - start)


async def timed(classifier: Classifier, texts: Sequence[str]) -> tuple[list[Scores], str]:
    """Two passes: the first pays for what a process builds once (the lexicon's per-word
    caches, torch's first allocations), the second is what a running worker sees."""
    scores, cold = await score_all(classifier, texts)
    _again, warm = await score_all(classifier, texts)
    return scores, f"{cold:,.0f} texts/s first pass, {warm:,.0f} texts/s warm"


def print_errors(report: Report) -> None:
    for title, rows in (
        ("missed (abusive, let through)", report.missed),
        ("false holds (civil, held)", report.false_holds),
    ):
        print(f"\n  {title}: {len(rows)}")
        for row in rows:
            print(f"    {row.id:8} {row.category:15} {row.text}")


async def run(sets: Sequence[Path], errors: bool) -> None:
    thresholds = Thresholds()
    backends: list[Classifier] = [LexiconClassifier(reason="bench")]
    model = await detoxify()
    if model is not None:
        backends.append(model)
    for path, classifier in itertools.product(sets, backends):
        rows = read_rows(path)
        scores, rate = await timed(classifier, [row.text for row in rows])
        report = evaluate(scores, rows, thresholds.fired)
        print(f"\n== {classifier.name} on {path.name}: {len(rows)} messages, {rate} ==")
        print("\n".join("  " + line for line in format_report(report).splitlines()))
        if errors:
            print_errors(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data", type=Path, action="append", help="a labelled set (TSV); default: both sets"
    )
    parser.add_argument("--errors", action="store_true", help="list misses and false holds")
    args = parser.parse_args()
    asyncio.run(run(args.data or EVAL_SETS, args.errors))


if __name__ == "__main__":
    main()
