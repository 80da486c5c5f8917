"""Small charts the server draws as inline SVG: no script, no third-party request.

A figure is the drawing (role="img", with a <title> and a <desc> that says in words what
the bars say), its legend, and the same numbers as a table in a <details>: a screen
reader, a printer and a test read the table, the eye reads the bars. Both come from the
same figures, so they cannot disagree.

Markup is only ever built by `Markup(constant).format(...)`, which escapes every value it
is given: a label cannot end up as markup. Inside the drawing a label (a sender's address,
say) is also shortened and stripped of direction controls, which would reorder the text
around it; the table keeps it whole, isolated in <bdi>.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from markupsafe import Markup

# Okabe and Ito's palette: told apart by colour-blind readers too. Yellow last (faint on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
WIDTH = 480
PLOT_HEIGHT = 160
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 24  # room for the axis labels
ROW, LABEL_WIDTH, VALUE_WIDTH = 22, 150, 44  # horizontal bars
CHAR_WIDTH = 7.2  # a label's average character at 13px (phones), for spacing axis labels
LABEL_CHARS = 20
_CONTROLS = re.compile("[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

Series = tuple[str, Sequence[int]]


def nice_ceiling(value: int) -> int:
    """The axis top: the smallest 1, 2 or 5 x 10^k at or above the largest value."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(int(step * power) for step in (1, 2, 5, 10) if step * power >= value)


def short(label: str, limit: int = LABEL_CHARS) -> str:
    """A label fit for the drawing: no control or direction characters, at most `limit`."""
    clean = _CONTROLS.sub("", label)
    return clean if len(clean) <= limit else clean[: limit - 1] + "\u2026"


def _join(parts: Iterable[Markup]) -> Markup:
    return Markup("").join(parts)


def stacked_bars(
    chart_id: str,
    title: str,
    buckets: Sequence[str],
    series: Sequence[Series],
    *,
    ticks: Sequence[str] | None = None,
    heading: str = "",
    unit: str = "messages",
    palette: Sequence[str] = PALETTE,
) -> Markup:
    """One bar per bucket, stacked by series, coloured by `palette` in the series' order;
    `ticks` are the buckets' short names under the axis (the full names go in the table)."""
    totals = [sum(values[i] for _, values in series) for i in range(len(buckets))]
    top = nice_ceiling(max(totals, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(buckets), 1)
    bars = [_stack(i, bucket, series, slot, top, palette) for i, bucket in enumerate(buckets)]
    drawing = _join([_axis(top), *bars, _ticks(ticks if ticks is not None else buckets, slot)])
    summary = _summary(buckets, series, totals, unit)
    return _figure(
        _svg(chart_id, title, summary, TOP + PLOT_HEIGHT + BOTTOM, drawing),
        _legend([name for name, _ in series], palette),
        _stacked_table(chart_id, title, heading, buckets, series, totals),
    )


def horizontal_bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, int]],
    *,
    heading: str = "",
    unit: str = "",
    colour: str = PALETTE[0],
) -> Markup:
    """One bar per row, its length the row's value; the labels name the bars."""
    top = nice_ceiling(max((value for _, value in rows), default=0))
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    drawing = _join(
        _row(i, label, value, span * value / top, colour) for i, (label, value) in enumerate(rows)
    )
    summary = "; ".join(f"{label}: {value}" for label, value in rows) or "Nothing to show"
    if not rows:
        drawing = Markup('<text x="{}" y="{}">{}</text>').format(LABEL_WIDTH, TOP + 14, summary)
    elif unit:
        summary += f" ({unit})"
    return _figure(
        _svg(chart_id, title, summary + ".", TOP + ROW * max(len(rows), 1) + 4, drawing),
        Markup(""),
        _rows_table(chart_id, title, heading, unit, rows),
    )


def _figure(svg: Markup, legend: Markup, table: Markup) -> Markup:
    return Markup('<figure class="chart-figure">{}{}{}</figure>').format(svg, legend, table)


# --- the drawing -----------------------------------------------------------------------


def _svg(chart_id: str, title: str, summary: str, height: int, drawing: Markup) -> Markup:
    return Markup(
        '<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        'aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>'
        "{drawing}</svg>"
    ).format(width=WIDTH, height=height, id=chart_id, title=title, summary=summary, drawing=drawing)


def _axis(top: int) -> Markup:
    """The baseline and the top line, each with its count."""
    line = Markup(
        '<line x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="#d5d9e0"/>'
        '<text x="{label_x}" y="{label_y}" text-anchor="end">{value}</text>'
    )
    return _join(
        line.format(
            left=LEFT,
            right=WIDTH - RIGHT,
            y=_y(value, top),
            label_x=LEFT - 4,
            label_y=_y(value, top) + 4,
            value=value,
        )
        for value in (0, top)
    )


def _y(value: float, top: int) -> float:
    return round(TOP + PLOT_HEIGHT * (1 - value / top), 2)


