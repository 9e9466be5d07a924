"""Planning tasks: weekly forecasts and the safety-stock recompute, one organisation per task.

Thin: ids in, one operation, commit. Each run is keyed by organisation and period (week, or
four-hour slot), so a redelivered task (acks_late) replays the first answer instead of running twice.
"""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import select, union

from models.actor import Actor
from models.base import utcnow
from models.demand import local_date_today
from models.documents import DocKind, Document
from models.operations.planning import RunForecast, run_forecast
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.planning import DemandRow
from models.timeutil import SHANGHAI, week_start
from models.uow import run
from workflows.tasks import session_factory

PLANNER = "需求计划"


def planning_org_ids() -> list[int]:
    """Return the organisations with any demand to plan for (shipments or imported rows)."""
    with session_factory()() as session:
        stmt = union(select(Document.org_id).where(Document.kind == DocKind.SHIPMENT).distinct(),
                     select(DemandRow.org_id).distinct())
        return sorted(session.scalars(stmt))


@shared_task(acks_late=True)
def forecast_all_orgs() -> int:
    """Queue this week's forecast for every organisation with demand."""
    ids = planning_org_ids()
    for org_id in ids:
        forecast_org.delay(org_id)
    return len(ids)


@shared_task(acks_late=True)
def forecast_org(org_id: int) -> int:
    """Run this week's forecast for one organisation, then queue its replenishment recompute."""
    key = f"planning:forecast:{org_id}:{week_start(local_date_today()).isoformat()}"
    result = run(session_factory(), run_forecast, Actor.system_actor(org_id, PLANNER), RunForecast(),
                 idempotency_key=key)
    recompute_org.delay(org_id)
    return result.run_id


@shared_task(acks_late=True)
def recompute_all_orgs() -> int:
    """Queue the safety-stock and suggestion recompute for every organisation with demand."""
    ids = planning_org_ids()
    for org_id in ids:
        recompute_org.delay(org_id)
    return len(ids)


@shared_task(acks_late=True)
def recompute_org(org_id: int) -> int:
    """Recompute safety stock, reorder points and suggestions for one organisation."""
    now = utcnow().astimezone(SHANGHAI)
    key = f"planning:replenish:{org_id}:{now.date().isoformat()}:{now.hour // 4}"
    result = run(session_factory(), recompute_replenishment, Actor.system_actor(org_id, PLANNER),
                 RecomputeReplenishment(), idempotency_key=key)
    return len(result.suggestions)
