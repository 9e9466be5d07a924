"""Event health of one organisation (or all, for the operator's metrics): relay latency, retry and
failure rates, dead letters, consistency checks, and the edge nodes' sync figures (lag in seconds and
rows, last contact, rows up/down, open conflicts: models.queries.nodes).

``org_event_health`` requires Permission.RULES; ``event_health`` is unchecked (the /metrics scrape and
callers that already authorised). Writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.event_log import HandlerRun, RunStatus
from models.infra import OutboxEvent
from models.invariants import check_all
from models.org import Org
from models.queries.nodes import node_lines

#: Any SELECT: scoped() narrows it to one organisation and hands back the same statement type.
_S = TypeVar("_S", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class EventHealth:
    window_hours: float
    handled: int
    latency_avg_ms: float | None
    latency_p95_ms: float | None
    retry_rate: float
    failure_rate: float
    dead_letters: int
    pending_events: int
    pending_retries: int
    checks: dict[str, int]
    checks_passed: int
    checks_total: int
    check_pass_rate: float
    #: One row per edge node (code, org_id, active, last_contact_at, lag_seconds, lag_rows, rows_up,
    #: rows_down, conflicts_open); empty where there are none.
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def event_health(session: Session, org_id: int | None = None, *, window: timedelta = timedelta(hours=24),
                 now: datetime | None = None, checks: bool = True) -> EventHealth:
    """Measure the relay over ``window`` (one organisation, or all) and run the consistency checks."""
    since = (now or utcnow()) - window

    def scoped(stmt: _S, model: type[HandlerRun] | type[OutboxEvent]) -> _S:
        return stmt.where(model.org_id == org_id) if org_id is not None else stmt

    # Annotated: mypy reads the fields of an unpacked Row as object.
    runs: Iterable[tuple[RunStatus, int, datetime, datetime | None]] = session.execute(scoped(
        select(HandlerRun.status, HandlerRun.attempts, HandlerRun.event_created_at, HandlerRun.handled_at)
        .where(HandlerRun.created_at >= since), HandlerRun))
    latencies, total, retried, failed = [], 0, 0, 0
    for status, attempts, created, handled in runs:
        total += 1
        if attempts > 1 or status == RunStatus.RETRY:
            retried += 1
        if status == RunStatus.DEAD or (status == RunStatus.RETRY):
            failed += 1
        if status == RunStatus.DONE and handled is not None and attempts == 1:
            latencies.append((handled - created).total_seconds() * 1000)
    dead = session.scalar(scoped(select(func.count()).select_from(HandlerRun)
                                 .where(HandlerRun.status == RunStatus.DEAD), HandlerRun)) or 0
    pending_retries = session.scalar(scoped(select(func.count()).select_from(HandlerRun)
                                            .where(HandlerRun.status == RunStatus.RETRY), HandlerRun)) or 0
    pending = session.scalar(scoped(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.dispatched_at.is_(None)), OutboxEvent)) or 0
    results: dict[str, int] = {}
    if checks:
        org_ids = [org_id] if org_id is not None else list(session.scalars(select(Org.id)))
        for oid in org_ids:
            for name, problems in check_all(session, oid).checks.items():
                results[name] = results.get(name, 0) + len(problems)
    passed = sum(1 for n in results.values() if n == 0)
    nodes = [{"code": n.code, "org_id": n.org_id, "active": n.active,
              "last_contact_at": n.last_contact_at.isoformat() if n.last_contact_at else None,
              "lag_seconds": n.lag_seconds, "lag_rows": n.lag_rows, "rows_up": n.rows_up, "rows_down": n.rows_down,
              "conflicts_open": n.conflicts_open} for n in node_lines(session, org_id, now)]
    return EventHealth(
        window_hours=window.total_seconds() / 3600, handled=total,
        latency_avg_ms=round(sum(latencies) / len(latencies), 2) if latencies else None,
        latency_p95_ms=round(p, 2) if (p := _p95(latencies)) is not None else None,
        retry_rate=round(retried / total, 4) if total else 0.0, failure_rate=round(failed / total, 4) if total else 0.0,
        dead_letters=dead, pending_events=pending, pending_retries=pending_retries, checks=results,
        checks_passed=passed, checks_total=len(results),
        check_pass_rate=round(passed / len(results), 4) if results else 1.0, nodes=nodes)


def org_event_health(session: Session, actor: Actor, *, window: timedelta = timedelta(hours=24),
                     now: datetime | None = None, checks: bool = True) -> EventHealth:
    """Event health of the actor's organisation. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    return event_health(session, actor.org_id, window=window, now=now, checks=checks)
