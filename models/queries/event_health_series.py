"""Event health over time: the same facts as models.queries.event_health (commit→handled p95 latency,
retry rate, consistency-check pass rate), bucketed per hour over the last 24 hours or per day over the
last 14 days, with the organisation's thresholds. One query for the console's charts and the API.

The consistency checks' pass rate per bucket comes from their recorded hourly runs
(``consistency_check_runs``, written by the beat every hour). ``checks=True`` also runs the checks now
for the newest bucket — a full scan of the ledger and the books, so the pages (which must stay fast at
100,000 documents) leave it off. Requires Permission.RULES. Writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, case, cast, func, or_, select
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
#: Latencies read for the p95s of one window at most (about): beyond it, an even sample by id.
MAX_SAMPLES = 5000


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


def _epoch_ms(session: Session) -> Callable[[Any], ColumnElement[Any]]:
    """Milliseconds since the epoch of a UTC timestamp column, in the session's SQL dialect."""
    if session.get_bind().dialect.name == "sqlite":  # stored as ISO text in UTC
        return lambda column: func.julianday(column) * 86_400_000.0 - 210_866_760_000_000.0
    return lambda column: func.extract("epoch", column) * 1000


def health_series(session: Session, actor: Actor, span: str = "24h", *, now: datetime | None = None,
                  checks: bool = False) -> HealthSeries:
    """Bucket the organisation's handler runs by when they were created; unknown spans read as 24 h."""
    actor.require(Permission.RULES)
    step, count = SPANS.get(span, SPANS["24h"])
    now = now or utcnow()
    first = _first_start(now, step, count)
    # Counts and retries are summed per bucket in SQL; the p95 is taken over at most ~MAX_SAMPLES latencies
    # per window (every k-th run by id: an even sample), so 14 days of a busy org stay one fast page.
    ms = _epoch_ms(session)
    first_ms, step_ms = first.timestamp() * 1000, step.total_seconds() * 1000
    offset = (ms(HandlerRun.created_at) - first_ms) / step_ms  # never negative: created_at >= first
    # SQLite's CAST truncates (and its floor() needs the optional math functions); PostgreSQL's CAST rounds.
    whole = offset if session.get_bind().dialect.name == "sqlite" else func.floor(offset)
    bucket = cast(whole, Integer).label("bucket")
    mine = (HandlerRun.org_id == actor.org_id, HandlerRun.created_at >= first)
    retry = case((or_(HandlerRun.attempts > 1, HandlerRun.status == RunStatus.RETRY), 1), else_=0)
    totals, retried = [0] * count, [0] * count
    counted: Iterable[tuple[int, int, int]] = session.execute(
        select(bucket, func.count(), func.sum(retry)).where(*mine).group_by(bucket))
    for n, runs, again in counted:  # the same definitions as event_health
        n = min(count - 1, max(0, int(n)))
        totals[n] += int(runs)
        retried[n] += int(again or 0)
    stride = max(1, sum(totals) // MAX_SAMPLES)
    sampled: Iterable[tuple[int, float]] = session.execute(
        select(bucket, ms(HandlerRun.handled_at) - ms(HandlerRun.event_created_at)).where(
            *mine, HandlerRun.status == RunStatus.DONE, HandlerRun.handled_at.is_not(None),
            HandlerRun.attempts == 1, *((HandlerRun.id % stride == 0,) if stride > 1 else ())))
    latencies: list[list[float]] = [[] for _ in range(count)]
    for n, took in sampled:
        latencies[min(count - 1, max(0, int(n)))].append(float(took))
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
