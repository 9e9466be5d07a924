"""Accounting periods (会计期间): open, or closed (结账) so that nothing more posts into them.

A period is YYYYMM in Asia/Shanghai, as Voucher.period. A row exists only once a period has been
closed (or reopened); no row means open. Closing and reopening are operations
(models.operations.closing); the row is master data to the posting path, so every change gives
the org a new config version and each process re-reads which periods are closed.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time, timedelta

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, OrgMixin
from models.errors import ValidationError
from models.timeutil import SHANGHAI
from models.types import UTCDateTime

#: The closing voucher's event (结转损益, models.operations.closing); the income statement leaves these
#: out, and renumbering puts them last in their period.
CLOSING_EVENT = "period.closed"


class PeriodStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AccountingPeriod(IdMixin, OrgMixin, Base):
    __tablename__ = "accounting_periods"
    __table_args__ = (UniqueConstraint("org_id", "period"),)

    period: Mapped[str] = mapped_column(String(6))
    status: Mapped[PeriodStatus] = mapped_column(Enum(PeriodStatus, native_enum=False, length=8))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: Why it was last reopened (反结账 needs one).
    reason: Mapped[str] = mapped_column(String(256), default="")


_PERIOD = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")


def checked_period(value: str) -> str:
    """``value`` if it is a period YYYYMM (2000–2099), else ValidationError."""
    found = _PERIOD.match(value or "")
    if found is None or not 2000 <= int(found.group(1)) <= 2099:
        raise ValidationError("会计期间应写作 YYYYMM，如 202611", field="period")
    return value


def period_days(period: str) -> tuple[date, date]:
    """The first and last calendar day of a period."""
    first = date(int(period[:4]), int(period[4:]), 1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def period_moments(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a period as aware datetimes (Shanghai midnights)."""
    first, last = period_days(period)
    return (datetime.combine(first, time(), SHANGHAI),
            datetime.combine(last + timedelta(days=1), time(), SHANGHAI))


def previous_period(period: str) -> str:
    """The period before ``period``."""
    first, _last = period_days(period)
    return (first - timedelta(days=1)).strftime("%Y%m")


def period_label(period: str) -> str:
    """2026年11月."""
    return f"{int(period[:4])}年{int(period[4:])}月"
