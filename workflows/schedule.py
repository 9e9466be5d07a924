"""Every periodic job, declared in one place."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from app.settings import Settings
from models import node

#: The edge node's continuous sync (workflows/sync.py).
NODE_SYNC = "node-sync"


def beat_schedule(settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """Return Celery beat's schedule (for ``settings``' node: an edge node also syncs with headquarters)."""
    schedule = {
        # The relay is kicked after each commit (workflows.kick); the sweep catches anything missed
        # and retries failed handlers whose backoff has elapsed.
        "outbox-sweep": {"task": "workflows.tasks.relay_outbox", "schedule": 5.0},
        "todo-scan": {"task": "workflows.tasks.scan_due_todos", "schedule": 30.0},
        "stock-alerts": {"task": "workflows.tasks.scan_stock_alerts", "schedule": 3600.0},
        # The 72-hour cash projection against each organisation's threshold (alerts once per crossing).
        "cash-threshold": {"task": "workflows.tasks.scan_cash_threshold", "schedule": 900.0},
        # Consistency checks of every organisation, kept per run: the event-health board's pass rate over time.
        "consistency-checks": {"task": "workflows.tasks.scan_consistency_checks", "schedule": 3600.0},
        # Demand planning: forecasts every Monday 02:00 (the app's timezone is Asia/Shanghai), then
        # safety stock, reorder points and suggestions again every 4 hours as stock moves.
        "forecast-weekly": {"task": "workflows.planning.forecast_all_orgs",
                            "schedule": crontab(minute=0, hour=2, day_of_week="mon")},
        "replenishment-recompute": {"task": "workflows.planning.recompute_all_orgs", "schedule": 4 * 3600.0},
        # Retention: chat dedupe records, device readings, relayed outbox events, binding attempts and
        # callback signatures past their RETENTION_* days, in bounded batches (hourly keeps each run small).
        "retention": {"task": "workflows.retention.purge_old_rows", "schedule": 3600.0},
    }
    if settings is not None and settings.node_name != node.SERVER:
        interval = float(settings.sync_interval)
        # A tick not picked up within its interval (worker down, the previous run still going) is
        # dropped rather than queued: the next one sends everything anyway.
        schedule[NODE_SYNC] = {"task": "workflows.sync.sync_node", "schedule": interval,
                               "options": {"expires": interval}}
    return schedule
