"""The cash threshold and its alert: finance sets the least cash the next 72 hours may reach; the beat
checks the forecast and emits ``cash.below_threshold`` once per crossing (``cash.recovered`` when the
projection is back above), which the seeded rule turns into a message to finance and the director.

The state of the last check is kept per organisation (models.cash.CashAlertState), so a check that
finds the projection still below says nothing new. Setting the threshold resets it: the next check
judges the projection against the new figure, and alerts if it is below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.cash import THRESHOLD_KEY, CashAlertState, threshold_of
from models.errors import ValidationError
from models.idempotency import idempotent
from models.ledger import money
from models.operations.common import dec
from models.org import Org
from models.outbox import emit
from models.queries.cash_forecast import cash_forecast
from models.timeutil import SHANGHAI

#: A threshold beyond a trillion yuan either way is a typing error (an overdraft line makes it negative).
MAX_THRESHOLD = Decimal(10) ** 12
#: The window the periodic check looks ahead (hours).
CHECK_HOURS = 72


@dataclass(frozen=True)
class SetCashThreshold:
    #: Least projected cash and bank (yuan); None: no alert.
    minimum: Decimal | None
    reason: str = ""


@dataclass(frozen=True)
class CashThreshold:
    minimum: Decimal | None


def checked_threshold(value: Decimal) -> Decimal:
    """A threshold as entered: finite, to the fen, within a trillion yuan either way."""
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError("现金下限须是金额（元）", field="minimum")
    if abs(value) > MAX_THRESHOLD:
        raise ValidationError("现金下限过大，请核对", field="minimum")
    if money(value) != value:
        raise ValidationError("现金下限最多两位小数（到分）", field="minimum")
    return value


@idempotent("cash.threshold")
def set_cash_threshold(session: Session, actor: Actor, cmd: SetCashThreshold) -> CashThreshold:
    """Set (or clear) the organisation's minimum projected cash. Audited; resets the alert state."""
    actor.require(Permission.SETTLE)
    minimum = checked_threshold(cmd.minimum) if cmd.minimum is not None else None
    org = session.get_one(Org, actor.org_id, with_for_update=True)
    settings = dict(org.settings or {})
    before = threshold_of(settings)
    if minimum is None:
        settings.pop(THRESHOLD_KEY, None)
    else:
        settings[THRESHOLD_KEY] = str(money(minimum))
    org.settings = settings
    session.execute(delete(CashAlertState).where(CashAlertState.org_id == org.id))
    record_audit(session, actor, "cash.threshold", "org", org.id,
                 before={THRESHOLD_KEY: dec(before) if before is not None else None},
                 after={THRESHOLD_KEY: dec(minimum) if minimum is not None else None}, reason=cmd.reason[:200])
    return CashThreshold(money(minimum) if minimum is not None else None)


@dataclass(frozen=True)
class CashCheck:
    org_id: int
    threshold: Decimal
    lowest: Decimal
    lowest_at: datetime
    #: The projection goes below the threshold within the window.
    below: bool
    #: This check emitted an event: ``cash.below_threshold`` (crossed) or ``cash.recovered``.
    event: str | None


def _state(session: Session, org_id: int) -> CashAlertState:
    """The org's alert state, locked (created on the first check; two first checks at once: one wins)."""
    state = session.get(CashAlertState, org_id, with_for_update=True)
    if state is not None:
        return state
    try:
        with session.begin_nested():
            state = CashAlertState(org_id=org_id, below=False)
            session.add(state)
    except IntegrityError:
        return session.get_one(CashAlertState, org_id, with_for_update=True, populate_existing=True)
    return state


def _when(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def check_cash_threshold(session: Session, org_id: int, now: datetime) -> CashCheck | None:
    """Check one organisation's 72-hour projection against its threshold; alert once per crossing.

    None when the organisation has no threshold."""
    threshold = threshold_of(session.scalar(select(Org.settings).where(Org.id == org_id)))
    if threshold is None:
        return None
    state = _state(session, org_id)
    forecast = cash_forecast(session, org_id, now, CHECK_HOURS, items_limit=0)  # the figures, not the items
    below = forecast.first_below_at is not None
    event: str | None = None
    if below and not state.below:
        event = "cash.below_threshold"
        first = forecast.first_below_at or forecast.start
        emit(session, org_id, event, {
            "threshold": dec(threshold), "lowest": dec(forecast.lowest), "opening": dec(forecast.opening),
            "lowest_at": forecast.lowest_at.isoformat(), "lowest_at_text": _when(forecast.lowest_at),
            "first_below_at": first.isoformat(), "first_below_text": _when(first), "hours": CHECK_HOURS,
            "overdue_receivables": dec(forecast.overdue_receivables.total)})
    elif state.below and not below:
        event = "cash.recovered"
        emit(session, org_id, event, {"threshold": dec(threshold), "lowest": dec(forecast.lowest),
                                      "lowest_at_text": _when(forecast.lowest_at), "hours": CHECK_HOURS})
    if event is not None:
        state.below, state.changed_at = below, now
    state.threshold, state.lowest, state.lowest_at, state.checked_at = (
        threshold, forecast.lowest, forecast.lowest_at, now)
    return CashCheck(org_id, threshold, forecast.lowest, forecast.lowest_at, below, event)


def orgs_with_threshold(session: Session) -> list[int]:
    """The organisations that set a cash threshold (the ones the beat checks)."""
    rows = cast(list[tuple[int, dict[str, Any] | None]],
                session.execute(select(Org.id, Org.settings).order_by(Org.id)).all())
    return [org_id for org_id, settings in rows if threshold_of(settings) is not None]

