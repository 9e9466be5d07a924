"""Jinja filters for console pages: quantities, money and times as a Chinese reader expects them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from flask import Flask

from models.ledger import fmt_qty
from models.timeutil import SHANGHAI


def money(value: Decimal | int | float | str | None) -> str:
    """¥1,234.50 (negative: -¥1,234.50); empty for None."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"


def quantity(value: Decimal | int | float | str | None) -> str:
    """23.5, 30 (never 3E+1)."""
    if value is None or value == "":
        return ""
    return fmt_qty(Decimal(str(value)))


def local_time(value: datetime | date | None, fmt: str = "%m-%d %H:%M") -> str:
    """A moment in Beijing time (stored times are UTC); a date as 2026-12-05."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)  # naive values from the database are UTC
        return moment.astimezone(SHANGHAI).strftime(fmt)
    return value.isoformat()


def install(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(quantity, "quantity")
    app.add_template_filter(local_time, "local_time")
