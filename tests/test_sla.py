from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.rules.sla import SlaPolicy, add_business_days, deadlines, is_business_day

ROME = ZoneInfo("Europe/Rome")
ITALY = SlaPolicy()
# Friday 18 December 2026, 10:00 in Rome: the Christmas run-up.
FRIDAY_BEFORE_CHRISTMAS = datetime(2026, 12, 18, 10, 0, tzinfo=ROME)


def local_day(moment: datetime) -> date:
    return moment.astimezone(ROME).date()


@pytest.mark.parametrize(
    "day", [date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1), date(2027, 1, 6)]
)
def test_italian_holidays_are_not_business_days(day: date) -> None:
    assert not is_business_day(day, ITALY)


def test_weekends_are_not_business_days_and_christmas_eve_is() -> None:
    assert not is_business_day(date(2026, 12, 19), ITALY)
    assert not is_business_day(date(2026, 12, 20), ITALY)
    assert is_business_day(date(2026, 12, 24), ITALY)


def test_holidays_follow_the_policy_country() -> None:
    netherlands = SlaPolicy(country="NL", timezone="Europe/Amsterdam")
    assert is_business_day(date(2027, 1, 6), netherlands)
    assert not is_business_day(date(2026, 12, 25), netherlands)


def test_no_country_means_only_weekends_are_off() -> None:
    assert is_business_day(date(2026, 12, 25), SlaPolicy(country=""))


def test_default_policy_skips_weekends_and_christmas_holidays() -> None:
    due = deadlines(FRIDAY_BEFORE_CHRISTMAS, ITALY)
    # 7: Dec 21-24, 28-30.  14, counted from receipt (the bot acknowledges at once):
    # Dec 21-24, 28-31, Jan 4-5, 7-8, 11-12.
    assert local_day(due.ack_due) == date(2026, 12, 30)
    assert local_day(due.progress_due) == date(2027, 1, 12)
    # 30: Dec 21-24, 28-31, Jan 4-5, 7-8, 11-15, 18-22, 25-29, Feb 1-3.
    assert local_day(due.resolve_due) == date(2027, 2, 3)


def test_three_five_ten_policy() -> None:
    due = deadlines(
        FRIDAY_BEFORE_CHRISTMAS, SlaPolicy(ack_days=3, progress_days=5, resolve_days=10)
    )
    assert local_day(due.ack_due) == date(2026, 12, 23)
    assert local_day(due.progress_due) == date(2026, 12, 28)  # Dec 21-24, 28
    assert local_day(due.resolve_due) == date(2027, 1, 5)


def test_without_holidays_christmas_counts() -> None:
    due = add_business_days(FRIDAY_BEFORE_CHRISTMAS, 7, SlaPolicy(country=""))
    assert local_day(due) == date(2026, 12, 29)


def test_due_is_end_of_local_business_day_in_utc() -> None:
    due = add_business_days(FRIDAY_BEFORE_CHRISTMAS, 1, ITALY)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 12, 21, 22, 59, 59, tzinfo=UTC)


def test_end_of_day_follows_summer_time() -> None:
    received = datetime(2026, 7, 1, 9, 0, tzinfo=ROME)
    assert add_business_days(received, 1, ITALY) == datetime(2026, 7, 2, 21, 59, 59, tzinfo=UTC)


def test_zero_days_ends_on_the_day_of_receipt() -> None:
    due = add_business_days(FRIDAY_BEFORE_CHRISTMAS, 0, ITALY)
    assert due.astimezone(ROME) == datetime.combine(date(2026, 12, 18), time(23, 59, 59), ROME)


def test_weekend_receipt_counts_from_next_business_day() -> None:
    saturday = datetime(2026, 12, 19, 11, 0, tzinfo=ROME)
    assert local_day(add_business_days(saturday, 0, ITALY)) == date(2026, 12, 21)
    assert local_day(add_business_days(saturday, 1, ITALY)) == date(2026, 12, 22)


def test_receipt_day_is_the_policy_zone_day_not_utc() -> None:
    # 23:30 UTC on Friday is already Saturday in Rome.
    late_friday_utc = datetime(2026, 12, 18, 23, 30, tzinfo=UTC)
    assert local_day(add_business_days(late_friday_utc, 0, ITALY)) == date(2026, 12, 21)


def test_any_aware_offset_is_accepted() -> None:
    tokyo = FRIDAY_BEFORE_CHRISTMAS.astimezone(timezone(timedelta(hours=9)))
    assert deadlines(tokyo, ITALY) == deadlines(FRIDAY_BEFORE_CHRISTMAS, ITALY)


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_days(datetime(2026, 12, 18, 10, 0), 1, ITALY)


def test_negative_days_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_days(FRIDAY_BEFORE_CHRISTMAS, -1, ITALY)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ack_days", -1), ("resolve_days", -5), ("country", "XX"), ("timezone", "Mars/Olympus")],
)
def test_bad_policy_fails_when_built(field: str, value: int | str) -> None:
    with pytest.raises(ValueError, match=r"negative|country|time zone"):
        SlaPolicy(**{field: value})  # type: ignore[arg-type]


def test_many_calls_give_identical_answers() -> None:
    # The hot path is memoized; a cached answer must equal a fresh one.
    first = deadlines(FRIDAY_BEFORE_CHRISTMAS, ITALY)
    later = [deadlines(FRIDAY_BEFORE_CHRISTMAS + timedelta(minutes=m), ITALY) for m in range(500)]
    assert all(item == first for item in later)