def _stack(
    i: int, bucket: str, series: Sequence[Series], slot: float, top: int, palette: Sequence[str]
) -> Markup:
    rect = Markup(
        '<rect class="bar" x="{x}" y="{y}" width="{width}" height="{height}" fill="{fill}">'
        "<title>{tip}</title></rect>"
    )
    x, width = round(LEFT + slot * (i + 0.15), 2), round(slot * 0.7, 2)
    below, rects = 0, []
    for n, (name, values) in enumerate(series):
        if values[i] <= 0:
            continue
        below += values[i]
        rects.append(
            rect.format(
                x=x,
                y=_y(below, top),
                width=width,
                height=round(PLOT_HEIGHT * values[i] / top, 2),
                fill=palette[n % len(palette)],
                tip=f"{bucket} \u00b7 {short(name)}: {values[i]}",
            )
        )
    return _join(rects)


def _ticks(ticks: Sequence[str], slot: float) -> Markup:
    """The buckets' names under the axis, every n-th so that none overlap."""
    longest = max((len(short(t)) for t in ticks), default=1)
    step = max(1, math.ceil((longest * CHAR_WIDTH + 4) / slot))
    label = Markup('<text x="{}" y="{}" text-anchor="middle">{}</text>')
    return _join(
        label.format(round(LEFT + slot * (i + 0.5), 2), TOP + PLOT_HEIGHT + 16, short(tick))
        for i, tick in enumerate(ticks)
        if i % step == 0
    )


def _row(i: int, label: str, value: int, length: float, colour: str) -> Markup:
    y = TOP + ROW * i
    return Markup(
        '<text x="{label_x}" y="{text_y}" text-anchor="end">{label}</text>'
        '<rect class="bar" x="{bar_x}" y="{bar_y}" width="{length}" height="{height}" '
        'fill="{fill}"><title>{label}: {value}</title></rect>'
        '<text x="{value_x}" y="{text_y}">{value}</text>'
    ).format(
        label_x=LABEL_WIDTH - 6,
        text_y=y + 14,
        label=short(label),
        bar_x=LABEL_WIDTH,
        bar_y=y + 3,
        length=round(length, 2),
        height=ROW - 6,
        fill=colour,
        value=value,
        value_x=round(LABEL_WIDTH + length + 4, 2),
    )


def _summary(
    buckets: Sequence[str], series: Sequence[Series], totals: Sequence[int], unit: str
) -> str:
    """What the bars say, in words: the total, the busiest bucket, each series' share."""
    total = sum(totals)
    if not total:
        return f"No {unit} in these {len(buckets)} periods."
    busiest = max(range(len(totals)), key=lambda i: totals[i])
    shares = ", ".join(f"{name} {sum(values)}" for name, values in series if sum(values))
    return (
        f"{total} {unit} in {len(buckets)} periods; the most, {totals[busiest]}, "
        f"in {buckets[busiest]}. By kind: {shares}."
    )


def _legend(names: Sequence[str], palette: Sequence[str]) -> Markup:
    item = Markup(
        '<li><svg width="12" height="12" aria-hidden="true" focusable="false">'
        '<rect width="12" height="12" fill="{}"/></svg> {}</li>'
    )
    items = _join(item.format(palette[n % len(palette)], name) for n, name in enumerate(names))
    return Markup('<ul class="legend">{}</ul>').format(items)


# --- the same numbers as a table -------------------------------------------------------


def _table(
    chart_id: str, title: str, head: Sequence[str], body: Markup, foot: Markup | None = None
) -> Markup:
    header = _join(Markup('<th scope="col">{}</th>').format(cell) for cell in head)
    return Markup(
        '<details><summary>{title}: the numbers</summary><div class="scroll">'
        '<table id="{id}-table"><caption class="visually-hidden">{title}</caption>'
        "<thead><tr>{header}</tr></thead><tbody>{body}</tbody>{foot}</table></div></details>"
    ).format(title=title, id=chart_id, header=header, body=body, foot=foot or "")


def _table_row(label: str, numbers: Iterable[int]) -> Markup:
    cells = _join(Markup("<td>{}</td>").format(n) for n in numbers)
    return Markup('<tr><th scope="row"><bdi>{}</bdi></th>{}</tr>').format(label, cells)


def _stacked_table(
    chart_id: str,
    title: str,
    heading: str,
    buckets: Sequence[str],
    series: Sequence[Series],
    totals: Sequence[int],
) -> Markup:
    body = _join(
        _table_row(bucket, [*(values[i] for _, values in series), totals[i]])
        for i, bucket in enumerate(buckets)
    )
    sums = [sum(values) for _, values in series]
    foot = Markup("<tfoot>{}</tfoot>").format(_table_row("Total", [*sums, sum(totals)]))
    head = [heading, *(name for name, _ in series), "Total"]
    return _table(chart_id, title, head, body, foot)


def _rows_table(
    chart_id: str, title: str, heading: str, unit: str, rows: Sequence[tuple[str, int]]
) -> Markup:
    body = _join(_table_row(label, [value]) for label, value in rows)
    return _table(chart_id, title, [heading, unit or "Count"], body)
