"""Recall on abuse and false holds on civil messages, measured on a labelled set.

It lives beside the backends, not in bench/, so that the bench and the test guarding the
lexicon's floors compute the same figures: a floor means exactly what the bench prints.
Whether a message is held is the caller's `fired` (the core's thresholds), never decided
here: moderation/ does not import the runtime policy.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.contract.ports import Scores

COLUMNS = ("id", "lang", "label", "category", "source", "text")
ABUSIVE, CIVIL = "abusive", "civil"
CATEGORIES: dict[str, tuple[str, ...]] = {
    ABUSIVE: ("insult", "masked_insult", "threat", "doxxing", "blackmail", "hate"),
    CIVIL: ("complaint", "quoted", "negation", "counter_speech", "group_mention", "ordinary"),
}


@dataclass(frozen=True)
class Row:
    id: str
    lang: str
    label: str
    category: str
    source: str
    text: str


@dataclass(frozen=True)
class Rate:
    """`held` of `total`: recall when the rows are abusive, false-positive rate when civil."""

    held: int
    total: int

    @property
    def value(self) -> float:
        return self.held / self.total if self.total else 0.0


@dataclass(frozen=True)
class Report:
    recall: Rate
    fpr: Rate
    by_lang: dict[str, tuple[Rate, Rate]]  # language -> (recall, false-positive rate)
    by_category: dict[str, Rate]  # recall for abusive categories, FPR for civil ones
    missed: tuple[Row, ...]  # abusive and let through
    false_holds: tuple[Row, ...]  # civil and held


def read_rows(path: Path) -> list[Row]:
    """The set as written; a wrong header or a row of the wrong width fails loudly, since a
    shifted column would silently score texts under the wrong label."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise ValueError(f"{path}: header {header!r}, expected {COLUMNS!r}")
        rows = []
        for number, fields in enumerate(reader, start=2):
            if len(fields) != len(COLUMNS):
                raise ValueError(f"{path}:{number}: {len(fields)} fields, expected {len(COLUMNS)}")
            rows.append(Row(*fields))
    return rows


def _rate(pairs: Iterable[tuple[Row, bool]]) -> Rate:
    held = [was_held for _row, was_held in pairs]
    return Rate(sum(held), len(held))


def evaluate(
    scores: Sequence[Scores], rows: Sequence[Row], fired: Callable[[Scores], Sequence[str]]
) -> Report:
    """A row is held when `fired` names any label for its scores, as the worker decides."""
    if len(scores) != len(rows):
        raise ValueError(f"{len(scores)} scores for {len(rows)} rows")
    pairs = [(row, bool(fired(s))) for row, s in zip(rows, scores, strict=True)]
    abusive = [p for p in pairs if p[0].label == ABUSIVE]
    civil = [p for p in pairs if p[0].label == CIVIL]
    langs = sorted({row.lang for row in rows})
    categories = [c for label in (ABUSIVE, CIVIL) for c in CATEGORIES[label]]
    return Report(
        recall=_rate(abusive),
        fpr=_rate(civil),
        by_lang={
            lang: (
                _rate(p for p in abusive if p[0].lang == lang),
                _rate(p for p in civil if p[0].lang == lang),
            )
            for lang in langs
        },
        by_category={c: _rate(p for p in pairs if p[0].category == c) for c in categories},
        missed=tuple(row for row, held in abusive if not held),
        false_holds=tuple(row for row, held in civil if held),
    )


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    text = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in (header, *lines)
    ]
    return [text[0], "  ".join("-" * w for w in widths), *text[1:]]


def _cell(rate: Rate) -> list[str]:
    return [f"{rate.held}/{rate.total}", f"{rate.value:.2f}"]


def format_report(report: Report) -> str:
    """Plain aligned tables: per language, then per category (recall or FPR by its label)."""
    langs = [[lang, *_cell(recall), *_cell(fpr)] for lang, (recall, fpr) in report.by_lang.items()]
    langs.append(["all", *_cell(report.recall), *_cell(report.fpr)])
    categories = [
        [c, label, *_cell(report.by_category[c])]
        for label in (ABUSIVE, CIVIL)
        for c in CATEGORIES[label]
        if report.by_category[c].total
    ]
    by_lang = _table(["lang", "abusive held", "recall", "civil held", "FPR"], langs)
    by_category = _table(["category", "label", "held", "recall or FPR"], categories)
    return "\n".join([*by_lang, "", *by_category])
