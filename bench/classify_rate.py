"""Toxicity figures: texts/s per backend and batch size, and the worker's rate with each.

Printed, never asserted. Detoxify's real weights cannot be downloaded here, so unless
they are installed its row uses the tiny random test model: it measures our batching
and threading, not the speed of the real multilingual model.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import corpus
from bot.app.config import Settings
from bot.app.runtime import open_runtime
from bot.contract.domain import Channel, InboundMessage
from bot.contract.ports import Classifier, NoClassifier, Scores
from bot.text import language
from moderation.lexicon import LexiconClassifier

BATCHES = (1, 8, 32)
MAX_S = 3.0
WORKER_MESSAGES = 600
LEXICON_TARGET = 20_000


def sample_texts(count: int) -> list[str]:
    bodies = corpus.build(count, seed=11, tag="tox")
    return [json.loads(m.body)["text"] for m in bodies]


def rate(score: Callable[[Sequence[str]], object], texts: list[str], batch: int) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < MAX_S:
        chunk = [texts[(done + i) % len(texts)] for i in range(batch)]
        score(chunk)
        done += batch
    return done / (time.perf_counter() - start)


def detoxify_backend(tmp: Path) -> tuple[Classifier, str] | None:
    try:
        from moderation.detoxify_backend import DetoxifyClassifier  # noqa: PLC0415
        from tests.moderation.tiny_detoxify import build  # noqa: PLC0415
    except ImportError:
        return None
    ok, why = DetoxifyClassifier.available()
    if ok:
        return DetoxifyClassifier(reason=why), "detoxify (multilingual weights)"
    tiny = build(tmp / "tiny")
    return (
        DetoxifyClassifier(
            checkpoint=tiny.checkpoint, config_path=tiny.config_dir, cache_dir=tmp / "cache"
        ),
        "detoxify (tiny random test model)",
    )


def classify_rows(backends: list[tuple[str, Classifier]], texts: list[str]) -> list[list[str]]:
    rows = []
    for label, classifier in backends:

        def score(chunk: Sequence[str], c: Classifier = classifier) -> list[Scores]:
            return asyncio.run(c.score(chunk))

        sync = getattr(classifier, "score_sync", None) or score
        rows.append([label, *(f"{rate(sync, texts, b):,.0f}" for b in BATCHES)])
    return rows


async def worker_rate(classifier: Classifier, texts: list[str]) -> float:
    """Messages/s of the real worker (drain) on the embedded store with this classifier."""
    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), consumer_name="bench")
        async with open_runtime(settings, classifier=classifier) as runtime:
            now = runtime.clock.now()
            for n, text in enumerate(texts[:WORKER_MESSAGES]):
                await runtime.ingest.accept(
                    InboundMessage(
                        channel=Channel.EMAIL,
                        external_id=f"b{n}",
                        sender=f"c{n % 200}@example.org",
                        text=text,
                        received_at=now,
                    )
                )
            start = time.perf_counter()
            decided = len(await runtime.worker.drain())
            return decided / (time.perf_counter() - start)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for n, row in enumerate([headers, *rows]):
        print(
            "  "
            + "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def main() -> None:
    language.preload()  # so the first backend's worker run does not pay for it
    texts = sample_texts(2000)
    with tempfile.TemporaryDirectory(prefix="intake-tox-") as tmp:
        backends: list[tuple[str, Classifier]] = [("lexicon", LexiconClassifier(reason="bench"))]
        detox = detoxify_backend(Path(tmp))
        if detox is not None:
            backends.append((detox[1], detox[0]))
        print("\n== 4. toxicity: texts/s through classify, one process ==")
        rows = classify_rows(backends, texts)
        table(["backend", *(f"batch {b}" for b in BATCHES)], rows)
        lexicon_best = max(float(v.replace(",", "")) for v in rows[0][1:])
        verdict = "PASS" if lexicon_best >= LEXICON_TARGET else "MISS"
        print(f"  lexicon target >= {LEXICON_TARGET:,} texts/s on one core: {verdict}")
        print(f"\n== 5. worker end to end (embedded, {WORKER_MESSAGES} messages), per backend ==")
        # One run first, unmeasured: the first pays for what a process loads once (locale
        # data, compiled regexes and statements), and it would look like the stub's cost.
        asyncio.run(worker_rate(NoClassifier(), texts))
        worker_rows = [["none (stub)", f"{asyncio.run(worker_rate(NoClassifier(), texts)):,.0f}"]]
        for label, classifier in backends:
            worker_rows.append([label, f"{asyncio.run(worker_rate(classifier, texts)):,.0f}"])
        table(["backend", "messages/s"], worker_rows)


if __name__ == "__main__":
    main()
