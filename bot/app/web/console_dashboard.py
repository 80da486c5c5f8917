"""The console's first page, for every role: how much comes in, and what the bot does with it.

Messages per channel and per decision over the last 24 hours and 14 days, the open
tickets by status, those at risk and overdue, the senders the throttle caught most, and
the share held as abusive: charts drawn by the server (bot.app.web.svg_charts), each with
its numbers as a table. Hours and days are the company's (the SLA time zone), as the
staff's clocks read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from aiohttp import web
from markupsafe import Markup

from bot.app.web.keys import CONSOLE, RUNTIME, STAFF
from bot.app.web.svg_charts import PALETTE, horizontal_bars, stacked_bars
from bot.contract.domain import Decision
from bot.staff.accounts import Role
from bot.staff.dashboard_stats import UNDECIDED, Dashboard, DashboardStats, Timeline

routes = web.RouteTableDef()
# What the bot did, in colours that say it: answered green, flagged vermillion; the rest
# from the same palette, so that no two decisions look alike.
DECISION_COLOURS = {
    Decision.CHANNEL_CLOSED.value: PALETTE[4],
    Decision.FLAGGED.value: PALETTE[5],
    Decision.THROTTLED.value: PALETTE[1],
    Decision.COLLAPSED.value: PALETTE[3],
    Decision.ANSWERED.value: PALETTE[2],
    Decision.ERROR.value: PALETTE[6],
    UNDECIDED: PALETTE[0],
}


@routes.get("/console")
async def dashboard(request: web.Request) -> web.Response:
    signed_in = await request.app[STAFF].page(request, Role.AGENT)
    runtime, pages = request.app[RUNTIME], request.app[CONSOLE]
    figures = await DashboardStats(runtime.sessions, runtime.clock, pages.timezone).read()
    return pages.render(
        request,
        "dashboard.html",
        staff=signed_in.staff,
        csrf=signed_in.csrf,
        figures=figures,
        charts=_charts(figures, pages.timezone),
        flagged_24h=_flagged(figures.hourly),
        flagged_14d=_flagged(figures.daily),
        zone=str(pages.timezone),
    )


def _flagged(timeline: Timeline) -> str:
    rate = timeline.flagged_rate()
    if rate is None:
        return "nothing decided yet"
    decided = timeline.total() - timeline.total(UNDECIDED)
    return f"{rate:.1%} ({timeline.total(Decision.FLAGGED)} of {decided} decided)"


def _labels(starts: Sequence[datetime], zone: tzinfo, pattern: str) -> list[str]:
    return [start.astimezone(zone).strftime(pattern) for start in starts]


def _charts(figures: Dashboard, zone: tzinfo) -> dict[str, Markup]:
    hourly, daily = figures.hourly, figures.daily
    hours = (
        _labels(hourly.starts, zone, "%Y-%m-%d %H:%M"),
        _labels(hourly.starts, zone, "%H:00"),
        "Hour",
    )
    days = (_labels(daily.starts, zone, "%Y-%m-%d"), _labels(daily.starts, zone, "%d %b"), "Day")
    per = [
        ("hourly-channel", "Messages per hour by channel", hours, hourly.per_channel()),
        ("hourly-decision", "Messages per hour by decision", hours, hourly.per_decision()),
        ("daily-channel", "Messages per day by channel", days, daily.per_channel()),
        ("daily-decision", "Messages per day by decision", days, daily.per_decision()),
    ]
    charts = {
        key: stacked_bars(
            key,
            title,
            buckets,
            list(series.items()),
            ticks=ticks,
            heading=heading,
            palette=_palette(series),
        )
        for key, title, (buckets, ticks, heading), series in per
    }
    return charts | _ticket_charts(figures)


def _palette(series: dict[str, list[int]]) -> list[str]:
    """Decisions in their own colours; channels (and anything else) in palette order."""
    if not set(series) & set(DECISION_COLOURS):
        return list(PALETTE)
    return [DECISION_COLOURS.get(name, PALETTE[7]) for name in series]


def _ticket_charts(figures: Dashboard) -> dict[str, Markup]:
    statuses = [(s.replace("_", " "), n) for s, n in figures.open_tickets.items()]
    clocks = [("at risk", figures.at_risk), ("overdue", figures.overdue)]
    flooders = [(f"{f.channel}: {f.address}", f.total) for f in figures.flooders]
    return {
        "tickets": horizontal_bars(
            "tickets", "Open tickets by status", statuses, heading="Status", unit="tickets"
        ),
        "sla": horizontal_bars(
            "sla",
            "Open tickets at risk and overdue",
            clocks,
            heading="Clock",
            unit="tickets",
            colour=PALETTE[5],
        ),
        "flooders": horizontal_bars(
            "flooders",
            "Senders the throttle caught most, last 24 hours",
            flooders,
            heading="Sender",
            unit="throttled and collapsed",
            colour=PALETTE[1],
        ),
    }
