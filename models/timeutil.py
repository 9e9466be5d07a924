"""Times are stored in UTC and shown, dated and numbered in Asia/Shanghai."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """Return the Shanghai calendar date of an aware datetime."""
    return moment.astimezone(SHANGHAI).date()


def period_of(moment: datetime) -> str:
    """Return the accounting period (YYYYMM) an aware datetime falls in."""
    return moment.astimezone(SHANGHAI).strftime("%Y%m")


def week_start(day: date) -> date:
    """Return the Monday of the (Asia/Shanghai business) week a calendar date falls in."""
    return day - timedelta(days=day.weekday())
