"""The server-drawn charts: bars proportional to the numbers, the same numbers in the table,
labels as text, and nothing broken by no data or a single bucket."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.app.web.svg_charts import (
    PALETTE,
    PLOT_HEIGHT,
    horizontal_bars,
    nice_ceiling,
    short,
    stacked_bars,
)

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    """The figure as XML: it must be well-formed for that, escaping included."""
    return ET.fromstring(markup)  # noqa: S314  # our own output, not untrusted input


def bars(figure: ET.Element) -> list[dict[str, str]]:
    return [
        {**rect.attrib, "tip": rect.findtext(f"{SVG}title") or ""}
        for rect in figure.iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    ]


def table_rows(figure: ET.Element) -> list[list[str]]:
    return [["".join(cell.itertext()) for cell in row] for row in figure.iter("tr")]


def test_stacked_bar_heights_are_proportional_and_stack_without_gaps() -> None:
    figure = parsed(
        stacked_bars("c", "Messages", ["a", "b", "c"], [("email", [1, 2, 4]), ("chat", [0, 2, 0])])
    )
    drawn = bars(figure)
    email = [float(b["height"]) for b in drawn if "email" in b["tip"]]
    assert email[1] == pytest.approx(2 * email[0])
    assert email[2] == pytest.approx(4 * email[0])
    assert email[2] == pytest.approx(PLOT_HEIGHT * 4 / 5)  # the axis top is 5
    chat = next(b for b in drawn if "chat" in b["tip"])
    below = next(b for b in drawn if b["tip"] == "b \u00b7 email: 2")
    assert float(chat["y"]) + float(chat["height"]) == pytest.approx(float(below["y"]))
    assert {b["fill"] for b in drawn if "chat" in b["tip"]} == {PALETTE[1]}
    assert len(drawn) == 4  # a zero draws nothing


def test_the_table_holds_the_same_numbers_with_totals() -> None:
    figure = parsed(
        stacked_bars(
            "c",
            "Messages",
            ["day 1", "day 2"],
            [("email", [3, 0]), ("chat", [1, 5])],
            heading="Day",
        )
    )
    assert table_rows(figure) == [
        ["Day", "email", "chat", "Total"],
        ["day 1", "3", "1", "4"],
        ["day 2", "0", "5", "5"],
        ["Total", "3", "6", "9"],
    ]
    legend = [" ".join("".join(li.itertext()).split()) for li in figure.iter("li")]
    assert legend == ["email", "chat"]


def test_no_data_draws_no_bars_and_says_so() -> None:
    figure = parsed(stacked_bars("c", "Messages", ["a", "b"], [("email", [0, 0])]))
    assert bars(figure) == []
    assert figure.findtext(f".//{SVG}desc") == "No messages in these 2 periods."
    assert table_rows(figure)[-1] == ["Total", "0", "0"]
    empty = parsed(horizontal_bars("h", "Senders", []))
    assert bars(empty) == []
    assert empty.findtext(f".//{SVG}desc") == "Nothing to show."


def test_one_bucket_is_one_bar_inside_the_drawing() -> None:
    figure = parsed(stacked_bars("c", "Messages", ["today"], [("email", [7])]))
    [bar] = bars(figure)
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    width = float(svg.get("viewBox", "").split()[2])
    assert 0 < float(bar["x"]) < float(bar["x"]) + float(bar["width"]) < width
    assert float(bar["height"]) == pytest.approx(PLOT_HEIGHT * 7 / 10)
    ticks = [t.text for t in figure.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert ticks == ["today"]


def test_horizontal_bar_lengths_are_proportional() -> None:
    figure = parsed(horizontal_bars("h", "Tickets", [("new", 2), ("escalated", 8), ("x", 0)]))
    widths = [float(b["width"]) for b in bars(figure)]
    assert widths[0] * 4 == pytest.approx(widths[1])
    assert widths[2] == 0
    assert table_rows(figure)[1:] == [["new", "2"], ["escalated", "8"], ["x", "0"]]


def test_every_label_is_text_and_the_chart_an_image_with_title_and_description() -> None:
    evil = '<script>alert("x")</script>\u202e@evil.test'
    markup = str(
        stacked_bars("c", "Per <b>sender</b>", [evil], [(evil, [1])], heading=evil)
        + horizontal_bars("h", "Senders", [(evil, 3)])
    )
    assert "<script>" not in markup
    assert "<b>" not in markup
    figures = parsed(f"<div>{markup}</div>")
    svg = figures.find(f".//{SVG}svg")
    assert svg is not None
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-title c-desc"
    assert svg.findtext(f"{SVG}title") == "Per <b>sender</b>"
    texts = [t.text or "" for t in figures.iter(f"{SVG}text")]
    assert not any("\u202e" in t for t in texts)  # no direction override inside the drawing
    assert any(t.startswith('<script>alert("x")') for t in texts)
    cells = ["".join(c.itertext()) for c in figures.iter("th")]
    assert evil in cells  # the table keeps the label whole


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (4321, 5000)]
)
def test_the_axis_top_is_a_round_number_at_or_above_the_largest(value: int, top: int) -> None:
    assert nice_ceiling(value) == top


def test_short_labels_lose_control_characters_and_end_in_an_ellipsis() -> None:
    assert short("a\u202eb\u2066c\x00") == "abc"
    assert short("x" * 30, 10) == "x" * 9 + "\u2026"
