"""Event health over time: the same facts as models.queries.event_health (commit→handled p95 latency,
retry rate, consistency-check pass rate), bucketed per hour over the last 24 hours or per day over the
last 14 days, with the organisation's thresholds. One query for the console's charts and the API.

The consistency checks' pass rate per bucket comes from their recorded hourly runs
(``consistency_check_runs``, written by the beat every hour). ``checks=True`` also runs the checks now
for the newest bucket — a full scan of the ledger and the books, so the pages (which must stay fast at
100,000 documents) leave it off. Requires Permission.RULES. Writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.event_log import ConsistencyCheckRun, HandlerRun, RunStatus
from models.invariants import check_all
from models.operations.health_thresholds import HealthThresholds, thresholds_of
from models.org import Org
from models.queries.event_health import _p95
from models.timeutil import SHANGHAI

Span = Literal["24h", "14d"]
SPANS: dict[str, tuple[timedelta, int]] = {"24h": (timedelta(hours=1), 24), "14d": (timedelta(days=1), 14)}


@dataclass(frozen=True)
class HealthBucket:
    #: Start of the bucket (UTC; a day bucket starts at Beijing midnight).
    start: datetime
    handled: int
    latency_p95_ms: float | None
    retry_rate: float | None
    check_pass_rate: float | None


@dataclass(frozen=True)
class HealthSeries:
    span: str
    buckets: list[HealthBucket]
    thresholds: HealthThresholds

    def to_dict(self) -> dict[str, Any]:
        """Render as JSON (times ISO, thresholds as exact strings)."""
        return {"span": self.span,
                "thresholds": {k: format(v.normalize(), "f") for k, v in self.thresholds.__dict__.items()},
                "buckets": [{**b.__dict__, "start": b.start.isoformat()} for b in self.buckets]}


def _first_start(now: datetime, step: timedelta, count: int) -> datetime:
    if step >= timedelta(days=1):  # whole Beijing days, so "12-05" means what a reader thinks it means
        local = now.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        return (local - step * (count - 1)).astimezone(now.tzinfo)
    return now.replace(minute=0, second=0, microsecond=0) - step * (count - 1)


def health_series(session: Session, actor: Actor, span: str = "24h", *, now: datetime | None = None,
                  checks: bool = False) -> HealthSeries:
    """Bucket the organisation's handler runs by when they were created; unknown spans read as 24 h."""
    actor.require(Permission.RULES)
    step, count = SPANS.get(span, SPANS["24h"])
    now = now or utcnow()
    first = _first_start(now, step, count)
    runs: Iterable[tuple[RunStatus, int, datetime, datetime | None, datetime]] = session.execute(
        select(HandlerRun.status, HandlerRun.attempts, HandlerRun.event_created_at, HandlerRun.handled_at,
               HandlerRun.created_at)
        .where(HandlerRun.org_id == actor.org_id, HandlerRun.created_at >= first))
    totals, retried = [0] * count, [0] * count
    latencies: list[list[float]] = [[] for _ in range(count)]
    for status, attempts, created, handled, at in runs:
        n = min(count - 1, max(0, int((at - first) / step)))
        totals[n] += 1
        if attempts > 1 or status == RunStatus.RETRY:  # the same definitions as event_health
            retried[n] += 1
        if status == RunStatus.DONE and handled is not None and attempts == 1:
            latencies[n].append((handled - created).total_seconds() * 1000)
    passed, checked = [0] * count, [0] * count
    recorded: Iterable[tuple[int, int, datetime]] = session.execute(
        select(ConsistencyCheckRun.checks_passed, ConsistencyCheckRun.checks_total, ConsistencyCheckRun.created_at)
        .where(ConsistencyCheckRun.org_id == actor.org_id, ConsistencyCheckRun.created_at >= first))
    for ok, total, at in recorded:
        n = min(count - 1, max(0, int((at - first) / step)))
        passed[n], checked[n] = passed[n] + ok, checked[n] + total
    rates: list[float | None] = [round(passed[n] / checked[n], 4) if checked[n] else None for n in range(count)]
    if checks:  # the newest bucket: as the books are now
        results = check_all(session, actor.org_id).checks
        rates[-1] = round(sum(1 for p in results.values() if not p) / len(results), 4) if results else 1.0
    buckets = []
    for n in range(count):
        p95 = _p95(latencies[n])
        buckets.append(HealthBucket(
            first + step * n, totals[n], round(p95, 2) if p95 is not None else None,
            round(retried[n] / totals[n], 4) if totals[n] else None,
            rates[n]))
    settings = session.scalar(select(Org.settings).where(Org.id == actor.org_id))
    return HealthSeries(span if span in SPANS else "24h", buckets, thresholds_of(settings))
