"""The event-health thresholds an organisation watches: commit→handled p95 latency, retry rate and
consistency-check pass rate. Stored in ``Org.settings["event_health_thresholds"]``; validated when
saved, and read defensively (a bad stored value falls back to the default, never to "anything goes").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.errors import ValidationError
from models.idempotency import idempotent
from models.org import Org

SETTING_KEY = "event_health_thresholds"


@dataclass(frozen=True)
class HealthThresholds:
    #: p95 of commit → handled, above which the relay is too slow (milliseconds).
    latency_p95_ms: Decimal = Decimal(5000)
    #: Share of handler runs needing a retry, above which something is failing (0..1).
    retry_rate: Decimal = Decimal("0.05")
    #: Share of consistency checks passing, below which the books need a look (0..1).
    check_pass_rate: Decimal = Decimal(1)


DEFAULTS = HealthThresholds()
#: Bounds a saved threshold must lie within (inclusive): a day of latency is already an outage.
BOUNDS: dict[str, tuple[Decimal, Decimal, str]] = {
    "latency_p95_ms": (Decimal(1), Decimal(86_400_000), "处理时间 p95 须在 1 毫秒到 24 小时之间"),
    "retry_rate": (Decimal(0), Decimal(1), "重试率须在 0 到 100% 之间"),
    "check_pass_rate": (Decimal(0), Decimal(1), "一致性检查通过率须在 0 到 100% 之间"),
}


def _number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def thresholds_of(settings: Mapping[str, Any] | None) -> HealthThresholds:
    """The thresholds in an org's settings; any missing or out-of-bounds value is its default."""
    stored = (settings or {}).get(SETTING_KEY)
    stored = stored if isinstance(stored, dict) else {}
    values: dict[str, Decimal] = {}
    for name, (low, high, _message) in BOUNDS.items():
        value = _number(stored.get(name))
        values[name] = value if value is not None and low <= value <= high else getattr(DEFAULTS, name)
    return HealthThresholds(**values)


@dataclass(frozen=True)
class SetHealthThresholds:
    latency_p95_ms: Decimal
    retry_rate: Decimal
    check_pass_rate: Decimal


@idempotent("event_health.thresholds")
def set_health_thresholds(session: Session, actor: Actor, cmd: SetHealthThresholds) -> HealthThresholds:
    """Save the organisation's event-health thresholds (audited). Requires Permission.ROLES."""
    actor.require(Permission.ROLES)
    for name, (low, high, message) in BOUNDS.items():
        value = getattr(cmd, name)
        if not isinstance(value, Decimal) or not value.is_finite() or not low <= value <= high:
            raise ValidationError(message, field=name)
    org = session.get_one(Org, actor.org_id, with_for_update=True)
    settings = dict(org.settings or {})
    before = thresholds_of(settings)
    chosen = HealthThresholds(cmd.latency_p95_ms, cmd.retry_rate, cmd.check_pass_rate)
    settings[SETTING_KEY] = {name: format(getattr(chosen, name).normalize(), "f") for name in BOUNDS}
    org.settings = settings  # a new dict: the JSON column is written (and the catalog version renewed)
    record_audit(session, actor, "event_health.thresholds", "org", org.id,
                 before={n: str(getattr(before, n)) for n in BOUNDS}, after=dict(settings[SETTING_KEY]))
    return chosen
