"""Cash: the organisation's minimum projected cash (a setting) and the state of its alert.

The threshold is ``Org.settings["cash_min_balance"]`` (yuan, a string). The alert state is a row per
organisation: whether the last check found the projected balance below the threshold, so a check
that finds it still below does not alert again until it has recovered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, utcnow
from models.types import Money, UTCDateTime

#: Org setting: the least cash and bank (yuan) the projection may reach without an alert.
THRESHOLD_KEY = "cash_min_balance"


def threshold_of(settings: Mapping[str, Any] | None) -> Decimal | None:
    """The org's cash threshold, or None when none is set (or what is stored is not a sane amount)."""
    raw = (settings or {}).get(THRESHOLD_KEY)
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class CashAlertState(Base):
    """Where an organisation's projected cash stood at the last check (one row per organisation)."""

    __tablename__ = "cash_alert_states"

    org_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"), primary_key=True)
    #: The last check found the projected balance below the threshold (and alerted when it got there).
    below: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The threshold and the lowest projected point of the last check.
    threshold: Mapped[Decimal | None] = mapped_column(Money())
    lowest: Mapped[Decimal | None] = mapped_column(Money())
    lowest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When ``below`` last changed.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
